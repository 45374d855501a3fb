#!/usr/bin/env python3
"""Prints one plain line from meson's testlog.json,
    tests: N passed, N failed, N skipped (G need a GPU, M need MPI, O other)
counting doctest cases inside each test executable (meson's own summary counts executables).
A test executable in the 'gpu' suite that finds no GPU exits 77, which meson reports as SKIP: its
doctest cases count as needing a GPU; likewise a test in the 'mpi' suite on a machine without MPI
or mpirun. With --strict, any other skip (a test that lacked MNIST or gnuplot, say) makes the exit
status 3: on CI nothing but GPU and MPI tests may be skipped."""
import json
import re
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
strict = "--strict" in sys.argv[1:]
log = args[0] if args else "build/meson-logs/testlog.json"
rx = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed\s*\|\s*(\d+) skipped")
gpu_rx = re.compile(r"gpu tests:\s*(\d+)")  # printed by a GPU test executable that skips
p = f = gpu = mpi = other = 0
other_names = []
for line in open(log):
    r = json.loads(line)
    out = r.get("stdout") or ""
    suites = r.get("suite") or []
    # meson 1.0 writes no "suite" key: the suites are also in the name, "project:suite / test"
    suites = list(suites) + r["name"].split(" / ")[0].split(":")[1:]
    is_gpu = any(s == "gpu" or s.endswith(":gpu") for s in suites)
    is_mpi = any(s == "mpi" or s.endswith(":mpi") for s in suites)
    m = rx.search(out)
    if r["result"] == "SKIP":
        g = gpu_rx.search(out)
        n = int(g[1]) if g else 1
        if is_gpu:
            gpu += n
        elif is_mpi:
            mpi += n
        else:
            other += n
            other_names.append(r["name"])
    elif m and r["result"] in ("OK", "FAIL"):
        p += int(m[2]); f += int(m[3])
        if int(m[4]):
            if is_gpu:
                gpu += int(m[4])
            elif is_mpi:
                mpi += int(m[4])
            else:
                other += int(m[4])
                other_names.append(r["name"])
        if r["result"] == "FAIL" and int(m[3]) == 0:
            f += 1  # crashed or timed out outside a test case
    elif r["result"] in ("OK", "EXPECTEDFAIL"):
        p += 1
    else:
        f += 1
print(f"tests: {p} passed, {f} failed, {gpu + mpi + other} skipped ({gpu} need a GPU, {mpi} need MPI, {other} other)")
if strict and other:
    print(f"error: {other} test(s) skipped for a reason other than a missing GPU or MPI (in {', '.join(sorted(set(other_names)))}); "
          "see their output in build/meson-logs/testlog.txt (tools/run_tests --allow-skips accepts this)")
    sys.exit(3)
