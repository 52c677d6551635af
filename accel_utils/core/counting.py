"""Counting what a model costs: parameters, FLOPs, bytes on disk, sparsity."""
from __future__ import annotations

import io

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor counted once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def attention_flops(batch: int, heads: int, q_len: int, kv_len: int, head_dim: int, v_dim: int | None = None) -> int:
    """FLOPs of softmax(Q Kᵀ) V: two matmuls, Q Kᵀ (q_len × kv_len × head_dim) and P V (× v_dim), per head.

    The whole score matrix is counted, causal or not: a causal mask halves the useful work, yet most kernels
    compute (or skip only part of) the masked half. The softmax's few FLOPs per score are not counted.
    """
    return 2 * batch * heads * q_len * kv_len * (head_dim + (head_dim if v_dim is None else v_dim))


def _sdpa_cpu_flops(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
    """aten._scaled_dot_product_flash_attention_for_cpu: q, k, v are (batch, heads, length, dim)."""
    b, h, tq, d = q_shape
    return attention_flops(b, h, tq, k_shape[-2], d, v_shape[-1])


def _native_mha_flops(q_shape, k_shape, v_shape, embed_dim, num_heads, *args, out_shape=None, **kwargs) -> int:
    """aten._native_multi_head_attention (nn.MultiheadAttention's fast path): projections, attention, output."""
    batch_first = len(q_shape) == 3
    b, tq = (q_shape[0], q_shape[1]) if batch_first else (1, q_shape[0])
    tk = k_shape[1] if batch_first else k_shape[0]
    e = embed_dim
    projections = 2 * b * e * e * (tq + 2 * tk) + 2 * b * tq * e * e     # q, k, v in; output out
    return projections + attention_flops(b, num_heads, tq, tk, e // num_heads)


_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops,
    torch.ops.aten._native_multi_head_attention: _native_mha_flops,
}


def count_flops(model: nn.Module, example_input) -> int:
    """FLOPs of one forward pass, counted by torch.utils.flop_counter, attention included.

    One multiply-add counts as 2 FLOPs. torchvision's weights metadata ("GFLOPS", ``_ops``)
    counts multiply-adds, so ``count_flops(resnet18, x224) / 2 / 1e9`` ≈ its 1.81. torch counts the GPU
    attention kernels itself; the CPU's fused attention and ``nn.MultiheadAttention``'s fast path are
    counted here by ``attention_flops``.
    """
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_ATTENTION_FLOPS) as counter:
            model(*inputs)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def model_size_bytes(model: nn.Module | dict) -> int:
    """Bytes of the serialized state_dict: what ``torch.save(model.state_dict(), f)`` puts on disk."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getbuffer().nbytes


def sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero weights over all Conv/Linear layers (pruning masks included)."""
    zeros = total = 0
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            w = module.weight  # with torch.nn.utils.prune this is the masked weight
            zeros += int((w == 0).sum())
            total += w.numel()
    if total == 0:
        raise ValueError("sparsity() found no Conv or Linear layer in the model")
    return zeros / total
