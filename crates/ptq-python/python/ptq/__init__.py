"""ptq: post-training INT8 quantization, with NNCF's API shape.

Quantize with the data loader and the metric you already have::

    import ptq

    def transform_fn(batch):          # what the loader yields -> model inputs
        images, _labels = batch
        return {"input": images.numpy()}

    calibration = ptq.Dataset(loader, transform_fn)
    int8 = ptq.quantize("model.onnx", calibration)
    int8.save("model.int8.onnx")

Models are paths (ONNX, OpenVINO IR ``.xml``, TensorFlow SavedModel
directories), ONNX bytes, ``onnx.ModelProto`` or ``openvino.Model``; the
result is written in the format its file extension names. The work runs in
Rust with the GIL released; Python runs only to read the data source, call
``transform_fn`` and ``validation_fn``, and show progress.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from . import _ptq
from ._ptq import (
    AccuracyControlError,
    CompiledModel,
    DataError,
    ExecutionError,
    ModelError,
    Outputs,
    QuantizationError,
)

__all__ = [
    "AccuracyControlError",
    "AdvancedAccuracyRestorerParameters",
    "AdvancedQuantizationParameters",
    "AdvancedSmoothQuantParameters",
    "CompiledModel",
    "DataError",
    "Dataset",
    "DropType",
    "ExecutionError",
    "IgnoredScope",
    "Model",
    "ModelError",
    "ModelType",
    "Outputs",
    "OverflowFix",
    "QuantizationError",
    "QuantizationPreset",
    "RangeEstimator",
    "RestoreMode",
    "Subgraph",
    "TargetFormat",
    "load",
    "quantize",
    "quantize_with_accuracy_control",
]

logger = logging.getLogger("ptq")

#: The int8 kernel tier ptq runs on this CPU (``avx512vnni``, ``avx2``, ``neon``, ``scalar``).
int8_tier: Optional[str] = _ptq.int8_tier


class QuantizationPreset(str, enum.Enum):
    """Activation scheme (NNCF ``QuantizationPreset``); weights are always symmetric."""

    PERFORMANCE = "performance"
    MIXED = "mixed"


class ModelType(str, enum.Enum):
    """Model family with its own defaults (NNCF ``ModelType``)."""

    TRANSFORMER = "transformer"


class DropType(str, enum.Enum):
    """How the accuracy drop is measured (NNCF ``DropType``)."""

    ABSOLUTE = "absolute"
    RELATIVE = "relative"


class OverflowFix(str, enum.Enum):
    """Which weights use 7 bits so that CPUs without VNNI give the same answers."""

    AUTO = "auto"
    ENABLE = "enable"
    FIRST_LAYER = "first_layer_only"
    DISABLE = "disable"


class RangeEstimator(str, enum.Enum):
    """How activation ranges are estimated from the calibration statistics."""

    MIN_MAX = "min_max"
    MEAN_MIN_MAX = "mean_min_max"
    MSE = "mse"
    QUANTILE = "quantile"
    MEAN_QUANTILE = "mean_quantile"


class RestoreMode(str, enum.Enum):
    """What accuracy control reverts to float for a quantizer group."""

    ACTIVATIONS_AND_WEIGHTS = "activations_and_weights"
    ONLY_ACTIVATIONS = "only_activations"


class TargetFormat(str, enum.Enum):
    """The runtime the INT8 model is placed for: onnxruntime or OpenVINO."""

    ONNX = "onnx"
    OPENVINO = "openvino"


@dataclass
class Subgraph:
    """The nodes between ``inputs`` and ``outputs`` (node names), inclusive."""

    inputs: List[str] = field(default_factory=list)
    outputs: List[str] = field(default_factory=list)


@dataclass
class IgnoredScope:
    """Nodes kept in float (NNCF ``IgnoredScope``).

    ``names``: exact node names; ``patterns``: regular expressions matched at
    the start of node names; ``types``: op types as the model's format names
    them; ``subgraphs``: :class:`Subgraph` ranges. With ``validate`` (the
    default) a rule that matches nothing is an error.
    """

    names: List[str] = field(default_factory=list)
    patterns: List[str] = field(default_factory=list)
    types: List[str] = field(default_factory=list)
    subgraphs: List[Subgraph] = field(default_factory=list)
    validate: bool = True


@dataclass
class AdvancedSmoothQuantParameters:
    """SmoothQuant migration strength per layer kind; negative turns it off."""

    convolution: float = -1.0
    matmul: float = 0.95


@dataclass
class AdvancedQuantizationParameters:
    """Settings beyond :func:`quantize`'s arguments, as NNCF names them.

    ``None`` keeps ptq's default for each: overflow fix ``AUTO``, convolution
    outputs quantized for onnxruntime and not for OpenVINO, bias correction
    on, channel alignment off, no SmoothQuant, NNCF's range estimator.
    """

    overflow_fix: Optional[OverflowFix] = None
    quantize_outputs: Optional[bool] = None
    disable_channel_alignment: bool = True
    disable_bias_correction: bool = False
    bias_correction_threshold: Optional[float] = None
    smooth_quant_alphas: Optional[AdvancedSmoothQuantParameters] = None
    activations_range_estimator: Optional[RangeEstimator] = None
    threads: Optional[int] = None


@dataclass
class AdvancedAccuracyRestorerParameters:
    """Accuracy-control settings beyond the drop (NNCF's names)."""

    max_num_iterations: Optional[int] = None
    ranking_subset_size: Optional[int] = None
    restore_mode: RestoreMode = RestoreMode.ACTIVATIONS_AND_WEIGHTS


class Dataset:
    """A data source and the function that turns its items into model inputs.

    ``data_source`` is any iterable (a list, a generator function's result
    re-created by passing the function, a PyTorch ``DataLoader``, a
    ``tf.data.Dataset``); it is iterated lazily, one item at a time, and
    never held whole. ``transform_fn(item)`` returns what the model takes:
    a dict of arrays named after the model's inputs, a tuple of arrays in
    input order, or one array for a one-input model. Arrays are numpy arrays
    or anything ``numpy.asarray`` accepts (CPU torch tensors, lists).

    A one-shot iterator (a generator object) can be read once: accuracy
    control reads the validation data several times, so give it a list, a
    loader, or a callable returning a fresh iterator.
    """

    def __init__(self, data_source: Union[Iterable[Any], Callable[[], Iterable[Any]]], transform_fn: Optional[Callable[[Any], Any]] = None, *, transform_func: Optional[Callable[[Any], Any]] = None):
        if transform_fn is not None and transform_func is not None:
            raise TypeError("give transform_fn or transform_func, not both")
        self._source = data_source
        self._transform = transform_fn if transform_fn is not None else transform_func

    def _iter_source(self) -> Iterator[Any]:
        src = self._source
        if callable(src) and not hasattr(src, "__iter__"):
            return iter(src())
        return iter(src)

    def get_length(self) -> Optional[int]:
        """The number of items, when the source knows it."""
        try:
            return len(self._source)  # type: ignore[arg-type]
        except TypeError:
            return None

    def get_data(self, indices: Optional[Sequence[int]] = None) -> Iterator[Any]:
        """The source's items (all, or those at ``indices``, in that order), untransformed."""
        if indices is None:
            return self._iter_source()
        indices = list(indices)
        src = self._source
        if hasattr(src, "__getitem__") and hasattr(src, "__len__"):
            return iter([src[i] for i in indices])  # type: ignore[index]
        wanted = set(indices)
        found = {}
        for i, item in enumerate(self._iter_source()):
            if i in wanted:
                found[i] = item
                if len(found) == len(wanted):
                    break
        missing = [i for i in indices if i not in found]
        if missing:
            raise IndexError(f"the data source has no items {missing[:5]}")
        return iter([found[i] for i in indices])

    def get_inference_data(self, indices: Optional[Sequence[int]] = None) -> Iterator[Any]:
        """The items transformed into model inputs."""
        items = self.get_data(indices)
        if self._transform is None:
            return items
        transform = self._transform
        return (transform(item) for item in items)


class Model:
    """A model held by ptq: loaded with :func:`load`, or the result of a quantization."""

    def __init__(self, native: Any):
        self._native = native

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the model in the format the extension names (``.onnx``; ``.xml``
        with its ``.bin``; a directory without extension for a SavedModel),
        atomically, never over the file it was loaded from."""
        self._native.save(os.fspath(path))

    def to_onnx_bytes(self) -> bytes:
        """The model as ONNX bytes (``onnx.load_from_string`` reads them)."""
        return self._native.to_onnx_bytes()

    @property
    def report(self) -> Optional[dict]:
        """The quantization report (the JSON ``ptq quantize --report`` writes), or None."""
        text = self._native.report_json
        return None if text is None else json.loads(text)

    @property
    def input_names(self) -> List[str]:
        return list(self._native.input_names)

    @property
    def output_names(self) -> List[str]:
        return list(self._native.output_names)

    def compile(self, threads: Optional[int] = None, integer: bool = True) -> CompiledModel:
        """The model prepared on ptq's executor: call it with model inputs
        (dict, tuple, or one array) to get its :class:`Outputs`. A quantized
        model runs its quantized layers on the int8 kernels unless
        ``integer=False``; ``threads=None`` uses one thread per core."""
        return self._native.compile(threads, integer)

    def __repr__(self) -> str:
        return repr(self._native)


ModelLike = Union[str, "os.PathLike[str]", bytes, Model, Any]


def load(model: ModelLike) -> Model:
    """Loads a model: a path, ONNX bytes, an ``onnx.ModelProto`` or an ``openvino.Model``."""
    if isinstance(model, Model):
        return model
    if isinstance(model, (bytes, bytearray, memoryview)):
        return Model(_ptq.load(bytes(model)))
    if isinstance(model, (str, os.PathLike)):
        return Model(_ptq.load(os.fspath(model)))
    if hasattr(model, "SerializeToString") and hasattr(model, "graph"):
        return Model(_ptq.load(model.SerializeToString()))
    if type(model).__module__.startswith("openvino") and hasattr(model, "get_ops"):
        import openvino  # the caller has it: the model is one of its objects

        with tempfile.TemporaryDirectory(prefix="ptq-") as tmp:
            path = os.path.join(tmp, "model.xml")
            openvino.save_model(model, path, compress_to_fp16=False)
            return Model(_ptq.load(path))
    raise TypeError(f"cannot read a model from {type(model).__name__}: give a path, ONNX bytes, an onnx.ModelProto or an openvino.Model")


class _Progress:
    """Calibration and accuracy-control progress: a tqdm bar when tqdm is
    installed and ``show`` is set, otherwise INFO records on the ``ptq`` logger."""

    def __init__(self, show: bool, length: Optional[int] = None):
        self._show = show
        self._length = length
        self._bar = None
        self._total = 0
        self._logged = -1

    def _open(self, total: int, desc: str) -> None:
        self._close()
        self._total = total
        self._logged = -1
        if self._show:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, desc=desc, leave=False)
                return
        logger.info("%s: %d", desc, total)

    def _update(self, done: int, desc: str) -> None:
        if self._bar is not None:
            self._bar.n = done
            self._bar.refresh()
            return
        tenth = (10 * done) // max(self._total, 1)
        if tenth != self._logged:
            self._logged = tenth
            logger.info("%s %d/%d", desc, done, self._total)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __call__(self, kind: str, value: int, message: str) -> None:
        if kind == "start":
            # The subset size, or fewer when the data has fewer items.
            self._open(value if self._length is None else min(value, self._length), "calibrating")
        elif kind == "items":
            self._update(value, "calibrated")
        elif kind == "done":
            self._close()
        elif kind == "ranking_start":
            self._open(value, "ranking quantizer groups")
        elif kind == "ranking":
            self._update(value, "ranked")
        else:
            self._close()
            logger.info("%s", message)


def _value(v: Any) -> Any:
    return v.value if isinstance(v, enum.Enum) else v


def _options(preset, model_type, subset_size, fast_bias_correction, ignored_scope, target_format, advanced) -> dict:
    opts = {
        "preset": _value(preset),
        "model_type": _value(model_type),
        "subset_size": int(subset_size),
        "fast_bias_correction": bool(fast_bias_correction),
        "target_format": _value(target_format),
    }
    if ignored_scope is not None:
        if not isinstance(ignored_scope, IgnoredScope):
            raise TypeError("ignored_scope must be a ptq.IgnoredScope")
        opts["ignored_scope"] = {
            "names": list(ignored_scope.names),
            "patterns": list(ignored_scope.patterns),
            "types": list(ignored_scope.types),
            "subgraphs": [(list(s.inputs), list(s.outputs)) for s in ignored_scope.subgraphs],
            "validate": bool(ignored_scope.validate),
        }
    if advanced is not None:
        if not isinstance(advanced, AdvancedQuantizationParameters):
            raise TypeError("advanced_parameters must be a ptq.AdvancedQuantizationParameters")
        a = {
            "overflow_fix": _value(advanced.overflow_fix),
            "quantize_outputs": advanced.quantize_outputs,
            "disable_channel_alignment": advanced.disable_channel_alignment,
            "disable_bias_correction": advanced.disable_bias_correction,
            "bias_correction_threshold": advanced.bias_correction_threshold,
            "activations_range_estimator": _value(advanced.activations_range_estimator),
            "threads": advanced.threads,
        }
        if advanced.smooth_quant_alphas is not None:
            a["smooth_quant_alpha_matmul"] = advanced.smooth_quant_alphas.matmul
            a["smooth_quant_alpha_convolution"] = advanced.smooth_quant_alphas.convolution
        opts["advanced"] = a
    return opts


def _dataset(d: Any) -> Dataset:
    if isinstance(d, Dataset):
        return d
    return Dataset(d)


def quantize(
    model: ModelLike,
    calibration_dataset: Union[Dataset, Iterable[Any]],
    *,
    preset: Optional[QuantizationPreset] = None,
    model_type: Optional[ModelType] = None,
    subset_size: int = 300,
    fast_bias_correction: bool = True,
    ignored_scope: Optional[IgnoredScope] = None,
    target_format: Optional[TargetFormat] = None,
    advanced_parameters: Optional[AdvancedQuantizationParameters] = None,
    show_progress: bool = True,
) -> Model:
    """Post-training INT8 quantization with NNCF's defaults (``nncf.quantize``).

    Calibrates on the first ``subset_size`` items of ``calibration_dataset``
    and returns the quantized :class:`Model` with its ``report``. The
    defaults are NNCF's: preset PERFORMANCE (MIXED for transformers, and
    for a CNN whose output error the asymmetric ranges measurably lower),
    model type detected, fast bias correction. ``target_format`` places the
    quantizers for onnxruntime (``"onnx"``) or OpenVINO (``"openvino"``);
    the default is the model's own format.
    """
    native = load(model)._native
    data = _dataset(calibration_dataset)
    opts = _options(preset, model_type, subset_size, fast_bias_correction, ignored_scope, target_format, advanced_parameters)
    length = data.get_length()
    result = _ptq.quantize(native, data.get_inference_data, length, opts, _Progress(show_progress, length))
    return Model(result)


def _validator(validation_dataset: Dataset, validation_fn: Callable[[Any, Iterable[Any]], Any]):
    def validate(compiled: CompiledModel, indices: List[int]) -> Tuple[float, Optional[List[float]]]:
        out = validation_fn(compiled, list(validation_dataset.get_data(indices)))
        if isinstance(out, tuple):
            metric, per_item = out
            return float(metric), None if per_item is None else [float(v) for v in per_item]
        return float(out), None

    return validate


def quantize_with_accuracy_control(
    model: ModelLike,
    calibration_dataset: Union[Dataset, Iterable[Any]],
    validation_dataset: Union[Dataset, Iterable[Any]],
    validation_fn: Callable[[CompiledModel, Iterable[Any]], Union[float, Tuple[float, Sequence[float]]]],
    max_drop: float = 0.01,
    drop_type: DropType = DropType.ABSOLUTE,
    *,
    preset: Optional[QuantizationPreset] = None,
    model_type: Optional[ModelType] = None,
    subset_size: int = 300,
    fast_bias_correction: bool = True,
    ignored_scope: Optional[IgnoredScope] = None,
    target_format: Optional[TargetFormat] = None,
    advanced_quantization_parameters: Optional[AdvancedQuantizationParameters] = None,
    advanced_accuracy_restorer_parameters: Optional[AdvancedAccuracyRestorerParameters] = None,
    show_progress: bool = True,
) -> Model:
    """Quantization with accuracy control (``nncf.quantize_with_accuracy_control``).

    ``validation_fn(compiled_model, items)`` gets a :class:`CompiledModel` and
    the validation items (untransformed, as the data source yields them) and
    returns the metric, higher is better, or ``(metric, per_item_values)``.
    Quantizer groups are ranked by how much they hurt and reverted to float,
    worst first, until the drop is at most ``max_drop``. The best model found
    is returned even when the goal is missed; ``report["accuracy_control"]``
    says which. An exception raised by ``validation_fn`` propagates as is.
    """
    native = load(model)._native
    calib = _dataset(calibration_dataset)
    valid = _dataset(validation_dataset)
    n = valid.get_length()
    if n is None:
        n = sum(1 for _ in valid.get_data())
    opts = _options(preset, model_type, subset_size, fast_bias_correction, ignored_scope, target_format, advanced_quantization_parameters)
    r = advanced_accuracy_restorer_parameters or AdvancedAccuracyRestorerParameters()
    accuracy = {
        "max_drop": float(max_drop),
        "drop_type": _value(drop_type),
        "max_num_iterations": r.max_num_iterations,
        "ranking_subset_size": r.ranking_subset_size,
        "restore_mode": _value(r.restore_mode),
    }
    result = _ptq.quantize_with_accuracy_control(
        native,
        calib.get_inference_data,
        calib.get_length(),
        n,
        _validator(valid, validation_fn),
        opts,
        accuracy,
        _Progress(show_progress, calib.get_length()),
    )
    return Model(result)
