#!/usr/bin/env python3
"""Run an OpenVINO IR model in the OpenVINO runtime and compare (or save) its outputs.

Usage:
    python3 tests/tools/ov_run.py MODEL.xml INPUTS.npz [EXPECTED.npz]
        [--mode bitwise|close] [--rtol R] [--atol A] [--write OUT.npz]
        [--exec-precisions]

The counterpart of ort_run.py for OpenVINO IR (.xml with its .bin next to
it; an .onnx path also works, OpenVINO reads it directly).

INPUTS.npz keys are model input tensor names (exact dtypes; any of an
input's tensor names may be used). Every output named in EXPECTED.npz is
compared against the model output that carries that tensor name:

  * bitwise (default): dtype, shape and raw bytes must be identical;
  * close: dtype and shape must match, values must satisfy
    |actual - expected| <= atol + rtol * |expected| (NaNs compare equal).

One line per output is printed: name, shape, dtype, max abs diff, verdict
(the same lines as ort_run.py). With --write OUT.npz all model outputs are
saved (uncompressed, byte-reproducible npz, keyed by each output's
`get_any_name()`); EXPECTED may then be omitted.

--exec-precisions prints, before any comparison line, one line per layer of
the compiled (runtime) model except Const layers, in execution order, as
four tab-separated fields:

    <layer name>\t<layerType>\t<runtimePrecision>\t<primitiveType>

taken from compiled_model.get_runtime_model() rt_info (for example
`Multiply_2527\tConvolution\tu8\tbrgconv_avx512_I8` for a convolution
executed in int8). With only --exec-precisions, INPUTS.npz is still read but
the model is not run.

Exit status: 0 all outputs match (or written), 1 mismatch, 2 usage, load or
run error (the error is printed).

The model is compiled for the CPU plugin with INFERENCE_PRECISION_HINT f32
(no bf16/f16 downconversion; FakeQuantize-marked parts still run in int8),
one stream, one inference thread, LATENCY hint and no CPU pinning, so results
are reproducible on one machine. The IR fixture generator
(tests/fixtures/generate_ir.py) imports compile_model() from this file so
that the expected outputs come from exactly the same settings. OpenVINO's
kernels are chosen by CPU ISA (AVX2, AVX-512, AMX, ...), so bitwise results
can differ on another CPU family.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ort_run import compare, load_npz, save_npz  # noqa: E402  (same lines and npz writer)

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_ERROR = 2

# Settings used for every compiled model (see the module docstring).
CPU_CONFIG = {
    "INFERENCE_PRECISION_HINT": "f32",
    "NUM_STREAMS": "1",
    "INFERENCE_NUM_THREADS": "1",
    "PERFORMANCE_HINT": "LATENCY",
    "ENABLE_CPU_PINNING": "NO",
}


def compile_model(model_path):
    """Read the model from disk and compile it for CPU with CPU_CONFIG."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(os.fspath(model_path))
    return core.compile_model(model, "CPU", CPU_CONFIG)


def port_names(port):
    return set(port.get_names())


def output_key(port):
    """Key of an output in written .npz files: its any_name (the smallest of
    its tensor names)."""
    return port.get_any_name()


def match_inputs(compiled, arrays):
    """Map model inputs to arrays by tensor name. Returns (feeds, missing, extra):
    feeds is a list of arrays in model input order."""
    feeds = []
    missing = []
    used = set()
    for port in compiled.inputs:
        names = port_names(port)
        hit = [k for k in arrays if k in names]
        if not hit:
            missing.append(port.get_any_name() if names else f"<input {port.get_index()}>")
            continue
        used.add(hit[0])
        feeds.append(arrays[hit[0]])
    extra = [k for k in arrays if k not in used]
    return feeds, missing, extra


