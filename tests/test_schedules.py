"""accel_utils.schedules: batches, warm-up + cosine, time-to-accuracy (the LR range test is in notebook 05)."""
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


def test_tensor_batches_repeat_for_a_seed():
    x, y = torch.arange(20).float().unsqueeze(1), torch.arange(20)
    a = [yb.tolist() for _, yb in schedules.TensorBatches(x, y, batch_size=8, seed=3)]
    b = [yb.tolist() for _, yb in schedules.TensorBatches(x, y, batch_size=8, seed=3)]
    c = [yb.tolist() for _, yb in schedules.TensorBatches(x, y, batch_size=8, seed=4)]
    assert a == b and a != c          # one seed, one batch order: the runs of notebook 05 pair by seed


def test_answer_key_of_exercise_3_follows_the_measurement():
    from accel_utils import check_choice

    assert check_choice("05.3", "b", share=0.01).passed and not check_choice("05.3", "a", share=0.01).passed
    assert check_choice("05.3", "a", share=0.8).passed and not check_choice("05.3", "b", share=0.8).passed
    assert not any(check_choice("05.3", wrong, share=0.01).passed for wrong in ("c", "d"))
