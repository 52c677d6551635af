"""A plain training loop with optional autocast, evaluation, and seeding."""
from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .hardware import get_device


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
    test_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Total training time in seconds (evaluation excluded)."""
        return float(sum(self.epoch_seconds))


def _autocast(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast for the device when dtype is given, else a no-op context."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def evaluate(model: nn.Module, loader, *, device=None, autocast_dtype: torch.dtype | None = None,
             channels_last: bool = False) -> float:
    """Top-1 accuracy (0–1) of model on every batch of loader."""
    device = torch.device(device) if device is not None else get_device()
    was_training = model.training
    model.eval()
    correct = total = 0
    with torch.inference_mode(), _autocast(device, autocast_dtype):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    model.train(was_training)
    return correct / max(total, 1)


def fit(model: nn.Module, train_loader, *, epochs: int = 1, lr: float = 1e-3, device=None,
        optimizer: torch.optim.Optimizer | None = None, scheduler=None, loss_fn: Callable | None = None,
        autocast_dtype: torch.dtype | None = None, scaler: torch.amp.GradScaler | None = None,
        channels_last: bool = False, test_loader=None, max_steps: int | None = None,
        progress: bool = True, desc: str = "train") -> History:
    """Train model and return its History; Adam(lr) unless an optimizer is given.

    ``scheduler`` is stepped after every optimizer step (per-batch schedules such as OneCycle).
    ``autocast_dtype=torch.bfloat16`` (or float16 with a ``scaler``) trains in mixed precision.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    history, steps = History(), 0
    for epoch in range(epochs):
        model.train()
        t0, losses = time.perf_counter(), []
        bar = tqdm(train_loader, desc=f"{desc} {epoch + 1}/{epochs}", leave=False, disable=not progress)
        for x, y in bar:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device, autocast_dtype):
                loss = loss_fn(model(x), y)
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
