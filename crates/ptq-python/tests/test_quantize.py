"""`ptq.quantize` from Python data sources: the same bytes as the command
line on the same items, every model form, and errors that name the problem."""

import onnx
import numpy as np
import pytest

import ptq
from conftest import npz


def digits_loader(fixtures, with_labels=True):
    """A PyTorch-style loader: yields (image batch of one, label) pairs."""
    images = npz(fixtures / "digits_cnn" / "calib.npz")["input"]

    def batches():
        for i, img in enumerate(images):
            yield (img[None], i % 10) if with_labels else img[None]

    return batches


def test_python_iterable_gives_the_bytes_of_the_cli(fixtures, ptq_cli, tmp_path):
    model = fixtures / "digits_cnn" / "model.onnx"
    cli_out = tmp_path / "cli.onnx"
    ptq_cli("quantize", "--model", model, "--data", fixtures / "digits_cnn" / "calib.npz", "--output", cli_out, "--quiet")
    data = ptq.Dataset(digits_loader(fixtures), lambda item: {"input": item[0]})
    q = ptq.quantize(model, data, show_progress=False)
    py_out = tmp_path / "py.onnx"
    q.save(py_out)
    assert py_out.read_bytes() == cli_out.read_bytes()
    assert q.to_onnx_bytes() == cli_out.read_bytes()
    report = q.report
    assert report["subset_items"] == 300
    assert report["quantizers"], "the report lists the quantizers"


def test_model_forms_agree(fixtures, tmp_path):
    path = fixtures / "digits_cnn" / "model.onnx"
    items = [x for (x, _) in (b for b in digits_loader(fixtures)())][:64]
    outs = []
    for form in (str(path), path, path.read_bytes(), onnx.load(str(path)), ptq.load(path)):
        outs.append(ptq.quantize(form, items, subset_size=64, show_progress=False).to_onnx_bytes())
    assert all(o == outs[0] for o in outs)


def test_a_one_shot_generator_and_a_tuple_item(fixtures):
    gen = (x for (x, _) in digits_loader(fixtures)())
    q = ptq.quantize(fixtures / "digits_cnn" / "model.onnx", ptq.Dataset(gen, lambda x: (x,)), subset_size=32, show_progress=False)
    assert q.report["subset_items"] == 32


def test_openvino_model_object(fixtures, tmp_path):
    ov = pytest.importorskip("openvino")
    core = ov.Core()
    m = core.read_model(str(fixtures / "digits_cnn" / "ir" / "model.xml"))
    items = [x for (x, _) in digits_loader(fixtures)()][:32]
    q = ptq.quantize(m, items, show_progress=False)
    out = tmp_path / "q.xml"
    q.save(out)
    compiled = core.compile_model(str(out), "CPU")
    assert compiled(items[0])[0].shape == (1, 10)


def test_wrong_input_names_name_the_input(fixtures):
    items = [{"image": np.zeros((1, 1, 8, 8), np.float32)}]
    with pytest.raises(ptq.DataError, match=r"item 0: 'image' is not an input of the model \(its inputs: input\)"):
        ptq.quantize(fixtures / "digits_cnn" / "model.onnx", items, show_progress=False)


def test_nan_in_data_is_a_data_error(fixtures):
    x = np.zeros((1, 1, 8, 8), np.float32)
    x[0, 0, 3, 3] = np.nan
    with pytest.raises(ptq.DataError, match="NaN"):
        ptq.quantize(fixtures / "digits_cnn" / "model.onnx", [x], show_progress=False)


def test_an_exception_in_the_data_source_propagates(fixtures):
    class Broken(Exception):
        pass

    def source():
        yield np.zeros((1, 1, 8, 8), np.float32)
        raise Broken("disk gone")

    with pytest.raises(Broken, match="disk gone"):
        ptq.quantize(fixtures / "digits_cnn" / "model.onnx", ptq.Dataset(source), show_progress=False)


def test_a_bad_model_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07\x12garbage")
    with pytest.raises(ptq.ModelError, match="bad.onnx"):
        ptq.load(bad)
    assert issubclass(ptq.ModelError, ptq.QuantizationError)


def test_compile_matches_onnxruntime(fixtures):
    ort = pytest.importorskip("onnxruntime")
    path = fixtures / "digits_cnn" / "model.onnx"
    x = npz(fixtures / "digits_cnn" / "inputs.npz")["input"]
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    got = ptq.load(path).compile()({"input": x})
    np.testing.assert_allclose(got[0], ref, rtol=1e-4, atol=1e-5)
    assert got["logits"] is not None and got.names() == ["logits"]
    # The INT8 model on ptq's int8 kernels against onnxruntime on its QDQ file.
    items = [b[0] for b in digits_loader(fixtures)()]
    q = ptq.quantize(path, items, show_progress=False)
    sess = ort.InferenceSession(q.to_onnx_bytes(), providers=["CPUExecutionProvider"])
    ref_q = sess.run(None, {"input": x})[0]
    compiled = q.compile()
    assert compiled.integer_nodes, "the quantized layers run on the int8 kernels"
    got_q = compiled(x)[0]
    step = np.abs(ref).max() / 127
    assert np.abs(got_q - ref_q).max() <= 2 * step, np.abs(got_q - ref_q).max()
    assert (got_q.argmax(1) == ref_q.argmax(1)).mean() >= 0.98
