"""Time an FP32 model and Q/DQ placements of its INT8 export in onnxruntime.

usage: python3 tests/tools/ort_qdq_variants.py FP32.onnx INT8.onnx
       [--batch N ...] [--iters N] [--profile]

INT8.onnx is a Q/DQ model (as `ptq quantize` writes it). Besides it, the
script times variants that keep the first convolution in float, the usual
remedy when onnxruntime's integer kernel loses on a layer with few input
channels:
  first-float      the graph input's Q/DQ pair is removed, so the first
                   Conv reads float (its weights stay int8 behind a DQ);
  first-float-w    as above, and that Conv's weights are stored dequantized
                   in float (numerically the same as the DQ);
  first-block-f32  as first-float-w, and the Q/DQ pair on that Conv's
                   activation output is removed too, so float runs up to the
                   next quantizer (after a MaxPool, say).
Every model runs on one thread, sequentially, on the same random input,
in 5 interleaved rounds of --iters/5 runs; the best round median is
printed per batch size, with the ratio to FP32. --profile prints onnxruntime's per-node kernel times at the first
batch size, and the op types of each optimised graph.
"""
import argparse
import collections
import json
import os
import statistics
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def session(model: bytes, profile: bool = False, optimized: str | None = None) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    so.enable_profiling = profile
    if optimized:
        so.optimized_model_filepath = optimized
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def feed(sess: ort.InferenceSession, batch: int) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else batch for d in i.shape]
        shape[0] = batch if not isinstance(i.shape[0], int) else i.shape[0]
        out[i.name] = rng.uniform(-1, 1, shape).astype(np.float32)
    return out


def timings(blobs: dict, batch: int, iters: int, rounds: int = 5) -> dict:
    """Best median over `rounds` interleaved rounds of iters/rounds runs, per model (None: the
    model does not take this batch size)."""
    sessions, feeds = {}, {}
    for name, blob in blobs.items():
        sess = session(blob)
        try:
            x = feed(sess, batch)
            for _ in range(max(20, iters // 10)):
                sess.run(None, x)
        except Exception:  # a static batch that does not take this size
            continue
        sessions[name], feeds[name] = sess, x
    best = {name: None for name in blobs}
    for _ in range(rounds):
        for name, sess in sessions.items():
            times = []
            for _ in range(max(1, iters // rounds)):
                t = time.perf_counter()
                sess.run(None, feeds[name])
                times.append(time.perf_counter() - t)
            m = statistics.median(times) * 1e3
            best[name] = m if best[name] is None else min(best[name], m)
    return best


def producer_map(g: onnx.GraphProto) -> dict:
    return {o: n for n in g.node for o in n.output}


def first_conv(g: onnx.GraphProto) -> onnx.NodeProto:
    return next(n for n in g.node if n.op_type == "Conv")


def bypass(g: onnx.GraphProto, dq_output: str) -> None:
    """Removes the Q/DQ pair whose DQ writes `dq_output`; readers read the Q's input."""
    prod = producer_map(g)
    dq = prod[dq_output]
    q = prod[dq.input[0]]
    src = q.input[0]
    for n in g.node:
        for k, name in enumerate(n.input):
            if name == dq_output:
                n.input[k] = src
    g.node.remove(dq)
    if not any(q.output[0] in n.input for n in g.node):
        g.node.remove(q)


def fold_weights(g: onnx.GraphProto, conv: onnx.NodeProto) -> None:
    """Stores the DQ'd weight and bias of `conv` as float initializers."""
    prod = producer_map(g)
    inits = {i.name: i for i in g.initializer}
    for slot in range(1, len(conv.input)):
        dq = prod.get(conv.input[slot])
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        q = numpy_helper.to_array(inits[dq.input[0]]).astype(np.float32)
        s = numpy_helper.to_array(inits[dq.input[1]]).astype(np.float32)
        z = numpy_helper.to_array(inits[dq.input[2]]).astype(np.float32) if len(dq.input) > 2 else np.zeros_like(s)
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        if s.ndim == 1 and q.ndim > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            s, z = s.reshape(shape), z.reshape(shape)
        name = dq.output[0] + "_float"
        g.initializer.append(numpy_helper.from_array(((q - z) * s).astype(np.float32), name))
        conv.input[slot] = name
        g.node.remove(dq)


def variants(int8: onnx.ModelProto) -> dict:
    out = {"int8": int8}
    m = onnx.ModelProto()
    m.CopyFrom(int8)
    conv = first_conv(m.graph)
    prod = producer_map(m.graph)
    if conv.input[0] in prod and prod[conv.input[0]].op_type == "DequantizeLinear":
        bypass(m.graph, conv.input[0])
        out["first-float"] = m
        w = onnx.ModelProto()
        w.CopyFrom(m)
        fold_weights(w.graph, first_conv(w.graph))
        out["first-float-w"] = w
        b = onnx.ModelProto()
        b.CopyFrom(w)
        # Follow the Conv's output through single-reader float ops to the first Q/DQ.
        g = b.graph
        v = first_conv(g).output[0]
        for _ in range(4):
            readers = [n for n in g.node if v in n.input]
            if len(readers) != 1:
                break
            r = readers[0]
            if r.op_type == "QuantizeLinear":
                dq = next(n for n in g.node if r.output[0] in n.input and n.op_type == "DequantizeLinear")
                bypass(g, dq.output[0])
                out["first-block-f32"] = b
                break
            v = r.output[0]
    return out


def profile(name: str, model: bytes, batch: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        opt = os.path.join(d, "opt.onnx")
        sess = session(model, profile=True, optimized=opt)
        x = feed(sess, batch)
        for _ in range(300):
            sess.run(None, x)
        trace = sess.end_profiling()
        ops = [n.op_type for n in onnx.load(opt).graph.node]
    events = json.load(open(trace))
    os.remove(trace)
    per = collections.defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per[(e["name"][: -len("_kernel_time")], e["args"].get("op_name"))].append(e["dur"])
    print(f"{name}: {' '.join(ops)}")
    for (node, op), d in per.items():
        print(f"  {op:<26} {statistics.median(d):7.1f} us  {node}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("fp32")
    p.add_argument("int8")
    p.add_argument("--batch", type=int, action="append")
    p.add_argument("--iters", type=int, default=1000)
    p.add_argument("--profile", action="store_true")
    a = p.parse_args()
    batches = a.batch or [1, 8, 32]
    models = {"fp32": onnx.load(a.fp32)} | variants(onnx.load(a.int8))
    blobs = {k: m.SerializeToString() for k, m in models.items()}
    print(f"onnxruntime {ort.__version__}, 1 thread, best median of 5 interleaved rounds of {a.iters // 5} runs")
    print("(ms; ratio to fp32)")
    print("model".ljust(16) + "".join(f"batch {b}".rjust(20) for b in batches))
    table = {b: timings(blobs, b, a.iters) for b in batches}
    for name in blobs:
        cells = []
        for b in batches:
            t, f = table[b][name], table[b]["fp32"]
            cells.append("—" if t is None or f is None else f"{t:.4f} ({t / f:.2f}x)")
        print(name.ljust(16) + "".join(c.rjust(20) for c in cells))
    if a.profile:
        for name, blob in blobs.items():
            profile(name, blob, batches[0])


if __name__ == "__main__":
    main()
