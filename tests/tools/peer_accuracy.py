#!/usr/bin/env python3
"""Quantize a classifier with NNCF's accuracy control, for comparison with `ptq`.

usage: python3 tests/tools/peer_accuracy.py --model M.onnx|M.xml --calib calib.npz
       --valid valid.npz --output OUT.onnx|OUT.xml [--max-drop 0.01]
       [--model-type transformer]

Runs `nncf.quantize_with_accuracy_control` (NNCF's defaults otherwise) on
  * an ONNX model, loaded as onnx.ModelProto (ONNX backend), written with
    onnx.save_model, or
  * an OpenVINO IR (M.xml with its .bin), read with openvino.Core (OpenVINO
    backend), written with `openvino.save_model(..., compress_to_fp16=False)`.

Install: python3 -m pip install -r tests/tools/requirements-bench.txt

CALIB.npz and VALID.npz hold one array per model input, keyed by input name,
with a leading item axis: item i is `arr[i:i+1]` (a batch of one). VALID.npz
must also hold an int `labels` array, one label per item. Calibration uses at
most 300 items, as dicts {input name: arr[i:i+1]} (`subset_size` = their
number); validation uses every item of VALID.npz.

The metric is top-1 accuracy: argmax over the last axis of the model's first
output against the label. The validation function returns the metric and the
per-item 0/1 values, so NNCF ranks quantizer groups by per-item metric
changes. For the ONNX backend it receives an onnx.ModelProto and runs it in
onnxruntime (CPU execution provider, default optimization level, one
intra-op thread, sequential, as tests/tools/ort_run.py); for the OpenVINO
backend it receives the openvino.CompiledModel NNCF made (CPU, f32 inference
precision). `drop_type` is absolute; --max-drop is a fraction (0.01 = one
top-1 point). --model-type transformer passes
`model_type=nncf.ModelType.TRANSFORMER`.

Prints one JSON line on stdout (last line; NNCF logs above it):

  tool, version          "nncf", nncf.__version__
  model, output          absolute paths
  calib_items, valid_items
  max_drop, drop_type    as passed ("absolute")
  fp32_metric            NNCF's "Metric of initial model" (its log)
  int8_metric            top-1 of NNCF's plain INT8 model before any quantizer
                         is removed: NNCF's "Metric of quantized model" log
                         line of the same call (`int8_metric_source` says so);
                         null if NNCF did not log it
  int8_drop              fp32_metric - int8_metric
  final_metric           top-1 of the returned model, measured by this script
                         with the same validation function after the call
  drop                   fp32_metric - final_metric
  reached_required_drop  drop <= max_drop
  restored               whether NNCF had to restore accuracy at all
  quantized_operations   NNCF's "Total number of quantized operations" (null
                         when no restoring was needed: NNCF does not log it then)
  reverted_operations, reverted_operation_names
                         operations NNCF reverted to float, from its final
                         "N out of M were reverted back to the floating-point
                         precision:" report (or, when it reverted everything
                         and prints no such report, the union of its
                         per-iteration "Reverted N operations ..." lines)
  removed_quantizers, removed_quantizer_names
                         the quantizer nodes removed with them, from NNCF's
                         debug-level "Quantizers that were removed:" report,
                         captured by a handler on the `nncf` logger (NNCF's
                         own stdout handler stays at INFO). These are graph
                         nodes: an ONNX quantizer is a QuantizeLinear +
                         DequantizeLinear pair (two names), an IR quantizer
                         one FakeQuantize
  iterations             number of "Reverted ..." steps NNCF logged
  nncf_message           NNCF's "Algorithm completed: ..." / "could not
                         achieve" line, if any
  quantize_s             wall time of the quantize_with_accuracy_control call
                         only (not imports, loading, or the final evaluation)
  output_bytes, input_bytes  model file sizes (+ .data / .bin)

Exit status 0 on success, also when NNCF could not reach --max-drop (see
`reached_required_drop`).
"""
import argparse
import json
import logging
import os
import re
import sys
import tempfile
import time

import numpy as np
import onnx

MAX_CALIB_ITEMS = 300
INT8_SOURCE = "nncf log: 'Metric of quantized model' (same call, before restoring)"


def model_bytes(path):
    """Size of the model file plus its `<file>.data` (ONNX) or `.bin` (IR) if present."""
    size = os.path.getsize(path)
    extra = [path + ".data"] + ([path[:-4] + ".bin"] if path.endswith(".xml") else [])
    return size + sum(os.path.getsize(e) for e in extra if os.path.exists(e))


