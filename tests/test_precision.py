"""accel_utils.core.precision: TF32 switched through torch's fp32_precision API, tolerances by dtype and device."""
import pytest
import torch

import accel_utils as au
from accel_utils.core import precision


def test_fp32_precision_sets_and_restores_the_new_api():
    before = (torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision)
    with au.fp32_precision(tf32=False):
        assert torch.backends.cudnn.conv.fp32_precision == "ieee" == torch.backends.cuda.matmul.fp32_precision
    with au.fp32_precision(tf32=True):
        assert torch.backends.cudnn.conv.fp32_precision == "tf32" == torch.backends.cuda.matmul.fp32_precision
    assert (torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision) == before
    torch.get_float32_matmul_precision()   # torch raises if the legacy and new APIs were mixed


def test_tf32_only_on_ampere_and_newer_gpus(monkeypatch):
    assert not au.tf32_active("cpu", op="conv")                       # never on a CPU
    monkeypatch.setattr(precision, "_capability", lambda device: (8, 0))
    with au.fp32_precision(tf32=True):
        assert au.tf32_active(torch.device("cuda:0"), op="conv") and au.tf32_active(torch.device("cuda:0"), op="matmul")
    with au.fp32_precision(tf32=False):
        assert not au.tf32_active(torch.device("cuda:0"), op="conv")
    monkeypatch.setattr(precision, "_capability", lambda device: (7, 5))   # a T4
    with au.fp32_precision(tf32=True):
        assert not au.tf32_active(torch.device("cuda:0"), op="conv")


def test_tolerance_widens_for_tf32_and_16_bit(monkeypatch):
    strict = au.tolerance(torch.float32, "cpu")
    assert strict["rtol"] <= 1e-5
    monkeypatch.setattr(precision, "_capability", lambda device: (9, 0))
    with au.fp32_precision(tf32=True):
        assert au.tolerance(torch.float32, torch.device("cuda:0"))["rtol"] >= 1e-2
    assert au.tolerance(torch.bfloat16, "cpu")["rtol"] > au.tolerance(torch.float16, "cpu")["rtol"] > strict["rtol"]
    with pytest.raises(ValueError, match="no tolerance known"):
        au.tolerance(torch.int8, "cpu")


def test_the_tolerance_accepts_a_real_reordering_and_rejects_a_real_error():
    x, w = torch.randn(64, 512, dtype=torch.float64), torch.randn(512, 256, dtype=torch.float64)
    reference = (x @ w).float()
    reordered = (x.float().reshape(64, 8, 64).transpose(0, 1) @ w.float().reshape(8, 64, 256)).sum(0)
    torch.testing.assert_close(reordered, reference, **au.tolerance(torch.float32, "cpu"))
    low = (x.bfloat16() @ w.bfloat16()).float()
    torch.testing.assert_close(low, reference, **au.tolerance(torch.bfloat16, "cpu"))
    with pytest.raises(AssertionError):
        torch.testing.assert_close(low, reference, **au.tolerance(torch.float32, "cpu"))


def test_tolerance_scales_with_the_outputs_magnitude():
    assert au.tolerance(torch.float32, "cpu", scale=100.0)["atol"] == 100 * au.tolerance(torch.float32, "cpu")["atol"]
