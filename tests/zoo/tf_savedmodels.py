#!/usr/bin/env python3
"""ptq's TensorFlow frontend on real Keras applications, saved as SavedModels.

    target/zoo-venv/tf/bin/python tests/zoo/tf_savedmodels.py [ENTRY ...]

For each Keras-application entry of gen_tf.py (default: all four) the script
builds the same model gen_tf.py converts with tf2onnx (same seed, same
BatchNorm re-estimation), saves it with tf_keras `model.save(...,
save_format="tf")` under target/zoo-tf/ENTRY/saved_model, runs TensorFlow on
the first 4 validation items, runs `target/release/ptq run` on the
SavedModel, and onnxruntime on the zoo's tf2onnx file (target/zoo/ENTRY/
model.onnx, when `cargo xtask zoo` generated it), and prints a markdown table
of max |x - tf| / max |tf| for both. With the zoo entry present it also
quantizes both the SavedModel and the zoo's ONNX file with `ptq quantize`
defaults on the entry's calibration items and gives each INT8 ONNX's mean
cosine to the FP32 model on the validation items (run in onnxruntime).
Needs the tf venv (tests/zoo/setup.sh tf) and a release build of ptq
(`cargo build --release -p ptq-cli`).

With --tflite the script also compares, per entry, on its own calibration
and validation items (gen_tf.py's, N_CAL and N_VAL of them): ptq's INT8
SavedModel (`ptq quantize` defaults, output a SavedModel) run in
TensorFlow; that SavedModel converted by TFLite with default optimizations
and no data ("ptq → TFLite"); and TFLite's own post-training integer
quantization of the FP32 SavedModel (default optimizations, the calibration
items as representative dataset). Each is given as the mean cosine of its
logits to the FP32 SavedModel's, with the count of TFLite operators that run
in int8, in a second table.
"""

import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import tensorflow as tf  # noqa: E402

import common  # noqa: E402
import gen_tf as g  # noqa: E402

