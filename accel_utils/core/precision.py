"""fp32 that means what it says: the TF32 switches of NVIDIA GPUs, and tolerances right for a dtype and device.

On Ampere and newer GPUs (compute capability ≥ 8.0) cuDNN runs fp32 convolutions in TF32 by default (10-bit
mantissa, about 1e-3 relative error per product), and matmuls do too once
``torch.backends.cuda.matmul.fp32_precision = "tf32"`` is set. CPUs, and older GPUs such as the T4, compute fp32 in fp32.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

from .machine import get_device


def _capability(device: torch.device) -> tuple[int, int]:
    return torch.cuda.get_device_capability(device) if device.type == "cuda" else (0, 0)


def _settings(op: str):
    """The chain of fp32_precision settings that decide ``op`` (most specific first), torch ≥ 2.9's API."""
    if op == "conv":
        return (torch.backends.cudnn.conv, torch.backends.cudnn, torch.backends)
    if op == "matmul":
        return (torch.backends.cuda.matmul, torch.backends)
    raise ValueError(f"op must be 'conv' or 'matmul', got {op!r}")


def _resolved(op: str) -> str:
    """'tf32' or 'ieee': what fp32 ``op`` currently uses ('none' defers to the next, broader setting)."""
    for setting in _settings(op):
        if setting.fp32_precision != "none":
            return setting.fp32_precision
    return "ieee"


def tf32_active(device=None, *, op: str = "conv") -> bool:
    """True when fp32 ``op`` ('conv' or 'matmul') on this device is computed in TF32 under the current settings."""
    device = get_device() if device is None else torch.device(device)
    mode = _resolved(op)
    return device.type == "cuda" and _capability(device) >= (8, 0) and mode == "tf32"


@contextmanager
def fp32_precision(*, tf32: bool):
    """fp32 convolutions and matmuls in TF32 (``tf32=True``) or strict fp32 (``False``) inside the block.

    Example: ``with au.fp32_precision(tf32=False): y = model(x)`` is the "fp32, TF32 off" baseline on any GPU.
    It uses torch's ``fp32_precision`` settings (never the legacy ``allow_tf32`` flags: torch refuses a mix of
    the two) and restores them after the block. On CPUs and pre-Ampere GPUs both are plain fp32.
    """
    targets = (torch.backends.cudnn.conv, torch.backends.cuda.matmul)
    old = [t.fp32_precision for t in targets]
    for t in targets:
        t.fp32_precision = "tf32" if tf32 else "ieee"
    try:
        yield
    finally:
        for t, value in zip(targets, old):
            t.fp32_precision = value


def tolerance(dtype: torch.dtype = torch.float32, device=None, *, op: str = "conv", scale: float = 1.0) -> dict[str, float]:
    """``rtol``/``atol`` for comparing an ``op`` computed in ``dtype`` on ``device`` with a reference.

    For outputs of order 1 that sum up to about a thousand products (a layer's matmul or conv, a model's
    logits), not single elements: two fp32 algorithms that order the sums differently agree to about 1e-5;
    with TF32 or fp16 inputs (10-bit mantissa) each product carries ~1e-3 relative error and the sum's error
    grows with the square root of its length, so outputs near zero differ by a few 1e-2; bf16 (7 bits) eight
    times more. Outputs of another size pass their typical magnitude as ``scale`` (e.g. ``ref.std()``): a sum's
    rounding error grows with its terms, so the absolute tolerance scales with them.
    Use as ``torch.testing.assert_close(a, b, **au.tolerance(...))``.
    """
    tol = _tolerance(dtype, torch.device(device) if device is not None else get_device(), op)
    return {"rtol": tol["rtol"], "atol": tol["atol"] * float(scale)}


def _tolerance(dtype: torch.dtype, device: torch.device, op: str) -> dict[str, float]:
    """The tolerances for outputs of order 1."""
    if dtype == torch.float32:
        if tf32_active(device, op=op):
            return {"rtol": 1e-2, "atol": 5e-2}
        return {"rtol": 1e-4, "atol": 1e-5} if device.type != "cpu" else {"rtol": 1e-5, "atol": 1e-5}
    if dtype == torch.float64:
        return {"rtol": 1e-7, "atol": 1e-7}
    if dtype == torch.float16:
        return {"rtol": 1e-2, "atol": 5e-2}
    if dtype == torch.bfloat16:
        return {"rtol": 5e-2, "atol": 2.5e-1}
    raise ValueError(f"no tolerance known for {dtype}; known: float64, float32, float16, bfloat16")
