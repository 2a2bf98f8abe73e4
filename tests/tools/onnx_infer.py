"""Run ONNX's reference shape inference on a model and save the result.

usage: python3 tests/tools/onnx_infer.py IN.onnx OUT.onnx

The output holds value_info for every intermediate value ONNX can infer
(strict mode, with data propagation), with all tensors stored inline.
Exit 0 on success, 1 when inference fails, 2 on usage errors.
"""
import sys

import onnx
from onnx import shape_inference


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        model = onnx.load(sys.argv[1], load_external_data=True)
        inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
        onnx.save(inferred, sys.argv[2])
    except Exception as e:  # report any failure as a non-zero exit
        print(f"{sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