APPS = {
    "tf_mobilenet_v2": ("MobileNetV2", 160, "tf"),
    "tf_resnet50": ("ResNet50", 128, "caffe"),
    "tf_efficientnet_b0": ("EfficientNetB0", 160, "raw"),
    "tf_densenet121": ("DenseNet121", 128, "torch"),
}
N_ITEMS = 4


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def cosine(a, b):
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(np.mean((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))


def ort_items(path, x):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def quantized_cosines(ptq, name, d, key):
    """(SavedModel route, ONNX route) cosines of ptq's INT8 models to FP32."""
    zoo = os.path.join(ROOT, "target", "zoo", name)
    calib, valid = os.path.join(zoo, "calib.npz"), os.path.join(zoo, "valid.npz")
    if not (os.path.exists(calib) and os.path.exists(valid)):
        return None, None
    (zin,) = np.load(calib).files
    renamed = os.path.join(d, "calib.npz")
    np.savez(renamed, **{key: np.load(calib)[zin]})
    sm_q, onnx_q = os.path.join(d, "int8.onnx"), os.path.join(d, "onnx_route.int8.onnx")
    for model, data, out in [(os.path.join(d, "saved_model"), renamed, sm_q),
                             (os.path.join(zoo, "model.onnx"), calib, onnx_q)]:
        subprocess.run([ptq, "quantize", "--model", model, "--data", data, "--output", out], check=True,
                       stdout=subprocess.DEVNULL)
    x = np.load(valid)[zin]
    fp32 = ort_items(os.path.join(zoo, "model.onnx"), x)
    return cosine(ort_items(sm_q, x), fp32), cosine(ort_items(onnx_q, x), fp32)


def agreement(a, b):
    return float(np.mean(a.reshape(len(a), -1).argmax(1) == b.reshape(len(b), -1).argmax(1)))


def tflite_run(flat, x):
    it = tf.lite.Interpreter(model_content=flat, num_threads=1)
    dtypes = {t["index"]: t["dtype"] for t in it.get_tensor_details()}
    ops = it._get_ops_details()
    int8 = sum(1 for o in ops if len(o["inputs"]) and dtypes.get(o["inputs"][0]) == np.int8)
    run = it.get_signature_runner("serving_default")
    (key,) = run.get_input_details().keys()
    out = sorted(run.get_output_details().keys())[0]
    y = np.concatenate([run(**{key: x[i:i + 1]})[out] for i in range(len(x))])
    return y, int8, len(ops)


def tflite_comparison(ptq, d, key, calib, valid, fp32):
    """Cosines to FP32 of ptq's SavedModel in TF, of its TFLite conversion
    and of TFLite's own PTQ, with (int8 ops, ops) of both TFLite models."""
    data = os.path.join(d, "calib_sm.npz")
    np.savez(data, **{key: calib})
    q = os.path.join(d, "ptq_int8")
    subprocess.run([ptq, "quantize", "--model", os.path.join(d, "saved_model"), "--data", data, "--output", q],
                   check=True, stdout=subprocess.DEVNULL)
    f = tf.saved_model.load(q).signatures["serving_default"]
    out_key = sorted(f.structured_outputs.keys())[0]
    tf_q = np.concatenate([f(**{key: tf.constant(valid[i:i + 1])})[out_key].numpy() for i in range(len(valid))])
    c = tf.lite.TFLiteConverter.from_saved_model(q)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    via, via_int8, via_ops = tflite_run(c.convert(), valid)
    c = tf.lite.TFLiteConverter.from_saved_model(os.path.join(d, "saved_model"))
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = lambda: ({key: calib[i:i + 1]} for i in range(len(calib)))
    own, own_int8, own_ops = tflite_run(c.convert(), valid)
    return ((cosine(tf_q, fp32), agreement(tf_q, fp32)), (cosine(via, fp32), agreement(via, fp32)), (via_int8, via_ops),
            (cosine(own, fp32), agreement(own, fp32)), (own_int8, own_ops))


def main(names):
    with_tflite = "--tflite" in names
    names = [n for n in names if n != "--tflite"]
    tfl_rows = []
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    ptq = os.path.join(ROOT, "target", "release", "ptq")
    rows = []
    for name in names or list(APPS):
        app, size, mode = APPS[name]
        g.seed(0)
        model = getattr(g.keras().applications, app)(weights=None, input_shape=(size, size, 3), classes=1000)
        u8 = common.images_uint8(g.N_CAL + g.N_VAL + 16, size, seed=30)
        x = g.preprocess(mode, u8).astype(np.float32)
        g.bn_recalibrate(model, x[g.N_CAL + g.N_VAL:])
        d = os.path.join(ROOT, "target", "zoo-tf", name)
        sm = os.path.join(d, "saved_model")
        model.save(sm, save_format="tf")
        f = tf.saved_model.load(sm).signatures["serving_default"]
        key = list(f.structured_input_signature[1].keys())[0]
        items = x[g.N_CAL:g.N_CAL + N_ITEMS]
        want = {k: v.numpy() for k, v in f(**{key: tf.constant(items)}).items()}
        out_key = list(want)[0]
        np.savez(os.path.join(d, "inputs.npz"), **{key: items})
        got_path = os.path.join(d, "ptq.npz")
        t = time.perf_counter()
        subprocess.run([ptq, "run", "--model", sm, "--input", os.path.join(d, "inputs.npz"), "--output", got_path,
                        "--threads", "1"], check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - t
        ptq_d = rel(np.load(got_path)[out_key], want[out_key])
        onnx = os.path.join(ROOT, "target", "zoo", name, "model.onnx")
        ort_d = None
        if os.path.exists(onnx):
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            s = ort.InferenceSession(onnx, so, providers=["CPUExecutionProvider"])
            ort_d = rel(s.run(None, {s.get_inputs()[0].name: items})[0], want[out_key])
        mb = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(sm) for f in fs) / 1e6
        q_sm, q_onnx = quantized_cosines(ptq, name, d, key)
        if with_tflite:
            valid = x[g.N_CAL:g.N_CAL + g.N_VAL]
            fp32 = np.concatenate([f(**{key: tf.constant(valid[i:i + 1])})[out_key].numpy() for i in range(len(valid))])
            tfl_rows.append((name, *tflite_comparison(ptq, d, key, x[:g.N_CAL], valid, fp32)))
            print(f"{name}: {tfl_rows[-1]}", flush=True)
        rows.append((name, app, mb, ptq_d, ort_d, seconds, q_sm, q_onnx))
        print(f"{name}: ptq {ptq_d:.2e}, onnxruntime after tf2onnx {ort_d}", flush=True)
    print()
    print("| entry | model | SavedModel MB | ptq run vs TF | onnxruntime (tf2onnx) vs TF | ptq load + run s "
          "| INT8 cosine, from the SavedModel | INT8 cosine, from the tf2onnx file |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    for name, app, mb, p, o, s, qs, qo in rows:
        print(f"| {name} | keras.applications.{app} | {mb:.1f} | {p:.2e} | {fmt(o, '.2e')} | {s:.1f} "
              f"| {fmt(qs, '.4f')} | {fmt(qo, '.4f')} |")
    if tfl_rows:
        print()
        print("Cosine to FP32 of the softmax output, and top-1 agreement with FP32, over the validation items.")
        print()
        print("| entry | ptq INT8 SavedModel in TF | ptq → TFLite | its int8 ops / ops | TFLite PTQ "
              "| its int8 ops / ops |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, (c_tf, a_tf), (c_via, a_via), (vi, vo), (c_own, a_own), (oi, oo) in tfl_rows:
            print(f"| {name} | {c_tf:.4f}, {a_tf:.0%} | {c_via:.4f}, {a_via:.0%} | {vi} / {vo} "
                  f"| {c_own:.4f}, {a_own:.0%} | {oi} / {oo} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
