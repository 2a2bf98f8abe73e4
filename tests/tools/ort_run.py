#!/usr/bin/env python3
"""Run an ONNX model in onnxruntime and compare (or save) its outputs.

Usage:
    python3 tests/tools/ort_run.py MODEL.onnx INPUTS.npz [EXPECTED.npz]
        [--mode bitwise|close] [--rtol R] [--atol A] [--write OUT.npz]

INPUTS.npz keys are graph input names (exact dtypes). Every output named in
EXPECTED.npz is compared against the model's output of the same name:

  * bitwise (default): dtype, shape and raw bytes must be identical;
  * close: dtype and shape must match, values must satisfy
    |actual - expected| <= atol + rtol * |expected| (NaNs compare equal).

One line per output is printed: name, shape, dtype, max abs diff, verdict.
With --write OUT.npz all model outputs are saved (uncompressed npz, keys =
output names); EXPECTED may then be omitted.

Exit status: 0 all outputs match (or written), 1 mismatch, 2 usage or load
error (the error is printed).

The session always uses the CPU execution provider with one intra-op and one
inter-op thread and sequential execution, so results are reproducible; the
graph optimization level is onnxruntime's default. The fixture generator
(tests/fixtures/generate.py) imports make_session() from this file so that the
expected outputs are produced with exactly the same settings.
"""

import argparse
import io
import os
import sys
import zipfile

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_ERROR = 2


def make_session(model_path):
    """CPU session with deterministic threading; default optimization level."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(
        os.fspath(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
    )


def run_session(sess, feeds):
    """Run all outputs; returns a dict name -> np.ndarray in graph output order."""
    names = [o.name for o in sess.get_outputs()]
    values = sess.run(names, feeds)
    return dict(zip(names, values))


def save_npz(path, arrays):
    """Write an uncompressed .npz readable by numpy.load, byte-for-byte
    deterministic (numpy.savez stamps each member with the current time)."""
    import numpy as np
    from numpy.lib import format as npformat

    with zipfile.ZipFile(os.fspath(path), mode="w", compression=zipfile.ZIP_STORED) as zf:
        for key, value in arrays.items():
            arr = np.array(value, order="C", copy=True)
            buf = io.BytesIO()
            npformat.write_array(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, buf.getvalue())


def load_npz(path):
    import numpy as np

    with np.load(os.fspath(path), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def compare(name, actual, expected, mode, rtol, atol):
    """Returns (ok, line)."""
    import numpy as np

    shape_s = "x".join(str(d) for d in expected.shape) or "scalar"
    if actual.dtype != expected.dtype:
        return False, f"{name}: shape={shape_s} dtype mismatch: got {actual.dtype}, expected {expected.dtype} FAIL"
    if actual.shape != expected.shape:
        got = "x".join(str(d) for d in actual.shape) or "scalar"
        return False, f"{name}: shape mismatch: got {got}, expected {shape_s} dtype={expected.dtype} FAIL"

    if expected.size == 0:
        max_diff = 0.0
    elif expected.dtype == np.bool_:
        max_diff = float(np.max(actual != expected))
    else:
        a64 = actual.astype(np.float64)
        e64 = expected.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(a64 - e64)
        diff[np.isnan(a64) & np.isnan(e64)] = 0.0
        diff[(a64 == e64)] = 0.0  # equal infinities
        max_diff = float("nan") if np.any(np.isnan(diff)) else float(np.max(diff))

    if mode == "bitwise":
        a = actual.tobytes(order="C")
        e = expected.tobytes(order="C")
        ok = a == e
        extra = ""
        if not ok:
            itemsize = expected.dtype.itemsize
            av = np.frombuffer(a, dtype=np.uint8).reshape(-1, itemsize)
            ev = np.frombuffer(e, dtype=np.uint8).reshape(-1, itemsize)
            ndiff = int(np.count_nonzero(np.any(av != ev, axis=1)))
            extra = f" differing_elements={ndiff}/{expected.size}"
    else:
        if expected.dtype == np.bool_:
            ok = bool(np.array_equal(actual, expected))
        else:
            ok = bool(
                np.allclose(
                    actual.astype(np.float64),
                    expected.astype(np.float64),
                    rtol=rtol,
                    atol=atol,
                    equal_nan=True,
                )
            )
        extra = ""
    verdict = "OK" if ok else "FAIL"
    return ok, f"{name}: shape={shape_s} dtype={expected.dtype} max_abs_diff={max_diff:.9g}{extra} {verdict}"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Run an ONNX model in onnxruntime (CPU, 1 thread) and compare outputs."
    )
    parser.add_argument("model", help="model .onnx file (external data is resolved next to it)")
    parser.add_argument("inputs", help=".npz with one array per graph input")
    parser.add_argument("expected", nargs="?", help=".npz with expected outputs")
    parser.add_argument("--mode", choices=["bitwise", "close"], default="bitwise")
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--atol", type=float, default=1e-6)
    parser.add_argument("--write", metavar="OUT.npz", help="save all outputs to this .npz")
    args = parser.parse_args(argv)  # exits 2 on usage errors

    if args.expected is None and args.write is None:
        print("error: give EXPECTED.npz to compare, or --write OUT.npz", file=sys.stderr)
        return EXIT_ERROR

    try:
        import numpy as np  # noqa: F401

        sess = make_session(args.model)
        inputs = load_npz(args.inputs)
        expected = load_npz(args.expected) if args.expected is not None else None
    except Exception as exc:  # load errors of any kind
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR

    input_names = [i.name for i in sess.get_inputs()]
    missing = [n for n in input_names if n not in inputs]
    if missing:
        print(f"error: inputs file lacks graph input(s): {', '.join(missing)}", file=sys.stderr)
        return EXIT_ERROR
    extra = [k for k in inputs if k not in input_names]
    if extra:
        print(f"note: ignoring non-input array(s): {', '.join(extra)}", file=sys.stderr)
    feeds = {n: inputs[n] for n in input_names}

    try:
        outputs = run_session(sess, feeds)
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

    all_ok = True
    if not expected:
        print("error: expected file holds no arrays", file=sys.stderr)
        return EXIT_ERROR
    for name, exp in expected.items():
        if name not in outputs:
            print(f"{name}: not an output of the model FAIL")
            all_ok = False
            continue
        ok, line = compare(name, outputs[name], exp, args.mode, args.rtol, args.atol)
        print(line)
        all_ok = all_ok and ok
    return EXIT_OK if all_ok else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main())
