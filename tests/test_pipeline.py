"""accel_utils.pipeline: files written once and exactly, spawn-safe wrappers, epochs split and cores counted."""
import multiprocessing as mp
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from accel_utils import pipeline


class RandomViews(Dataset):
    """A dataset whose every read is a fresh random view (as an augmented dataset's is)."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return torch.rand(1, 2, 2), i


def decode(path):
    with Image.open(path) as img:
        return torch.from_numpy(np.array(img.convert("L"))).unsqueeze(0)


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
    x = decode(written[2][0])
    assert x.dtype == torch.uint8 and x.shape == (1, 40, 40)
    assert torch.equal(x, F.resize(images[2], [40, 40], antialias=True))  # PNG is lossless
    again = pipeline.write_image_files(images, labels, tmp_path / "img", size=40)  # reused, same list
    assert again == written
    other = pipeline.write_image_files(images[:3], labels[:3], tmp_path / "img", size=40)  # another set: rewritten
    assert len(other) == 3


def test_write_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        pipeline.write_image_files(torch.zeros(2, 1, 8, 8), torch.zeros(2), tmp_path)
    with pytest.raises(ValueError, match="format"):
        pipeline.write_image_files(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(2), tmp_path, fmt="gif")


def test_jpeg_files(tmp_path):
    images = torch.full((2, 1, 28, 28), 128, dtype=torch.uint8)
    written = pipeline.write_image_files(images, torch.tensor([1, 2]), tmp_path, size=32, fmt="jpeg")
    assert written[0][0].endswith(".jpg")
    assert (decode(written[0][0]).float() - 128).abs().max() <= 3


def test_precomputed_epochs_repeat():
    ds = pipeline.PrecomputedEpochsDataset(RandomViews(), copies=2)
    ds.set_epoch(0)
    a = ds[3][0]
    ds.set_epoch(1)
    assert not torch.equal(a, ds[3][0])          # another stored view
    ds.set_epoch(2)
    assert torch.equal(a, ds[3][0])              # epoch K repeats epoch 0
    assert pipeline.distinct_views(2, 10) == 0.2 and pipeline.distinct_views(5, 3) == 1.0
    with pytest.raises(ValueError):
        pipeline.PrecomputedEpochsDataset(ds, copies=0)


def test_wrappers_pickle_and_run_in_a_worker():
    ds = pipeline.CrashingDataset(RandomViews(), bad_index=99)
    assert isinstance(pickle.loads(pickle.dumps(ds)), pipeline.CrashingDataset)   # importable by name: spawn-safe
    loader = DataLoader(ds, batch_size=2, num_workers=1, worker_init_fn=pipeline.seed_worker)
    assert sum(len(y) for _, y in loader) == 5
    assert pipeline.run_epoch(loader, lambda x, y: None, max_batches=1) == 2


def test_crashing_dataset_soft_and_hard():
    soft = pipeline.CrashingDataset(RandomViews(), bad_index=1)
    with pytest.raises(ValueError, match="corrupt"):
        soft[1]
    hard = pipeline.CrashingDataset(RandomViews(), bad_index=1, hard=True)
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(DataLoader(hard, batch_size=1, num_workers=1))


def test_wait_vs_compute():
    loader = DataLoader(RandomViews(), batch_size=2)
    wc = pipeline.wait_vs_compute(loader, lambda x, y: time.sleep(0.01), steps=4, device="cpu")
    assert len(wc.wait) == len(wc.compute) == 4          # the iterator restarts when an epoch ends
    assert min(wc.compute) >= 0.009
    assert 0 <= wc.wait_fraction < 0.5 and wc.verdict == "compute-bound" and wc.verdict in str(wc)


def _burn(seconds: float) -> None:
    """Spend this much CPU time (not wall time: a loaded machine only makes it take longer)."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def _burn_then_wait(seconds, done, release):
    _burn(seconds)
    done.set()
    release.wait(10)


@pytest.mark.slow
def test_cpu_seconds_count_this_process_and_its_children():
    cpu, wall = pipeline.cpu_and_wall_seconds(lambda: _burn(0.2))
    assert cpu >= 0.19 and wall >= 0.19
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    cpu, _ = pipeline.cpu_and_wall_seconds(lambda: subprocess.run([sys.executable, "-c", burn], check=True))
    assert cpu >= 0.29                               # a child that ended during the call: its reaped time
    ctx = mp.get_context("spawn")
    done, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_burn_then_wait, args=(0.3, done, release))
    try:
        cpu, _ = pipeline.cpu_and_wall_seconds(lambda: (child.start(), done.wait(60)))
        assert cpu >= 0.29                           # a child still alive after the call (a persistent worker)
    finally:
        release.set()
        child.join(10)
    assert pipeline.cores_busy(lambda: time.sleep(0.2)) < 0.5


def test_image_folder_under_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path))
    assert pipeline.image_folder("mnist5k", 96, "png") == tmp_path / "pipeline_images" / "mnist5k_96px_png"


def test_answer_key_of_exercise_3_follows_the_measurement():
    from accel_utils import check_choice

    gap = dict(bound=1.4, measured=0.9, cores=2, busy=1.1)
    assert check_choice("04.3", "b", **gap).passed and not check_choice("04.3", "d", **gap).passed
    close = dict(bound=1.4, measured=1.3, cores=16, busy=1.9)
    assert check_choice("04.3", "d", **close).passed and not check_choice("04.3", "b", **close).passed
    assert not any(check_choice("04.3", wrong, **gap).passed for wrong in ("a", "c"))
