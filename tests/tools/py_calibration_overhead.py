"""Wall time of `ptq quantize` on a fixture's calib.npz (the command line)
against the `ptq` Python package quantizing the same items from a Python
generator with a transform_fn, both loading the model and writing the INT8
model, alternated in one run. Run with target/venv's python after
`cargo xtask wheel`:

    target/venv/bin/python tests/tools/py_calibration_overhead.py [fixture] [rounds]
"""

import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import ptq

root = pathlib.Path(__file__).resolve().parents[2]
fixture = sys.argv[1] if len(sys.argv) > 1 else "transformer_encoder"
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
d = root / "tests" / "fixtures" / fixture
exe = os.environ.get("PTQ_BIN", str(root / "target" / "release" / "ptq"))
with np.load(d / "calib.npz") as z:
    arrays = {k: z[k] for k in z.files}
n = len(next(iter(arrays.values())))


def loader():
    # What a data loader hands over: one record per item, not model inputs yet.
    for i in range(n):
        yield {k: v[i] for k, v in arrays.items()}


def transform_fn(record):
    return {k: v[None] for k, v in record.items()}


cli, py = [], []
with tempfile.TemporaryDirectory() as tmp:
    for r in range(rounds):
        t = time.perf_counter()
        subprocess.run([exe, "quantize", "--model", d / "model.onnx", "--data", d / "calib.npz",
                        "--output", pathlib.Path(tmp) / "cli.onnx", "--quiet"], check=True, capture_output=True)
        cli.append(time.perf_counter() - t)
        t = time.perf_counter()
        ptq.quantize(d / "model.onnx", ptq.Dataset(loader, transform_fn), show_progress=False).save(pathlib.Path(tmp) / "py.onnx")
        py.append(time.perf_counter() - t)
    same = (pathlib.Path(tmp) / "cli.onnx").read_bytes() == (pathlib.Path(tmp) / "py.onnx").read_bytes()
c, p = statistics.median(cli), statistics.median(py)
print(f"{fixture}: {n} items, {rounds} rounds, int8 tier {ptq.int8_tier}, os.cpu_count() {os.cpu_count()}")
print(f"command line from .npz: median {c * 1000:.1f} ms; Python generator + transform_fn: median {p * 1000:.1f} ms; "
      f"ratio {p / c:.3f}; same bytes: {same}")
