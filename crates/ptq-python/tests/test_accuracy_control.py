"""`ptq.quantize_with_accuracy_control` with a Python metric: the same
reverted groups as the command line's top-1, and a metric's exception
surfaces as is."""

import json
import traceback

import numpy as np
import pytest

import ptq
from conftest import npz


def outlier(fixtures):
    d = fixtures / "outlier_classifier"
    calib = npz(d / "calib.npz")
    valid = npz(d / "valid.npz")
    name = [k for k in calib][0]
    calib_items = [{name: calib[name][i : i + 1]} for i in range(len(calib[name]))]
    valid_items = [(valid[name][i : i + 1], int(valid["labels"][i])) for i in range(len(valid["labels"]))]
    return d, name, calib_items, valid_items


def top1(compiled, items):
    hits = [float(compiled(x)[0].argmax() == label) for (x, label) in items]
    return float(np.mean(hits)), hits


def test_python_top1_reverts_the_groups_the_cli_reverts(fixtures, ptq_cli, tmp_path):
    d, name, calib_items, valid_items = outlier(fixtures)
    report = tmp_path / "report.json"
    ptq_cli(
        "quantize", "--model", d / "model.onnx", "--data", d / "calib.npz", "--output", tmp_path / "cli.onnx",
        "--validation", d / "valid.npz", "--max-drop", "0.01", "--metric", "top1", "--report", report, "--quiet",
    )
    cli = json.loads(report.read_text())["accuracy_control"]
    q = ptq.quantize_with_accuracy_control(
        d / "model.onnx",
        ptq.Dataset(calib_items),
        ptq.Dataset(valid_items),
        top1,
        max_drop=0.01,
        show_progress=False,
    )
    got = q.report["accuracy_control"]
    assert got["reverted_nodes"] == cli["reverted_nodes"] and got["reverted_nodes"]
    assert got["reached"] and got["drop"] <= 0.01
    assert abs(got["metric"] - cli["metric"]) < 1e-9
    # A metric without per-item values works too.
    q2 = ptq.quantize_with_accuracy_control(
        d / "model.onnx", calib_items, valid_items, lambda m, it: top1(m, it)[0], max_drop=0.01, show_progress=False
    )
    assert q2.report["accuracy_control"]["reached"]


def test_an_exception_in_validation_fn_propagates_with_its_traceback(fixtures, tmp_path):
    d, name, calib_items, valid_items = outlier(fixtures)

    class MetricFailed(Exception):
        pass

    def broken_metric(compiled, items):
        raise MetricFailed("labels missing")

    with pytest.raises(MetricFailed, match="labels missing") as info:
        ptq.quantize_with_accuracy_control(
            d / "model.onnx", calib_items, valid_items, broken_metric, show_progress=False
        )
    frames = "".join(traceback.format_tb(info.value.__traceback__))
    assert "broken_metric" in frames
    assert not list(tmp_path.iterdir()), "nothing is written"
