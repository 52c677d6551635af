"""Lightweight building blocks: depthwise-separable conv, inverted residual, squeeze-and-excitation, a small MobileNet.

The notebook 11 writes these out step by step; this module holds the reusable versions, and the plumbing its
operator tables need (``quiet_profiler``).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator, Sequence

from torch import nn


@contextlib.contextmanager
def quiet_profiler() -> Iterator[None]:
    """Send what C/C++ code writes to the process's stderr (file descriptor 2) to /dev/null inside the block.

    ``torch.profiler``'s C++ library prints start/stop lines (and, with no GPU, a failed device count) straight to
    file descriptor 2, which a notebook shows as stderr noise; Python's ``sys.stderr`` cannot catch them.
    Example: ``with blocks.quiet_profiler(), torch.profiler.profile() as prof: model(x)``.
    """
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).fflush(None)   # what C code buffered goes to /dev/null too (POSIX)
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def conv_cost(in_channels: int, out_channels: int, kernel_size: int, height: int, width: int, *,
              groups: int = 1, bias: bool = False) -> tuple[int, int]:
    """(parameters, FLOPs) of one Conv2d producing an out_channels×height×width map; 2 FLOPs per multiply-add.

    Example: ``conv_cost(64, 64, 3, 28, 28)`` → (36864, 57802752); a depthwise conv passes ``groups=in_channels``.
    """
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
    macs_per_pixel = out_channels * (in_channels // groups) * kernel_size * kernel_size
    params = macs_per_pixel + (out_channels if bias else 0)
    return params, 2 * macs_per_pixel * height * width


def separable_cost(in_channels: int, out_channels: int, kernel_size: int, height: int, width: int) -> tuple[int, int]:
    """(parameters, FLOPs) of a depthwise k×k conv followed by a pointwise 1×1 conv (no bias, BatchNorm not counted)."""
    p_dw, f_dw = conv_cost(in_channels, in_channels, kernel_size, height, width, groups=in_channels)
    p_pw, f_pw = conv_cost(in_channels, out_channels, 1, height, width)
    return p_dw + p_pw, f_dw + f_pw


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) → BatchNorm2d → activation (None for a linear output)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1,
                 activation: type[nn.Module] | None = nn.ReLU):
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(out_channels)]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)


class DepthwiseSeparableConv(nn.Sequential):
    """MobileNetV1's block: a depthwise k×k conv (one filter per channel) then a pointwise 1×1 conv, each with BN+act."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 activation: type[nn.Module] = nn.ReLU):
        super().__init__(
            ConvBNAct(in_channels, in_channels, kernel_size, stride, groups=in_channels, activation=activation),
            ConvBNAct(in_channels, out_channels, 1, activation=activation),
        )


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: global average pool → bottleneck MLP → sigmoid gate that rescales each channel."""

    def __init__(self, channels: int, reduction: int = 4, min_hidden: int = 8):
        super().__init__()
        hidden = max(min_hidden, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1×1 expand → depthwise k×k → (SE) → 1×1 linear projection, residual when shapes match."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, expand_ratio: int = 6,
                 kernel_size: int = 3, se: bool = False, activation: type[nn.Module] = nn.ReLU6):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        hidden = in_channels * expand_ratio
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNAct(in_channels, hidden, 1, activation=activation))
        layers.append(ConvBNAct(hidden, hidden, kernel_size, stride, groups=hidden, activation=activation))
        if se:
            layers.append(SqueezeExcitation(hidden))
        layers.append(ConvBNAct(hidden, out_channels, 1, activation=None))  # linear bottleneck: no activation
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        out = self.block(x)
        return x + out if self.use_residual else out


class MobileNetSmall(nn.Module):
    """A MobileNetV2-style network for 28×28 / 32×32 inputs: 3×3 stem, inverted-residual stages, 1×1 head, pooling.

    ``stages`` lists (out_channels, number of blocks, stride of the first block) per stage.
    Example: ``MobileNetSmall(in_channels=1, num_classes=10)``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, stem: int = 16,
                 stages: Sequence[tuple[int, int, int]] = ((16, 1, 1), (24, 2, 2), (32, 2, 2), (64, 2, 1)),
                 expand_ratio: int = 4, head: int = 128, se: bool = False):
        super().__init__()
        self.stem = ConvBNAct(in_channels, stem, 3, 1, activation=nn.ReLU6)
        blocks, c = [], stem
        for out, n, stride in stages:
            for j in range(n):
                blocks.append(InvertedResidual(c, out, stride if j == 0 else 1, expand_ratio, se=se))
                c = out
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBNAct(c, head, 1, activation=nn.ReLU6)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(head, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.head(self.blocks(self.stem(x)))).flatten(1))
