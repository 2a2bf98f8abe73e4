"""Zoo entries exported with paddle2onnx from paddle.vision models (random init, pretrained=False).

Run with target/zoo-venv/paddle/bin/python (generate.py does). paddle.jit.save writes the
inference program, then paddle2onnx converts it (the same path as paddle.onnx.export).
BatchNorm running statistics re-estimated on synthetic images (one train-mode pass, momentum 0).
"""
import os
import sys

# Fixed hash seed: exporters that walk Python sets/dicts of names (tf2onnx) otherwise order nodes
# differently from run to run. Re-executes this script once with PYTHONHASHSEED=0.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)
import tempfile

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402
from common import entry_dir, finish_entry  # noqa: E402

N_CAL, N_VAL = 32, 32
OPSET = 13
PRODUCER = "paddle2onnx"


def export(model, size, out_path):
    import paddle
    import paddle2onnx

    spec = [paddle.static.InputSpec(shape=[None, 3, size, size], dtype="float32", name="x")]
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "inference")
        paddle.jit.save(model, prefix, input_spec=spec)
        model_file = prefix + ".json" if os.path.exists(prefix + ".json") else prefix + ".pdmodel"
        paddle2onnx.export(model_file, prefix + ".pdiparams", out_path, opset_version=OPSET)


def vision_model(fn, size, **kw):
    def build(name, t0):
        import paddle
        import paddle2onnx

        paddle.seed(0)
        np.random.seed(0)
        model = getattr(paddle.vision.models, fn)(pretrained=False, **kw)
        imgs = common.images_nchw_imagenet(N_CAL + N_VAL + 16, size, seed=50)
        bns = [m for m in model.sublayers() if isinstance(m, paddle.nn.layer.norm._BatchNormBase)]
        for m in bns:
            m._momentum = 0.0
        model.train()
        with paddle.no_grad():
            model(paddle.to_tensor(imgs[N_CAL + N_VAL:]))
        for m in bns:
            m._momentum = 0.9
        model.eval()
        export(model, size, os.path.join(entry_dir(name), "model.onnx"))
        finish_entry(name, PRODUCER, f"paddle.vision.models.{fn}", f"paddlepaddle {paddle.__version__} / paddle2onnx "
                     f"{paddle2onnx.__version__} pretrained=False {kw or ''}", {"x": imgs[:N_CAL]},
                     {"x": imgs[N_CAL:N_CAL + N_VAL]}, metric="cosine",
                     notes=f"random init (paddle.seed 0), BN stats re-estimated; {size}x{size} NCHW ImageNet-normalised "
                           f"rendered images; batch dim exported as -1 / dynamic; opset {OPSET}", t_start=t0)
    return build


BUILDERS = {
    "pd_mobilenet_v2": vision_model("mobilenet_v2", 160),
    "pd_resnet18": vision_model("resnet18", 160),
    "pd_shufflenet_v2_x0_25": vision_model("shufflenet_v2_x0_25", 128),
}

if __name__ == "__main__":
    sys.exit(common.run_entries(BUILDERS))