def load_arrays(path, input_names, what):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    missing = [n for n in input_names if n not in arrays]
    if missing:
        raise SystemExit(f"error: {path} lacks model input(s): {', '.join(missing)}")
    n = {len(arrays[k]) for k in input_names}
    if len(n) != 1:
        raise SystemExit(f"error: {what} arrays in {path} have different item counts {sorted(n)}")
    return arrays, n.pop()


def load_calib(path, input_names):
    """Calibration items as {input name: arr[i:i+1]} dicts (at most 300)."""
    arrays, n = load_arrays(path, input_names, "calibration")
    n = min(n, MAX_CALIB_ITEMS)
    return [{k: arrays[k][i:i + 1] for k in input_names} for i in range(n)]


def load_valid(path, input_names):
    """Validation items as ({input name: arr[i:i+1]}, label) pairs."""
    arrays, n = load_arrays(path, input_names, "validation")
    if "labels" not in arrays:
        raise SystemExit(f"error: {path} has no `labels` array (top-1 needs labels)")
    labels = arrays["labels"].reshape(-1)
    if len(labels) != n:
        raise SystemExit(f"error: {path}: {len(labels)} labels for {n} items")
    return [({k: arrays[k][i:i + 1] for k in input_names}, int(labels[i])) for i in range(n)]


def graph_inputs(model):
    """Names of real graph inputs (initializers listed as inputs excluded)."""
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def top1(first_output, label):
    return float(int(np.argmax(np.asarray(first_output).reshape(-1))) == label)


class OnnxRunner:
    """onnxruntime session for an onnx.ModelProto; the last session is reused
    while the serialized model is unchanged (NNCF calls the validation
    function once per item while ranking)."""

    def __init__(self):
        self._bytes = None
        self._sess = None

    def session(self, model):
        import onnxruntime as ort

        data = model.SerializeToString()
        if data != self._bytes:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.log_severity_level = 3
            self._sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
            self._bytes = data
        return self._sess

    def validate(self, model, items):
        sess = self.session(model)
        out_name = sess.get_outputs()[0].name
        values = [top1(sess.run([out_name], feeds)[0], label) for feeds, label in items]
        return (float(np.mean(values)) if values else 0.0), values


def validate_ov(compiled, items):
    port = compiled.outputs[0]
    request = compiled.create_infer_request()
    values = [top1(request.infer(feeds)[port], label) for feeds, label in items]
    return (float(np.mean(values)) if values else 0.0), values


