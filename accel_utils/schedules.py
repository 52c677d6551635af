"""The plumbing of notebook 05: fast tensor batches, warm-up + cosine, time-to-accuracy, an LR trace for plots.

The LR range test is written out in the notebook (it is the lesson); what lives here is reused by other notebooks
(15 schedules its draft distillation with ``warmup_cosine``) or only measures.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn


class TensorBatches:
    """Mini-batches straight from in-memory tensors (no per-item Python work), reshuffled on every pass.

    Works anywhere a DataLoader of (x, y) batches does (``au.fit``, ``au.evaluate``) and has a ``len``.
    Example: ``train = TensorBatches(x, y, batch_size=128, shuffle=True, seed=0)``.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 128, *, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.x[idx], self.y[idx]


def warmup_cosine(optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int,
                  min_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0 to the optimizer's LR over warmup_steps, then cosine decay to min_ratio × LR.

    Step it once per optimizer step. Example: ``sched = warmup_cosine(opt, warmup_steps=100, total_steps=1000)``.
    """
    if total_steps < 1 or not 0 <= warmup_steps < total_steps:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got {warmup_steps}, {total_steps}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def epochs_to_target(accuracies: Sequence[float], target: float) -> int | None:
    """The first epoch (1-based) whose accuracy reaches target, or None if none does."""
    for i, a in enumerate(accuracies):
        if a >= target:
            return i + 1
    return None


def seconds_to_target(accuracies: Sequence[float], epoch_seconds: Sequence[float], target: float) -> float | None:
    """Training seconds (evaluation excluded) until the first epoch whose accuracy reaches target, or None."""
    n = epochs_to_target(accuracies, target)
    return None if n is None else float(sum(epoch_seconds[:n]))


def lr_trace(make_scheduler: Callable[[torch.optim.Optimizer], object], *, lr: float, steps: int) -> list[float]:
    """The learning rate a scheduler gives at each of ``steps`` optimizer steps (on a dummy parameter), for plots."""
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_scheduler(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return out
