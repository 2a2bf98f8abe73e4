"""Helpers shared by the zoo generators (numpy, onnx, onnxruntime, Pillow only).

Imported from every producer virtualenv, so it must not import torch/tf/paddle.
"""
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ZOO = os.environ.get("PTQ_ZOO_DIR", os.path.join(ROOT, "target", "zoo"))

CONTROL_FLOW_OPS = ("If", "Loop", "Scan")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def entry_dir(name):
    d = os.path.join(ZOO, name)
    os.makedirs(d, exist_ok=True)
    return d


def is_complete(name):
    d = os.path.join(ZOO, name)
    need = ["calib.npz", "valid.npz", "meta.json"]
    if not all(os.path.exists(os.path.join(d, f)) for f in need):
        return False
    return os.path.exists(os.path.join(d, "model.onnx")) or os.path.exists(os.path.join(d, "model.xml"))


# ---------------------------------------------------------------- images
def _shape_image(rng, size):
    """A random scene of filled shapes over a gradient background, as uint8 HWC RGB."""
    from PIL import Image, ImageDraw, ImageFilter

    w = h = size
    c0 = rng.integers(0, 256, 3)
    c1 = rng.integers(0, 256, 3)
    t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    if rng.random() < 0.5:
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    bg = (c0 * (1 - t) + c1 * t) * np.ones((h, w, 1), np.float32)
    img = Image.fromarray(bg.astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 7))):
        kind = rng.integers(0, 4)
        x0, y0 = rng.integers(-size // 4, size, 2)
        ext = rng.integers(size // 8, size // 2, 2)
        box = [int(x0), int(y0), int(x0 + ext[0]), int(y0 + ext[1])]
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        if kind == 0:
            d.ellipse(box, fill=col)
        elif kind == 1:
            d.rectangle(box, fill=col)
        elif kind == 2:
            pts = [tuple(int(v) for v in rng.integers(-size // 4, size + size // 4, 2)) for _ in range(3)]
            d.polygon(pts, fill=col)
        else:
            d.line(box, fill=col, width=int(rng.integers(1, max(2, size // 16))))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 1.5))))
    arr = np.asarray(img).astype(np.float32)
    arr += rng.normal(0, 4.0, arr.shape).astype(np.float32)  # sensor noise
    return np.clip(arr, 0, 255).astype(np.uint8)


def images_uint8(n, size, seed):
    """n rendered RGB scenes, uint8 array (n, size, size, 3)."""
    rng = np.random.default_rng(seed)
    return np.stack([_shape_image(rng, size) for _ in range(n)])


def images_nchw_imagenet(n, size, seed):
    """Rendered scenes normalised with ImageNet mean/std, float32 NCHW (torchvision preprocessing)."""
    x = images_uint8(n, size, seed).astype(np.float32) / 255.0
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)).astype(np.float32)


# ---------------------------------------------------------------- text
def sentences(n, seed):
    """Real English sentences: docstrings of the Python standard library, shuffled deterministically."""
    import re
    import textwrap  # noqa: F401  (docstring sources below)
    import argparse, collections, functools, itertools, json as _j, logging, pathlib, random, shutil, string, subprocess, threading, unittest  # noqa: E401,F401

    mods = [argparse, collections, functools, itertools, _j, logging, pathlib, random, shutil, string,
            subprocess, threading, unittest, textwrap, re, os, json]
    texts = []
    for m in mods:
        for name in sorted(dir(m)):
            obj = getattr(m, name, None)
            doc = getattr(obj, "__doc__", None)
            if not isinstance(doc, str):
                continue
            for s in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                if 20 <= len(s) <= 300 and s[0].isalpha():
                    texts.append(s)
    texts = sorted(set(texts))
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(texts))
    return [texts[i] for i in idx[:n]]


def zipf_token_batch(n, seq, vocab, seed, specials=(0, 1, 2), min_len=None):
    """Token ids from a Zipf-like distribution with right padding: (ids int64, mask int64).

    Real lengths vary between min_len and seq; ids[0] = BOS-ish specials[1], last real token
    specials[2], padding specials[0] with mask 0.
    """
    rng = np.random.default_rng(seed)
    min_len = min_len or max(4, seq // 3)
    ids = np.full((n, seq), specials[0], np.int64)
    mask = np.zeros((n, seq), np.int64)
    lo = max(specials) + 1
    if lo >= vocab // 2:  # special ids at the end of the vocabulary (CLIP): ordinary tokens start at 3
        lo = 3
    for i in range(n):
        L = int(rng.integers(min_len, seq + 1))
        toks = lo + (rng.zipf(1.3, L) % (vocab - lo))
        toks[0] = specials[1]
        toks[-1] = specials[2]
        ids[i, :L] = toks
        mask[i, :L] = 1
    return ids, mask


# ---------------------------------------------------------------- ONNX inspection
def _dim(d):
    if d.HasField("dim_value"):
        return int(d.dim_value)
    if d.HasField("dim_param"):
        return d.dim_param
    return None


def onnx_io(model):
    import onnx

    inits = {i.name for i in model.graph.initializer}
    res = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = [_dim(d) for d in tt.shape.dim] if tt.HasField("shape") else None
        res[vi.name] = [shape, onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name]
    return res


def control_flow(model):
    """Sorted list of If/Loop/Scan op types anywhere in the model (subgraphs and functions included)."""
    import onnx

    found = set()

    def walk(graph):
        for node in graph.node:
            if node.op_type in CONTROL_FLOW_OPS:
                found.add(node.op_type)
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for g in a.graphs:
                        walk(g)

    walk(model.graph)
    for f in model.functions:
        for node in f.node:
            if node.op_type in CONTROL_FLOW_OPS:
                found.add(node.op_type)
    return sorted(found)


def op_histogram(model):
    hist = {}
    for node in model.graph.node:
        hist[node.op_type] = hist.get(node.op_type, 0) + 1
    return dict(sorted(hist.items(), key=lambda kv: -kv[1]))


def opset_of(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return None


def model_bytes(d):
    total = 0
    for f in os.listdir(d):
        if f.startswith("model") and not f.endswith(".npz"):
            total += os.path.getsize(os.path.join(d, f))
    return total


# ---------------------------------------------------------------- writing an entry
def save_npz(path, arrays):
    # np.array, not np.ascontiguousarray: the latter makes a rank-0 array rank 1.
    np.savez(path, **{k: np.array(v, order="C") for k, v in arrays.items()})


def take_item(arr, i, axis=0):
    """Item i of a stacked input array: arr[i:i+1] (axis 0), np.take(arr, [i], axis) or arr[i] (axis None, rank-0 input)."""
    if axis is None:
        return np.asarray(arr[i])
    if axis == 0:
        return arr[i:i + 1]
    return np.take(arr, [i], axis=axis)


def feed(arrays, names, i, item_axis=None):
    item_axis = item_axis or {}
    return {k: take_item(arrays[k], i, item_axis.get(k, 0)) for k in names}


def n_items(arrays, names, item_axis=None):
    item_axis = item_axis or {}
    k = names[0]
    ax = item_axis.get(k, 0)
    return int(arrays[k].shape[0 if ax is None else ax])


def ort_check(model_path, items, item_axis=None):
    """Load in onnxruntime (CPU, 1 thread), run the first items; returns (outputs info, ms/item)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    outs = sess.run(None, feed(items, names, 0, item_axis))  # warm-up
    n = min(3, n_items(items, names, item_axis))
    t0 = time.perf_counter()
    for i in range(n):
        outs = sess.run(None, feed(items, names, i, item_axis))
    ms = (time.perf_counter() - t0) * 1000 / n
    info = {o.name: [list(np.shape(a)), str(np.asarray(a).dtype)] for o, a in zip(sess.get_outputs(), outs)}
    for o, a in zip(sess.get_outputs(), outs):
        if not np.all(np.isfinite(np.asarray(a, dtype=np.float64))) if np.asarray(a).dtype.kind == "f" else False:
            log(f"warning: {model_path}: output {o.name} has non-finite values")
    return info, ms


def ov_check(xml_path, items, item_axis=None):
    import openvino as ov

    core = ov.Core()
    core.set_property("CPU", {"INFERENCE_NUM_THREADS": 1})
    cm = core.compile_model(xml_path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    req = cm.create_infer_request()
    names = [p.get_any_name() for p in cm.inputs]
    n = min(3, n_items(items, names, item_axis))
    req.infer(feed(items, names, 0, item_axis))
    t0 = time.perf_counter()
    for i in range(n):
        res = req.infer(feed(items, names, i, item_axis))
    ms = (time.perf_counter() - t0) * 1000 / n
    info = {}
    for p in cm.outputs:
        a = np.asarray(res[p])
        info[p.get_any_name()] = [list(a.shape), str(a.dtype)]
    return info, ms


def finish_entry(name, producer, architecture, source, calib, valid, *, trained=False, metric="cosine",
                 labels=None, notes="", extra=None, t_start=None):
    """Write calib.npz / valid.npz / meta.json next to an already written model.onnx or model.xml, check it loads."""
    d = entry_dir(name)
    onnx_path = os.path.join(d, "model.onnx")
    xml_path = os.path.join(d, "model.xml")
    meta = {"name": name, "producer": producer, "architecture": architecture, "source": source,
            "trained_weights": bool(trained), "metric": metric}
    v = dict(valid)
    if labels is not None:
        v["labels"] = np.asarray(labels, np.int64)
    save_npz(os.path.join(d, "calib.npz"), calib)
    save_npz(os.path.join(d, "valid.npz"), v)
    if os.path.exists(onnx_path):
        import onnx

        m = onnx.load(onnx_path, load_external_data=False)
        meta["format"] = "onnx"
        meta["control_flow"] = control_flow(m)
        meta["opset"] = opset_of(m)
        meta["ir_version"] = int(m.ir_version)
        meta["inputs"] = onnx_io(m)
        meta["external_data"] = any(
            t.data_location == 1 for t in m.graph.initializer)
        meta["producer_name"] = f"{m.producer_name} {m.producer_version}".strip()
        meta["node_count"] = len(m.graph.node)
        meta["op_types"] = op_histogram(m)
        missing = [k for k in meta["inputs"] if k not in calib]
        if missing:
            raise RuntimeError(f"{name}: calib lacks inputs {missing}")
        meta["outputs"], meta["ort_ms_per_item"] = ort_check(onnx_path, valid, (extra or {}).get("item_axis"))
    else:
        import openvino as ov

        m = ov.Core().read_model(xml_path)
        meta["format"] = "openvino-ir"
        cf = set()
        for op in m.get_ordered_ops():
            t = op.get_type_name()
            if t in ("If", "Loop", "TensorIterator"):
                cf.add(t)
        meta["control_flow"] = sorted(cf)
        meta["opset"] = None
        meta["inputs"] = {p.get_any_name(): [[str(x) if not x.is_static else x.get_length() for x in p.get_partial_shape()],
                                             p.get_element_type().to_dtype().name] for p in m.inputs}
        meta["outputs"], meta["ov_ms_per_item"] = ov_check(xml_path, valid, (extra or {}).get("item_axis"))
    ia = (extra or {}).get("item_axis")
    meta["items"] = {"calib": n_items(calib, list(calib), ia), "valid": n_items(valid, list(valid), ia)}
    meta["has_labels"] = labels is not None
    meta["model_bytes"] = model_bytes(d)
    if t_start is not None:
        meta["generate_s"] = round(time.perf_counter() - t_start, 2)
    meta["notes"] = notes
    if extra:
        meta.update(extra)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    log(f"[zoo] {name}: {producer} {meta['model_bytes'] / 1e6:.2f} MB cf={meta['control_flow']} "
        f"gen={meta.get('generate_s')}s")
    return meta


def run_entries(builders, argv=None):
    """CLI shared by gen_*.py: --only a,b --force. Builds entries in order; failures are reported, not fatal."""
    import argparse
    import traceback

    p = argparse.ArgumentParser()
    p.add_argument("--only", default="")
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(builders)
    failures = {}
    for n in names:
        if n not in builders:
            continue
        if not args.force and is_complete(n):
            log(f"[zoo] {n}: complete, skipped")
            continue
        d = os.path.join(ZOO, n)
        if os.path.isdir(d):
            import shutil

            shutil.rmtree(d)
        t0 = time.perf_counter()
        try:
            builders[n](n, t0)
        except Exception as exc:  # one failing producer must not stop the others
            traceback.print_exc()
            failures[n] = f"{type(exc).__name__}: {exc}"[:2000]
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "FAILED.json"), "w") as f:
                json.dump({"name": n, "error": failures[n], "seconds": round(time.perf_counter() - t0, 2)}, f)
    print(json.dumps({"failures": failures}))
    return 0
