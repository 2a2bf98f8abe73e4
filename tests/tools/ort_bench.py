"""Time a model in onnxruntime on synthetic inputs, the way `ptq bench` does.

usage: python3 tests/tools/ort_bench.py MODEL.onnx [--batch N] [--threads N]
       [--dim name=value ...] [--warmup N] [--iters N]

Inputs: the first symbolic dim of each input is the batch, other symbolic
dims come from --dim (default 128); floats are uniform in [-1, 1), integers
are 1, bools are True. Prints one JSON object with the median latency.
"""
import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort

TYPES = {
    "tensor(float)": np.float32,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


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
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for i in sess.get_inputs():
        first = True
        shape = []
        for d in i.shape:
            if isinstance(d, int):
                shape.append(d)
            elif isinstance(d, str) and d in dims:
                shape.append(dims[d])
            elif first:
                shape.append(a.batch)
                first = False
            else:
                shape.append(128)
        t = TYPES[i.type]
        if t is np.float32:
            feeds[i.name] = rng.uniform(-1, 1, size=shape).astype(np.float32)
        elif t is np.bool_:
            feeds[i.name] = np.ones(shape, dtype=bool)
        else:
            feeds[i.name] = np.ones(shape, dtype=t)
    for _ in range(a.warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(max(a.iters, 1)):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({
        "model": a.model, "runtime": "onnxruntime " + ort.__version__, "batch": a.batch,
        "threads": a.threads, "median_ms": round(med, 4), "min_ms": round(times[0], 4),
        "items_per_s": round(a.batch / (med / 1e3), 2), "iters": len(times),
        "mean_ms": round(statistics.fmean(times), 4),
    }))


if __name__ == "__main__":
    main()
