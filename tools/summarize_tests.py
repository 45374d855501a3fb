#!/usr/bin/env python3
"""Prints one plain line 'tests: N passed, N failed, N skipped' from meson's testlog.json,
counting doctest cases inside each test executable (meson's own summary counts executables)."""
import json
import re
import sys

log = sys.argv[1] if len(sys.argv) > 1 else "build/meson-logs/testlog.json"
rx = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed\s*\|\s*(\d+) skipped")
p = f = s = 0
for line in open(log):
    r = json.loads(line)
    m = rx.search(r.get("stdout") or "")
    if m and r["result"] in ("OK", "FAIL"):
        p += int(m[2]); f += int(m[3]); s += int(m[4])
        if r["result"] == "FAIL" and int(m[3]) == 0:
            f += 1  # crashed or timed out outside a test case
    elif r["result"] in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r["result"] == "SKIP":
        s += 1
    else:
        f += 1
print(f"tests: {p} passed, {f} failed, {s} skipped")
