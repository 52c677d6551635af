"""Correctness of accel_utils.early_exit: exits agree with the full network, policies, calibration, shrinking batches."""
import math

import pytest
import torch

from accel_utils import early_exit as ee


@pytest.fixture
def model():
    torch.manual_seed(0)
    return ee.MultiExitNet(1, 10, widths=(8, 16, 16), depths=(1, 1, 2), exits_after=(0, 1)).eval()


def test_forward_returns_every_exit_and_the_full_network_matches(model):
    x = torch.randn(3, 1, 28, 28)
    outs = model(x)
    assert model.num_exits == 3 and len(outs) == 3 and all(o.shape == (3, 10) for o in outs)
    assert torch.allclose(model.forward_full(x), outs[-1], atol=1e-6)


def test_forward_early_extremes(model):
    x = torch.randn(1, 1, 28, 28)
    outs = model(x)
    logits, k = model.forward_early(x, threshold=0.0)  # everything may leave at the first exit
    assert k == 0 and torch.allclose(logits, outs[0], atol=1e-6)
    logits, k = model.forward_early(x, threshold=1.01)  # nothing is that confident: the full network answers
    assert k == model.num_exits - 1 and torch.allclose(logits, outs[-1], atol=1e-6)


def test_policies():
    logits = torch.tensor([[10.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(ee.confidence(logits)[1], torch.tensor(1 / 3))
    assert torch.allclose(ee.entropy(logits)[1], torch.tensor(math.log(3)))
    assert ee.may_exit(logits, 0.9, "confidence").tolist() == [True, False]
    assert ee.may_exit(logits, 0.5, "entropy").tolist() == [True, False]
    with pytest.raises(ValueError, match="unknown exit policy"):
        ee.may_exit(logits, 0.5, "random")


def test_shrinking_batch_matches_per_sample_early_exit(model):
    torch.manual_seed(1)
    x = torch.randn(6, 1, 28, 28) * 3
    with torch.no_grad():
        outs = torch.stack(model(x))
    threshold = float(ee.confidence(outs[0]).median())  # about half leave at the first exit
    logits, where = model.forward_early_shrinking(x, threshold)
    for i in range(6):
        single, k = model.forward_early(x[i:i + 1], threshold)
        assert k == int(where[i])
        assert torch.allclose(logits[i], single[0], atol=1e-5)
        assert torch.allclose(logits[i], outs[k, i], atol=1e-5)


def test_simulate_matches_forward_early(model):
    torch.manual_seed(2)
    x = torch.randn(8, 1, 28, 28) * 3
    y = torch.randint(0, 10, (8,))
    with torch.no_grad():
        logits = torch.stack(model(x))
    threshold = float(ee.confidence(logits[0]).median())
    result = ee.simulate_policy(logits, y, threshold)
    assert abs(sum(result.fractions) - 1) < 1e-6
    for i in range(8):
        assert model.forward_early(x[i:i + 1], threshold)[1] == int(result.exit_index[i])
    assert result.expected_cost([1.0, 2.0, 3.0]) == pytest.approx(
        sum(f * c for f, c in zip(result.fractions, [1.0, 2.0, 3.0])))


def test_exit_logits_stack_every_exit_in_loader_order(model):
    torch.manual_seed(3)
    x, y = torch.randn(10, 1, 28, 28), torch.randint(0, 10, (10,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    logits, labels = ee.exit_logits(model, loader, device="cpu")
    assert logits.shape == (3, 10, 10) and torch.equal(labels, y)
    with torch.no_grad():
        assert torch.allclose(logits, torch.stack(model(x)), atol=1e-5)


def test_multi_exit_step_is_the_equal_weight_loss_and_trains_through_fit():
    import accel_utils as au
    torch.manual_seed(4)
    net = ee.MultiExitNet(1, 10, widths=(8, 16, 16), depths=(1, 1, 1), exits_after=(0, 1))
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    assert torch.allclose(ee.multi_exit_step(net, (x, y)), ee.multi_exit_loss(net(x), y, [1.0, 1.0, 1.0]))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    before = [p.detach().clone() for p in net.heads[0].parameters()]
    history = au.fit(net, loader, epochs=1, compute_loss=ee.multi_exit_step, device="cpu", progress=False)
    assert len(history.step_loss) == 2
    assert any(not torch.equal(b, a) for b, a in zip(before, net.heads[0].parameters()))   # the early head trains


def test_answer_key_12_3_follows_the_measured_interval():
    from accel_utils.core.stats import Speedup
    from accel_utils.teaching.answers import answer_key
    key = answer_key("12.3")
    measured = Speedup(2.5, 2.4, 2.6, "full network", "early exit")
    assert key.correct_for({"measured": measured, "flop_prediction": 2.9}) == "b"
    assert key.correct_for({"measured": measured, "flop_prediction": 2.0}) == "c"
    assert key.correct_for({"measured": measured, "flop_prediction": 2.5}) == "d"
    assert key.correct_for({}) == "d"


def test_multi_exit_loss_and_training_step(model):
    x, y = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    outs = model.train()(x)
    loss = ee.multi_exit_loss(outs, y, [0.5, 0.5, 1.0])
    manual = sum(w * torch.nn.functional.cross_entropy(o, y) for w, o in zip([0.5, 0.5, 1.0], outs))
    assert torch.allclose(loss, manual)
    with pytest.raises(ValueError, match="weights"):
        ee.multi_exit_loss(outs, y, [1.0])


def test_bad_construction():
    with pytest.raises(ValueError):
        ee.MultiExitNet(widths=(8, 16), depths=(1,))
    with pytest.raises(ValueError):
        ee.MultiExitNet(widths=(8, 16), depths=(1, 1), exits_after=(1,))
