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


def test_failed_download_falls_back_with_notice(monkeypatch, tmp_path, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data_module, "_torchvision_arrays", offline)
    s = au.load_dataset("cifar10", root=tmp_path)
    assert s.name == "mnist5k"
    err = capsys.readouterr().err
    assert "could not load cifar10" in err and "mnist5k" in err and "Traceback" not in err


def test_missing_files_without_download_fall_back(tmp_path, capsys):
    s = au.load_dataset("fashion_mnist", root=tmp_path, download=False)
    assert s.name == "mnist5k" and "could not load fashion_mnist" in capsys.readouterr().err


def test_make_loaders_batches():
    s = au.load_dataset("mnist5k")
    train_loader, test_loader = au.make_loaders(s, batch_size=64)
    x, y = next(iter(train_loader))
    assert x.shape == (64, 1, 28, 28) and y.shape == (64,)
    assert sum(len(y) for _, y in test_loader) == 1000


def test_workers_can_load_batches():
    s = au.load_dataset("mnist5k")
    loader = torch.utils.data.DataLoader(s.test, batch_size=100, num_workers=1,
                                         multiprocessing_context="spawn")
    assert sum(len(y) for _, y in loader) == 1000
