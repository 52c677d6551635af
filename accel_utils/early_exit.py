"""Early exit: a multi-exit network, exit policies, and the exact simulation of a policy from stored logits.

Notebook 12 writes the lesson out (the per-sample forward pass, the policies, the threshold calibration); this
module holds the plumbing it builds on and checks against: the network, its batched forward passes, the logits of
every exit, and ``simulate_policy``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .core.machine import get_device
from .models import BasicBlock

POLICIES = ("confidence", "entropy")


class ExitHead(nn.Module):
    """A cheap classifier on a feature map: average pool to pool×pool, flatten, one Linear layer.

    pool=1 is global average pooling (the usual final head); an early exit keeps a little spatial layout
    (pool=4), because early features are local: pooled to one value per channel they say little about the class.
    """

    def __init__(self, channels: int, num_classes: int, pool: int = 1):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(pool)
        self.fc = nn.Linear(channels * pool * pool, num_classes)

    def forward(self, x):
        return self.fc(self.pool(x).flatten(1))


class MultiExitNet(nn.Module):
    """A ResNet-style backbone in stages, with an exit head after each stage listed in ``exits_after``.

    Intermediate heads pool to exit_pool×exit_pool before their Linear layer; the final head pools globally.
    The last stage always ends in the final head, so the network has ``len(exits_after) + 1`` exits.
    ``forward(x)`` returns the logits of every exit (for joint training); ``forward_early`` stops early.
    Example: ``MultiExitNet(1, 10, widths=(32, 64, 128), depths=(1, 1, 4), exits_after=(0, 1))``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: Sequence[int] = (32, 64, 128),
                 depths: Sequence[int] = (1, 1, 4), exits_after: Sequence[int] = (0, 1), exit_pool: int = 4):
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError(f"widths {tuple(widths)} and depths {tuple(depths)} must have the same length")
        if any(not 0 <= i < len(widths) - 1 for i in exits_after) or list(exits_after) != sorted(set(exits_after)):
            raise ValueError(f"exits_after must be increasing stage indices below {len(widths) - 1}, got {tuple(exits_after)}")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        stages, c = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, depths)):
            blocks = [BasicBlock(c if j == 0 else w, w, stride=2 if (i > 0 and j == 0) else 1) for j in range(n)]
            stages.append(nn.Sequential(*blocks))
            c = w
        self.stages = nn.ModuleList(stages)
        self.exits_after = tuple(exits_after) + (len(widths) - 1,)
        self.heads = nn.ModuleList(ExitHead(widths[i], num_classes, exit_pool if i < len(widths) - 1 else 1)
                                   for i in self.exits_after)

    @property
    def num_exits(self) -> int:
        """How many exits (intermediate heads plus the final one)."""
        return len(self.heads)

    def forward(self, x) -> list[torch.Tensor]:
        """Logits of every exit, earliest first."""
        outputs, h, k = [], self.stem(x), 0
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i == self.exits_after[k]:
                outputs.append(self.heads[k](h))
                k += 1
        return outputs

    def forward_full(self, x) -> torch.Tensor:
        """The full network only: every stage and the final head, no intermediate heads (the baseline)."""
        h = self.stem(x)
        for stage in self.stages:
            h = stage(h)
        return self.heads[-1](h)

    def forward_early(self, x, threshold: float, policy: str = "confidence") -> tuple[torch.Tensor, int]:
        """Run stage by stage; return (logits, exit index) at the first exit where every sample may leave.

        At batch 1 this is per-sample early exit; with a batch, the batch waits for its least confident sample.
        """
        h, k = self.stem(x), 0
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i == self.exits_after[k]:
                logits = self.heads[k](h)
                if k == self.num_exits - 1 or bool(may_exit(logits, threshold, policy).all()):
                    return logits, k
                k += 1
        raise AssertionError("unreachable: the last stage always has an exit")

    def forward_early_shrinking(self, x, threshold: float, policy: str = "confidence") -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample early exit inside a batch: samples that may leave are removed, the rest go on.

        Returns (logits for every sample, exit index per sample).
        """
        n = x.shape[0]
        out, where = None, torch.full((n,), -1, dtype=torch.long, device=x.device)
        alive = torch.arange(n, device=x.device)
        h, k = self.stem(x), 0
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i != self.exits_after[k]:
                continue
            logits = self.heads[k](h)
            if out is None:
                out = logits.new_empty((n, logits.shape[1]))
            leave = torch.ones_like(alive, dtype=torch.bool) if k == self.num_exits - 1 else may_exit(logits, threshold, policy)
            out[alive[leave]] = logits[leave]
            where[alive[leave]] = k
            alive, h = alive[~leave], h[~leave]
            k += 1
            if alive.numel() == 0:
                break
        return out, where


def confidence(logits: torch.Tensor) -> torch.Tensor:
    """Max-softmax confidence per sample, in (0, 1]: high means sure."""
    return F.softmax(logits.float(), dim=-1).max(dim=-1).values


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the softmax per sample, in nats, in [0, log(classes)]: low means sure."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def may_exit(logits: torch.Tensor, threshold: float, policy: str = "confidence") -> torch.Tensor:
    """Bool per sample: confidence ≥ threshold (policy "confidence") or entropy ≤ threshold (policy "entropy")."""
    if policy == "confidence":
        return confidence(logits) >= threshold
    if policy == "entropy":
        return entropy(logits) <= threshold
    raise ValueError(f"unknown exit policy {policy!r}; known: {', '.join(POLICIES)}")


def multi_exit_loss(outputs: Sequence[torch.Tensor], y: torch.Tensor, weights: Sequence[float] | None = None) -> torch.Tensor:
    """Weighted sum of the cross-entropy of every exit (equal weights unless given)."""
    weights = weights or [1.0] * len(outputs)
    if len(weights) != len(outputs):
        raise ValueError(f"{len(weights)} weights for {len(outputs)} exits")
    return sum(w * F.cross_entropy(o, y) for w, o in zip(weights, outputs))


def multi_exit_step(model: MultiExitNet, batch: tuple) -> torch.Tensor:
    """``au.fit``'s loss for a multi-exit net: every exit trained jointly, with equal weights."""
    return multi_exit_loss(model(batch[0]), batch[1])