class LogCapture(logging.Handler):
    """Keeps every record of the `nncf` logger, DEBUG included."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _names(msg):
    """Node names listed one per line, tab-indented, after the first line."""
    return [line.strip() for line in msg.split("\n")[1:] if line.strip()]


def parse_log(messages):
    info = {
        "fp32_metric": None,
        "int8_metric": None,
        "quantized_operations": None,
        "reverted": None,
        "removed_quantizers": None,
        "steps": [],  # per-iteration (operations, quantizers)
        "message": None,
    }
    pending_quantizers = []
    for msg in messages:
        if m := re.match(r"Metric of initial model: (\S+)", msg):
            info["fp32_metric"] = float(m.group(1))
        elif m := re.match(r"Metric of quantized model: (\S+)", msg):
            info["int8_metric"] = float(m.group(1))
        elif m := re.match(r"Total number of quantized operations in the model: (\d+)", msg):
            info["quantized_operations"] = int(m.group(1))
        elif msg.startswith("Removed a block of "):
            pending_quantizers = _names(msg)
        elif msg.startswith("Reverted ") and "operations to the floating-point precision" in msg:
            info["steps"].append((_names(msg), pending_quantizers))
            pending_quantizers = []
        elif msg.startswith("Quantizers that were removed:"):
            info["removed_quantizers"] = _names(msg)
        elif re.match(r"\d+ out of \d+ were reverted back to the floating-point precision", msg):
            info["reverted"] = _names(msg)
        elif msg.startswith("Algorithm completed:") or msg.startswith("The algorithm could not achieve"):
            info["message"] = msg if info["message"] is None else info["message"] + " " + msg
    return info


def main():
    p = argparse.ArgumentParser(description="NNCF quantize_with_accuracy_control on an ONNX model or OpenVINO IR.")
    p.add_argument("--model", required=True, help="FP32 model.onnx or model.xml")
    p.add_argument("--calib", required=True, help="calibration .npz (leading item axis)")
    p.add_argument("--valid", required=True, help="validation .npz (leading item axis, plus `labels`)")
    p.add_argument("--output", required=True, help="where to write the result (.onnx or .xml)")
    p.add_argument("--max-drop", type=float, default=0.01, help="maximum absolute top-1 drop (fraction, default 0.01)")
    p.add_argument("--model-type", choices=["transformer"], help="NNCF model type")
    args = p.parse_args()
    for k in ("model", "calib", "valid", "output"):
        setattr(args, k, os.path.abspath(getattr(args, k)))
    is_ir = args.model.endswith(".xml")
    if is_ir != args.output.endswith(".xml"):
        raise SystemExit("error: --output must have the model's format (.xml for IR, .onnx for ONNX)")

    import nncf
    from nncf.common.logging import nncf_logger

    if is_ir:
        import openvino as ov

        model = ov.Core().read_model(args.model)
        names = [port.get_any_name() for port in model.inputs]
        validation_fn = validate_ov
    else:
        model = onnx.load(args.model)
        names = graph_inputs(model)
        validation_fn = OnnxRunner().validate
    calib = load_calib(args.calib, names)
    valid = load_valid(args.valid, names)
    if not calib or not valid:
        raise SystemExit("error: empty calibration or validation set")

    kwargs = {"max_drop": args.max_drop, "drop_type": nncf.DropType.ABSOLUTE, "subset_size": len(calib)}
    if args.model_type == "transformer":
        kwargs["model_type"] = nncf.ModelType.TRANSFORMER

    capture = LogCapture()
    old_level = nncf_logger.level
    for h in nncf_logger.handlers:  # NNCF's stdout handler: keep it at INFO or above
        if h.level < logging.INFO:
            h.setLevel(logging.INFO)
    nncf_logger.addHandler(capture)
    nncf_logger.setLevel(logging.DEBUG)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="peer_accuracy.") as scratch:
        os.chdir(scratch)
        try:
            t0 = time.perf_counter()
            result = nncf.quantize_with_accuracy_control(
                model,
                nncf.Dataset(calib),
                nncf.Dataset(valid, lambda item: item[0]),
                validation_fn,
                **kwargs,
            )
            elapsed = time.perf_counter() - t0
        finally:
            os.chdir(cwd)
            nncf_logger.removeHandler(capture)
            nncf_logger.setLevel(old_level)

    if is_ir:
        ov.save_model(result, args.output, compress_to_fp16=False)
        compiled = ov.Core().compile_model(result, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        final_metric, _ = validate_ov(compiled, valid)
    else:
        onnx.save_model(result, args.output)
        final_metric, _ = OnnxRunner().validate(result, valid)

    log = parse_log(capture.messages)
    fp32 = log["fp32_metric"]
    int8 = log["int8_metric"]
    restored = bool(log["steps"])
    if log["reverted"] is not None:
        reverted = log["reverted"]
    else:
        # No final report: either nothing was reverted, or NNCF reverted every
        # group (it then skips the report); take the per-iteration lines.
        reverted = list(dict.fromkeys(n for ops, _ in log["steps"] for n in ops))
    if log["removed_quantizers"] is not None:
        quantizers = log["removed_quantizers"]
    else:
        quantizers = list(dict.fromkeys(n for _, qs in log["steps"] for n in qs))
    drop = None if fp32 is None else fp32 - final_metric
    sys.stdout.flush()
    print(json.dumps({
        "tool": "nncf",
        "version": nncf.__version__,
        "model": args.model,
        "output": args.output,
        "backend": "openvino" if is_ir else "onnx",
        "calib_items": len(calib),
        "valid_items": len(valid),
        "max_drop": args.max_drop,
        "drop_type": "absolute",
        "fp32_metric": fp32,
        "int8_metric": int8,
        "int8_metric_source": None if int8 is None else INT8_SOURCE,
        "int8_drop": None if fp32 is None or int8 is None else round(fp32 - int8, 6),
        "final_metric": final_metric,
        "drop": None if drop is None else round(drop, 6),
        "reached_required_drop": None if drop is None else drop <= args.max_drop + 1e-12,
        "restored": restored,
        "quantized_operations": log["quantized_operations"],
        "reverted_operations": len(reverted),
        "reverted_operation_names": reverted,
        "removed_quantizers": len(quantizers),
        "removed_quantizer_names": quantizers,
        "iterations": len(log["steps"]),
        "nncf_message": log["message"],
        "quantize_s": round(elapsed, 4),
        "output_bytes": model_bytes(args.output),
        "input_bytes": model_bytes(args.model),
    }))


if __name__ == "__main__":
    main()
