"""accel_utils.quantize: ONNX Runtime static (calibrated, QDQ, per-channel) and dynamic INT8."""
import numpy as np
import onnxruntime  # noqa: F401  required dependencies: a broken install fails here, it is never skipped
import onnxscript  # noqa: F401
import pytest
import torch
from torch import nn

from accel_utils import deploy, quantize


def _cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 4)).eval()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("quant")


def test_calibration_reader_takes_pairs_and_tensors():
    data = [(torch.randn(2, 1, 8, 8), torch.zeros(2)) for _ in range(5)]
    reader = quantize.calibration_reader(data, max_batches=3, input_name="input")
    got = []
    while (item := reader.get_next()) is not None:
        got.append(item["input"])
    assert len(got) == 3 and got[0].shape == (2, 1, 8, 8) and got[0].dtype.name == "float32"
    reader.rewind()
    assert reader.get_next() is not None
    assert len(quantize.calibration_reader([torch.randn(1, 1, 8, 8)])) == 1


def test_calibration_reader_empty():
    with pytest.raises(ValueError, match="no batches"):
        quantize.calibration_reader([])


def test_static_int8_qdq_per_channel(folder):
    model = _cnn()
    fp32 = deploy.export_onnx(model, torch.randn(2, 1, 8, 8), folder / "cnn.onnx")
    calib = [torch.randn(4, 1, 8, 8) for _ in range(4)]
    int8 = quantize.static_int8(fp32, folder / "cnn_int8.onnx", quantize.calibration_reader(calib))
    ops = deploy.op_counts(int8)
    assert ops.get("QuantizeLinear", 0) >= 1 and ops.get("DequantizeLinear", 0) >= 1
    assert quantize.int8_weight_fraction(int8) > 0.5
    ort_fp32, ort_int8 = deploy.OrtModel(fp32), deploy.OrtModel(int8)
    x = calib[0]
    ref = ort_fp32(x)
    got = ort_int8(x)
    assert got.shape == ref.shape
    assert (got - ref).abs().max() < 0.1 * ref.abs().max() + 1e-3  # INT8 is close, not exact


def test_static_int8_rejects_unknown_method(folder):
    with pytest.raises(ValueError, match="unknown calibration method 'median'"):
        quantize.static_int8(folder / "x.onnx", folder / "y.onnx", None, method="median")


@pytest.mark.parametrize("reduce_range", [None, True])
def test_dynamic_int8_on_linear_model(folder, reduce_range):
    """Default (None) picks 7-bit weights where u8×s8 saturates (AVX2 without VNNI: error 0.039 of 0.17 without)."""
    model = _mlp()
    fp32 = deploy.export_onnx(model, torch.randn(2, 1, 8, 8), folder / "mlp.onnx")
    int8 = quantize.dynamic_int8(fp32, folder / "mlp_int8.onnx", reduce_range=reduce_range)
    ops = deploy.op_counts(int8)
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops or "DynamicQuantizeLinear" in ops
    assert deploy.file_size(int8) < deploy.file_size(fp32) / 2.5
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        ref = model(x)
    got = deploy.OrtModel(int8)(x)
    assert got.shape == ref.shape and (got - ref).abs().max() < 0.05 * ref.abs().max() + 1e-2


def test_static_int8_default_is_asymmetric_uint8(folder):
    """ONNX Runtime's CPU default: uint8 activations whose zero-point moves the grid onto [min, max]."""
    model = _cnn()
    fp32 = deploy.export_onnx(model, torch.randn(2, 1, 8, 8), folder / "cnn_a.onnx")
    calib = [torch.rand(4, 1, 8, 8) + 0.5 for _ in range(3)]      # all positive: an asymmetric grid moves
    int8 = quantize.static_int8(fp32, folder / "cnn_a_int8.onnx", quantize.calibration_reader(calib))
    zps = quantize.zero_points(int8)
    assert zps and any(z.dtype == np.uint8 for z in zps.values())
    assert not quantize.is_symmetric_int8(int8)


def test_tensorrt_int8_is_symmetric_and_still_computes(folder):
    """TensorRT's rule: int8 activations and weights, every zero-point 0; the file still runs close to fp32."""
    model = _cnn()
    fp32 = deploy.export_onnx(model, torch.randn(2, 1, 8, 8), folder / "cnn_t.onnx")
    calib = [torch.rand(4, 1, 8, 8) + 0.5 for _ in range(3)]
    trt = quantize.tensorrt_int8(fp32, folder / "cnn_trt_int8.onnx", quantize.calibration_reader(calib))
    zps = quantize.zero_points(trt)
    assert len(zps) >= 4 and all(z.dtype == np.int8 and not np.any(z) for z in zps.values())
    assert quantize.is_symmetric_int8(trt)
    ref, got = deploy.OrtModel(fp32)(calib[0]), deploy.OrtModel(trt)(calib[0])
    assert (got - ref).abs().max() < 0.1 * ref.abs().max() + 1e-3


def test_no_qdq_nodes_is_not_symmetric_int8(folder):
    fp32 = deploy.export_onnx(_cnn(), torch.randn(2, 1, 8, 8), folder / "cnn_plain.onnx")
    assert quantize.zero_points(fp32) == {} and not quantize.is_symmetric_int8(fp32)


def test_unknown_activation_type_is_named(folder):
    with pytest.raises(ValueError, match="unknown activation_type 'int4'"):
        quantize.static_int8(folder / "x.onnx", folder / "y.onnx", None, activation_type="int4")
