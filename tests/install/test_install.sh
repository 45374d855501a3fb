#!/usr/bin/env bash
# The library as a user gets it: `meson install` into a temporary directory, then the three
# examples compiled with nothing but `c++ -std=c++20 example.cpp $(pkg-config --cflags --libs
# flowgrad)` and run (the 2-D fit, the custom coupling trained on MNIST, a checkpoint written by
# the installed train_mnist evaluated), and examples/ built as a meson project of its own against
# the installed flowgrad (dependency('flowgrad') through pkg-config).
# Environment (set by tests/meson.build): BUILD_DIR, SOURCE_DIR, INSTALL_PREFIX, INSTALL_LIBDIR,
# FLOWGRAD_TEST_MNIST.
set -euo pipefail
mnist="${FLOWGRAD_MNIST:-${MNIST_DIR:-${FLOWGRAD_TEST_MNIST:-}}}"
if [ ! -e "$mnist/train-images-idx3-ubyte" ] && [ ! -e "$mnist/train-images-idx3-ubyte.gz" ]; then
  echo "test_install: skipped: needs MNIST (tools/fetch_mnist, or set FLOWGRAD_MNIST)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stage() { echo "== $*"; }

stage "meson install --destdir $tmp"
meson install -C "$BUILD_DIR" --destdir "$tmp" --no-rebuild --quiet
root="$tmp$INSTALL_PREFIX"
export PKG_CONFIG_PATH="$root/$INSTALL_LIBDIR/pkgconfig"
export LD_LIBRARY_PATH="$root/$INSTALL_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
test -f "$root/include/flowgrad/flowgrad.h"
test ! -e "$root/include/flowgrad/tensor/backend.h"  # internals stay out of the install
flags=$(pkg-config --cflags --libs flowgrad)
echo "pkg-config --cflags --libs flowgrad: $flags"

for ex in fit_2d custom_coupling evaluate_checkpoint; do
  stage "c++ -std=c++20 examples/$ex.cpp \$(pkg-config --cflags --libs flowgrad)"
  # shellcheck disable=SC2086
  c++ -std=c++20 -O1 "$SOURCE_DIR/examples/$ex.cpp" $flags -o "$tmp/$ex"
done

stage "fit_2d"
"$tmp/fit_2d"
stage "custom_coupling"
"$tmp/custom_coupling" "$mnist"
stage "the installed train_mnist writes a checkpoint; evaluate_checkpoint reads it"
"$root/bin/train_mnist" --model simple --data "$mnist" --batch 16 --max-steps 2 --val-batches 1 --samples 4 \
  --no-test --out "$tmp/run" 2>&1 | tail -n 2
"$tmp/evaluate_checkpoint" "$tmp/run/last.safetensors" "$mnist" "$tmp/samples.png"
test -s "$tmp/samples.png"

stage "examples/ as a meson project against the installed flowgrad"
meson setup "$tmp/examples-build" "$SOURCE_DIR/examples" --buildtype=debugoptimized > "$tmp/setup.log" \
  || { cat "$tmp/setup.log"; exit 1; }
grep -q "Run-time dependency flowgrad found: YES" "$tmp/setup.log"
ninja -C "$tmp/examples-build" > "$tmp/ninja.log" || { cat "$tmp/ninja.log"; exit 1; }
"$tmp/examples-build/fit_2d" > /dev/null
echo "test_install: ok"
