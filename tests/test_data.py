import urllib.error

import pytest
import torch

import accel_utils as au
from accel_utils import data as data_module


def test_mnist5k_offline_split_is_deterministic_and_stratified():
    s1 = au.load_dataset("mnist5k")
    s2 = au.load_dataset("mnist5k")
    assert len(s1.train) == 4000 and len(s1.test) == 1000 and s1.val is None
    assert torch.equal(s1.test.labels, s2.test.labels) and torch.equal(s1.test.images, s2.test.images)
    assert torch.bincount(s1.test.labels).tolist() == [100] * 10
    x, y = s1.train[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and 0 <= int(y) < 10
    assert s1.input_shape == (1, 28, 28) and s1.num_classes == 10


def test_mnist5k_val_split_comes_from_train():
    s = au.load_dataset("mnist5k", val_fraction=0.1)
    assert len(s.val) == 400 and len(s.train) == 3600 and len(s.test) == 1000
    train_imgs = {bytes(t.numpy().tobytes()) for t in s.train.images[:500]}
    assert not any(bytes(t.numpy().tobytes()) in train_imgs for t in s.val.images)


def test_mnist5k_is_real_digits():
    x, y = au.load_dataset("mnist5k").train.tensors()
    assert x.mean().abs() < 0.2 and 0.8 < x.std() < 1.2  # normalised with MNIST's statistics
    assert len(torch.unique(y)) == 10


def test_synthetic_any_shape():
    s = au.load_dataset("synthetic", n=32, shape=(3, 8, 8), num_classes=5)
    x, y = s.train[3]
    assert x.shape == (3, 8, 8) and int(y) < 5 and "speed only" in s.source


def test_unknown_dataset_lists_known():
    with pytest.raises(ValueError, match="known: mnist5k, mnist, fashion_mnist, cifar10, synthetic"):
        au.load_dataset("cifar100")


def _offline(*args, **kwargs):
    raise urllib.error.URLError("no network")


def test_a_dataset_that_cannot_be_had_is_an_error_naming_it(monkeypatch, tmp_path):
    monkeypatch.setattr(data_module, "_torchvision_arrays", _offline)
    with pytest.raises(data_module.DatasetUnavailable, match="could not load 'cifar10'.*no network"):
        au.load_dataset("cifar10", root=tmp_path)
    with pytest.raises(data_module.DatasetUnavailable, match="'fashion_mnist'"):
        monkeypatch.undo()
        au.load_dataset("fashion_mnist", root=tmp_path, download=False)


def test_offline_fallback_only_when_asked_for_and_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(data_module, "_torchvision_arrays", _offline)
    s = au.load_dataset("cifar10", root=tmp_path, offline_fallback="mnist5k")
    err = capsys.readouterr().err
    assert s.name == "mnist5k" and "could not load cifar10" in err and "Traceback" not in err


def test_a_bug_is_never_turned_into_a_fallback(monkeypatch, tmp_path):
    def bug(*args, **kwargs):
        raise TypeError("a plain bug")

    monkeypatch.setattr(data_module, "_torchvision_arrays", bug)
    with pytest.raises(TypeError, match="a plain bug"):
        au.load_dataset("cifar10", root=tmp_path, offline_fallback="mnist5k")


def test_a_corrupt_cache_is_rebuilt_and_named(tmp_path):
    import shutil
    source = data_module._find_mnist5k(au.data_dir())
    shutil.copy(source, tmp_path / source.name)
    au.load_dataset("mnist5k", root=tmp_path)                       # writes the .npz cache
    cache = tmp_path / "mnist_5k.npz"
    cache.write_bytes(b"PK not a zip")
    with pytest.warns(UserWarning, match="mnist_5k.npz is corrupt"):
        s = au.load_dataset("mnist5k", root=tmp_path)
    assert len(s.test) == 1000 and cache.stat().st_size > 1000


def test_make_loaders_batches():
    s = au.load_dataset("mnist5k")
    train_loader, test_loader = au.make_loaders(s, batch_size=64)
    x, y = next(iter(train_loader))
    assert x.shape == (64, 1, 28, 28) and y.shape == (64,)
    assert sum(len(y) for _, y in test_loader) == 1000


@pytest.mark.slow
def test_workers_can_load_batches():
    s = au.load_dataset("mnist5k")
    loader = torch.utils.data.DataLoader(s.test, batch_size=100, num_workers=1,
                                         multiprocessing_context="spawn")
    assert sum(len(y) for _, y in loader) == 1000
