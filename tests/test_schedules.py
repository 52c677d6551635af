"""accel_utils.schedules: batches, LR range test, warm-up + cosine, time-to-accuracy."""
import math

import pytest
import torch
from torch import nn

from accel_utils import schedules


def test_tensor_batches_cover_and_reshuffle():
    x, y = torch.arange(10).float().unsqueeze(1), torch.arange(10)
    b = schedules.TensorBatches(x, y, batch_size=4, seed=0)
    assert len(b) == 3
    first = torch.cat([yb for _, yb in b])
    second = torch.cat([yb for _, yb in b])
    assert sorted(first.tolist()) == list(range(10)) and not torch.equal(first, second)
    ordered = schedules.TensorBatches(x, y, batch_size=4, shuffle=False, drop_last=True)
    assert len(ordered) == 2 and torch.equal(torch.cat([yb for _, yb in ordered]), torch.arange(8))
    with pytest.raises(ValueError):
        schedules.TensorBatches(x, y[:3])


def test_warmup_cosine_shape():
    trace = schedules.lr_trace(lambda o: schedules.warmup_cosine(o, warmup_steps=10, total_steps=100), lr=2.0, steps=100)
    assert trace[0] == pytest.approx(0.2) and trace[9] == pytest.approx(2.0)
    assert max(trace) == pytest.approx(2.0) and trace[-1] < 0.01
    assert all(a >= b for a, b in zip(trace[9:], trace[10:]))       # decays monotonically after warm-up
    mid = trace[10 + 45]
    assert mid == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi * 45 / 90)))
    with pytest.raises(ValueError):
        schedules.warmup_cosine(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0), warmup_steps=5, total_steps=5)


def test_time_to_target():
    acc, sec = [0.5, 0.8, 0.9, 0.95], [1.0, 2.0, 3.0, 4.0]
    assert schedules.epochs_to_target(acc, 0.9) == 3
    assert schedules.seconds_to_target(acc, sec, 0.9) == 6.0
    assert schedules.epochs_to_target(acc, 0.99) is None and schedules.seconds_to_target(acc, sec, 0.99) is None


def test_lr_range_test_restores_weights_and_suggests():
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    before = [p.detach().clone() for p in model.parameters()]
    r = schedules.lr_range_test(model, schedules.TensorBatches(x, y, 32), lambda p, lr: torch.optim.SGD(p, lr=lr),
                                steps=60, start_lr=1e-4, end_lr=10.0, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert len(r.lrs) == len(r.losses) > 10 and r.lrs == sorted(r.lrs)
    assert r.suggested == pytest.approx(r.min_loss_lr / 10)
    assert "suggested" in str(r)
    with pytest.raises(ValueError):
        schedules.lr_range_test(model, [], lambda p, lr: torch.optim.SGD(p, lr=lr), start_lr=1.0, end_lr=0.1)
