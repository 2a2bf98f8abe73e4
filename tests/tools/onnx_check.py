#!/usr/bin/env python3
"""Validate an ONNX model with onnx.checker (full_check=True).

Usage:
    python3 tests/tools/onnx_check.py MODEL.onnx

The model is checked by path, so external data next to it is resolved and
models over 2 GB are handled. Exit status: 0 valid ("OK" is printed),
1 invalid or unreadable (the checker's message is printed), 2 usage error.
"""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run onnx.checker.check_model(full_check=True).")
    parser.add_argument("model", help="path to the .onnx file")
    args = parser.parse_args(argv)  # exits 2 on usage errors

    try:
        import onnx

        onnx.checker.check_model(args.model, full_check=True)
    except Exception as exc:
        print(f"{args.model}: INVALID: {type(exc).__name__}: {exc}")
        return 1
    print(f"{args.model}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
