"""measure_roofs: the peak is the better of the two kernels, the ridge and roof follow from the two roofs."""
import pytest

from accel_utils.core import roofs


def test_measure_roofs_takes_the_better_kernel():
    r = roofs.measure_roofs("cpu", matmul_n=128, conv_image=8, copy_mb=4, min_run_time=0.01, max_run_time=0.2)
    assert r.peak_flops == max(r.matmul_flops, r.conv_flops) > 0
    assert r.peak_kernel in ("matmul", "conv 3×3 (channels_last)")
    assert r.bandwidth > 0 and r.ridge == pytest.approx(r.peak_flops / r.bandwidth)
    assert r.roof(r.ridge / 2) == pytest.approx(r.peak_flops / 2) and r.roof(10 * r.ridge) == r.peak_flops
