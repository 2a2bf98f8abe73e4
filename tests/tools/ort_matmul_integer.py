"""Time onnxruntime's MatMulInteger (u8 activations x s8 weights -> i32) on
one thread, the int8 GEMM `cargo xtask bench-gemm` compares ptq's with.

usage: python3 tests/tools/ort_matmul_integer.py M K N [ITERS]

The weights are a constant initializer (so onnxruntime may pre-pack them),
the activation zero point is 3 as in ptq's timing; prints one JSON object
with the median milliseconds of ITERS runs (default 30) after two untimed.
"""
import json
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def main() -> None:
    m, k, n = (int(v) for v in sys.argv[1:4])
    iters = int(sys.argv[4]) if len(sys.argv) > 4 else 30
    rng = np.random.default_rng(0)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b", "a_zp"], ["y"])],
        "matmul_integer",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])],
        [numpy_helper.from_array(b, "b"), numpy_helper.from_array(np.array(3, dtype=np.uint8), "a_zp")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    a = rng.integers(0, 256, size=(m, k), dtype=np.uint8)
    for _ in range(2):
        sess.run(None, {"a": a})
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        sess.run(None, {"a": a})
        times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"median_ms": statistics.median(times), "onnxruntime": ort.__version__}))


if __name__ == "__main__":
    main()
