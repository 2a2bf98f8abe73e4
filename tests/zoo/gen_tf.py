"""Zoo entries from TensorFlow/Keras: tf2onnx (from_keras / from_function) and Keras -> OpenVINO IR (ov.convert_model).

Run with target/zoo-venv/tf/bin/python (generate.py does). Keras 2 API through tf-keras
(TF_USE_LEGACY_KERAS=1), the API tf2onnx's from_keras expects. Random init (seeded),
BatchNorm moving statistics re-estimated on synthetic images (one training-mode pass with
momentum 0, weights unchanged).
"""
import os
import sys

# Fixed hash seed: exporters that walk Python sets/dicts of names (tf2onnx) otherwise order nodes
# differently from run to run. Re-executes this script once with PYTHONHASHSEED=0.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import common  # noqa: E402
from common import entry_dir, finish_entry  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)

N_CAL, N_VAL = 32, 32
OPSET = 15
PRODUCER = "tf2onnx-keras"


def keras():
    import tf_keras

    return tf_keras


def seed(s=0):
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(s)
    np.random.seed(s)
    # tf2onnx names generated nodes from a process-wide counter: reset it so an entry's file does
    # not depend on which entries were converted before it in the same process
    import tf2onnx.utils

    tf2onnx.utils.INTERNAL_NAME = 1


def onnx_path(name):
    return os.path.join(entry_dir(name), "model.onnx")


def bn_recalibrate(model, x):
    bns = [l for l in model.submodules if isinstance(l, keras().layers.BatchNormalization)]
    if not bns:
        return
    saved = [l.momentum for l in bns]
    for l in bns:
        l.momentum = 0.0
    model(x, training=True)
    for l, m in zip(bns, saved):
        l.momentum = m


def to_onnx_keras(model, shape, dtype, path, in_name="input"):
    import tf2onnx

    spec = (tf.TensorSpec(shape, dtype, name=in_name),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET, output_path=path)


