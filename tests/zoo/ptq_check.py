#!/usr/bin/env python3
"""Checks of ptq's own outputs on a zoo entry, for `cargo xtask zoo` (xtask/src/zoo.rs).

usage (with the peers virtualenv's python):
  ptq_check.py items MODEL_DIR OUT_DIR
      Writes the items of MODEL_DIR/valid.npz as OUT_DIR/item_NNNN.npz, one file per item,
      arrays named after the model inputs (the item layout of runners.py), for
      `ptq run --input OUT_DIR`.
  ptq_check.py distance MODEL_DIR PTQ_OUT_DIR
      Compares ptq's per-item outputs (PTQ_OUT_DIR/item_NNNN.npz, from `ptq run`) with the
      FP32 reference of reference.py (ref/ort.npz, or ref/ov.npz for an IR entry).
  ptq_check.py measure -- CMD [ARGS...]
      Runs CMD and prints its wall time and peak resident memory (its own and its children's).
  ptq_check.py same MODEL_DIR CONVERTED
      Runs CONVERTED (the model written back by `ptq convert`) in the reference's runtime
      (onnxruntime for ONNX, OpenVINO for IR) on the same items and compares its outputs with
      the reference bit for bit.

Each prints one JSON line:
  distance: {"max_abs", "max_rel", "outputs": {name: {"max_abs", "max_rel", "shape_mismatch"}},
             "missing": [outputs ptq did not write]}
  measure:  {"exit", "wall_s", "peak_rss_mb"} (the command's output goes to this process's stderr)
  same:     {"bitwise": bool, "max_abs", "differing": [output names], "error"?}
max_rel is max |a - ref| / max |ref| per output; the top level holds the maxima over outputs.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402
import runners  # noqa: E402


def reference(model_dir):
    """(runtime, {output: [per-item arrays]}) from ref/*.npz and ref/stacking.json."""
    meta = runners.load_meta(model_dir)
    runtime = "ort" if meta.get("format", "onnx") == "onnx" else "ov"
    ref = runners.load_npz(os.path.join(model_dir, "ref", f"{runtime}.npz"))
    with open(os.path.join(model_dir, "ref", "stacking.json")) as f:
        modes = json.load(f)
    items = {}
    for name, mode in modes.items():
        if mode == "concat":
            items[name] = [ref[name][i : i + 1] for i in range(ref[name].shape[0])]
        elif mode == "stack":
            items[name] = [ref[name][i] for i in range(ref[name].shape[0])]
        else:
            keys = sorted((k for k in ref if k.startswith(name + "#")), key=lambda k: int(k.rsplit("#", 1)[1]))
            items[name] = [ref[k] for k in keys]
    return runtime, items


def distance(got_items, ref_items):
    max_abs, max_ref, mismatch = 0.0, 0.0, 0
    for a, b in zip(got_items, ref_items):
        if a is None or a.shape != b.shape:
            mismatch += 1
            continue
        if b.size == 0:
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        with np.errstate(invalid="ignore"):
            d = np.abs(a64 - b64)
        d[(a64 == b64) | (np.isnan(a64) & np.isnan(b64))] = 0.0
        max_abs = max(max_abs, float(np.max(d)))
        finite = np.abs(b64[np.isfinite(b64)])
        if finite.size:
            max_ref = max(max_ref, float(np.max(finite)))
    if mismatch:
        max_abs = float("inf")
    rel = max_abs / max_ref if max_ref > 0 else (0.0 if max_abs == 0 else float("inf"))
    return {"max_abs": max_abs, "max_rel": rel, "shape_mismatch": mismatch}


def cmd_items(args):
    d = os.path.abspath(args.model_dir)
    meta = runners.load_meta(d)
    valid = runners.load_npz(os.path.join(d, f"{args.split}.npz"))
    names = [n for n in meta["inputs"]] if isinstance(meta.get("inputs"), dict) else [k for k in valid if k != "labels"]
    item_axis = meta.get("item_axis")
    os.makedirs(args.out_dir, exist_ok=True)
    n = common.n_items(valid, names, item_axis)
    for i in range(n):
        common.save_npz(os.path.join(args.out_dir, f"item_{i:04d}.npz"), common.feed(valid, names, i, item_axis))
    print(json.dumps({"items": n, "inputs": names}))


def cmd_distance(args):
    _, ref = reference(os.path.abspath(args.model_dir))
    files = sorted(f for f in os.listdir(args.ptq_out) if f.endswith(".npz"))
    got = [runners.load_npz(os.path.join(args.ptq_out, f)) for f in files]
    res = {"outputs": {}, "missing": []}
    for name, ref_items in ref.items():
        if not all(name in g for g in got):
            res["missing"].append(name)
            continue
        res["outputs"][name] = distance([g[name] for g in got], ref_items)
    vals = list(res["outputs"].values())
    res["max_abs"] = max((v["max_abs"] for v in vals), default=None)
    res["max_rel"] = max((v["max_rel"] for v in vals), default=None)
    print(json.dumps(res))


def cmd_same(args):
    d = os.path.abspath(args.model_dir)
    meta = runners.load_meta(d)
    runtime, ref = reference(d)
    valid = runners.load_npz(os.path.join(d, "valid.npz"))
    res = {"bitwise": False, "max_abs": None, "differing": []}
    try:
        runner = runners.make_runner(runtime, os.path.abspath(args.converted), input_names=list(valid))
        outs, _ = runners.run_items(runner, valid, meta.get("item_axis"))
    except Exception as exc:
        res["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        print(json.dumps(res))
        return
    got = dict(zip(runner.output_names, outs))
    worst = 0.0
    for name, ref_items in ref.items():
        items = got.get(name)
        if items is None or len(items) != len(ref_items):
            res["differing"].append(name)
            continue
        same = all(a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
                   for a, b in zip(items, ref_items))
        if not same:
            res["differing"].append(name)
            worst = max(worst, distance(items, ref_items)["max_abs"])
    res["bitwise"] = not res["differing"]
    res["max_abs"] = worst
    print(json.dumps(res))


def cmd_measure(args):
    import resource
    import subprocess
    import time

    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=sys.stderr)
    wall = time.perf_counter() - t0
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"exit": r.returncode, "wall_s": wall, "peak_rss_mb": rss_kb / 1024.0}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("items")
    a.add_argument("model_dir")
    a.add_argument("out_dir")
    a.add_argument("--split", default="valid", choices=["valid", "calib"])
    a.set_defaults(f=cmd_items)
    a = sub.add_parser("measure")
    a.add_argument("command", nargs=argparse.REMAINDER)
    a.set_defaults(f=cmd_measure)
    a = sub.add_parser("distance")
    a.add_argument("model_dir")
    a.add_argument("ptq_out")
    a.set_defaults(f=cmd_distance)
    a = sub.add_parser("same")
    a.add_argument("model_dir")
    a.add_argument("converted")
    a.set_defaults(f=cmd_same)
    args = p.parse_args()
    args.f(args)


if __name__ == "__main__":
    main()
