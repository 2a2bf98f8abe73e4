"""OpenVINO IR entries converted from zoo ONNX entries with openvino.convert_model (run after the others).

Run with target/zoo-venv/peers/bin/python (generate.py does). model.xml/model.bin written by
openvino.save_model(..., compress_to_fp16=False); calib/valid data are the source entry's.
(The Keras -> IR entry ov_keras_mobilenet_v2 is made by gen_tf.py, which has TensorFlow.)
"""
import json
import os
import shutil
import sys

# Fixed hash seed: exporters that walk Python sets/dicts of names (tf2onnx) otherwise order nodes
# differently from run to run. Re-executes this script once with PYTHONHASHSEED=0.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402
from common import ZOO, entry_dir, finish_entry  # noqa: E402


def from_onnx(src_name):
    def build(name, t0):
        import openvino as ov

        src = os.path.join(ZOO, src_name)
        if not common.is_complete(src_name):
            raise RuntimeError(f"source entry {src_name} is not generated")
        with open(os.path.join(src, "meta.json")) as f:
            smeta = json.load(f)
        d = entry_dir(name)
        m = ov.convert_model(os.path.join(src, "model.onnx"))
        ov.save_model(m, os.path.join(d, "model.xml"), compress_to_fp16=False)
        with np.load(os.path.join(src, "calib.npz")) as z:
            calib = {k: z[k] for k in z.files}
        with np.load(os.path.join(src, "valid.npz")) as z:
            valid = {k: z[k] for k in z.files}
        labels = valid.pop("labels", None)
        extra = {k: smeta[k] for k in ("item_axis", "iou_threshold", "texts", "label_names") if k in smeta}
        extra["converted_from"] = src_name
        finish_entry(name, "openvino-ovc", f"{smeta['architecture']} -> OpenVINO IR",
                     f"openvino {ov.__version__} convert_model({src_name}/model.onnx); {smeta['source']}",
                     calib, valid, trained=smeta.get("trained_weights", False), metric=smeta.get("metric", "cosine"),
                     labels=labels, notes=f"IR only; dynamic dims kept as in the ONNX source ({src_name}); FP32 "
                                          "weights (compress_to_fp16=False). " + smeta.get("notes", ""),
                     extra=extra, t_start=t0)
    return build


BUILDERS = {
    "ov_resnet18": from_onnx("ts_resnet18"),
    "ov_bert": from_onnx("ts_bert"),
    "ov_rapidocr_det": from_onnx("rapidocr_det"),
}

if __name__ == "__main__":
    sys.exit(common.run_entries(BUILDERS))