def run_compiled(compiled, feeds):
    """Run once; returns a dict output key -> np.ndarray in model output order
    (copies, independent of the request's buffers)."""
    import numpy as np

    request = compiled.create_infer_request()
    request.infer({i: feeds[i] for i in range(len(feeds))})
    out = {}
    for port in compiled.outputs:
        out[output_key(port)] = np.array(request.get_tensor(port).data, copy=True)
    return out


def exec_precisions(compiled):
    """[(name, layerType, runtimePrecision, primitiveType)] of the runtime
    model in execution order, Const layers left out."""
    rows = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()

        def get(key, rt=rt):
            return rt[key].astype(str) if key in rt else ""

        layer_type = get("layerType")
        if layer_type == "Const":
            continue
        order = get("execOrder")
        try:
            order_i = int(order)
        except ValueError:
            order_i = sys.maxsize
        rows.append((order_i, op.get_friendly_name(), layer_type, get("runtimePrecision"), get("primitiveType")))
    rows.sort(key=lambda r: r[0])  # stable: ties keep topological order
    return [r[1:] for r in rows]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Run an OpenVINO IR model (CPU, f32 inference precision, 1 thread) and compare outputs."
    )
    parser.add_argument("model", help="model .xml file (its .bin is found next to it)")
    parser.add_argument("inputs", help=".npz with one array per model input")
    parser.add_argument("expected", nargs="?", help=".npz with expected outputs")
    parser.add_argument("--mode", choices=["bitwise", "close"], default="bitwise")
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--atol", type=float, default=1e-6)
    parser.add_argument("--write", metavar="OUT.npz", help="save all outputs to this .npz")
    parser.add_argument(
        "--exec-precisions",
        action="store_true",
        help="print name, layerType, runtimePrecision, primitiveType of each executed layer",
    )
    args = parser.parse_args(argv)  # exits 2 on usage errors

    if args.expected is None and args.write is None and not args.exec_precisions:
        print("error: give EXPECTED.npz to compare, --write OUT.npz or --exec-precisions", file=sys.stderr)
        return EXIT_ERROR

    try:
        import numpy as np  # noqa: F401

        compiled = compile_model(args.model)
        inputs = load_npz(args.inputs)
        expected = load_npz(args.expected) if args.expected is not None else None
    except Exception as exc:  # load errors of any kind
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR

    if args.exec_precisions:
        try:
            rows = exec_precisions(compiled)
        except Exception as exc:
            print(f"error: runtime model: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_ERROR
        for row in rows:
            print("\t".join(row))
        if expected is None and args.write is None:
            return EXIT_OK

    feeds, missing, extra = match_inputs(compiled, inputs)
    if missing:
        print(f"error: inputs file lacks model input(s): {', '.join(missing)}", file=sys.stderr)
        return EXIT_ERROR
    if extra:
        print(f"note: ignoring non-input array(s): {', '.join(extra)}", file=sys.stderr)

    try:
        outputs = run_compiled(compiled, feeds)
    except Exception as exc:
        print(f"error: run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR

    if args.write is not None:
        try:
            save_npz(args.write, outputs)
        except Exception as exc:
            print(f"error: cannot write {args.write}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_ERROR
        for name, value in outputs.items():
            shape_s = "x".join(str(d) for d in value.shape) or "scalar"
            print(f"{name}: shape={shape_s} dtype={value.dtype} written")

    if expected is None:
        return EXIT_OK

    if not expected:
        print("error: expected file holds no arrays", file=sys.stderr)
        return EXIT_ERROR
    # An expected key may be any tensor name of an output.
    by_name = {}
    for port in compiled.outputs:
        for n in port_names(port):
            by_name.setdefault(n, output_key(port))
    all_ok = True
    for name, exp in expected.items():
        if name not in by_name:
            print(f"{name}: not an output of the model FAIL")
            all_ok = False
            continue
        ok, line = compare(name, outputs[by_name[name]], exp, args.mode, args.rtol, args.atol)
        print(line)
        all_ok = all_ok and ok
    return EXIT_OK if all_ok else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main())
