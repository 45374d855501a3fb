#!/usr/bin/env bash
# Runs the conv2d benchmark of flowgrad and of PyTorch in one go (same machine, same run) and prints
# shape, flowgrad median, torch median and ratio (ours/torch) of fwd+bwd. Does not build and takes
# no lock itself: run it as `flock /tmp/fg-build.lock bash tools/bench_conv.sh [options]`.
# Options (passed to both): --batch N --reps N --warmup N --threads N --filter SUBSTR.
# Env: BUILD_DIR (default build), PYTHON (default /usr/bin/python3), KEEP=DIR keeps the JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
if [[ -n "${KEEP:-}" ]]; then out=$KEEP; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi

"$BUILD_DIR/tools/bench_conv" --json "$@" | tee "$out/flowgrad.jsonl"
"$PYTHON" tools/bench_conv_torch.py --json "$@" | tee "$out/torch.jsonl"

"$PYTHON" - "$out/flowgrad.jsonl" "$out/torch.jsonl" <<'EOF'
import json, sys
ours = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
torch = {r["shape"]: r for r in (json.loads(l) for l in open(sys.argv[2]) if l.strip())}
r0 = ours[0] if ours else {}
print(f"\nconv2d fwd+bwd, batch {r0.get('batch')}, threads {r0.get('threads')}, median of {r0.get('reps')} reps (ms)")
print(f"{'shape':28s} {'fg fwd':>8s} {'fg bwd':>8s} {'flowgrad':>9s} {'th fwd':>8s} {'th bwd':>8s} {'torch':>9s} {'ratio':>6s}")
for r in ours:
    t = torch.get(r["shape"])
    if t is None:
        print(f"{r['shape']:28s} {r['fwd_ms_median']:8.2f} {r['bwd_ms_median']:8.2f} {r['total_ms_median']:9.2f}  (no torch row)")
        continue
    ratio = r["total_ms_median"] / t["total_ms_median"]
    flag = "  <- slower" if ratio > 1.0 else ""
    print(f"{r['shape']:28s} {r['fwd_ms_median']:8.2f} {r['bwd_ms_median']:8.2f} {r['total_ms_median']:9.2f}"
          f" {t['fwd_ms_median']:8.2f} {t['bwd_ms_median']:8.2f} {t['total_ms_median']:9.2f} {ratio:6.2f}{flag}")
sum_o = sum(r["total_ms_median"] for r in ours if r["shape"] in torch)
sum_t = sum(torch[r["shape"]]["total_ms_median"] for r in ours if r["shape"] in torch)
if sum_t:
    print(f"{'sum':28s} {'':8s} {'':8s} {sum_o:9.2f} {'':8s} {'':8s} {sum_t:9.2f} {sum_o / sum_t:6.2f}")
EOF
