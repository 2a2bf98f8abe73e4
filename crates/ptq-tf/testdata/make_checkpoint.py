"""Writes the small TensorFlow checkpoint under `checkpoint/` that the
crate's checkpoint reader is tested against, and the expected arrays beside it.

Run with tensorflow-cpu 2.21.0 and numpy 2.4.6 (Python 3.11):

    python make_checkpoint.py

Output (`checkpoint/`):
  variables.index, variables.data-00000-of-00001
      written by `tf.train.Checkpoint(model=...).write("checkpoint/variables")`,
      the layout of a SavedModel's `variables/` directory.
  <name>.npy
      the value of the variable `model/<name>` (checkpoint key
      `model/<name>/.ATTRIBUTES/VARIABLE_VALUE`), saved by numpy.save. `half`
      is saved as its uint16 bit patterns (the Rust npy reader has no f16).
      The string variable `model/text` holds b"hello, checkpoint" (no .npy).

The values are deterministic, so a rerun rewrites identical files.
"""

import os
import shutil

import numpy as np
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "checkpoint")


def main():
    values = {
        # A conv kernel, HWIO.
        "kernel": (np.arange(3 * 3 * 2 * 4, dtype=np.float32).reshape(3, 3, 2, 4) - 36.0) / 7.0,
        "half": np.array([0.5, -1.25, 65504.0, 3.140625, -0.0], dtype=np.float16),
        "count": np.array([-(2**40), 0, 7, 2**62], dtype=np.int64),
        "mask": np.array([[True, False], [False, True]]),
        "scale": np.array(2.5, dtype=np.float64),
        "bytes": np.array([0, 1, 254, 255, 128, 127], dtype=np.uint8).reshape(2, 3),
    }
    model = tf.Module()
    for name, v in values.items():
        setattr(model, name, tf.Variable(v, name=name))
    model.text = tf.Variable(b"hello, checkpoint", name="text")

    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    tf.train.Checkpoint(model=model).write(os.path.join(OUT, "variables"))
    for name, v in values.items():
        np.save(os.path.join(OUT, f"{name}.npy"), v.view(np.uint16) if v.dtype == np.float16 else v)
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))


if __name__ == "__main__":
    main()
