"""The two roofs of a roofline, measured: peak fp32 FLOP/s (the best of two libraries) and memory bandwidth.

Notebook 01 builds this step by step; ``measure_roofs`` is the same measurement in one call (notebook 11 uses it).
FLOPs count 2 per multiply-add; bytes are the least a kernel must move: each input read once, each output written
once.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .machine import get_device
from .precision import fp32_precision
from .timing import benchmark

CONV_BATCH, CONV_CHANNELS = 8, 64


@dataclass(frozen=True)
class Roofs:
    """Measured peak fp32 FLOP/s, memory bandwidth (bytes/s), and the kernels that set them."""

    peak_flops: float
    bandwidth: float
    peak_kernel: str
    matmul_flops: float
    conv_flops: float
    copy_bandwidth: float = 0.0
    add_bandwidth: float = 0.0

    @property
    def ridge(self) -> float:
        """Arithmetic intensity (FLOP/byte) where the two roofs meet."""
        return self.peak_flops / self.bandwidth

    def roof(self, intensity: float) -> float:
        """The highest FLOP/s a kernel of this arithmetic intensity can reach."""
        return min(self.peak_flops, intensity * self.bandwidth)


def matmul_flops(n: int) -> int:
    """FLOPs of an n×n by n×n matmul: n² outputs, each n multiply-adds of 2 FLOPs."""
    return 2 * n ** 3


def conv_flops(batch: int, c_in: int, c_out: int, height: int, width: int, kernel: int = 3) -> int:
    """FLOPs of a stride-1 'same' conv2d: batch·c_out·height·width outputs, each c_in·k² multiply-adds of 2 FLOPs."""
    return 2 * batch * c_out * height * width * c_in * kernel * kernel


def measure_roofs(device=None, *, matmul_n: int = 1024, conv_image: int = 56, copy_mb: int = 64,
                  tf32: bool = False, **bench) -> Roofs:
    """Peak fp32 FLOP/s as the best of a BLAS matmul and a oneDNN/cuDNN 3×3 conv; bandwidth as the best of copy and add.

    The four kernels are timed in one ``benchmark`` session (``bench``: its rounds, block_time, warmup, threads).
    fp32 is strict fp32 (on Ampere+ GPUs "fp32, TF32 off") unless ``tf32=True``. The two libraries can differ by
    2× (MKL's matmul on AMD CPUs): a roof is the best the machine was seen to do.
    """
    device = get_device() if device is None else torch.device(device)
    n = matmul_n
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    x = torch.randn(CONV_BATCH, CONV_CHANNELS, conv_image, conv_image, device=device)
    x = x.to(memory_format=torch.channels_last)
    w = torch.randn(CONV_CHANNELS, CONV_CHANNELS, 3, 3, device=device).to(memory_format=torch.channels_last)
    src = torch.randn(copy_mb * 2 ** 20 // 4, device=device)
    dst = torch.empty_like(src)
    third = src.numel() // 3                                     # add: three buffers of a third, the copy's memory
    s1, s2, s3 = src[:third], src[third:2 * third], dst[:third]

    def fp32(fn):
        def run():
            with fp32_precision(tf32=tf32):
                return fn()
        return run

    ms = benchmark({"matmul": fp32(lambda: a @ b), "conv": fp32(lambda: F.conv2d(x, w, padding=1)),
                    "copy": lambda: dst.copy_(src), "add": lambda: torch.add(s1, s2, out=s3)}, device=device, **bench)
    mm = matmul_flops(n) / ms["matmul"].median
    conv = conv_flops(CONV_BATCH, CONV_CHANNELS, CONV_CHANNELS, conv_image, conv_image) / ms["conv"].median
    copy = 2 * src.numel() * src.element_size() / ms["copy"].median     # read once, write once
    add = 3 * third * src.element_size() / ms["add"].median              # two reads, one write (STREAM's "add")
    kernel = "conv 3×3 (channels_last)" if conv > mm else "matmul"
    return Roofs(max(mm, conv), max(copy, add), kernel, mm, conv, copy, add)
