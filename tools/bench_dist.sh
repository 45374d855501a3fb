#!/usr/bin/env bash
# Data parallel on one machine: train_mnist as 1 process x T threads against K MPI ranks x 1
# thread, same global batch, per model: images/s of the steady state (the wall time of a long and
# a short run differ by LONG-SHORT steps, so start-up, the final validation and mpirun's launch
# cancel out) and, from the K-rank run's closing line, the share of a step in the gradient
# allreduce. Prints a markdown table for docs/distributed.md. Does not build and takes no lock
# itself: run it as `flock /tmp/fg-cpu.lock tools/bench_dist.sh`.
# Env: MODELS (default "simple multiscale glow"), BATCH (64), K (2), T (2), SHORT (3), LONG (18),
#      BUILD_DIR (build), MNIST (data/mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
MODELS=${MODELS:-simple multiscale glow}
BATCH=${BATCH:-64} K=${K:-2} T=${T:-2} SHORT=${SHORT:-3} LONG=${LONG:-18}
MNIST=${MNIST:-data/mnist}
bin=$BUILD_DIR/apps/train_mnist/train_mnist
[ -x "$bin" ] || bin=$BUILD_DIR/apps/train_mnist
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun="mpirun --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 -np $K"
common="--data $MNIST --batch $BATCH --val-every 100000 --val-batches 1 --no-test --samples 1 --seed 1"

secs() {  # wall seconds of a command, its output in $out/log
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$out/log" 2>&1 || { cat "$out/log"; exit 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| model | params | 1 x $T threads img/s | $K ranks x 1 thread img/s | ratio | allreduce ms/step (share) | waited after backward |"
echo "|---|---|---|---|---|---|---|"
for m in $MODELS; do
  a_short=$(secs "$bin" --model "$m" $common --threads "$T" --max-steps "$SHORT" --out "$out/a")
  a_long=$(secs "$bin" --model "$m" $common --threads "$T" --max-steps "$LONG" --out "$out/b")
  params=$(sed -n 's/.*: \([0-9]*\) parameters;.*/\1/p' "$out/log" | head -1)
  b_short=$(secs $mpirun "$bin" --model "$m" $common --threads 1 --max-steps "$SHORT" --out "$out/c")
  b_long=$(secs $mpirun "$bin" --model "$m" $common --threads 1 --max-steps "$LONG" --out "$out/d")
  line=$(grep "parameters are bit-identical" "$out/log" || echo "?")
  reduce=$(echo "$line" | sed -n 's/.*the gradient allreduce \([0-9.]* ms\) (\([0-9]*%\),.*/\1 (\2)/p')
  wait=$(echo "$line" | sed -n 's/.*) and \([0-9.]* ms ([0-9]*%)\) waited.*/\1/p')
  n=$((LONG - SHORT))
  ia=$(echo "$n * $BATCH / ($a_long - $a_short)" | bc -l)
  ib=$(echo "$n * $BATCH / ($b_long - $b_short)" | bc -l)
  printf "| %s | %s | %.1f | %.1f | %.2f | %s | %s |\n" "$m" "$params" "$ia" "$ib" "$(echo "$ib / $ia" | bc -l)" \
    "$reduce" "$wait"
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
