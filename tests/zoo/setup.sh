#!/usr/bin/env bash
# Create the model-zoo virtualenvs under target/zoo-venv/ from the pinned requirements files.
#
# usage: bash tests/zoo/setup.sh [torch] [tf] [paddle] [peers]    (default: all four)
#
#   target/zoo-venv/torch   requirements-torch.txt   torch, torchvision, transformers, onnxscript (gen_torch.py)
#   target/zoo-venv/tf      requirements-tf.txt      tensorflow-cpu, tf-keras, tf2onnx, openvino (gen_tf.py)
#   target/zoo-venv/paddle  requirements-paddle.txt  paddlepaddle, paddle2onnx (gen_paddle.py)
#   target/zoo-venv/peers   requirements-peers.txt + requirements-packaged.txt (--no-deps)
#                           onnxruntime, openvino, nncf (reference.py, peers.py, score.py,
#                           gen_packaged.py, gen_ov.py)
#
# Idempotent: a venv whose stamp file (.zoo-stamp) holds the sha256 of its requirements
# file(s) is left alone; otherwise it is (re)installed. Needs python3 (3.11) with venv and
# network access to PyPI. The torch venv pulls the CUDA wheels torch depends on (~4 GB).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV_ROOT="${PTQ_ZOO_VENV:-$ROOT/target/zoo-venv}"
PYTHON="${PYTHON:-python3}"

venvs=("$@")
[ ${#venvs[@]} -eq 0 ] && venvs=(torch tf paddle peers)

for v in "${venvs[@]}"; do
    case "$v" in
        torch|tf|paddle) reqs=("$HERE/requirements-$v.txt") ;;
        peers) reqs=("$HERE/requirements-peers.txt" "$HERE/requirements-packaged.txt") ;;
        *) echo "setup.sh: unknown venv '$v' (torch, tf, paddle, peers)" >&2; exit 2 ;;
    esac
    dir="$VENV_ROOT/$v"
    want="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
    if [ -f "$dir/.zoo-stamp" ] && [ "$(cat "$dir/.zoo-stamp")" = "$want" ] && [ -x "$dir/bin/python" ]; then
        echo "setup.sh: $v venv up to date ($dir)"
        continue
    fi
    echo "setup.sh: installing $v venv into $dir"
    rm -f "$dir/.zoo-stamp"
    [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install --disable-pip-version-check -q -r "${reqs[0]}"
    if [ "$v" = peers ]; then
        "$dir/bin/python" -m pip install --disable-pip-version-check -q --no-deps -r "${reqs[1]}"
    fi
    echo "$want" > "$dir/.zoo-stamp"
done
