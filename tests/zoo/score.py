#!/usr/bin/env python3
"""Score a (quantized) model of a zoo entry on its valid.npz.

usage: target/zoo-venv/peers/bin/python tests/zoo/score.py target/zoo/NAME --model Q.onnx|Q.xml [--runtime ort|ov]

--runtime defaults to ort for .onnx and ov for .xml. The model runs item by item, 1 thread
(OpenVINO: INFERENCE_PRECISION_HINT f32, so INT8 kernels are used for quantized layers and the
rest stays f32). The FP32 reference is MODEL_DIR/ref/ort.npz (ref/ov.npz for IR-only entries);
when missing it is computed first (same as reference.py).

Metric (meta.json "metric"):
  top1   argmax of the first output vs valid.npz "labels"; "fp32_value" = same for the reference.
  cosine mean over items of cos(first output, reference first output), flattened per item; when the
         first output has a single value per item (silero), one cosine across all items instead
         ("cosine_across_items": true).
  text_acc  (rapidocr_rec) exact-match greedy CTC decoding vs meta "texts"; fp32_value likewise.
  iou    mean over items of IoU(first output > t, reference > t), t = meta "iou_threshold" (0.3).
Always present too: "cosine" and "sqnr_db" of the first output vs the reference (sqnr over all items:
10*log10(sum ref^2 / sum (q-ref)^2)), "top1_agreement" (argmax over the last axis of the first
output equals the reference's, mean over items and positions), "shape_mismatch" (items whose first
output shape differs from the reference; they count cosine 0 and are left out of sqnr/agreement).
For rapidocr_rec (meta "texts"): "text_acc" and "fp32_text_acc", exact-match CTC greedy decoding.

Prints one JSON line: {"name", "metric", "value", "fp32_value", "loads": true, "runtime", "items",
"latency_ms", "cosine", "sqnr_db", "top1_agreement", "shape_mismatch", ...}; on any load or run
failure {"name", "loads": false, "runtime", "error"} and exit status 0.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import runners  # noqa: E402


def ensure_ref(model_dir, meta):
    ref = os.path.join(model_dir, "ref")
    want = "ort.npz" if meta.get("format") == "onnx" else "ov.npz"
    if not os.path.exists(os.path.join(ref, want)) or not os.path.exists(os.path.join(ref, "stacking.json")):
        import subprocess

        subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.py"),
                        model_dir], check=False, capture_output=True)
    if not os.path.exists(os.path.join(ref, want)):
        want = "ov.npz" if want == "ort.npz" else "ort.npz"
    refs = runners.load_npz(os.path.join(ref, want))
    with open(os.path.join(ref, "stacking.json")) as f:
        modes = json.load(f)
    return refs, modes, want


def cos(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(a @ b / (na * nb))


def ctc_decode(probs, charset):
    chars = ["<blank>"] + charset + [" "]
    idx = probs.reshape(-1, probs.shape[-1]).argmax(-1)
    out, prev = [], -1
    for k in idx:
        if k != prev and k != 0:
            out.append(chars[k] if k < len(chars) else "")
        prev = k
    return "".join(out)


def main():
    p = argparse.ArgumentParser(description="Score a quantized zoo model on valid.npz.")
    p.add_argument("model_dir")
    p.add_argument("--model", required=True)
    p.add_argument("--runtime", choices=["ort", "ov"])
    args = p.parse_args()
    d = os.path.abspath(args.model_dir)
    meta = runners.load_meta(d)
    runtime = args.runtime or ("ov" if args.model.endswith(".xml") else "ort")
    res = {"name": meta["name"], "metric": meta.get("metric", "cosine"), "runtime": runtime, "model": args.model}
    try:
        valid = runners.load_npz(os.path.join(d, "valid.npz"))
        refs, modes, ref_file = ensure_ref(d, meta)
        runner = runners.make_runner(runtime, os.path.abspath(args.model), list(valid))
        outs, ms = runners.run_items(runner, valid, meta.get("item_axis"))
    except Exception as exc:
        res.update({"loads": False, "error": f"{type(exc).__name__}: {exc}"[:3000]})
        print(json.dumps(res))
        return
    n = len(outs[0])
    first = list(modes)[0]
    ref_items = runners.unstack(refs, first, modes[first], n)
    q_items = [o if modes[first] == "concat" else (o[0] if o.ndim and o.shape[0] == 1 and modes[first] == "stack"
                                                   and ref_items[0].shape == o.shape[1:] else o)
               for o in outs[0]]
    mismatch = [i for i in range(n) if q_items[i].shape != ref_items[i].shape]
    coss = [0.0 if i in mismatch else cos(q_items[i], ref_items[i]) for i in range(n)]
    ok = [i for i in range(n) if i not in mismatch]
    scalar = all(r.size <= 1 for r in ref_items)
    if scalar and ok:  # one value per item (e.g. silero's speech probability): cosine across items
        c = cos(np.concatenate([q_items[i].ravel() for i in ok]), np.concatenate([ref_items[i].ravel() for i in ok]))
        coss = [0.0 if i in mismatch else c for i in range(n)]
    sig = sum(float(np.sum(ref_items[i].astype(np.float64) ** 2)) for i in ok)
    noise = sum(float(np.sum((q_items[i].astype(np.float64) - ref_items[i].astype(np.float64)) ** 2)) for i in ok)
    sqnr = float("inf") if noise == 0 else (10 * np.log10(sig / noise) if sig > 0 else float("-inf"))
    agree = []
    for i in ok:
        if q_items[i].ndim >= 1 and q_items[i].shape[-1] > 1:
            agree.append(float(np.mean(q_items[i].argmax(-1) == ref_items[i].argmax(-1))))
    res.update({"loads": True, "items": n, "latency_ms": round(ms, 4), "reference": ref_file,
                "cosine": float(np.mean(coss)), "sqnr_db": round(float(sqnr), 3) if np.isfinite(sqnr) else str(sqnr),
                "top1_agreement": float(np.mean(agree)) if agree else None, "shape_mismatch": len(mismatch),
                "cosine_across_items": bool(scalar),
                "fp32_value": None})
    metric = res["metric"]
    if metric == "top1" and "labels" in valid:
        labels = valid["labels"]
        pq = [q_items[i].reshape(-1, q_items[i].shape[-1])[0].argmax() for i in range(n)]
        pr = [ref_items[i].reshape(-1, ref_items[i].shape[-1])[0].argmax() for i in range(n)]
        res["value"] = float(np.mean(np.array(pq) == labels[:n]))
        res["fp32_value"] = float(np.mean(np.array(pr) == labels[:n]))
    elif metric == "iou":
        t = float(meta.get("iou_threshold", 0.3))
        ious = []
        for i in range(n):
            if i in mismatch:
                ious.append(0.0)
                continue
            a, b = q_items[i] > t, ref_items[i] > t
            u = np.logical_or(a, b).sum()
            ious.append(1.0 if u == 0 else float(np.logical_and(a, b).sum() / u))
        res["value"] = float(np.mean(ious))
        res["fp32_value"] = 1.0
    elif metric != "text_acc":
        res["metric"] = "cosine"
        res["value"] = res["cosine"]
        res["fp32_value"] = 1.0
    if meta.get("texts"):
        try:
            import onnx

            m = onnx.load(os.path.join(d, "model.onnx"), load_external_data=False)
            charset = next(pp.value for pp in m.metadata_props if pp.key == "character").splitlines()
            texts = meta["texts"][:n]
            res["text_acc"] = float(np.mean([ctc_decode(q_items[i], charset) == texts[i] for i in range(n)]))
            res["fp32_text_acc"] = float(np.mean([ctc_decode(ref_items[i], charset) == texts[i] for i in range(n)]))
            if metric == "text_acc":
                res["value"], res["fp32_value"] = res["text_acc"], res["fp32_text_acc"]
        except Exception as exc:
            res["text_acc_error"] = str(exc)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
