#!/usr/bin/env bash
# tools/device_check and tools/find_cuda_libs.py without a GPU: the CUDA library search on a fake
# site-packages tree (the CUDA 13 wheels' layout) and on a library whose dependencies only that
# tree holds; a dry run whose smoke stage runs on the emulated device; and a failing smoke stage
# (a stub test_gpu), which must rerun the failing case synchronously and under compute-sanitizer
# (a stub) and stop before the GPU tests.
# usage: test_device_check.sh SOURCE_ROOT TEST_GPU [CUDA_MODULE]
set -u
src=$1
test_gpu=$2
module=${3:-}
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
has() { grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; fail "$1 lacks: $2"; }; }

# 1. the library search on a fake tree
site=$work/site
mkdir -p "$site/nvidia/cu13/lib" "$site/nvidia/cudnn/lib" "$site/nvidia/cuda_nvrtc/lib"
touch "$site/nvidia/cu13/lib/"{libcudart.so.13,libcublas.so.13,libcublasLt.so.13} "$site/nvidia/cudnn/lib/libcudnn.so.9" \
  "$site/nvidia/cuda_nvrtc/lib/libnvrtc.so.13"
got=$(python3 "$src/tools/find_cuda_libs.py" --missing libcudnn.so.9 libcudart.so.13 libcublasLt.so.13 \
      --also libnvrtc.so.13 libnvJitLink.so.13 --site "$site" | paste -sd' ' -)
[ "$got" = "$site/nvidia/cudnn/lib $site/nvidia/cu13/lib $site/nvidia/cuda_nvrtc/lib" ] || fail "search found: $got"
python3 "$src/tools/find_cuda_libs.py" --missing libcudart.so.13 libcufoo.so.1 --site "$site" > /dev/null 2> "$work/err" &&
  fail "a soname that is nowhere was reported found"
has "$work/err" "not found: libcufoo.so.1"
echo "ok: the search on a fake tree"

# 2. --module: top needs fgdep1 (in one folder), which needs fgdep2 (in another), so ldd sees the
# second only once the first is found
if command -v cc > /dev/null; then
  mkdir -p "$site/nvidia/one/lib" "$site/nvidia/two/lib"
  echo 'int fgdep2(void) { return 2; }' > "$work/d2.c"
  echo 'int fgdep2(void); int fgdep1(void) { return fgdep2() + 1; }' > "$work/d1.c"
  echo 'int fgdep1(void); int top(void) { return fgdep1(); }' > "$work/top.c"
  cc -shared -fPIC -Wl,-soname,libfgdep2.so.1 -o "$site/nvidia/two/lib/libfgdep2.so.1" "$work/d2.c" &&
    cc -shared -fPIC -Wl,-soname,libfgdep1.so.1 -o "$site/nvidia/one/lib/libfgdep1.so.1" "$work/d1.c" \
      "$site/nvidia/two/lib/libfgdep2.so.1" &&
    cc -shared -fPIC -o "$work/libtop.so" "$work/top.c" "$site/nvidia/one/lib/libfgdep1.so.1" || fail "cc"
  got=$(env -u LD_LIBRARY_PATH python3 "$src/tools/find_cuda_libs.py" --module "$work/libtop.so" --site "$site" |
        paste -sd' ' -)
  [ "$got" = "$site/nvidia/one/lib $site/nvidia/two/lib" ] || fail "module search found: $got"
  echo "ok: the search for a module's missing libraries, two levels deep"
fi

# a kit with the scripts and a test_gpu
make_kit() {
  mkdir -p "$1/bin" "$1/mnist"
  cp "$src/tools/device_check" "$src/tools/find_cuda_libs.py" "$src/tools/bench_vs_peer" "$1/"
  ln -s "$2" "$1/bin/test_gpu"
  if [ -n "$module" ]; then cp "$module" "$1/bin/"; fi
}

# 3. a dry run: the smoke stage for real on the emulated device, the later stages only noted
make_kit "$work/kit" "$test_gpu"
FG_EMULATE_CUDA=1 "$work/kit/device_check" run "$work/out1" 9 --dry-run > "$work/log1" 2>&1 || {
  cat "$work/log1"; fail "the dry run failed"; }
has "$work/out1/summary.txt" "smoke: passed"
has "$work/out1/summary.txt" "dry run: timeout -k 5 200 env FG_REQUIRE_GPU=1"
has "$work/out1/summary.txt" "--model multiscale --device cuda"
has "$work/out1/summary.txt" "device_check: done"
has "$work/out1/machine.log" "CUDA library search"
if [ -n "$module" ]; then has "$work/out1/machine.log" "libcudnn.so.9 =>"; fi
echo "ok: a dry run on the emulated device"

# 4. a failing smoke stage: its failing case again with CUDA_LAUNCH_BLOCKING/FG_CUDA_SYNC and under
# compute-sanitizer, then a stop
mkdir -p "$work/stub"
cat > "$work/stub/test_gpu" << EOF
#!/bin/sh
echo "test_gpu \$* sync=\${FG_CUDA_SYNC:-} blocking=\${CUDA_LAUNCH_BLOCKING:-}" >> "$work/calls"
printf '%s\n' '===============================================================================' 'x.cpp:1:' \
  'TEST CASE:  smoke: a 3x3 conv with bias on cuda matches the cpu' '' 'x.cpp:2: ERROR: CHECK( a < b ) is NOT correct!' \
  '[doctest] test cases: 4 | 3 passed | 1 failed | 0 skipped'
exit 1
EOF
cat > "$work/stub/compute-sanitizer" << EOF
#!/bin/sh
echo "compute-sanitizer \$*" >> "$work/calls"
while [ "\$1" != "--log-file" ]; do shift; done
echo '========= ERROR SUMMARY: 1 error' > "\$2"
shift 2
exec "\$@"
EOF
chmod +x "$work/stub/test_gpu" "$work/stub/compute-sanitizer"
make_kit "$work/kit2" "$work/stub/test_gpu"
PATH="$work/stub:$PATH" "$work/kit2/device_check" run "$work/out2" 9 > "$work/log2" 2>&1 && fail "a failed smoke stage did not fail the run"
has "$work/calls" "test_gpu -ts=smoke sync= blocking="
has "$work/calls" "test_gpu -ts=smoke -tc=smoke: a 3x3 conv with bias on cuda matches the cpu sync=1 blocking=1"
has "$work/calls" "compute-sanitizer --tool memcheck --log-file"
[ "$(grep -c '^test_gpu' "$work/calls")" = 3 ] || { cat "$work/calls"; fail "test_gpu ran other than 3 times"; }
has "$work/out2/summary.txt" "smoke: FAILED"
has "$work/out2/summary.txt" "ERROR SUMMARY: 1 error"
has "$work/out2/summary.txt" "stopped after the smoke stage failed"
[ -e "$work/out2/gpu-tests.log" ] && fail "the GPU tests ran after a failed smoke stage"
echo "ok: a failed smoke stage reruns its case synchronously and under compute-sanitizer, then stops"
