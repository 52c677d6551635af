"""Knowledge distillation: the soft-target loss (Hinton et al., 2015) and a training loop for a student.

Example::

    from accel_utils import distill
    cached = distill.cache_teacher_logits(teacher, splits.train)          # teacher run once, not every epoch
    loader = distill.make_distill_loader(cached, batch_size=128, seed=0)
    history = distill.fit_distill(student, loader, T=4.0, alpha=0.9, epochs=8, test_loader=test_loader)

``alpha=0`` trains on the labels only (cross-entropy), with exactly the same batches: the fair "from
scratch" baseline for a distilled student.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .core.machine import get_device
from .training import History, fit


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor | None = None, *,
            T: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 − alpha) · CE(student, targets).

    The T² keeps the soft term's gradients on the same scale as the hard term's when T changes.
    ``alpha=1`` (or ``targets=None``) is pure distillation; ``alpha=0`` is plain cross-entropy.
    """
    if T <= 0:
        raise ValueError(f"temperature T must be positive, got {T}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if targets is None and alpha < 1.0:
        raise ValueError("targets are needed when alpha < 1 (the hard-label term)")
    loss = student_logits.new_zeros(())
    if alpha > 0:
        soft = F.kl_div(F.log_softmax(student_logits.float() / T, dim=1),
                        F.log_softmax(teacher_logits.float() / T, dim=1), reduction="batchmean", log_target=True)
        loss = loss + alpha * T * T * soft
    if alpha < 1:
        loss = loss + (1 - alpha) * F.cross_entropy(student_logits.float(), targets)
    return loss


def hint_loss(student_features: torch.Tensor, teacher_features: torch.Tensor, regressor: nn.Module) -> torch.Tensor:
    """Feature (hint) distillation, FitNets-style: MSE between regressor(student features) and teacher features."""
    return F.mse_loss(regressor(student_features), teacher_features.detach())


@torch.no_grad()
def cache_teacher_logits(teacher: nn.Module, dataset: Dataset, *, batch_size: int = 512, device=None) -> TensorDataset:
    """A TensorDataset (x, y, teacher logits) over ``dataset``: run the teacher once instead of every epoch.

    Exact when training uses no random augmentation (the teacher sees the same inputs every epoch).
    """
    device = torch.device(device) if device is not None else get_device()
    if hasattr(dataset, "tensors") and callable(dataset.tensors):
        x, y = dataset.tensors()
    else:
        xs, ys = zip(*[dataset[i] for i in range(len(dataset))])
        x, y = torch.stack(xs), torch.as_tensor(ys)
    was_training = teacher.training
    teacher.eval().to(device)
    logits = torch.cat([teacher(x[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)])
    teacher.train(was_training)
    return TensorDataset(x, y, logits)


def make_distill_loader(cached: TensorDataset, *, batch_size: int = 128, seed: int = 0) -> DataLoader:
    """Shuffled, seeded batches of (x, y, teacher logits) from ``cache_teacher_logits``."""
    g = torch.Generator().manual_seed(seed)
    return DataLoader(cached, batch_size=batch_size, shuffle=True, generator=g)


def fit_distill(student: nn.Module, train_loader, *, teacher: nn.Module | None = None, T: float = 4.0,
                alpha: float = 0.9, epochs: int = 1, lr: float = 1e-3, device=None,
                optimizer: torch.optim.Optimizer | None = None, scheduler=None, test_loader=None,
                max_steps: int | None = None, progress: bool = False, desc: str = "distill") -> History:
    """Train ``student`` with ``kd_loss`` through ``au.fit`` and return its History; Adam(lr) by default.

    Batches are ``(x, y, teacher_logits)`` (from ``make_distill_loader``), or ``(x, y)`` with a ``teacher``
    module run on each batch in eval mode. ``alpha=0`` needs no teacher: plain training on the labels.
    """
    device = torch.device(device) if device is not None else get_device()
    if teacher is not None:
        teacher.to(device).eval()

    def compute_loss(model: nn.Module, batch: tuple) -> torch.Tensor:
        x, y = batch[0], batch[1]
        out = model(x)
        if alpha == 0:
            return F.cross_entropy(out, y)
        if len(batch) > 2:
            t_logits = batch[2]
        elif teacher is not None:
            with torch.no_grad():
                t_logits = teacher(x)
        else:
            raise ValueError("alpha > 0 needs teacher logits: pass teacher= or batches (x, y, logits)")
        return kd_loss(out, t_logits, y, T=T, alpha=alpha)

    return fit(student, train_loader, epochs=epochs, lr=lr, device=device, optimizer=optimizer, scheduler=scheduler,
               compute_loss=compute_loss, test_loader=test_loader, max_steps=max_steps, progress=progress, desc=desc)
