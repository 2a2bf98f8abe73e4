#!/usr/bin/env python3
"""Do an INT8 model's answers depend on the CPU? Score it in ptq, onnxruntime and OpenVINO.

usage: python3 tests/tools/cpu_agreement.py --ptq target/release/ptq --reference FP32.onnx
       --model INT8.onnx [--ir INT8.xml] --valid valid.npz [--items N] [--threads N]

ptq's executor computes every integer product exactly on every CPU tier
(its kernels are held bit-exact to the scalar reference), so its metric is
the one a CPU whose int8 instructions cannot saturate gives (VNNI). On an
x86 CPU without VNNI, onnxruntime's and OpenVINO's u8×s8 kernels add pairs
of products with `vpmaddubsw`, which saturates at ±32767 unless the weights
are 7-bit (the overflow fix); there their metric can move away from ptq's.
Run on such a CPU, this tool measures by how much.

The INT8 ONNX file runs in onnxruntime and in OpenVINO (which reads the
Q/DQ pairs as FakeQuantize and runs them on its int8 kernels), the IR (if
given) in OpenVINO, and ptq runs the ONNX file (`ptq run` over one .npz per
item, so static batch sizes work). The FP32 reference runs in onnxruntime.

VALID.npz: one array per model input with a leading item axis (item i is
`arr[i:i+1]`), and for classifiers an int `labels` array.

Prints one JSON line: items, the metric name (top1 with labels, else the
mean cosine of the first output to FP32's), the FP32 metric, and for each
runtime its metric, its difference from ptq's, and the largest |output −
ptq's output| over the items relative to max |ptq's output|.
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np
import onnxruntime as ort

from eval_quantized import cosine  # same directory


class Ort:
    def __init__(self, path, threads):
        o = ort.SessionOptions()
        o.intra_op_num_threads = threads
        o.log_severity_level = 3
        self.s = ort.InferenceSession(path, sess_options=o, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.s.get_inputs()]

    def __call__(self, feeds):
        return self.s.run([self.s.get_outputs()[0].name], feeds)[0]


class Ov:
    def __init__(self, path, threads):
        import openvino as ov

        core = ov.Core()
        cfg = {"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(threads)}
        self.c = core.compile_model(core.read_model(path), "CPU", cfg)
        self.r = self.c.create_infer_request()
        self.ports = {n: p for p in self.c.inputs for n in p.get_names()}

    def __call__(self, feeds):
        self.r.infer({self.ports[k]: v for k, v in feeds.items()})
        return np.array(self.r.get_output_tensor(0).data, copy=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ptq", required=True)
    p.add_argument("--reference", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--ir")
    p.add_argument("--valid", required=True)
    p.add_argument("--items", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()

    ref = Ort(a.reference, a.threads)
    data = np.load(a.valid)
    labels = data["labels"] if "labels" in data.files else None
    n = min(a.items, min(len(data[k]) for k in ref.inputs))
    items = [{k: data[k][i:i + 1] for k in ref.inputs} for i in range(n)]

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in"), os.path.join(tmp, "out")
        os.makedirs(src)
        for i, it in enumerate(items):
            np.savez(os.path.join(src, f"{i:05}.npz"), **it)
        subprocess.run([a.ptq, "run", "--model", a.model, "--input", src, "--output", dst,
                        "--threads", str(a.threads)], check=True, stdout=subprocess.DEVNULL)
        first = None
        ptq_out = []
        for i in range(n):
            z = np.load(os.path.join(dst, f"{i:05}.npz"))
            first = first or z.files[0]
            ptq_out.append(z[first])

    runtimes = {"onnxruntime": Ort(a.model, a.threads), "openvino": Ov(a.model, a.threads)}
    if a.ir:
        runtimes["openvino_ir"] = Ov(a.ir, a.threads)
    fp32 = [ref(it) for it in items]

    def metric(outs):
        if labels is not None:
            return float(np.mean([int(np.argmax(o.reshape(-1))) == int(labels[i]) for i, o in enumerate(outs)]))
        return float(np.mean([cosine(o, r) for o, r in zip(outs, fp32)]))

    ptq_metric = metric(ptq_out)
    scale = max(float(np.abs(o).max()) for o in ptq_out) or 1.0
    res = {"model": a.model, "items": n, "metric": "top1" if labels is not None else "cosine",
           "fp32": metric(fp32), "ptq": ptq_metric}
    for name, run in runtimes.items():
        outs = [run(it) for it in items]
        res[name] = metric(outs)
        res[name + "_minus_ptq"] = res[name] - ptq_metric
        res[name + "_max_rel_diff"] = max(float(np.abs(o - q).max()) for o, q in zip(outs, ptq_out)) / scale
    print(json.dumps(res))


if __name__ == "__main__":
    main()
