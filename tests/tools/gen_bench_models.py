#!/usr/bin/env python3
"""Write the real-size models `cargo xtask bench-int8 --real` times.

usage: python gen_bench_models.py OUT_DIR [--only NAME ...] [--items N]

Runs in the zoo's torch venv (tests/zoo/setup.sh torch: torch, torchvision,
transformers, onnx). Nothing is downloaded: every model is built from its
torchvision constructor or transformers config with random weights (seed 0).
Each goes to OUT_DIR/NAME/ as

  model.onnx   torch.onnx TorchScript export, opset 17, dynamic batch
  calib.npz    N calibration items (default 300, NNCF's subset), one array
               per input with a leading item axis
  valid.npz    32 other items of the same kind
  meta.json    inputs, shapes, the source and the --dim arguments to time it

The CNNs have their BatchNorm statistics re-estimated on the same kind of
synthetic images the calibration set holds (rendered shapes, ImageNet
normalisation), so activations have realistic ranges; the transformers read
random token ids with a full attention mask, 128 tokens.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "zoo"))
import common  # noqa: E402  (tests/zoo/common.py: synthetic images)

SEQ = 128


def bn_recalibrate(model, images, bs=8):
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for b in range(0, len(images), bs):
            model(torch.from_numpy(images[b:b + bs]))
    return model.eval()


def cnn(ctor_name, **kw):
    def build(out, items):
        import torchvision

        torch.manual_seed(0)
        model = getattr(torchvision.models, ctor_name)(weights=None, **kw)
        imgs = common.images_nchw_imagenet(items + 64, 224, seed=1)
        bn_recalibrate(model, imgs[items + 32:])
        with torch.no_grad():
            torch.onnx.export(model, (torch.from_numpy(imgs[:1]),), os.path.join(out, "model.onnx"),
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=17, dynamo=False, do_constant_folding=True)
        np.savez(os.path.join(out, "calib.npz"), input=imgs[:items])
        np.savez(os.path.join(out, "valid.npz"), input=imgs[items:items + 32])
        return {"source": f"torchvision {torchvision.__version__} models.{ctor_name}, random weights",
                "dims": []}
    return build


def bert(layers, hidden, heads, ffn, label):
    def build(out, items):
        import transformers
        from transformers import BertConfig, BertModel

        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                         num_attention_heads=heads, intermediate_size=ffn, max_position_embeddings=512)
        cfg._attn_implementation = "eager"
        model = BertModel(cfg).eval()

        class Hidden(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.m(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

        rng = np.random.default_rng(3)
        ids = rng.integers(1000, 30000, size=(items + 32, SEQ), dtype=np.int64)
        ids[:, 0], ids[:, -1] = 101, 102
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        names = list(feeds)
        ex = tuple(torch.from_numpy(feeds[k][:1]) for k in names)
        axes = {k: {0: "batch", 1: "seq"} for k in names}
        axes["last_hidden_state"] = {0: "batch", 1: "seq"}
        with torch.no_grad():
            torch.onnx.export(Hidden(model), ex, os.path.join(out, "model.onnx"), input_names=names,
                              output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17,
                              dynamo=False, do_constant_folding=True)
        np.savez(os.path.join(out, "calib.npz"), **{k: v[:items] for k, v in feeds.items()})
        np.savez(os.path.join(out, "valid.npz"), **{k: v[items:] for k, v in feeds.items()})
        return {"source": f"transformers {transformers.__version__} BertModel ({label}), random weights",
                "dims": [f"seq={SEQ}"]}
    return build


MODELS = {
    "resnet50": cnn("resnet50"),
    "mobilenet_v3_large": cnn("mobilenet_v3_large"),
    "efficientnet_b0": cnn("efficientnet_b0"),
    "bert_base": bert(12, 768, 12, 3072, "BERT-base: 12 layers, hidden 768"),
    "minilm": bert(6, 384, 12, 1536, "MiniLM-L6 size: 6 layers, hidden 384"),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--items", type=int, default=300)
    a = p.parse_args()
    for name in a.only or list(MODELS):
        d = os.path.join(a.out, name)
        if os.path.isfile(os.path.join(d, "meta.json")):
            continue
        os.makedirs(d, exist_ok=True)
        meta = MODELS[name](d, a.items)
        meta["items"] = a.items
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(f"{name}: {meta['source']}", flush=True)


if __name__ == "__main__":
    main()
