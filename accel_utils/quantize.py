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

    trt = quantize.tensorrt_int8(fp32, "cnn_int8_trt.onnx", reader)   # symmetric int8 (zero-points 0): TensorRT's rule
    assert quantize.is_symmetric_int8(trt)
"""
from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from .core.machine import probe
from .core.quiet import quiet_libraries

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
ACTIVATION_TYPES = ("uint8", "int8")


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


@contextlib.contextmanager
def quiet_torch():
    """Hide the log lines and warnings torch and torchao emit for their own developers (imports, compile caching).

    Prints and errors still show. Example: ``with quantize.quiet_torch(): quantize_(model, config)``.
    """
    targets = [logging.getLogger(name) for name in ("torch", "torchao")]
    old = [lg.level for lg in targets]
    for lg in targets:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(targets, old):
            lg.setLevel(level)


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


def _preprocessed(onnx_in: str | Path, folder: str | Path) -> Path:
    """ONNX Runtime's pre-processing (shape inference, graph cleanup) before quantization, written into folder."""
    from onnxruntime.quantization import quant_pre_process

    pre = Path(folder) / "pre.onnx"
    quant_pre_process(str(onnx_in), str(pre))
    return pre


def static_int8(onnx_in: str | Path, onnx_out: str | Path, reader, *, per_channel: bool = True,
                method: str = "minmax", preprocess: bool = True, op_types: Sequence[str] | None = None,
                nodes_to_exclude: Sequence[str] | None = None, symmetric_activations: bool = False,
                activation_type: str = "uint8", quantize_bias: bool = True, reduce_range: bool | None = None,
                quiet: bool = True) -> Path:
    """Static post-training INT8 (QDQ format): weights int8 (per output channel), activations from calibration.

    ``reader`` comes from calibration_reader() (real inputs). ``method``: minmax (default), entropy or percentile.
    Activations are ``uint8`` (asymmetric: the grid spans [min, max], right after a ReLU) or ``int8``;
    ``symmetric_activations`` centres their grid on 0 (zero-point 0 for int8, as TensorRT requires).
    ``quantize_bias=False`` leaves biases in floating point (TensorRT adds them in its fused kernels).
    ``preprocess`` runs ONNX Runtime's quant_pre_process (shape inference, BatchNorm folding) first, as advised.
    ``reduce_range`` (7-bit weights) defaults to needs_reduce_range(). Returns the path of the quantized model.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise ValueError(f"unknown calibration method {method!r}; valid: {', '.join(CALIBRATION_METHODS)}")
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    if activation_type not in types:
        raise ValueError(f"unknown activation_type {activation_type!r}; valid: {', '.join(ACTIVATION_TYPES)}")
    onnx_out = Path(onnx_out)
    onnx_out.parent.mkdir(parents=True, exist_ok=True)
    if getattr(reader, "input_name", "set") is None:
        reader.input_name = _input_name(onnx_in)
    if hasattr(reader, "rewind"):
        reader.rewind()
    with tempfile.TemporaryDirectory() as tmp, (_quiet() if quiet else contextlib.nullcontext()):
        source = _preprocessed(onnx_in, tmp) if preprocess else Path(onnx_in)
        extra = {"ActivationSymmetric": bool(symmetric_activations), "WeightSymmetric": True,
                 "QuantizeBias": bool(quantize_bias)}
        quantize_static(str(source), str(onnx_out), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=types[activation_type], weight_type=QuantType.QInt8,
                        op_types_to_quantize=list(op_types) if op_types else None,
                        nodes_to_exclude=list(nodes_to_exclude) if nodes_to_exclude else None,
                        calibrate_method=methods[method], extra_options=extra,
                        reduce_range=needs_reduce_range() if reduce_range is None else reduce_range)
    return onnx_out


def tensorrt_int8(onnx_in: str | Path, onnx_out: str | Path, reader, *, per_channel: bool = True,
                  method: str = "minmax", quiet: bool = True) -> Path:
    """Static INT8 in the form TensorRT takes: QDQ, int8 activations and weights, every zero-point 0 (symmetric).

    TensorRT quantizes symmetrically only (activations in [-128, 127], weights per channel in [-127, 127]); an
    asymmetric uint8 file, ONNX Runtime's CPU default, is not what it expects. Biases stay in floating point
    (TensorRT adds them inside its fused kernels) and weights keep 8 bits (GPUs need no ``reduce_range``).
    ONNX Runtime's CPU provider runs the same file too.
    """
    return static_int8(onnx_in, onnx_out, reader, per_channel=per_channel, method=method, activation_type="int8",
                       symmetric_activations=True, quantize_bias=False, reduce_range=False, quiet=quiet)


def dynamic_int8(onnx_in: str | Path, onnx_out: str | Path, *, per_channel: bool = False,
                 op_types: Sequence[str] = ("MatMul", "Gemm"), preprocess: bool = True,
                 reduce_range: bool | None = None, quiet: bool = True) -> Path:
    """Dynamic INT8: weights of MatMul/Gemm stored int8 ahead of time, activations quantized on the fly per call.

    No calibration data needed; best for Linear-heavy models (MLPs, LSTMs, transformer encoders).
    ``reduce_range`` (7-bit weights) defaults to needs_reduce_range(). Returns the path of the quantized model.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    onnx_out = Path(onnx_out)
    onnx_out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, (_quiet() if quiet else contextlib.nullcontext()):
        source = _preprocessed(onnx_in, tmp) if preprocess else Path(onnx_in)
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


def zero_points(onnx_path: str | Path) -> dict[str, np.ndarray]:
    """The zero-point of every QuantizeLinear/DequantizeLinear node, by node name (an empty dict: no QDQ nodes)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    consts = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:   # zero-points may also be Constant nodes
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(attr.t)
    found = {}
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) >= 3 and node.input[2] in consts:
            found[node.name or node.output[0]] = consts[node.input[2]]
    return found


def is_symmetric_int8(onnx_path: str | Path) -> bool:
    """True when the file has QDQ nodes and every zero-point is a signed int8 0: the symmetric INT8 TensorRT needs."""
    zps = zero_points(onnx_path)
    return bool(zps) and all(z.dtype == np.int8 and not np.any(z) for z in zps.values())
