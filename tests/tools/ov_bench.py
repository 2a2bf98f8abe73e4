"""Time a model in OpenVINO's CPU plugin on synthetic inputs, the way `ptq bench` does.

usage: python3 tests/tools/ov_bench.py MODEL.xml|MODEL.onnx [--batch N] [--threads N]
       [--dim name=value ...] [--warmup N] [--iters N]

The model is reshaped to static shapes first: the first dynamic dim of each
input is the batch; OpenVINO does not keep ONNX's dim names, so every other
dynamic dim takes the value of the one --dim given (128 without one; more
than one --dim is an error). f32
inference precision (`INFERENCE_PRECISION_HINT=f32`, so FakeQuantize-marked
layers run on the int8 kernels and the rest in f32, never bf16), one stream,
--threads inference threads (0: OpenVINO's default). Inputs: floats uniform
in [-1, 1), integers 1. Prints one JSON object with the median latency.
"""
import argparse
import json
import statistics
import time

import numpy as np
import openvino as ov


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--dim", action="append", default=[])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    a = p.parse_args()
    dims = dict((k, int(v)) for k, v in (d.split("=", 1) for d in a.dim))
    core = ov.Core()
    model = core.read_model(a.model)
    if len(dims) > 1:
        p.error("at most one --dim: OpenVINO does not keep the names of dynamic dims")
    other = next(iter(dims.values()), 128)
    shapes = {}
    for port in model.inputs:
        first = True
        shape = []
        for d in port.get_partial_shape():
            if d.is_static:
                shape.append(d.get_length())
            elif first:
                shape.append(a.batch)
                first = False
            else:
                shape.append(other)
        shapes[port] = ov.PartialShape(shape)
    model.reshape(shapes)
    cfg = {"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": "1", "PERFORMANCE_HINT": "LATENCY",
           "ENABLE_CPU_PINNING": "NO"}
    if a.threads > 0:
        cfg["INFERENCE_NUM_THREADS"] = str(a.threads)
    compiled = core.compile_model(model, "CPU", cfg)
    req = compiled.create_infer_request()
    rng = np.random.default_rng(0)
    feeds = {}
    for port in compiled.inputs:
        shape = list(port.get_shape())
        t = port.get_element_type()
        if t == ov.Type.f32:
            feeds[port] = rng.uniform(-1, 1, size=shape).astype(np.float32)
        elif t == ov.Type.boolean:
            feeds[port] = np.ones(shape, dtype=bool)
        else:
            feeds[port] = np.ones(shape, dtype=t.to_dtype())
    for _ in range(a.warmup):
        req.infer(feeds)
    times = []
    for _ in range(max(a.iters, 1)):
        t0 = time.perf_counter()
        req.infer(feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({
        "model": a.model, "runtime": "openvino " + ov.__version__.split("-")[0], "batch": a.batch,
        "threads": a.threads, "median_ms": round(med, 4), "min_ms": round(times[0], 4),
        "items_per_s": round(a.batch / (med / 1e3), 2), "iters": len(times),
        "mean_ms": round(statistics.fmean(times), 4),
    }))


if __name__ == "__main__":
    main()
