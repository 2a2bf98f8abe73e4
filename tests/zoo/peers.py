#!/usr/bin/env python3
"""Quantize a zoo entry to INT8 with NNCF or onnxruntime's quantizer (peer baselines for `ptq quantize`).

usage: target/zoo-venv/peers/bin/python tests/zoo/peers.py target/zoo/NAME --tool nncf|nncf-transformer|ort --output OUT(.onnx|.xml)
       [--timeout SECONDS]

Adapted from tests/tools/peer_quantize.py. Calibration data: MODEL_DIR/calib.npz (all items,
at most 300; meta.json "item_axis" honoured). The quantization runs in a fresh child process
(this script re-invoked with --child) so that its peak RSS is its own.

--tool nncf: `nncf.quantize(model, nncf.Dataset(items), subset_size=len(items))` with NNCF's
    plain defaults (no model_type, no preset, no ignored scope), on the onnx.ModelProto (ONNX
    backend) or, for an IR entry (model.xml), on the openvino.Model (OpenVINO backend, written
    with openvino.save_model(..., compress_to_fp16=False)).
--tool nncf-transformer: the same with `model_type=nncf.ModelType.TRANSFORMER` (SmoothQuant, MIXED
    preset, NNCF's transformer placement), NNCF's best setting for transformers.
--tool ort: onnxruntime.quantization `quant_pre_process` (retried with auto_merge=True, then
    skip_symbolic_shape=True when symbolic shape inference fails; JSON "preprocess" says which)
    then `quantize_static(QDQ, per_channel=True, MinMax, activations QUInt8, weights QInt8)`.
    Models below opset 13 are first converted with onnx.version_converter to opset 13
    (per-channel QDQ needs 13); JSON "opset_converted" says e.g. "11->13". ONNX only.

Prints one JSON line (last line of stdout), always exit status 0 when the JSON was printed:
  success: {"name", "tool", "version", "output", "items", "quantize_s", "preprocess_s", "preprocess",
            "opset_converted", "input_bytes", "output_bytes", "peak_rss_mb", "wall_s"}
  failure: {"name", "tool", "error": "...", "peak_rss_mb", "wall_s"} (the tool failed on the model: a result)
quantize_s: wall time of the quantize call(s) only (ort: includes quant_pre_process, also given as
preprocess_s); wall_s: the child process's whole life (imports included); peak_rss_mb: child's
resource.getrusage(RUSAGE_SELF).ru_maxrss / 1024 (includes the imported libraries, onnx/ort/nncf/openvino).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MAX_ITEMS = 300
PREPROCESS_ATTEMPTS = [
    ("default", {}),
    ("auto_merge", {"auto_merge": True}),
    ("skip_symbolic_shape", {"skip_symbolic_shape": True}),
]


def model_bytes(path):
    size = os.path.getsize(path)
    extra = [path + ".data"] + ([path[:-4] + ".bin"] if path.endswith(".xml") else [])
    d = os.path.dirname(path)
    if path.endswith(".onnx"):
        try:
            import onnx

            m = onnx.load(path, load_external_data=False)
            for t in m.graph.initializer:
                if t.data_location == 1:
                    for e in t.external_data:
                        if e.key == "location":
                            extra.append(os.path.join(d, e.value))
        except Exception:
            pass
    return size + sum(os.path.getsize(e) for e in set(extra) if os.path.exists(e))


def load_items(model_dir, input_names):
    import numpy as np

    import common
    import runners

    meta = runners.load_meta(model_dir)
    ia = meta.get("item_axis")
    with np.load(os.path.join(model_dir, "calib.npz"), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    missing = [n for n in input_names if n not in arrays]
    if missing:
        raise RuntimeError(f"calib.npz lacks model input(s): {', '.join(missing)}")
    n = min(common.n_items(arrays, input_names, ia), MAX_ITEMS)
    return [common.feed(arrays, input_names, i, ia) for i in range(n)]


def graph_inputs(model):
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def opset_of(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return None


def child(args):
    import onnx

    path = os.path.join(args.model_dir, "model.onnx")
    is_ir = not os.path.exists(path)
    if is_ir:
        path = os.path.join(args.model_dir, "model.xml")
    out = {"name": os.path.basename(args.model_dir.rstrip("/")), "tool": args.tool, "output": args.output,
           "opset_converted": None, "preprocess": None, "preprocess_s": None}
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="zoo_peers.") as scratch:
        os.chdir(scratch)  # ORT's symbolic shape inference leaves files in the cwd on failure
        try:
            if args.tool in ("nncf", "nncf-transformer"):
                import nncf

                out["version"] = nncf.__version__
                if is_ir:
                    import openvino as ov

                    model = ov.Core().read_model(path)
                    items = load_items(args.model_dir, [p.get_any_name() for p in model.inputs])
                else:
                    model = onnx.load(path)
                    items = load_items(args.model_dir, graph_inputs(model))
                t0 = time.perf_counter()
                extra = {"model_type": nncf.ModelType.TRANSFORMER} if args.tool == "nncf-transformer" else {}
                q = nncf.quantize(model, nncf.Dataset(items), subset_size=len(items), **extra)
                out["quantize_s"] = round(time.perf_counter() - t0, 4)
                if is_ir:
                    import openvino as ov

                    ov.save_model(q, args.output, compress_to_fp16=False)
                else:
                    onnx.save_model(q, args.output)
            else:
                if is_ir:
                    raise RuntimeError("onnxruntime's quantizer takes ONNX only (entry is OpenVINO IR)")
                import onnxruntime
                from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                                      QuantType, quantize_static)
                from onnxruntime.quantization.shape_inference import quant_pre_process

                out["version"] = onnxruntime.__version__
                model = onnx.load(path)
                items = load_items(args.model_dir, graph_inputs(model))
                src = path
                op = opset_of(model)
                if op is not None and op < 13:
                    from onnx import version_converter

                    conv = version_converter.convert_version(model, 13)
                    src = os.path.join(scratch, "opset13.onnx")
                    onnx.save_model(conv, src)
                    out["opset_converted"] = f"{op}->13"

                class Reader(CalibrationDataReader):
                    def __init__(self):
                        self.it = iter(items)

                    def get_next(self):
                        return next(self.it, None)

                    def rewind(self):
                        self.it = iter(items)

                pre = os.path.join(scratch, "preprocessed.onnx")
                t0 = time.perf_counter()
                for how, kw in PREPROCESS_ATTEMPTS:
                    try:
                        quant_pre_process(src, pre, **kw)
                        out["preprocess"] = how
                        break
                    except Exception as exc:
                        print(f"note: quant_pre_process ({how}) failed: {type(exc).__name__}: {exc}",
                              file=sys.stderr)
                else:
                    raise RuntimeError("quant_pre_process failed in every mode")
                t1 = time.perf_counter()
                quantize_static(pre, args.output, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod.MinMax)
                t2 = time.perf_counter()
                out["quantize_s"] = round(t2 - t0, 4)
                out["preprocess_s"] = round(t1 - t0, 4)
            out["items"] = len(items)
            out["input_bytes"] = model_bytes(path)
            out["output_bytes"] = model_bytes(args.output)
        except Exception as exc:
            out = {"name": out["name"], "tool": args.tool, "error": f"{type(exc).__name__}: {exc}"[:3000]}
        finally:
            os.chdir(cwd)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    sys.stdout.flush()
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description="INT8 quantization of a zoo entry with NNCF or onnxruntime.")
    p.add_argument("model_dir")
    p.add_argument("--tool", choices=["nncf", "nncf-transformer", "ort"], required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.model_dir = os.path.abspath(args.model_dir)
    args.output = os.path.abspath(args.output)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    if args.child:
        child(args)
        return
    cmd = [sys.executable, os.path.abspath(__file__), args.model_dir, "--tool", args.tool, "--output", args.output,
           "--child"]
    t0 = time.perf_counter()
    name = os.path.basename(args.model_dir.rstrip("/"))
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(json.dumps({"name": name, "tool": args.tool, "error": f"timeout after {args.timeout} s",
                          "wall_s": round(time.perf_counter() - t0, 2)}))
        return
    wall = round(time.perf_counter() - t0, 2)
    sys.stderr.write(r.stderr[-20000:])
    line = None
    for ln in reversed(r.stdout.strip().splitlines()):
        if ln.startswith("{"):
            line = ln
            break
    if line is None:
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(json.dumps({"name": name, "tool": args.tool, "peak_rss_mb": round(rss, 1), "wall_s": wall,
                          "error": f"child exited with status {r.returncode}: {r.stderr.strip()[-1500:]}"}))
        return
    res = json.loads(line)
    res["wall_s"] = wall
    print(json.dumps(res))


if __name__ == "__main__":
    main()
