#!/usr/bin/env python3
"""Run a TensorFlow SavedModel in TensorFlow and, optionally, as TFLite.

Usage:
    python3 tests/tools/tf_run.py SAVED_MODEL_DIR INPUTS.npz --write OUT.npz
        [--signature serving_default] [--tflite]

INPUTS.npz keys are the signature's input names, with a leading batch axis.
OUT.npz gets every signature output under its name. With --tflite the model
is also converted by `tf.lite.TFLiteConverter.from_saved_model` with default
optimizations and no representative dataset (so only the model's own
fake-quant ranges can make it integer), run on the same inputs, and its
outputs are written as `tflite/<name>`.

Prints one JSON line: the TFLite model's operators, and those of them whose
first input is int8 (`int8_ops`).

Exit status: 0 done, 2 load, conversion or run error (printed).
"""

import argparse
import io
import json
import os
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def write_npz(path, arrays):
    import numpy as np

    with zipfile.ZipFile(path, "w") as z:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(v))
            z.writestr(k + ".npy", buf.getvalue())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("inputs")
    ap.add_argument("--write", required=True)
    ap.add_argument("--signature", default="serving_default")
    ap.add_argument("--tflite", action="store_true")
    a = ap.parse_args()
    import numpy as np
    import tensorflow as tf

    data = dict(np.load(a.inputs))
    try:
        model = tf.saved_model.load(a.model)
        fn = model.signatures[a.signature]
        names = list(fn.structured_input_signature[1].keys())
        out = fn(**{k: tf.constant(data[k]) for k in names})
        result = {k: v.numpy() for k, v in out.items()}
    except Exception as e:  # noqa: BLE001 - reported to the caller
        print(f"TensorFlow could not run {a.model}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    summary = {}
    if a.tflite:
        try:
            conv = tf.lite.TFLiteConverter.from_saved_model(a.model, signature_keys=[a.signature])
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            flat = conv.convert()
            it = tf.lite.Interpreter(model_content=flat)
            it.allocate_tensors()
            dtypes = {t["index"]: t["dtype"] for t in it.get_tensor_details()}
            ops = [o["op_name"] for o in it._get_ops_details()]
            int8 = sorted(
                {o["op_name"] for o in it._get_ops_details() if len(o["inputs"]) and dtypes.get(o["inputs"][0]) == np.int8}
            )
            runner = it.get_signature_runner(a.signature)
            n = len(next(iter(data.values())))
            parts = [runner(**{k: data[k][i : i + 1] for k in names}) for i in range(n)]
            for k in parts[0]:
                result[f"tflite/{k}"] = np.concatenate([p[k] for p in parts])
            summary = {"ops": sorted(set(ops)), "int8_ops": int8, "bytes": len(flat)}
        except Exception as e:  # noqa: BLE001
            print(f"TFLite could not convert or run {a.model}: {type(e).__name__}: {e}", file=sys.stderr)
            return 2
    write_npz(a.write, result)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
