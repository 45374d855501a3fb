#!/usr/bin/env python3
"""An independent safetensors reader, written from the format's spec (numpy only, no flowgrad
code): an 8-byte little-endian header length N, N bytes of JSON (tensor entries with dtype,
shape and data_offsets relative to the data section; an optional __metadata__ of strings), then
the data. Prints one JSON object: for each tensor its dtype, shape, sum, first values, and whether
its bytes match the CRC32 that flowgrad stores as __metadata__["crc32.<name>"] (null if absent).
The suite (tests/nn/test_safetensors.cpp) compares this with flowgrad's own loader."""
import json
import sys
import zlib

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "U8": "u1", "F16": "<f2", "I64": "<i8"}


def main(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        buf = data[begin:end]
        arr = np.frombuffer(buf, dtype=DTYPES[e["dtype"].upper()]).reshape(e["shape"])
        crc = meta.get("crc32." + name)
        out[name] = {
            "dtype": e["dtype"].upper(),
            "shape": list(arr.shape),
            "sum": float(arr.astype(np.float64).sum()),
            "first": [float(v) for v in arr.reshape(-1)[:4].astype(np.float64)],
            "crc_ok": None if crc is None else (int(crc, 16) == (zlib.crc32(buf) & 0xFFFFFFFF)),
        }
    print(json.dumps({"tensors": out, "metadata": {k: v for k, v in meta.items() if not k.startswith("crc32.")}}))


if __name__ == "__main__":
    main(sys.argv[1])