@torch.inference_mode()
def exit_logits(model: MultiExitNet, loader, *, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of every exit for every sample of loader, as (exits × samples × classes, labels), on the CPU."""
    device = torch.device(device) if device is not None else get_device()
    was_training = model.training
    model.eval()
    outs, labels = [], []
    for x, y in loader:
        outs.append(torch.stack(model(x.to(device))).float().cpu())
        labels.append(y)
    model.train(was_training)
    return torch.cat(outs, dim=1), torch.cat(labels)


@dataclass(frozen=True)
class PolicyResult:
    """What an exit policy does on a set of samples: accuracy, where each sample leaves, the share per exit."""

    threshold: float
    accuracy: float
    exit_index: torch.Tensor
    fractions: tuple[float, ...]

    def expected_cost(self, exit_costs: Sequence[float]) -> float:
        """Mean cost per sample when leaving at exit k costs exit_costs[k] (e.g. FLOPs or seconds)."""
        return float(sum(f * c for f, c in zip(self.fractions, exit_costs)))


def simulate_policy(logits: torch.Tensor, labels: torch.Tensor, threshold: float,
                    policy: str = "confidence") -> PolicyResult:
    """Apply an exit policy to precomputed exit logits (exits × samples × classes): exact, since exits are deterministic."""
    n_exits, n = logits.shape[:2]
    leave = torch.stack([may_exit(logits[k], threshold, policy) for k in range(n_exits)])
    leave[-1] = True
    index = leave.float().argmax(dim=0)  # the first exit allowed to answer
    chosen = logits[index, torch.arange(n)]
    accuracy = float((chosen.argmax(-1) == labels).float().mean())
    fractions = tuple(float((index == k).float().mean()) for k in range(n_exits))
    return PolicyResult(float(threshold), accuracy, index, fractions)
