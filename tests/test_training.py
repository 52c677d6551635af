import pytest
import torch

import accel_utils as au


def test_models_shapes():
    x = torch.randn(2, 1, 28, 28)
    for model in (au.SmallCNN(), au.ResNetSmall(), au.MLP()):
        assert model(x).shape == (2, 10)
    assert au.ResNetSmall(in_channels=3)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.slow
def test_fit_learns_real_digits_and_evaluate():
    au.seed_everything(0)
    splits = au.load_dataset("mnist5k")
    train_loader, test_loader = au.make_loaders(splits, batch_size=64)
    model = au.MLP(hidden=(64,))
    history = au.fit(model, train_loader, epochs=2, lr=1e-3, device="cpu", test_loader=test_loader, progress=False)
    assert len(history.epoch_loss) == 2 and history.epoch_loss[1] < history.epoch_loss[0]
    assert history.test_accuracy[-1] > 0.8
    assert au.evaluate(model, test_loader, device="cpu") == history.test_accuracy[-1]


@pytest.mark.slow
def test_fit_with_bf16_autocast_and_max_steps():
    au.seed_everything(0)
    splits = au.load_dataset("synthetic", n=64, shape=(1, 28, 28))
    train_loader, _ = au.make_loaders(splits, batch_size=16)
    history = au.fit(au.SmallCNN(widths=(8, 16)), train_loader, epochs=3, device="cpu",
                     autocast_dtype=torch.bfloat16, max_steps=2, progress=False)
    assert len(history.step_loss) == 2


def test_seed_everything_repeats():
    au.seed_everything(3)
    a = torch.randn(4)
    au.seed_everything(3)
    assert torch.equal(a, torch.randn(4))


class _DtypeSpy(torch.nn.Module):
    """A Linear that records the dtype its matmul ran in."""

    def __init__(self):
        super().__init__()
        self.fc, self.seen = torch.nn.Linear(4, 3), set()

    def forward(self, x):
        out = self.fc(x)
        self.seen.add(out.dtype)
        return out


def _tiny_loader(n=16):
    x, y = torch.randn(n, 4), torch.randint(0, 3, (n,))
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)


def test_fit_and_evaluate_run_under_the_autocast_dtype_asked_for():
    model = _DtypeSpy()
    au.fit(model, _tiny_loader(), device="cpu", autocast_dtype=torch.bfloat16, progress=False)
    assert model.seen == {torch.bfloat16}
    model.seen.clear()
    au.evaluate(model, _tiny_loader(), device="cpu", autocast_dtype=torch.bfloat16)
    assert model.seen == {torch.bfloat16}
    model.seen.clear()
    au.fit(model, _tiny_loader(), device="cpu", progress=False)
    assert model.seen == {torch.float32}


def test_fit_uses_the_loss_it_is_given():
    calls = []

    def compute_loss(model, batch):
        calls.append(len(batch))
        return model(batch[0]).square().mean()

    au.fit(torch.nn.Linear(4, 3), _tiny_loader(), device="cpu", compute_loss=compute_loss, progress=False)
    assert calls == [2, 2]


def test_evaluate_returns_an_accuracy_with_its_interval_and_refuses_an_empty_loader():
    model = torch.nn.Linear(4, 3)
    acc = au.evaluate(model, _tiny_loader(), device="cpu")
    assert isinstance(acc, au.Accuracy) and acc.n == 16 and acc.low <= acc <= acc.high
    assert acc.per_example.shape == (16,)
    with pytest.raises(ValueError, match="empty loader"):
        au.evaluate(model, [], device="cpu")
