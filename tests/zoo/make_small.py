#!/usr/bin/env python3
"""Copy small zoo entries from target/zoo into tests/zoo/small/, for CI (`cargo xtask zoo --small`).

usage: target/zoo-venv/peers/bin/python tests/zoo/make_small.py NAME [NAME...] [--items N] [--max-kb K]

Copies model.onnx / model.xml+bin and meta.json, and the first N items (default 16) of calib.npz
and valid.npz (labels included; the item layout of runners.py, meta "item_axis"), written
compressed. Refuses any file larger than K KiB (default 900): committed files stay under 1 MB.
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def subset(arrays, names, item_axis, n):
    out = {}
    total = common.n_items(arrays, names, item_axis)
    n = min(n, total)
    for k, a in arrays.items():
        axis = (item_axis or {}).get(k, 0) if k in names else 0
        if axis is None:
            out[k] = a[:n]
        else:
            out[k] = np.take(a, np.arange(n), axis=axis)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("names", nargs="+")
    p.add_argument("--items", type=int, default=16)
    p.add_argument("--max-kb", type=int, default=900)
    args = p.parse_args()
    for name in args.names:
        src = os.path.join(ROOT, "target", "zoo", name)
        dst = os.path.join(HERE, "small", name)
        with open(os.path.join(src, "meta.json")) as f:
            meta = json.load(f)
        names = list(meta["inputs"])
        os.makedirs(dst, exist_ok=True)
        for f in ("model.onnx", "model.xml", "model.bin", "meta.json"):
            if os.path.exists(os.path.join(src, f)):
                shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))
        for split in ("calib", "valid"):
            with np.load(os.path.join(src, f"{split}.npz"), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            np.savez_compressed(os.path.join(dst, f"{split}.npz"), **subset(arrays, names, meta.get("item_axis"), args.items))
        for f in os.listdir(dst):
            kb = os.path.getsize(os.path.join(dst, f)) / 1024
            if kb > args.max_kb:
                shutil.rmtree(dst)
                sys.exit(f"{name}/{f} is {kb:.0f} KiB > {args.max_kb}: not copied")
        print(name, {f: os.path.getsize(os.path.join(dst, f)) for f in sorted(os.listdir(dst))})


if __name__ == "__main__":
    main()
