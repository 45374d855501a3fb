#!/usr/bin/env python3
"""find_cuda_libs.py: the folders that hold the shared libraries a program or module lacks.

The device kit cannot carry the CUDA libraries that libflowgrad_cuda.so needs (libcudart.so.13,
libcublas.so.13, libcublasLt.so.13, libcudnn.so.9: far over the carry limit), so on the GPU
machine they come from its own toolkit or from the pip wheels of its Python environment
(nvidia-cuda-runtime, nvidia-cublas, nvidia-cudnn-cu13: site-packages/nvidia/<pkg>/lib or, for the
CUDA 13 wheels, site-packages/nvidia/cu13/lib). This prints, one per line, the folders where the
missing sonames are, in the order they were needed, for LD_LIBRARY_PATH.

  find_cuda_libs.py --module PATH          sonames from `ldd PATH` ("=> not found")
  find_cuda_libs.py --missing SONAME ...   these sonames (tests)
  --also SONAME ...                        folders of these too, where present (libraries loaded
                                           later with dlopen, e.g. cuDNN's libnvrtc.so.13)
  --site DIR ...                           where to look (default: this Python's site-packages,
                                           the nvidia namespace package, /usr/local/cuda*)
  --show-candidates                        also list, on stderr, every folder searched

Exit status 0 when every missing soname was found, 1 otherwise (naming those not found on stderr).
"""
import argparse
import glob
import os
import site
import subprocess
import sys


def missing_from_ldd(module, extra_dirs=()):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join(list(extra_dirs) + [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p])
    out = subprocess.run(["ldd", module], capture_output=True, text=True, env=env).stdout
    return [line.split()[0] for line in out.splitlines() if "=> not found" in line]


def default_roots():
    roots = []
    try:
        roots += site.getsitepackages()
    except AttributeError:  # some virtualenvs
        pass
    roots.append(site.getusersitepackages())
    try:
        import nvidia  # a namespace package: its folders, one per site-packages

        roots += [os.path.dirname(p) for p in nvidia.__path__]
    except ImportError:
        pass
    roots += sorted(glob.glob("/usr/local/cuda*"))
    seen, out = set(), []
    for r in roots:
        r = os.path.realpath(r)
        if r not in seen and os.path.isdir(r):
            seen.add(r)
            out.append(r)
    return out


def candidate_dirs(roots):
    """Folders under each root that may hold CUDA libraries: nvidia/**/lib*, lib64, targets/*/lib."""
    dirs = []
    for r in roots:
        for pattern in ("nvidia/*/lib", "nvidia/*/lib64", "nvidia/*/*/lib", "lib64", "lib", "targets/*/lib"):
            dirs += sorted(d for d in glob.glob(os.path.join(r, pattern)) if os.path.isdir(d))
    seen, out = set(), []
    for d in dirs:
        d = os.path.realpath(d)
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--module")
    src.add_argument("--missing", nargs="+")
    ap.add_argument("--also", nargs="+", default=[])
    ap.add_argument("--site", nargs="+")
    ap.add_argument("--show-candidates", action="store_true")
    a = ap.parse_args()
    dirs = candidate_dirs(a.site if a.site else default_roots())
    if a.show_candidates:
        for d in dirs:
            print("candidate:", d, file=sys.stderr)
    found, not_found = [], []

    def look(sonames, required):
        for soname in sonames:
            where = next((d for d in dirs if os.path.exists(os.path.join(d, soname))), None)
            if where is None:
                if required and soname not in not_found:
                    not_found.append(soname)
            elif where not in found:
                found.append(where)

    if a.missing:
        look(a.missing, True)
    else:  # a found library may need others that ldd could not list before: ask again
        for _ in range(4):
            need = [n for n in missing_from_ldd(a.module, found) if n not in not_found]
            if not need:
                break
            look(need, True)
    look(a.also, False)
    for d in found:
        print(d)
    if not_found:
        print("not found: " + " ".join(not_found), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
