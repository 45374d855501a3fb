#!/usr/bin/env python3
"""bench_conv_torch.py - PyTorch (CPU, fp32) counterpart of tools/bench_conv.cpp.

Times F.conv2d forward, then torch.autograd.grad w.r.t. input, weight and bias with a random
upstream gradient, at the same GatedConvNet shapes, with the same warmups/reps and JSON fields
("impl": "torch"). Run with Debian's interpreter: /usr/bin/python3 tools/bench_conv_torch.py --json
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

# (hw, cin, cout, k, note): must match shapes() in bench_conv.cpp, the table joins on the name.
SHAPES = [
    (28, 1, 32, 3, "first"), (28, 32, 32, 3, "gated v1"), (28, 64, 32, 3, "gated v2"),
    (28, 64, 64, 1, "gated"), (28, 64, 2, 3, "last"),
    (14, 4, 48, 3, "first"), (14, 48, 48, 3, "gated v1"), (14, 96, 48, 3, "gated v2"),
    (14, 96, 96, 1, "gated"), (14, 96, 8, 3, "last"),
    (7, 8, 64, 3, "first"), (7, 64, 64, 3, "gated v1"), (7, 128, 64, 3, "gated v2"),
    (7, 128, 128, 1, "gated"), (7, 128, 16, 3, "last"),
]


def name_of(hw, cin, cout, k, note):
    return f"{hw}x{hw} {cin}->{cout} k{k} ({note})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--filter", default="")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1234)
    if not a.json:
        print(f"torch {torch.__version__} conv2d, batch {a.batch}, threads {torch.get_num_threads()}, "
              f"{a.reps} reps after {a.warmup} warmups (median ms)")
    for hw, cin, cout, k, note in SHAPES:
        name = name_of(hw, cin, cout, k, note)
        if a.filter and a.filter not in name:
            continue
        x = torch.randn(a.batch, cin, hw, hw, requires_grad=True)
        w = (0.1 * torch.randn(cout, cin, k, k)).requires_grad_()
        b = (0.1 * torch.randn(cout)).requires_grad_()
        dy = torch.randn(a.batch, cout, hw, hw)
        fwd, bwd, tot = [], [], []
        for r in range(a.warmup + a.reps):
            t0 = time.perf_counter()
            y = F.conv2d(x, w, b, padding=k // 2)
            t1 = time.perf_counter()
            torch.autograd.grad(y, (x, w, b), dy)
            t2 = time.perf_counter()
            if r < a.warmup:
                continue
            fwd.append(1e3 * (t1 - t0))
            bwd.append(1e3 * (t2 - t1))
            tot.append(1e3 * (t2 - t0))
        rec = {"impl": "torch", "shape": name, "batch": a.batch, "threads": a.threads, "reps": a.reps,
               "fwd_ms_median": round(statistics.median(fwd), 4),
               "bwd_ms_median": round(statistics.median(bwd), 4),
               "total_ms_median": round(statistics.median(tot), 4)}
        if a.json:
            print(json.dumps(rec, separators=(",", ":")), flush=True)
        else:
            print(f"{name:28s} fwd {rec['fwd_ms_median']:9.3f}  bwd {rec['bwd_ms_median']:9.3f}  "
                  f"total {rec['total_ms_median']:9.3f}", flush=True)


if __name__ == "__main__":
    main()