def preprocess(mode, u8):
    x = u8.astype(np.float32)
    if mode == "tf":  # [-1, 1]
        return x / 127.5 - 1.0
    if mode == "caffe":  # BGR, mean subtracted
        return x[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
    if mode == "torch":
        return (x / 255.0 - common.IMAGENET_MEAN) / common.IMAGENET_STD
    return x  # "raw": 0..255, the model rescales itself (EfficientNet)


def keras_app(app, size, mode):
    def build(name, t0):
        import tf2onnx

        seed(0)
        k = keras()
        model = getattr(k.applications, app)(weights=None, input_shape=(size, size, 3), classes=1000)
        u8 = common.images_uint8(N_CAL + N_VAL + 16, size, seed=30)
        x = preprocess(mode, u8).astype(np.float32)
        bn_recalibrate(model, x[N_CAL + N_VAL:])
        to_onnx_keras(model, (None, size, size, 3), tf.float32, onnx_path(name))
        finish_entry(name, PRODUCER, f"keras.applications.{app}", f"tf-keras {k.__version__} / tensorflow "
                     f"{tf.__version__} / tf2onnx {tf2onnx.__version__} weights=None",
                     {"input": x[:N_CAL]}, {"input": x[N_CAL:N_CAL + N_VAL]}, metric="cosine",
                     notes=f"NHWC {size}x{size}; keras '{mode}' preprocessing of rendered images; random init, BN "
                           "moving stats re-estimated; dynamic batch; opset 15", t_start=t0)
    return build


def build_lstm(name, t0):
    import tf2onnx

    seed(0)
    k = keras()
    model = k.Sequential([
        k.layers.Input(shape=(40,), dtype="int32"),
        k.layers.Embedding(3000, 64),
        k.layers.LSTM(64, return_sequences=True),
        k.layers.LSTM(48),
        k.layers.Dense(5),
    ])
    ids, _ = common.zipf_token_batch(N_CAL + N_VAL, 40, 3000, seed=31, min_len=40)
    ids = ids.astype(np.int32)
    to_onnx_keras(model, (None, 40), tf.int32, onnx_path(name), in_name="ids")
    finish_entry(name, PRODUCER, "Keras Embedding + 2 stacked LSTM + Dense", f"tf-keras {k.__version__} / tf2onnx "
                 f"{tf2onnx.__version__}", {"ids": ids[:N_CAL]}, {"ids": ids[N_CAL:]}, metric="cosine",
                 notes="int32 token ids (Zipf), seq 40; tf2onnx's LSTM rewriter", t_start=t0)


def token_and_position_embedding(k, L, V, D):
    """The Keras example's TokenAndPositionEmbedding layer (token embedding + learned position embedding)."""

    class TokenAndPositionEmbedding(k.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.tok = k.layers.Embedding(V, D)
            self.pos = k.layers.Embedding(L, D)

        def call(self, x):
            positions = tf.range(start=0, limit=tf.shape(x)[-1], delta=1)
            return self.tok(x) + self.pos(positions)

    return TokenAndPositionEmbedding()


def build_transformer(name, t0):
    """The Keras text-classification transformer of the Keras examples: token + position embedding,
    MultiHeadAttention (einsum-based), LayerNorm, FFN, global average pooling, Dense."""
    import tf2onnx

    seed(0)
    k = keras()
    L, V, D, H, F = 64, 8000, 128, 4, 256

    inp = k.layers.Input(shape=(L,), dtype="int32")
    x = token_and_position_embedding(k, L, V, D)(inp)
    for _ in range(2):
        a = k.layers.MultiHeadAttention(num_heads=H, key_dim=D // H)(x, x)
        x = k.layers.LayerNormalization(epsilon=1e-6)(x + a)
        f = k.layers.Dense(F, activation="relu")(x)
        f = k.layers.Dense(D)(f)
        x = k.layers.LayerNormalization(epsilon=1e-6)(x + f)
    x = k.layers.GlobalAveragePooling1D()(x)
    x = k.layers.Dense(32, activation="relu")(x)
    out = k.layers.Dense(2, activation="softmax")(x)
    model = k.Model(inp, out)
    ids, _ = common.zipf_token_batch(N_CAL + N_VAL, L, V, seed=34, min_len=L)
    ids = ids.astype(np.int32)
    to_onnx_keras(model, (None, L), tf.int32, onnx_path(name), in_name="ids")
    finish_entry(name, PRODUCER, "Keras transformer text classifier (2 blocks of MultiHeadAttention + FFN, "
                 "token+position embedding)", f"tf-keras {k.__version__} / tf2onnx {tf2onnx.__version__}",
                 {"ids": ids[:N_CAL]}, {"ids": ids[N_CAL:]}, metric="cosine",
                 notes="Keras MultiHeadAttention is einsum-based: tf2onnx emits Einsum (or MatMul) nodes; int32 Zipf "
                       "ids, seq 64; softmax output", t_start=t0)


def build_while_cond(name, t0):
    import tf2onnx

    seed(0)
    rng = np.random.default_rng(32)
    w_in = rng.normal(0, 0.3, (16, 32)).astype(np.float32)
    w_rec = rng.normal(0, 0.2, (32, 32)).astype(np.float32)
    a = rng.normal(0, 0.3, (32, 8)).astype(np.float32)
    b = rng.normal(0, 0.3, (32, 8)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 16], tf.float32, name="x")])
    def f(x):
        W_in, W_rec, A, B = (tf.constant(v) for v in (w_in, w_rec, a, b))
        steps = tf.shape(x)[1]
        h0 = tf.zeros([tf.shape(x)[0], 32])

        def body(i, h):
            return i + 1, tf.tanh(tf.matmul(x[:, i, :], W_in) + tf.matmul(h, W_rec))

        _, h = tf.while_loop(lambda i, h: i < steps, body, [tf.constant(0), h0])
        y = tf.cond(tf.reduce_mean(h) > 0.0, lambda: tf.matmul(h, A), lambda: tf.matmul(h, B) * 0.5)
        return tf.identity(y, name="y")

    n = N_CAL + N_VAL
    x = (rng.normal(0, 1, (n, 12, 16)) + rng.normal(0, 0.8, (n, 1, 16))).astype(np.float32)
    tf2onnx.convert.from_function(f, input_signature=f.input_signature, opset=OPSET, output_path=onnx_path(name))
    finish_entry(name, PRODUCER, "tf.function with tf.while_loop (RNN over time) and tf.cond",
                 f"tensorflow {tf.__version__} / tf2onnx {tf2onnx.__version__} from_function",
                 {"x": x[:N_CAL]}, {"x": x[N_CAL:]}, metric="cosine",
                 notes="weights are tf.constant -> ONNX Constant/initializers; Loop with MatMul in the body, If",
                 t_start=t0)


def build_ov_keras(name, t0):
    import openvino as ov

    seed(0)
    k = keras()
    size = 160
    model = k.applications.MobileNetV2(weights=None, input_shape=(size, size, 3), classes=1000)
    u8 = common.images_uint8(N_CAL + N_VAL + 16, size, seed=33)
    x = preprocess("tf", u8).astype(np.float32)
    bn_recalibrate(model, x[N_CAL + N_VAL:])
    d = entry_dir(name)
    ovm = ov.convert_model(model, input=[([1, size, size, 3], ov.Type.f32)])
    ovm.inputs[0].get_tensor().set_names({"input"})
    ov.save_model(ovm, os.path.join(d, "model.xml"), compress_to_fp16=False)
    finish_entry(name, "openvino-ovc", "keras.applications.MobileNetV2 -> OpenVINO IR",
                 f"tf-keras {k.__version__} + openvino {ov.__version__} convert_model (in-memory Keras model)",
                 {"input": x[:N_CAL]}, {"input": x[N_CAL:N_CAL + N_VAL]}, metric="cosine",
                 notes="IR only (no ONNX); NHWC 1x160x160x3 static; FP32 weights (compress_to_fp16=False)",
                 t_start=t0)


BUILDERS = {
    "tf_mobilenet_v2": keras_app("MobileNetV2", 160, "tf"),
    "tf_resnet50": keras_app("ResNet50", 128, "caffe"),
    "tf_efficientnet_b0": keras_app("EfficientNetB0", 160, "raw"),
    "tf_densenet121": keras_app("DenseNet121", 128, "torch"),
    "tf_lstm": build_lstm,
    "tf_transformer_text": build_transformer,
    "tf_while_cond": build_while_cond,
    "ov_keras_mobilenet_v2": build_ov_keras,
}

if __name__ == "__main__":
    sys.exit(common.run_entries(BUILDERS))
