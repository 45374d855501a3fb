#!/usr/bin/env bash
# Runs the conv2d benchmark of flowgrad (build/tools/bench_conv) and of PyTorch
# (tools/bench_conv_torch.py) in the same run, alternating ROUNDS times (flowgrad, torch, flowgrad,
# torch, ...) so that load from elsewhere hits both sides, then prints per shape the flowgrad and
# torch medians of fwd+bwd (median over rounds of each round's median) and the ratio ours/torch.
# Does not build and takes no lock itself: run it as `flock /tmp/fg-build.lock bash tools/bench_conv.sh`.
# Options (passed to both programs): --batch N --reps N --warmup N --threads N --filter SUBSTR.
# Env: ROUNDS (default 3), BUILD_DIR (default build), PYTHON (default /usr/bin/python3),
#      KEEP=DIR keeps the JSON lines there.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
ROUNDS=${ROUNDS:-3}
if [[ -n "${KEEP:-}" ]]; then out=$KEEP; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
: >"$out/flowgrad.jsonl"
: >"$out/torch.jsonl"

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (2-core machine: other jobs skew the numbers)"
for ((r = 1; r <= ROUNDS; r++)); do
  echo "round $r/$ROUNDS: flowgrad, torch"
  "$BUILD_DIR/tools/bench_conv" --json "$@" >>"$out/flowgrad.jsonl"
  "$PYTHON" tools/bench_conv_torch.py --json "$@" >>"$out/torch.jsonl"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" - "$out/flowgrad.jsonl" "$out/torch.jsonl" <<'EOF'
import json, statistics, sys

def load(path):  # shape -> list of records (one per round), in first-seen order
    rows = {}
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            rows.setdefault(r["shape"], []).append(r)
    return rows

def med(recs, field):
    return statistics.median(r[field] for r in recs)

ours, torch = load(sys.argv[1]), load(sys.argv[2])
first = next(iter(ours.values()))[0]
print(f"\nconv2d fwd+bwd, batch {first['batch']}, threads {first['threads']}, {first['reps']} reps per round, "
      f"{len(next(iter(ours.values())))} rounds; ms, median over rounds of per-round medians")
print(f"{'shape':28s} {'fg fwd':>7s} {'fg bwd':>7s} {'flowgrad':>9s} {'th fwd':>7s} {'th bwd':>7s} {'torch':>9s} {'ratio':>6s}")
sum_o = sum_t = 0.0
for shape, recs in ours.items():
    o = [med(recs, f) for f in ("fwd_ms_median", "bwd_ms_median", "total_ms_median")]
    line = f"{shape:28s} {o[0]:7.2f} {o[1]:7.2f} {o[2]:9.2f}"
    if shape in torch:
        t = [med(torch[shape], f) for f in ("fwd_ms_median", "bwd_ms_median", "total_ms_median")]
        ratio = o[2] / t[2]
        sum_o, sum_t = sum_o + o[2], sum_t + t[2]
        line += f" {t[0]:7.2f} {t[1]:7.2f} {t[2]:9.2f} {ratio:6.2f}" + ("  <- flowgrad slower" if ratio > 1 else "")
    print(line)
if sum_t:
    print(f"{'sum':28s} {'':7s} {'':7s} {sum_o:9.2f} {'':7s} {'':7s} {sum_t:9.2f} {sum_o / sum_t:6.2f}")
EOF
