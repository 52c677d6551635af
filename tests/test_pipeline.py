"""accel_utils.pipeline: files written once and decoded exactly, datasets, collation, batched augmentation."""
import pickle

import pytest
import torch
from torch.utils.data import DataLoader

from accel_utils import pipeline


@pytest.fixture
def files(tmp_path):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.arange(6) % 3
    return images, labels, pipeline.write_image_files(images, labels, tmp_path / "img", size=40)


def test_write_and_decode_roundtrip(files, tmp_path):
    from torchvision.transforms.v2 import functional as F

    images, labels, written = files
    assert [y for _, y in written] == labels.tolist()
    x = pipeline.decode_file(written[2][0])
    assert x.dtype == torch.uint8 and x.shape == (1, 40, 40)
    assert torch.equal(x, F.resize(images[2], [40, 40], antialias=True))  # PNG is lossless
    again = pipeline.write_image_files(images, labels, tmp_path / "img", size=40)  # reused, same list
    assert again == written


def test_write_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        pipeline.write_image_files(torch.zeros(2, 1, 8, 8), torch.zeros(2), tmp_path)
    with pytest.raises(ValueError, match="format"):
        pipeline.write_image_files(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(2), tmp_path, fmt="gif")


def test_jpeg_files(tmp_path):
    images = torch.full((2, 1, 28, 28), 128, dtype=torch.uint8)
    written = pipeline.write_image_files(images, torch.tensor([1, 2]), tmp_path, size=32, fmt="jpeg")
    assert written[0][0].endswith(".jpg")
    assert (pipeline.decode_file(written[0][0]).float() - 128).abs().max() <= 3


def test_datasets_agree_and_augment(files):
    _, labels, written = files
    tf = pipeline.train_transform(24)
    enc = pipeline.EncodedImageDataset(written, tf)
    cached = pipeline.CachedImageDataset(written, tf)
    x, y = enc[1]
    assert x.shape == (1, 24, 24) and x.dtype == torch.float32 and y == int(labels[1])
    assert torch.equal(cached.images[1], pipeline.decode_file(written[1][0]))
    assert cached.nbytes == 6 * 40 * 40
    u8 = pipeline.train_transform(24, to_float=False)(cached.images[0])
    assert u8.dtype == torch.uint8


def test_precomputed_epochs_repeat(files):
    _, _, written = files
    ds = pipeline.PrecomputedEpochsDataset(pipeline.CachedImageDataset(written, pipeline.train_transform(24)), copies=2)
    ds.set_epoch(0)
    a = ds[3][0]
    ds.set_epoch(2)
    assert torch.equal(a, ds[3][0])
    assert pipeline.distinct_views(2, 10) == 0.2 and pipeline.distinct_views(5, 3) == 1.0
    with pytest.raises(ValueError):
        pipeline.PrecomputedEpochsDataset(ds, copies=0)


def test_collate_and_normalize():
    batch = [(torch.full((1, 4, 4), 255, dtype=torch.uint8), 1), (torch.zeros(1, 4, 4, dtype=torch.uint8), 0)]
    x, y = pipeline.collate_uint8(batch)
    assert x.dtype == torch.uint8 and x.shape == (2, 1, 4, 4) and y.tolist() == [1, 0]
    z = pipeline.normalize_batch(x, (0.5,), (0.5,))
    assert torch.allclose(z[0], torch.ones(1, 4, 4)) and torch.allclose(z[1], -torch.ones(1, 4, 4))


def test_random_affine_batch_per_sample():
    x = torch.rand(1, 1, 32, 32).repeat(3, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    out = pipeline.random_affine_batch(x, out_size=16, generator=g, max_degrees=10)
    assert out.shape == (3, 1, 16, 16)
    assert not torch.allclose(out[0], out[1])
    full = pipeline.random_affine_batch(x, out_size=32, scale=(1.0, 1.0))  # no zoom, no rotation: identity
    assert torch.allclose(full, x, atol=1e-5)


def test_loader_with_worker_and_pickle(files):
    _, _, written = files
    ds = pipeline.EncodedImageDataset(written, pipeline.train_transform(24, to_float=False))
    assert pickle.loads(pickle.dumps(ds)).files == ds.files       # importable by name: spawn-safe
    loader = DataLoader(ds, batch_size=3, num_workers=1, collate_fn=pipeline.collate_uint8,
                        worker_init_fn=pipeline.seed_worker)
    assert sum(len(y) for _, y in loader) == 6
    n = pipeline.run_epoch(loader, lambda x, y: None, max_batches=1)
    assert n == 3


def test_crashing_dataset_soft_and_wait_compute(files):
    _, _, written = files
    ds = pipeline.CrashingDataset(pipeline.EncodedImageDataset(written), bad_index=1)
    with pytest.raises(ValueError, match="corrupt"):
        ds[1]
    loader = DataLoader(pipeline.EncodedImageDataset(written, pipeline.train_transform(24)), batch_size=2)
    wc = pipeline.wait_vs_compute(loader, lambda x, y: x.sum(), steps=4, device="cpu")
    assert len(wc.wait) == len(wc.compute) == 4
    assert 0 <= wc.wait_fraction <= 1 and wc.verdict in ("input-bound", "compute-bound")
    assert wc.verdict in str(wc)


def test_image_folder_under_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path))
    assert pipeline.image_folder("mnist5k", 96, "png") == tmp_path / "pipeline_images" / "mnist5k_96px_png"
