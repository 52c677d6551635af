"""INT8 through ONNX Runtime: static QDQ quantization calibrated on real data, and dynamic INT8 for Linear-heavy models.

ONNX Runtime's quantizer is maintained, independent of the installed torch (so it behaves the same on torch 2.11
and 2.14), and its INT8 kernels use VNNI/AMX on x86 CPUs. On x86 CPUs with AVX2 but no VNNI its u8×s8 kernels add
pairs of products in int16, which can overflow: there weights are quantized to 7 bits (``reduce_range``). The chain::

    from accel_utils import deploy, quantize
    fp32 = deploy.export_onnx(model, x_example, "cnn.onnx")
    reader = quantize.calibration_reader(train_loader, max_batches=8)            # real images, no labels
    int8 = quantize.static_int8(fp32, "cnn_int8.onnx", reader, per_channel=True)  # QDQ, per-channel weights
    ort_int8 = deploy.OrtModel(int8)

    int8_mlp = quantize.dynamic_int8(deploy.export_onnx(mlp, x, "mlp.onnx"), "mlp_int8.onnx")
"""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from .core.machine import probe
from .core.quiet import quiet_libraries

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


def needs_reduce_range() -> bool:
    """True where ONNX Runtime's u8×s8 kernels can saturate (x86 AVX2 without VNNI): weights then get 7 bits."""
    return probe().cpu_int8_saturates


def _input_name(onnx_path: str | Path) -> str:
    """Name of the first graph input of an ONNX file."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    return next(i.name for i in model.graph.input if i.name not in inits)


def _quiet():
    """Hide the quantizer's advice prints and warnings (e.g. 'please run pre-processing')."""
    return quiet_libraries(("",))


def _reader_base():
    from onnxruntime.quantization import CalibrationDataReader

    return CalibrationDataReader


class _Reader:
    """Feeds calibration batches to ONNX Runtime's calibrator (a CalibrationDataReader)."""

    def __init__(self, batches: list[np.ndarray], input_name: str | None):
        self.batches, self.input_name, self._i = batches, input_name, 0

    def get_next(self):
        if self._i >= len(self.batches):
            return None
        self._i += 1
        return {self.input_name: self.batches[self._i - 1]}

    def rewind(self):
        self._i = 0

    def __len__(self):
        return len(self.batches)


def calibration_reader(data: Iterable, *, max_batches: int = 8, input_name: str | None = None):
    """A CalibrationDataReader over real batches: ``data`` yields tensors or (x, y) pairs (labels are ignored).

    ``input_name`` is filled in from the model by static_int8() when left None.
    Example: ``quantize.calibration_reader(train_loader, max_batches=8)``.
    """
    batches = []
    for item in data:
        x = item[0] if isinstance(item, (tuple, list)) else item
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        batches.append(np.ascontiguousarray(x, dtype=np.float32))
        if len(batches) >= max_batches:
            break
    if not batches:
        raise ValueError("calibration_reader() got no batches: pass a loader or a list of input tensors")
    cls = type("TensorCalibrationReader", (_Reader, _reader_base()), {})
    return cls(batches, input_name)


def static_int8(onnx_in: str | Path, onnx_out: str | Path, reader, *, per_channel: bool = True,
                method: str = "minmax", preprocess: bool = True, op_types: Sequence[str] | None = None,
                nodes_to_exclude: Sequence[str] | None = None, symmetric_activations: bool = False,
                reduce_range: bool | None = None, quiet: bool = True) -> Path:
    """Static post-training INT8 (QDQ format): weights int8 (per output channel), activations uint8 from calibration.

    ``reader`` comes from calibration_reader() (real inputs). ``method``: minmax (default), entropy or percentile.
    ``preprocess`` runs ONNX Runtime's quant_pre_process (shape inference, BatchNorm folding) first, as advised.
    ``reduce_range`` (7-bit weights) defaults to needs_reduce_range(). Returns the path of the quantized model.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise ValueError(f"unknown calibration method {method!r}; valid: {', '.join(CALIBRATION_METHODS)}")
    onnx_out = Path(onnx_out)
    onnx_out.parent.mkdir(parents=True, exist_ok=True)
    if getattr(reader, "input_name", "set") is None:
        reader.input_name = _input_name(onnx_in)
    if hasattr(reader, "rewind"):
        reader.rewind()
    with tempfile.TemporaryDirectory() as tmp, (_quiet() if quiet else contextlib.nullcontext()):
        source = Path(onnx_in)
        if preprocess:
            pre = Path(tmp) / "pre.onnx"
            quant_pre_process(str(source), str(pre))
            source = pre
        extra = {"ActivationSymmetric": bool(symmetric_activations)}
        quantize_static(str(source), str(onnx_out), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=list(op_types) if op_types else None,
                        nodes_to_exclude=list(nodes_to_exclude) if nodes_to_exclude else None,
                        calibrate_method=methods[method], extra_options=extra,
                        reduce_range=needs_reduce_range() if reduce_range is None else reduce_range)
    return onnx_out


def dynamic_int8(onnx_in: str | Path, onnx_out: str | Path, *, per_channel: bool = False,
                 op_types: Sequence[str] = ("MatMul", "Gemm"), preprocess: bool = True,
                 reduce_range: bool | None = None, quiet: bool = True) -> Path:
    """Dynamic INT8: weights of MatMul/Gemm stored int8 ahead of time, activations quantized on the fly per call.

    No calibration data needed; best for Linear-heavy models (MLPs, LSTMs, transformer encoders).
    ``reduce_range`` (7-bit weights) defaults to needs_reduce_range(). Returns the path of the quantized model.
    """
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    onnx_out = Path(onnx_out)
    onnx_out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, (_quiet() if quiet else contextlib.nullcontext()):
        source = Path(onnx_in)
        if preprocess:
            pre = Path(tmp) / "pre.onnx"
            quant_pre_process(str(source), str(pre))
            source = pre
        quantize_dynamic(str(source), str(onnx_out), weight_type=QuantType.QInt8, per_channel=per_channel,
                         op_types_to_quantize=list(op_types),
                         reduce_range=needs_reduce_range() if reduce_range is None else reduce_range)
    return onnx_out


def int8_weight_fraction(onnx_path: str | Path) -> float:
    """Fraction of the stored weight bytes that are 8-bit integers (near 1.0 after a complete INT8 quantization)."""
    import onnx
    from onnx import numpy_helper

    total = int8 = 0
    for init in onnx.load(str(onnx_path)).graph.initializer:
        arr = numpy_helper.to_array(init)
        total += arr.nbytes
        if arr.dtype in (np.int8, np.uint8):
            int8 += arr.nbytes
    return int8 / total if total else 0.0
