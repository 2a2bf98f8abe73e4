#!/usr/bin/env python3
"""TensorFlow side of `cargo xtask bench-quantize` for SavedModel fixtures.

    tf_bench.py quantize --model SAVED_MODEL --calib calib.npz --output out.tflite
        TFLite's post-training integer quantization of the FP32 SavedModel:
        `TFLiteConverter.from_saved_model` with default optimizations and a
        representative dataset of the calibration items (integer kernels,
        float where an op has none; float input and output). Prints
        {"quantize_s": seconds of the conversion}.

    tf_bench.py eval --reference SAVED_MODEL --model MODEL --valid valid.npz [--via-tflite]
        Scores MODEL against the FP32 SavedModel over valid.npz, as
        eval_quantized.py does for ONNX and IR: MODEL is a SavedModel
        directory (run in TensorFlow, or with --via-tflite converted by
        TFLite with default optimizations and no data, then run as TFLite) or
        a .tflite file. Prints one JSON line: top1 and ref_top1 (with
        `labels`), cosine_mean of the first output to FP32's per item,
        latency_ratio (against the FP32 model in the same runtime: TensorFlow,
        or the FP32 TFLite conversion), ref_latency_ms, model_bytes, ref_bytes.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402


def tree_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def items(npz):
    d = dict(np.load(npz))
    labels = d.pop("labels", None)
    n = len(next(iter(d.values())))
    return [{k: v[i : i + 1] for k, v in d.items()} for i in range(n)], labels


class SavedModelRunner:
    def __init__(self, path):
        import tensorflow as tf

        self.tf = tf
        self.fn = tf.saved_model.load(path).signatures["serving_default"]
        self.keys = list(self.fn.structured_input_signature[1].keys())
        self.out = sorted(self.fn.structured_outputs.keys())[0]

    def __call__(self, item):
        r = self.fn(**{k: self.tf.constant(item[k]) for k in self.keys})
        return r[self.out].numpy()


class TfliteRunner:
    def __init__(self, flat):
        import tensorflow as tf

        it = tf.lite.Interpreter(model_content=flat, num_threads=1)
        self.run = it.get_signature_runner("serving_default")
        self.keys = list(self.run.get_input_details().keys())
        self.out = sorted(self.run.get_output_details().keys())[0]

    def __call__(self, item):
        return self.run(**{k: item[k] for k in self.keys})[self.out]


def convert(saved_model, optimize, calib=None):
    """The TFLite flatbuffer of a SavedModel: float unless `optimize`; with
    `calib`, calibrated on its items."""
    import tensorflow as tf

    c = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=["serving_default"])
    if optimize:
        c.optimizations = [tf.lite.Optimize.DEFAULT]
    if calib is not None:
        data, _ = items(calib)
        c.representative_dataset = lambda: (dict(d) for d in data)
    return c.convert()


def latency_ms(run, item, reps=100):
    for _ in range(5):
        run(item)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run(item)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts) * 1e3)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quantize")
    q.add_argument("--model", required=True)
    q.add_argument("--calib", required=True)
    q.add_argument("--output", required=True)
    e = sub.add_parser("eval")
    e.add_argument("--reference", required=True)
    e.add_argument("--model", required=True)
    e.add_argument("--valid", required=True)
    e.add_argument("--via-tflite", action="store_true")
    a = ap.parse_args()
    if a.cmd == "quantize":
        t0 = time.perf_counter()
        flat = convert(a.model, True, a.calib)
        dt = time.perf_counter() - t0
        with open(a.output, "wb") as f:
            f.write(flat)
        print(json.dumps({"quantize_s": dt}))
        return 0
    data, labels = items(a.valid)
    ref = SavedModelRunner(a.reference)
    if a.model.endswith(".tflite") or a.via_tflite:
        if a.model.endswith(".tflite"):
            with open(a.model, "rb") as f:
                flat = f.read()
        else:
            flat = convert(a.model, True)
        model, model_bytes = TfliteRunner(flat), len(flat)
        timing_ref = TfliteRunner(convert(a.reference, False))
    else:
        model, model_bytes, timing_ref = SavedModelRunner(a.model), tree_bytes(a.model), ref
    want = [ref(d).reshape(-1) for d in data]
    got = [model(d).reshape(-1) for d in data]
    cos = [float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-30)) for x, y in zip(want, got)]
    r = {
        "cosine_mean": float(np.mean(cos)),
        "model_bytes": model_bytes,
        "ref_bytes": tree_bytes(a.reference),
    }
    if labels is not None:
        r["top1"] = float(np.mean([int(np.argmax(g)) == int(l) for g, l in zip(got, labels)]))
        r["ref_top1"] = float(np.mean([int(np.argmax(w)) == int(l) for w, l in zip(want, labels)]))
    ref_ms = latency_ms(timing_ref, data[0])
    r["ref_latency_ms"] = ref_ms
    r["latency_ratio"] = latency_ms(model, data[0]) / ref_ms
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
