#!/usr/bin/env python3
"""Score a quantized model against its FP32 reference in the format's runtime.

usage: python3 tests/tools/eval_quantized.py --reference FP32.onnx --model M.onnx
       --valid valid.npz [--iters N] [--warmup N] [--threads N]

ONNX models (.onnx) run in onnxruntime; OpenVINO IR models (.xml with their
.bin) run in OpenVINO runtime's CPU plugin (f32 inference precision, so
FakeQuantize-marked layers run in int8 and the rest in f32; one stream,
--threads inference threads). Reference and model may be in different
formats.

VALID.npz holds one array per model input, keyed by input name, with a
leading item axis (item i is `arr[i:i+1]`, a batch of one), and for
classifiers an int `labels` array with one label per item.

Both models run in onnxruntime (CPU execution provider, default graph
optimization level, so QDQ pairs are fused into integer kernels; 1 intra-op
thread by default) over every item. Prints one JSON line:

  items                  number of validation items
  top1, ref_top1         (only with `labels`) top-1 accuracy as a fraction,
                         argmax over the last axis of the first output
  cosine_mean, cosine_min  cosine similarity between the model's and the
                         reference's first output, flattened, per item
  latency_ms, ref_latency_ms  median onnxruntime latency at batch 1 (item 0),
                         over --iters runs after --warmup runs, the two
                         models timed in alternating blocks
  latency_ratio          latency_ms / ref_latency_ms (INT8 / FP32)
  model_bytes, ref_bytes model file sizes (plus `<file>.data` if present)
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import onnxruntime as ort


def session(path, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


class OvSession:
    """The subset of onnxruntime's InferenceSession used here, over OpenVINO."""

    def __init__(self, path, threads):
        import openvino as ov

        core = ov.Core()
        config = {
            "INFERENCE_PRECISION_HINT": "f32",
            "NUM_STREAMS": "1",
            "INFERENCE_NUM_THREADS": str(threads),
            "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": "NO",
        }
        self.compiled = core.compile_model(core.read_model(path), "CPU", config)
        self.request = self.compiled.create_infer_request()

    def input_names(self):
        return [p.get_any_name() for p in self.compiled.inputs]

    def run_first(self, feeds):
        ports = {n: p for p in self.compiled.inputs for n in p.get_names()}
        self.request.infer({ports[k]: v for k, v in feeds.items()})
        return np.array(self.request.get_output_tensor(0).data, copy=True)

    def runtime(self):
        import openvino as ov

        return "openvino " + ov.__version__.split("-")[0]


class OrtSession:
    def __init__(self, path, threads):
        self.sess = session(path, threads)

    def input_names(self):
        return [i.name for i in self.sess.get_inputs()]

    def run_first(self, feeds):
        return self.sess.run([self.sess.get_outputs()[0].name], feeds)[0]

    def runtime(self):
        return "onnxruntime " + ort.__version__


def open_model(path, threads):
    return OvSession(path, threads) if path.endswith(".xml") else OrtSession(path, threads)


def model_bytes(path):
    size = os.path.getsize(path)
    extra = [path + ".data"]
    if path.endswith(".xml"):
        extra.append(path[:-4] + ".bin")
    return size + sum(os.path.getsize(e) for e in extra if os.path.exists(e))


def cosine(a, b):
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float(np.dot(a, b) / (na * nb))


def latencies(sessions, feeds, warmup, iters, block=25):
    """Median ms per session; sessions are timed in alternating blocks."""
    for s in sessions:
        for _ in range(warmup):
            s.run_first(feeds)
    times = [[] for _ in sessions]
    done = 0
    while done < iters:
        n = min(block, iters - done)
        for s, t in zip(sessions, times):
            for _ in range(n):
                t0 = time.perf_counter()
                s.run_first(feeds)
                t.append((time.perf_counter() - t0) * 1e3)
        done += n
    return [statistics.median(t) for t in times]


def main():
    p = argparse.ArgumentParser(description="Accuracy, cosine similarity and latency of a quantized model.")
    p.add_argument("--reference", required=True, help="FP32 model (.onnx or .xml)")
    p.add_argument("--model", required=True, help="quantized model (.onnx or .xml)")
    p.add_argument("--valid", required=True, help="validation .npz (leading item axis, optional labels)")
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()

    ref = open_model(a.reference, a.threads)
    sess = open_model(a.model, a.threads)
    names = ref.input_names()
    with np.load(a.valid, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    missing = [n for n in names if n not in arrays]
    if missing:
        raise SystemExit(f"error: {a.valid} lacks model input(s): {', '.join(missing)}")
    n = len(arrays[names[0]])
    labels = arrays.get("labels")

    cos, hits, ref_hits = [], 0, 0
    for i in range(n):
        feeds = {k: arrays[k][i:i + 1] for k in names}
        y_ref = ref.run_first(feeds)
        y = sess.run_first(feeds)
        cos.append(cosine(y, y_ref))
        if labels is not None:
            hits += int(np.argmax(y.reshape(-1, y.shape[-1])[0]) == labels[i])
            ref_hits += int(np.argmax(y_ref.reshape(-1, y_ref.shape[-1])[0]) == labels[i])

    feeds = {k: arrays[k][0:1] for k in names}
    lat, ref_lat = latencies([sess, ref], feeds, a.warmup, a.iters)
    out = {"items": n}
    if labels is not None:
        out["top1"] = hits / n
        out["ref_top1"] = ref_hits / n
    out.update({
        "cosine_mean": float(np.mean(cos)),
        "cosine_min": float(np.min(cos)),
        "latency_ms": round(lat, 5),
        "ref_latency_ms": round(ref_lat, 5),
        "latency_ratio": round(lat / ref_lat, 4),
        "model_bytes": model_bytes(a.model),
        "ref_bytes": model_bytes(a.reference),
        "threads": a.threads,
        "runtime": sess.runtime(),
    })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
