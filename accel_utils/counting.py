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


def count_flops(model: nn.Module, example_input) -> int:
    """FLOPs of one forward pass, counted by torch.utils.flop_counter.

    One multiply-add counts as 2 FLOPs. torchvision's weights metadata ("GFLOPS", ``_ops``)
    counts multiply-adds, so ``count_flops(resnet18, x224) / 2 / 1e9`` ≈ its 1.81.
    """
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
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
