"""The two roofs of a roofline, measured: peak fp32 FLOP/s (the best of two libraries) and memory bandwidth."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .machine import get_device
from .timing import benchmark


@dataclass(frozen=True)
class Roofs:
    """Measured peak fp32 FLOP/s, memory bandwidth (bytes/s), and the kernel that set the peak."""

    peak_flops: float
    bandwidth: float
    peak_kernel: str
    matmul_flops: float
    conv_flops: float

    @property
    def ridge(self) -> float:
        """Arithmetic intensity (FLOP/byte) where the two roofs meet."""
        return self.peak_flops / self.bandwidth

    def roof(self, intensity: float) -> float:
        """The highest FLOP/s a kernel of this arithmetic intensity can reach."""
        return min(self.peak_flops, intensity * self.bandwidth)


def measure_roofs(device=None, *, matmul_n: int = 1024, conv_image: int = 56, copy_mb: int = 64,
                  **bench) -> Roofs:
    """Peak fp32 FLOP/s as the best of a BLAS matmul and a oneDNN/cuDNN 3×3 conv; bandwidth as the best of copy and add.

    Notebook 01 builds this step by step; the two libraries can differ by 2× (MKL's matmul on AMD CPUs).
    """
    device = get_device() if device is None else torch.device(device)
    a, b = torch.randn(matmul_n, matmul_n, device=device), torch.randn(matmul_n, matmul_n, device=device)
    m_mm = benchmark(lambda: a @ b, label="matmul fp32", device=device, **bench)
    mm_flops = 2 * matmul_n ** 3 / m_mm.median

    n, c = 8, 64
    x = torch.randn(n, c, conv_image, conv_image, device=device).to(memory_format=torch.channels_last)
    w = torch.randn(c, c, 3, 3, device=device).to(memory_format=torch.channels_last)
    m_conv = benchmark(lambda: F.conv2d(x, w, padding=1), label="conv 3×3 fp32", device=device, **bench)
    outputs = n * c * conv_image * conv_image                     # 'same' padding: as many outputs as inputs
    conv_flops = 2 * outputs * c * 9 / m_conv.median              # 2 FLOPs × C_in·3·3 multiply-adds per output

    src = torch.randn(copy_mb * 2 ** 20 // 4, device=device)
    dst = torch.empty_like(src)
    m_copy = benchmark(lambda: dst.copy_(src), label=f"copy {copy_mb} MB", device=device, **bench)
    third = src.numel() // 3
    s1, s2, s3 = src[:third], src[third:2 * third], dst[:third]
    m_add = benchmark(lambda: torch.add(s1, s2, out=s3), label="add", device=device, **bench)
    bandwidth = max(2 * src.numel() * 4 / m_copy.median,   # copy: read + write
                    3 * third * 4 / m_add.median)            # add: two reads + one write (STREAM's "add")
    kernel = "conv 3×3 (channels_last)" if conv_flops > mm_flops else "matmul"
    return Roofs(max(mm_flops, conv_flops), bandwidth, kernel, mm_flops, conv_flops)
