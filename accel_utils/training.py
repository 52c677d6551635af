"""A plain training loop with optional autocast, evaluation, and seeding."""
from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .core.machine import get_device
from .core.stats import Accuracy


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (all devices) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class History:
    """What fit() saw: loss per step, and per epoch the mean loss, test accuracy and elapsed seconds."""

    step_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    test_accuracy: list[Accuracy] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Total training time in seconds (evaluation excluded)."""
        return float(sum(self.epoch_seconds))


def autocast(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast for the device when dtype is given, else a no-op context."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _to_device(batch, device: torch.device, channels_last: bool) -> tuple:
    """The batch's tensors on the device (inputs channels_last when asked)."""
    out = tuple(t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) else t for t in batch)
    if channels_last and out[0].ndim == 4:
        out = (out[0].contiguous(memory_format=torch.channels_last),) + out[1:]
    return out


def evaluate(model: nn.Module, loader, *, device=None, autocast_dtype: torch.dtype | None = None,
             channels_last: bool = False) -> Accuracy:
    """Top-1 accuracy of model over every example of loader, with its 95% interval (an ``Accuracy``, a float)."""
    device = torch.device(device) if device is not None else get_device()
    was_training = model.training
    model.eval()
    right = []
    with torch.inference_mode(), autocast(device, autocast_dtype):
        for batch in loader:
            x, y = _to_device(batch, device, channels_last)[:2]
            right.append((model(x).argmax(1) == y).cpu())
    model.train(was_training)
    if not right:
        raise ValueError("evaluate() got an empty loader: there is no example to score")
    return Accuracy.from_correct(torch.cat(right).numpy())


def cross_entropy_step(model: nn.Module, batch: tuple) -> torch.Tensor:
    """The default loss of ``fit``: cross-entropy of model(x) against the labels y of a batch (x, y, ...)."""
    return nn.functional.cross_entropy(model(batch[0]), batch[1])


def fit(model: nn.Module, train_loader, *, epochs: int = 1, lr: float = 1e-3, device=None,
        optimizer: torch.optim.Optimizer | None = None, scheduler=None, loss_fn: Callable | None = None,
        compute_loss: Callable[[nn.Module, tuple], torch.Tensor] | None = None,
        autocast_dtype: torch.dtype | None = None, scaler: torch.amp.GradScaler | None = None,
        channels_last: bool = False, test_loader=None, max_steps: int | None = None,
        progress: bool = True, desc: str = "train") -> History:
    """Train model and return its History; Adam(lr) unless an optimizer is given. The course's one training loop.

    The loss of a batch (its tensors moved to the device) is ``compute_loss(model, batch)``; by default
    ``loss_fn(model(x), y)`` with cross-entropy. Distillation and multi-exit training pass their own.
    ``scheduler`` is stepped after every optimizer step (per-batch schedules such as OneCycle).
    ``autocast_dtype=torch.bfloat16`` (or float16 with a ``scaler``) trains in mixed precision.
    """
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    if compute_loss is None:
        compute_loss = (cross_entropy_step if loss_fn is None
                        else lambda m, batch: loss_fn(m(batch[0]), batch[1]))
    history, steps = History(), 0
    for epoch in range(epochs):
        model.train()
        t0, losses = time.perf_counter(), []
        bar = tqdm(train_loader, desc=f"{desc} {epoch + 1}/{epochs}", leave=False, disable=not progress)
        for batch in bar:
            batch = _to_device(batch, device, channels_last)
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, autocast_dtype):
                loss = compute_loss(model, batch)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(float(loss.detach()))
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
        history.epoch_seconds.append(time.perf_counter() - t0)
        history.step_loss += losses
        history.epoch_loss.append(float(np.mean(losses)) if losses else float("nan"))
        if test_loader is not None:
            history.test_accuracy.append(evaluate(model, test_loader, device=device, autocast_dtype=autocast_dtype,
                                                  channels_last=channels_last))
        if max_steps is not None and steps >= max_steps:
            break
    return history
