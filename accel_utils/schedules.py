"""Learning-rate helpers for notebook 05: an LR range test, warm-up + cosine, time-to-accuracy, fast tensor batches."""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .core.machine import get_device


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


@dataclass
class LRRangeResult:
    """Learning rates tried, the smoothed training loss at each, and the suggested peak learning rate."""

    lrs: list[float]
    losses: list[float]
    suggested: float
    min_loss_lr: float

    def __str__(self) -> str:
        return (f"LR range test: {len(self.lrs)} steps from {self.lrs[0]:.1e} to {self.lrs[-1]:.1e}; lowest loss at "
                f"{self.min_loss_lr:.2e} → suggested peak LR {self.suggested:.2e} (a {self.min_loss_lr / self.suggested:.0f}× margin)")


def lr_range_test(model: nn.Module, batches, make_optimizer: Callable[[Sequence[nn.Parameter], float], torch.optim.Optimizer],
                  *, start_lr: float = 1e-5, end_lr: float = 1.0, steps: int = 100, smooth: float = 0.9,
                  diverge: float = 4.0, margin: float = 10.0, device=None,
                  loss_fn: Callable | None = None) -> LRRangeResult:
    """Smith's LR range test: raise the LR exponentially each step, record the smoothed loss, stop when it diverges.

    Suggests ``lr_at_lowest_loss / margin``. The model's weights are restored afterwards.
    Example: ``r = lr_range_test(model, train, lambda p, lr: torch.optim.SGD(p, lr, momentum=0.9))``.
    """
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr}, {end_lr}")
    device = torch.device(device) if device is not None else get_device()
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    saved = copy.deepcopy(model.state_dict())
    model.to(device).train()
    optimizer = make_optimizer(model.parameters(), start_lr)
    factor = (end_lr / start_lr) ** (1 / max(steps - 1, 1))
    lrs, losses, avg, best = [], [], 0.0, math.inf
    it = iter(batches)
    try:
        for i in range(steps):
            lr = start_lr * factor ** i
            for group in optimizer.param_groups:
                group["lr"] = lr
            try:
                x, y = next(it)
            except StopIteration:
                it = iter(batches)
                x, y = next(it)
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            avg = smooth * avg + (1 - smooth) * float(loss.detach())
            smoothed = avg / (1 - smooth ** (i + 1))          # bias-corrected running mean
            if not math.isfinite(smoothed):
                break
            lrs.append(lr)
            losses.append(smoothed)
            best = min(best, smoothed)
            if smoothed > diverge * best and i > 10:
                break
    finally:
        model.load_state_dict(saved)
    if not lrs:
        raise RuntimeError("the loss was not finite at the first step; lower start_lr")
    min_loss_lr = lrs[int(np.argmin(losses))]
    return LRRangeResult(lrs, losses, min_loss_lr / margin, min_loss_lr)


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
