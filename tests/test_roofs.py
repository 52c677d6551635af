"""measure_roofs: FLOPs and bytes counted as by hand, the peak the better of two kernels, the roof and ridge from both.

The timer is replaced by one that returns known times (after running each kernel once and keeping its output), so
FLOP/s and bytes/s must equal the hand counts divided by those times: a wrong formula fails here.
"""
import pytest
import torch

from accel_utils.core import roofs
from accel_utils.core.stats import Measurement
from accel_utils.core.timing import Measurements

TIMES = {"matmul": 2e-3, "conv": 5e-3, "copy": 1e-3, "add": 4e-3}   # seconds per call the fake timer reports


@pytest.fixture
def fake_timer(monkeypatch):
    """Replace the benchmark used by measure_roofs: run each kernel once, report the TIMES above."""
    seen = {}

    def fake_benchmark(fns, *, device=None, **bench):
        out = Measurements()
        for label, fn in fns.items():
            seen[label] = fn()
            kind = next(k for k in TIMES if k in label)
            out[label] = Measurement(label=label, times=[TIMES[kind]] * 8, session="fake")
        seen["bench"] = bench
        return out

    monkeypatch.setattr(roofs, "benchmark", fake_benchmark)
    return seen


def test_flops_and_bytes_match_hand_counts(fake_timer):
    r = roofs.measure_roofs("cpu", matmul_n=128, conv_image=8, copy_mb=4, rounds=8)
    # matmul 128 × 128 by 128 × 128: 128² outputs × 128 multiply-adds × 2 FLOPs
    assert r.matmul_flops == pytest.approx(2 * 128 * 128 * 128 / 2e-3)
    assert fake_timer["matmul"].shape == (128, 128)
    # conv 3×3, 8 images of 64 channels, 8×8, 'same' padding: 8·64·8·8 outputs × (64·3·3) multiply-adds × 2 FLOPs
    assert r.conv_flops == pytest.approx(2 * (8 * 64 * 8 * 8) * (64 * 3 * 3) / 5e-3)
    assert fake_timer["conv"].shape == (8, 64, 8, 8)
    # copy of 4 MiB: read 4 MiB and write 4 MiB
    assert r.copy_bandwidth == pytest.approx(2 * 4 * 2 ** 20 / 1e-3)
    assert fake_timer["copy"].numel() * 4 == 4 * 2 ** 20
    # add of three buffers of a third of the 2^20 floats each: two read, one written
    third = 2 ** 20 // 3
    assert r.add_bandwidth == pytest.approx(3 * third * 4 / 4e-3)
    assert fake_timer["add"].numel() == third
    assert fake_timer["bench"] == {"rounds": 8}          # the benchmark's own settings are passed through


def test_the_roofs_are_the_better_kernels(fake_timer):
    r = roofs.measure_roofs("cpu", matmul_n=128, conv_image=8, copy_mb=4)
    assert r.peak_flops == max(r.matmul_flops, r.conv_flops)
    assert r.peak_kernel == ("conv 3×3 (channels_last)" if r.conv_flops > r.matmul_flops else "matmul")
    assert r.bandwidth == max(r.copy_bandwidth, r.add_bandwidth) == r.copy_bandwidth   # copy: 8.4 GB/s vs 3.1 GB/s
    assert r.ridge == pytest.approx(r.peak_flops / r.bandwidth)
    assert r.roof(r.ridge / 2) == pytest.approx(r.peak_flops / 2) and r.roof(10 * r.ridge) == r.peak_flops


def test_kernels_compute_what_is_counted(fake_timer):
    """The timed callables compute a real matmul, conv, copy and add (not, say, an empty tensor)."""
    roofs.measure_roofs("cpu", matmul_n=16, conv_image=4, copy_mb=1)
    mm, conv, copy, add = (fake_timer[k] for k in ("matmul", "conv", "copy", "add"))
    assert mm.abs().sum() > 0 and conv.abs().sum() > 0 and copy.abs().sum() > 0
    assert add.abs().sum() > 0


def test_hand_count_helpers():
    assert roofs.matmul_flops(3) == 54
    assert roofs.conv_flops(1, 2, 4, 5, 5, 3) == 2 * (4 * 5 * 5) * (2 * 9)


def test_measure_roofs_runs_for_real_and_restores_the_fp32_setting():
    before = (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    r = roofs.measure_roofs("cpu", matmul_n=64, conv_image=8, copy_mb=1, rounds=2, block_time=0.001)
    assert r.peak_flops > 0 and r.bandwidth > 0 and r.peak_kernel in ("matmul", "conv 3×3 (channels_last)")
    assert (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision) == before
