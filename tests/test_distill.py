"""Correctness of accel_utils.distill: the KD loss formula and the distillation loop."""
import pytest
import torch
import torch.nn.functional as F

import accel_utils as au
from accel_utils import distill


def test_kd_loss_matches_formula():
    torch.manual_seed(0)
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    T, alpha = 3.0, 0.7
    p_t = F.softmax(t / T, dim=1)
    kl = (p_t * (p_t.log() - F.log_softmax(s / T, dim=1))).sum(1).mean()
    expected = alpha * T * T * kl + (1 - alpha) * F.cross_entropy(s, y)
    torch.testing.assert_close(distill.kd_loss(s, t, y, T=T, alpha=alpha), expected)


def test_kd_loss_limits():
    torch.manual_seed(0)
    s, y = torch.randn(8, 10), torch.randint(0, 10, (8,))
    torch.testing.assert_close(distill.kd_loss(s, s.clone(), y, alpha=1.0), torch.tensor(0.0))
    torch.testing.assert_close(distill.kd_loss(s, torch.randn(8, 10), y, alpha=0.0), F.cross_entropy(s, y))
    with pytest.raises(ValueError):
        distill.kd_loss(s, s, y, T=0)
    with pytest.raises(ValueError):
        distill.kd_loss(s, s, None, alpha=0.5)


def test_kd_loss_gradient_flows_to_student_only():
    s = torch.randn(4, 10, requires_grad=True)
    t = torch.randn(4, 10, requires_grad=True)
    distill.kd_loss(s, t.detach(), torch.randint(0, 10, (4,)), T=2.0, alpha=0.5).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0


@pytest.mark.slow
def test_cache_and_fit_distill_runs_and_learns():
    splits = au.load_dataset("synthetic", n=64, shape=(1, 12, 12), num_classes=3)
    teacher = au.SmallCNN(1, 3, (4, 8))
    cached = distill.cache_teacher_logits(teacher, splits.train, batch_size=16, device="cpu")
    assert len(cached) == 64 and cached.tensors[2].shape == (64, 3)
    with torch.no_grad():
        torch.testing.assert_close(cached.tensors[2][:5], teacher.eval()(splits.train.tensors()[0][:5]))
    loader = distill.make_distill_loader(cached, batch_size=16, seed=0)
    student = au.SmallCNN(1, 3, (2, 4))
    h = distill.fit_distill(student, loader, T=2.0, alpha=1.0, epochs=3, lr=1e-2, device="cpu")
    assert len(h.epoch_loss) == 3 and h.epoch_loss[-1] < h.epoch_loss[0]
    # with a live teacher module and (x, y) batches; alpha=0 needs no teacher
    train_loader, test_loader = au.make_loaders(splits, batch_size=16)
    h = distill.fit_distill(au.SmallCNN(1, 3, (2, 4)), train_loader, teacher=teacher, epochs=1, device="cpu",
                            test_loader=test_loader, max_steps=2)
    assert len(h.step_loss) == 2 and 0 <= h.test_accuracy[0] <= 1
    distill.fit_distill(au.SmallCNN(1, 3, (2, 4)), train_loader, alpha=0.0, epochs=1, device="cpu", max_steps=1)
    with pytest.raises(ValueError):
        distill.fit_distill(au.SmallCNN(1, 3, (2, 4)), train_loader, alpha=0.5, epochs=1, device="cpu", max_steps=1)


def test_hint_loss_zero_when_matching():
    f = torch.randn(2, 4, 3, 3)
    reg = torch.nn.Identity()
    assert distill.hint_loss(f, f, reg).item() == 0.0


@pytest.mark.slow
def test_scratch_and_distilled_students_get_the_same_training():
    """alpha=0 is the fair baseline: for one seed, the same batches in the same order, and plain cross-entropy."""
    splits = au.load_dataset("synthetic", n=48, shape=(1, 8, 8), num_classes=3)
    cached = distill.cache_teacher_logits(au.SmallCNN(1, 3, (4, 8)), splits.train, batch_size=16, device="cpu")
    order = [[y.tolist() for _, y, _ in distill.make_distill_loader(cached, batch_size=16, seed=s)] for s in (3, 3, 4)]
    assert order[0] == order[1] and order[0] != order[2]
    students = []
    for loss in ("alpha0", "cross-entropy"):
        torch.manual_seed(0)
        student = au.SmallCNN(1, 3, (2, 4))
        loader = distill.make_distill_loader(cached, batch_size=16, seed=3)
        if loss == "alpha0":
            distill.fit_distill(student, loader, alpha=0.0, epochs=2, lr=1e-2, device="cpu")
        else:
            au.fit(student, loader, epochs=2, lr=1e-2, device="cpu", progress=False)
        students.append(student)
    for a, b in zip(students[0].state_dict().values(), students[1].state_dict().values()):
        torch.testing.assert_close(a, b)


def test_answer_key_10_3_reads_the_paired_interval():
    from accel_utils.teaching.answers import answer_key

    key = answer_key("10.3")
    scratch = [96.0 + 0.1 * i for i in range(8)]
    up = au.paired_difference(scratch, [s + d for s, d in zip(scratch, [0.4, 0.5, 0.3, 0.6, 0.4, 0.5, 0.45, 0.35])])
    down = au.paired_difference(scratch, [s - d for s, d in zip(scratch, [0.4, 0.5, 0.3, 0.6, 0.4, 0.5, 0.45, 0.35])])
    noise = au.paired_difference(scratch, [s + d for s, d in zip(scratch, [0.4, -0.5, 0.3, -0.6, 0.4, -0.3, 0.1, -0.2])])
    few = au.paired_difference(scratch[:4], [s + 0.5 for s in scratch[:4]])      # fewer than 8 pairs: no interval
    assert [key.correct_for({"gain": g}) for g in (up, down, noise, few)] == ["b", "e", "c", "c"]
    assert not au.check_choice("10.3", "a", gain=up).passed and au.check_choice("10.3", "b", gain=up).passed
