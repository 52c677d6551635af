"""Correctness of accel_utils.blocks: shapes, residuals, and the parameter/FLOP arithmetic against the counters."""
import pytest
import torch
from torch import nn

from accel_utils import blocks, count_flops, count_params


def test_conv_cost_matches_counters():
    conv = nn.Conv2d(16, 32, 3, padding=1, bias=False)
    params, flops = blocks.conv_cost(16, 32, 3, 12, 12)
    assert params == count_params(conv)
    assert flops == count_flops(conv, torch.randn(1, 16, 12, 12))


def test_depthwise_cost_and_separable_cost():
    dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
    assert blocks.conv_cost(16, 16, 3, 8, 8, groups=16) == (count_params(dw), count_flops(dw, torch.randn(1, 16, 8, 8)))
    sep = nn.Sequential(dw, nn.Conv2d(16, 32, 1, bias=False))
    assert blocks.separable_cost(16, 32, 3, 8, 8) == (count_params(sep), count_flops(sep, torch.randn(1, 16, 8, 8)))
    with pytest.raises(ValueError, match="groups"):
        blocks.conv_cost(16, 30, 3, 8, 8, groups=4)


def test_depthwise_separable_shapes():
    block = blocks.DepthwiseSeparableConv(8, 16, stride=2).eval()
    assert block(torch.randn(2, 8, 10, 10)).shape == (2, 16, 5, 5)
    assert block[0][0].groups == 8 and block[1][0].kernel_size == (1, 1)


def test_squeeze_excitation_gates_channels():
    se = blocks.SqueezeExcitation(16).eval()
    x = torch.randn(2, 16, 6, 6)
    y = se(x)
    assert y.shape == x.shape
    ratio = y / x  # one gate in (0, 1) per sample and channel, the same at every pixel
    assert torch.allclose(ratio, ratio[..., :1, :1].expand_as(ratio), atol=1e-5)
    assert (ratio > 0).all() and (ratio < 1).all()


def test_inverted_residual_uses_shortcut_only_when_shapes_match():
    same = blocks.InvertedResidual(16, 16, stride=1, expand_ratio=4).eval()
    down = blocks.InvertedResidual(16, 24, stride=2, expand_ratio=4, se=True).eval()
    assert same.use_residual and not down.use_residual
    x = torch.randn(1, 16, 8, 8)
    assert torch.allclose(same(x), x + same.block(x))
    assert down(x).shape == (1, 24, 4, 4)
    with pytest.raises(ValueError, match="stride"):
        blocks.InvertedResidual(16, 16, stride=3)


@pytest.mark.parametrize("in_channels,size", [(1, 28), (3, 32)])
def test_mobilenet_small_forward_and_backward(in_channels, size):
    model = blocks.MobileNetSmall(in_channels, 10)
    out = model(torch.randn(4, in_channels, size, size))
    assert out.shape == (4, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_quiet_profiler_silences_file_descriptor_2_and_restores_it(capfd):
    import os
    os.write(2, b"before\n")
    with blocks.quiet_profiler():
        os.write(2, b"C++ noise\n")   # what the profiler's C++ library does
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert "C++ noise" not in err
    assert "before" in err and "after" in err


def test_quiet_profiler_keeps_an_operator_table():
    from torch.profiler import ProfilerActivity, profile
    block = blocks.InvertedResidual(8, 8, expand_ratio=2, se=True).eval()
    x = torch.randn(1, 8, 6, 6)
    with torch.inference_mode(), blocks.quiet_profiler(), profile(activities=[ProfilerActivity.CPU]) as prof:
        block(x)
    names = [e.name for e in prof.events() if e.cpu_parent is None]
    assert names.count("aten::conv2d") == 5 and "aten::mul" in names and "aten::sigmoid" in names


def test_answer_key_11_3_follows_the_measured_intervals():
    from accel_utils.core.stats import Speedup
    from accel_utils.teaching.answers import answer_key
    key = answer_key("11.3")
    b1 = Speedup(0.75, 0.70, 0.80, "ResNetSmall", "MobileNetSmall")
    gained = Speedup(1.10, 1.02, 1.20, "ResNetSmall", "MobileNetSmall")
    overlap = Speedup(0.79, 0.74, 0.85, "ResNetSmall", "MobileNetSmall")
    assert key.correct_for({"batch1": b1, "batch": gained}) == "b"
    assert key.correct_for({"batch1": b1, "batch": overlap}) == "d"
    assert key.correct_for({}) == "d"
