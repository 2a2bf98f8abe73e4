"""Running a zoo model item by item in onnxruntime or OpenVINO (used by reference.py and score.py).

Item layout of calib.npz / valid.npz: item i of input X is X[i:i+1] (the leading axis is
the model's batch axis), except where meta.json has "item_axis": {X: k}: then item i is
np.take(X, [i], axis=k) (k >= 1), or X[i] when k is null (a rank-0 model input stored as a vector).

Output stacking (ref/*.npz and what score.py compares): outputs are collected item by item;
  "concat": every item's output has a leading dim of 1 -> concatenated on axis 0 (item i = out[i:i+1]);
  "stack":  otherwise, if all items have the same shape -> stacked on a new axis 0 (item i = out[i]);
  "ragged": shapes differ between items (e.g. a detector's box count) -> one array per item under
            the key "<name>#<i>" (as produced).
"""
import json
import os
import time

import numpy as np

import common


def load_meta(model_dir):
    with open(os.path.join(model_dir, "meta.json")) as f:
        return json.load(f)


def load_npz(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def model_file(model_dir):
    for f in ("model.onnx", "model.xml"):
        p = os.path.join(model_dir, f)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"no model.onnx / model.xml in {model_dir}")


class OrtRunner:
    def __init__(self, path):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.sess.get_inputs()]
        self.output_names = [o.name for o in self.sess.get_outputs()]

    def run(self, feed):
        return self.sess.run(None, feed)


class OvRunner:
    def __init__(self, path, output_names=None, input_names=None):
        import openvino as ov

        core = ov.Core()
        self.cm = core.compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1})
        self.req = self.cm.create_infer_request()
        # a port can carry several tensor names (e.g. "pixel_values" and the Cast output it feeds);
        # prefer the ONNX graph input name
        wanted = set(input_names or [])
        self.input_names = []
        for p in self.cm.inputs:
            names = sorted(p.get_names())
            hit = [n for n in names if n in wanted]
            self.input_names.append(hit[0] if hit else p.get_any_name())
        # OpenVINO keeps the ONNX output order; names from ORT/ONNX when given (a port may carry several names)
        self.output_names = output_names or [p.get_any_name() for p in self.cm.outputs]

    def run(self, feed):
        res = self.req.infer({i: feed[n] for i, n in enumerate(self.input_names)})
        return [np.array(res[p]) for p in self.cm.outputs]


def onnx_io_names(path):
    import onnx

    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return [i.name for i in m.graph.input if i.name not in inits], [o.name for o in m.graph.output]


def make_runner(runtime, path, input_names=None):
    if runtime == "ort":
        return OrtRunner(path)
    if path.endswith(".onnx"):
        ins, outs = onnx_io_names(path)
        return OvRunner(path, outs, ins)
    return OvRunner(path, None, input_names)


def run_items(runner, arrays, item_axis=None, limit=None):
    """Run every item; returns (per-output list of per-item arrays, mean ms/item excluding a warm-up run)."""
    names = runner.input_names
    missing = [n for n in names if n not in arrays]
    if missing:
        raise KeyError(f"valid.npz lacks model input(s) {missing}")
    n = common.n_items(arrays, names, item_axis)
    if limit:
        n = min(n, limit)
    runner.run(common.feed(arrays, names, 0, item_axis))  # warm-up
    outs = [[] for _ in runner.output_names]
    t = 0.0
    for i in range(n):
        fd = common.feed(arrays, names, i, item_axis)
        t0 = time.perf_counter()
        res = runner.run(fd)
        t += time.perf_counter() - t0
        for k, a in enumerate(res):
            outs[k].append(np.asarray(a))
    return outs, t * 1000 / max(n, 1)


def stack_outputs(names, outs):
    """{key: array} for np.savez plus {name: stacking mode}."""
    arrays, modes = {}, {}
    for name, items in zip(names, outs):
        shapes = {a.shape for a in items}
        if all(a.ndim >= 1 and a.shape[0] == 1 for a in items) and len({a.shape[1:] for a in items}) == 1:
            arrays[name] = np.concatenate(items, 0)
            modes[name] = "concat"
        elif len(shapes) == 1:
            arrays[name] = np.stack(items, 0)
            modes[name] = "stack"
        else:
            for i, a in enumerate(items):
                arrays[f"{name}#{i}"] = a
            modes[name] = "ragged"
    return arrays, modes


def unstack(arrays, name, mode, n):
    """Per-item list of an output saved by stack_outputs."""
    if mode == "concat":
        a = arrays[name]
        return [a[i:i + 1] for i in range(n)]
    if mode == "stack":
        a = arrays[name]
        return [a[i] for i in range(n)]
    return [arrays[f"{name}#{i}"] for i in range(n)]
