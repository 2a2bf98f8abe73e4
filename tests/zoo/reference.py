#!/usr/bin/env python3
"""FP32 reference outputs of a zoo entry on valid.npz: onnxruntime and OpenVINO, and their distance.

usage: target/zoo-venv/peers/bin/python tests/zoo/reference.py target/zoo/NAME [--json]

Writes MODEL_DIR/ref/ort.npz (onnxruntime 1 thread, CPUExecutionProvider; skipped for an
IR-only entry), MODEL_DIR/ref/ov.npz (OpenVINO CPU, INFERENCE_PRECISION_HINT=f32, 1 thread)
and MODEL_DIR/ref/stacking.json ({output name: "concat"|"stack"|"ragged"}, see runners.py).
npz keys are the model's output names (ONNX names; for IR, the port's first name).

Prints one JSON line (last line of stdout):
{"name", "format", "items", "ort_ms_per_item", "ov_ms_per_item", "stacking": {out: mode},
 "outputs": {out: {"max_abs", "max_rel", "shape_mismatch"}}, "max_abs", "max_rel", "errors": {...}}
max_abs = max |ov - ort| over all items and elements; max_rel = max_abs / max |ort| (per output);
the top-level max_abs/max_rel are the maxima over outputs. For ragged outputs the distance is
taken per item (items whose shapes differ count in shape_mismatch and are skipped). When one
runtime fails, its error is in "errors" and the distances are null. Exit status 0 unless the
folder itself is unusable. --json is accepted for symmetry (output is always JSON).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import runners  # noqa: E402


def distance(ort_items, ov_items):
    max_abs, max_ref, mismatch = 0.0, 0.0, 0
    for a, b in zip(ov_items, ort_items):
        if a.shape != b.shape:
            mismatch += 1
            continue
        if a.size == 0:
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        max_abs = max(max_abs, float(np.max(np.abs(a64 - b64))))
        max_ref = max(max_ref, float(np.max(np.abs(b64))))
    rel = max_abs / max_ref if max_ref > 0 else (0.0 if max_abs == 0 else float("inf"))
    return {"max_abs": max_abs, "max_rel": rel, "shape_mismatch": mismatch}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("model_dir")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    d = os.path.abspath(args.model_dir)
    meta = runners.load_meta(d)
    valid = runners.load_npz(os.path.join(d, "valid.npz"))
    item_axis = meta.get("item_axis")
    path = runners.model_file(d)
    ref_dir = os.path.join(d, "ref")
    os.makedirs(ref_dir, exist_ok=True)
    res = {"name": meta["name"], "format": meta.get("format"), "items": None, "ort_ms_per_item": None,
           "ov_ms_per_item": None, "stacking": {}, "outputs": {}, "max_abs": None, "max_rel": None, "errors": {}}
    ort_out = ov_out = None
    names = None
    if path.endswith(".onnx"):
        try:
            r = runners.OrtRunner(path)
            names = r.output_names
            ort_out, res["ort_ms_per_item"] = runners.run_items(r, valid, item_axis)
            arrays, modes = runners.stack_outputs(names, ort_out)
            np.savez(os.path.join(ref_dir, "ort.npz"), **arrays)
            res["stacking"] = modes
            res["items"] = len(ort_out[0])
        except Exception as exc:
            res["errors"]["ort"] = f"{type(exc).__name__}: {exc}"[:2000]
    try:
        if path.endswith(".onnx"):
            ins, outs = runners.onnx_io_names(path)
            r = runners.OvRunner(path, outs, ins)
        else:
            r = runners.OvRunner(path, None, list(valid))
        names = r.output_names
        ov_out, res["ov_ms_per_item"] = runners.run_items(r, valid, item_axis)
        arrays, modes = runners.stack_outputs(names, ov_out)
        np.savez(os.path.join(ref_dir, "ov.npz"), **arrays)
        if not res["stacking"]:
            res["stacking"] = modes
        res["items"] = res["items"] or len(ov_out[0])
    except Exception as exc:
        res["errors"]["ov"] = f"{type(exc).__name__}: {exc}"[:2000]
    with open(os.path.join(ref_dir, "stacking.json"), "w") as f:
        json.dump(res["stacking"], f)
    if ort_out is not None and ov_out is not None:
        for name, a, b in zip(names, ort_out, ov_out):
            res["outputs"][name] = distance(a, b)
        vals = list(res["outputs"].values())
        res["max_abs"] = max(v["max_abs"] for v in vals)
        res["max_rel"] = max(v["max_rel"] for v in vals)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
