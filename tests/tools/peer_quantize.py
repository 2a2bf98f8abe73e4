#!/usr/bin/env python3
"""Quantize a model to INT8 with NNCF or onnxruntime, for comparison with `ptq quantize`.

usage: python3 tests/tools/peer_quantize.py --tool nncf|ort --model M.onnx|M.xml
       --calib calib.npz --output OUT.onnx|OUT.xml [--model-type transformer]

An OpenVINO IR model (M.xml with its .bin) is read with openvino.Core and
quantized by NNCF's OpenVINO backend (same defaults and dataset as below),
then written with `openvino.save_model(..., compress_to_fp16=False)`; only
--tool nncf takes IR.

Install: python3 -m pip install -r tests/tools/requirements-bench.txt

CALIB.npz holds one array per model input, keyed by input name, with a
leading item axis: item i is `arr[i:i+1]` (a batch of one). Arrays whose name
is not a model input (e.g. `labels`) are ignored. At most 300 items are used.

--tool nncf: `nncf.quantize` on the loaded onnx.ModelProto (ONNX backend)
    with NNCF's defaults, `nncf.Dataset` over the items as dicts
    {input name: arr[i:i+1]}, `subset_size` = number of items, and
    `model_type=nncf.ModelType.TRANSFORMER` with --model-type transformer.
--tool ort: onnxruntime.quantization `quant_pre_process` (symbolic shape
    inference, onnxruntime's basic graph optimizations such as Conv+BN
    folding, ONNX shape inference), then `quantize_static` with QDQ format,
    per_channel=True, CalibrationMethod.MinMax, QUInt8 activations and QInt8
    weights, over a CalibrationDataReader on the same items. The
    pre-processing step is what onnxruntime's quantization guide recommends
    before static quantization ("Pre-processing ... prepares a float32 model
    for quantization"; without it BatchNormalization stays unquantized and
    shapes may be unknown). When its symbolic shape inference cannot finish,
    it is retried with auto_merge=True, then with skip_symbolic_shape=True
    (the JSON field `preprocess` says which setting worked; a note goes to
    stderr). --model-type is ignored for ort.

Prints one JSON line on stdout (last line; the tools may log above it):
{"tool", "version", "model", "output", "items", "quantize_s", "preprocess_s",
"preprocess", "output_bytes", "input_bytes"}. `quantize_s` is the wall time of the
quantization call(s) only (for ort it includes quant_pre_process, also given
alone as `preprocess_s`), not interpreter start or imports. Sizes count
model.onnx plus its external-data file if any. Exit status 0 on success.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import onnx

MAX_ITEMS = 300

# quant_pre_process settings tried in order. Its symbolic shape inference
# raises "Incomplete symbolic shape inference" when two symbolic dims meet
# that it cannot prove equal (transformer_encoder: the position-id Slice end
# against the input's `seq`); `auto_merge` is its documented remedy, and as a
# last resort the symbolic pass is skipped (ONNX shape inference still runs).
PREPROCESS_ATTEMPTS = [
    ("default", {}),
    ("auto_merge", {"auto_merge": True}),
    ("skip_symbolic_shape", {"skip_symbolic_shape": True}),
]


def model_bytes(path):
    """Size of the model file plus its `<file>.data` (ONNX) or `.bin` (IR) if present."""
    size = os.path.getsize(path)
    extra = [path + ".data"] + ([path[:-4] + ".bin"] if path.endswith(".xml") else [])
    return size + sum(os.path.getsize(e) for e in extra if os.path.exists(e))


def load_items(calib_path, input_names):
    """Calibration items as a list of {input name: arr[i:i+1]} dicts."""
    with np.load(calib_path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    missing = [n for n in input_names if n not in arrays]
    if missing:
        raise SystemExit(f"error: {calib_path} lacks model input(s): {', '.join(missing)}")
    n = min(len(arrays[input_names[0]]), MAX_ITEMS)
    return [{k: arrays[k][i:i + 1] for k in input_names} for i in range(n)]


def graph_inputs(model):
    """Names of real graph inputs (initializers listed as inputs excluded)."""
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def quantize_nncf(args, model, items):
    import nncf

    kwargs = {"subset_size": len(items)}
    if args.model_type == "transformer":
        kwargs["model_type"] = nncf.ModelType.TRANSFORMER
    dataset = nncf.Dataset(items)
    t0 = time.perf_counter()
    quantized = nncf.quantize(model, dataset, **kwargs)
    elapsed = time.perf_counter() - t0
    if args.model.endswith(".xml"):
        import openvino as ov

        ov.save_model(quantized, args.output, compress_to_fp16=False)
    else:
        onnx.save_model(quantized, args.output)
    return nncf.__version__, elapsed, None, None


def quantize_ort(args, items):
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(items)

        def get_next(self):
            return next(self.it, None)

        def rewind(self):
            self.it = iter(items)

    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "preprocessed.onnx")
        t0 = time.perf_counter()
        how = None
        for how, kwargs in PREPROCESS_ATTEMPTS:
            try:
                quant_pre_process(args.model, pre, **kwargs)
                break
            except Exception as exc:  # symbolic shape inference raises plain Exception
                print(f"note: quant_pre_process ({how}) failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        else:
            raise SystemExit("error: quant_pre_process failed in every mode")
        t1 = time.perf_counter()
        quantize_static(
            pre,
            args.output,
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        t2 = time.perf_counter()
    return onnxruntime.__version__, t2 - t0, t1 - t0, how


def main():
    p = argparse.ArgumentParser(description="INT8 post-training quantization with NNCF or onnxruntime.")
    p.add_argument("--tool", choices=["nncf", "ort"], required=True)
    p.add_argument("--model", required=True, help="FP32 model.onnx")
    p.add_argument("--calib", required=True, help="calibration .npz (leading item axis)")
    p.add_argument("--output", required=True, help="where to write the INT8 model")
    p.add_argument("--model-type", choices=["transformer"], help="NNCF model type (nncf only)")
    args = p.parse_args()
    for k in ("model", "calib", "output"):
        setattr(args, k, os.path.abspath(getattr(args, k)))

    if args.model.endswith(".xml"):
        if args.tool != "nncf":
            raise SystemExit("error: only --tool nncf quantizes OpenVINO IR")
        import openvino as ov

        model = ov.Core().read_model(args.model)
        items = load_items(args.calib, [p.get_any_name() for p in model.inputs])
    else:
        model = onnx.load(args.model)
        items = load_items(args.calib, graph_inputs(model))
    if not items:
        raise SystemExit(f"error: {args.calib} has no items")
    # onnxruntime's symbolic shape inference leaves sym_shape_infer_temp.onnx
    # and a uuid-named data file in the working directory when it fails, so
    # both tools run inside a scratch directory.
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="peer_quantize.") as scratch:
        os.chdir(scratch)
        try:
            if args.tool == "nncf":
                version, elapsed, pre, how = quantize_nncf(args, model, items)
            else:
                version, elapsed, pre, how = quantize_ort(args, items)
        finally:
            os.chdir(cwd)
    sys.stdout.flush()
    print(json.dumps({
        "tool": args.tool,
        "version": version,
        "model": args.model,
        "output": args.output,
        "items": len(items),
        "quantize_s": round(elapsed, 4),
        "preprocess_s": None if pre is None else round(pre, 4),
        "preprocess": how,
        "output_bytes": model_bytes(args.output),
        "input_bytes": model_bytes(args.model),
    }))


if __name__ == "__main__":
    main()
