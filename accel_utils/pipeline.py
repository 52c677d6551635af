"""The plumbing of notebook 04's input pipeline: image files written once, epochs run and split, cores counted.

The lesson itself (the Dataset that reads, decodes and augments files, the decoded cache, the batched
augmentation) is written out in the notebook, in a module beside it that DataLoader workers import. What lives
here is what a DataLoader worker may import too (spawn-safe wrappers of any Dataset) and what measures a pipeline.
"""
from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import torch
from torch.utils.data import Dataset, get_worker_info

from .core.config import data_dir
from .core.timing import time_first_call

PIPELINE_FOLDER = "pipeline_images"


def image_folder(name: str = "mnist5k", size: int = 112, fmt: str = "png", root: str | Path | None = None) -> Path:
    """The folder (under the data folder, ignored by git) that holds one encoded-image set."""
    root = Path(root) if root is not None else data_dir()
    return root / PIPELINE_FOLDER / f"{name}_{size}px_{fmt}"


def write_image_files(images: torch.Tensor, labels: torch.Tensor, folder: str | Path, *, size: int = 112,
                      fmt: str = "png", quality: int = 90) -> list[tuple[str, int]]:
    """Write each uint8 C×H×W image, upscaled to size×size, as a PNG/JPEG file once; return (path, label) pairs.

    Files already written (same count, size and format, recorded in ``index.json``) are reused.
    Example: ``files = write_image_files(x_uint8, y, image_folder(size=112))``.
    """
    from PIL import Image
    from torchvision.transforms.v2 import functional as F

    if fmt not in ("png", "jpeg"):
        raise ValueError(f"unknown image format {fmt!r}; valid: png, jpeg")
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 N×C×H×W, got {images.dtype} {tuple(images.shape)}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    folder = Path(folder)
    index = folder / "index.json"
    wanted = {"count": len(images), "size": size, "fmt": fmt}
    if index.exists():
        meta = json.loads(index.read_text())
        if {k: meta.get(k) for k in wanted} == wanted and all((folder / p).exists() for p, _ in meta["files"][:1]):
            return [(str(folder / p), int(y)) for p, y in meta["files"]]
    folder.mkdir(parents=True, exist_ok=True)
    ext = "png" if fmt == "png" else "jpg"
    files = []
    for i, (img, y) in enumerate(zip(images, labels.tolist())):
        big = F.resize(img, [size, size], interpolation=F.InterpolationMode.BILINEAR, antialias=True)
        name = f"{i:05d}_{int(y)}.{ext}"
        tmp = folder / (name + ".tmp")
        pil = Image.fromarray(big.permute(1, 2, 0).squeeze(-1).numpy())
        pil.save(tmp, format="PNG" if fmt == "png" else "JPEG", **({} if fmt == "png" else {"quality": quality}))
        tmp.replace(folder / name)
        files.append((name, int(y)))
    index.write_text(json.dumps({**wanted, "files": files}))
    return [(str(folder / p), y) for p, y in files]


class PrecomputedEpochsDataset(Dataset):
    """K augmented copies of a dataset made in advance; epoch e reads copy e mod K (so only K views per image)."""

    def __init__(self, dataset: Dataset, copies: int, seed: int = 0):
        if copies < 1:
            raise ValueError(f"copies must be >= 1, got {copies}")
        torch.manual_seed(seed)
        views = [[dataset[i] for i in range(len(dataset))] for _ in range(copies)]
        self.x = torch.stack([torch.stack([v[0] for v in epoch]) for epoch in views])  # K×N×C×H×W
        self.y = torch.tensor([v[1] for v in views[0]], dtype=torch.long)
        self.copies, self.epoch = copies, 0

    def set_epoch(self, epoch: int) -> None:
        """Choose which pre-computed copy the next epoch reads (call it before iterating)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.x[self.epoch % self.copies, i], int(self.y[i])


class CrashingDataset(Dataset):
    """Wraps a dataset and fails at one index: ``hard=True`` kills the worker process (like a segfault or the
    OOM killer), ``hard=False`` raises a ValueError. For the "worker exited unexpectedly" lesson."""

    def __init__(self, dataset: Dataset, bad_index: int = 0, hard: bool = False):
        self.dataset, self.bad_index, self.hard = dataset, bad_index, hard

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        if i == self.bad_index:
            if self.hard and get_worker_info() is not None:
                os._exit(1)  # the process vanishes without a Python traceback, as after a segfault
            raise ValueError(f"corrupt sample at index {i} (simulated)")
        return self.dataset[i]


def seed_worker(worker_id: int) -> None:
    """worker_init_fn: seed Python's and NumPy's RNG from torch's per-worker seed (torch's is set already)."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def run_epoch(loader, step: Callable, *, max_batches: int | None = None) -> int:
    """Iterate the loader once (a fresh iterator, as each epoch does) and call step(x, y) per batch; return samples."""
    n = 0
    for b, (x, y) in enumerate(loader):
        if max_batches is not None and b >= max_batches:
            break
        step(x, y)
        n += len(y)
    return n


@dataclass
class WaitCompute:
    """Per-step seconds spent waiting for the next batch and computing on it, and the verdict."""

    wait: list[float] = field(default_factory=list)
    compute: list[float] = field(default_factory=list)

    @property
    def wait_fraction(self) -> float:
        """Share of the step time spent waiting for data (0–1)."""
        total = sum(self.wait) + sum(self.compute)
        return sum(self.wait) / total if total else float("nan")

    @property
    def verdict(self) -> str:
        """'input-bound' when more than half of each step waits for data, else 'compute-bound'."""
        return "input-bound" if self.wait_fraction > 0.5 else "compute-bound"

    def __str__(self) -> str:
        w, c = float(np.median(self.wait)), float(np.median(self.compute))
        return (f"{self.verdict}: per step, median wait {w * 1e3:.1f} ms for data vs {c * 1e3:.1f} ms computing "
                f"({self.wait_fraction:.0%} of the time waiting, {len(self.wait)} steps)")


def wait_vs_compute(loader, step: Callable, *, steps: int, skip: int = 1, device=None) -> WaitCompute:
    """Time each step's wait for ``next(batch)`` and its compute ``step(x, y)`` (device synchronised).

    The first ``skip`` steps (worker start-up, first-call costs) are run but not kept.
    """
    result, it = WaitCompute(), iter(loader)
    box = {}

    def fetch():
        box["batch"] = next(it)

    for i in range(steps + skip):
        try:
            w = time_first_call(fetch, device=device)
        except StopIteration:
            it = iter(loader)
            w = time_first_call(fetch, device=device)
        x, y = box["batch"]
        c = time_first_call(lambda x=x, y=y: step(x, y), device=device)
        if i >= skip:
            result.wait.append(w)
            result.compute.append(c)
    return result


def distinct_views(copies: int, epochs: int) -> float:
    """Fraction of an epochs-long run whose augmented views are new, when only ``copies`` were pre-computed."""
    if copies < 1 or epochs < 1:
        raise ValueError(f"copies and epochs must be >= 1, got {copies}, {epochs}")
    return min(copies, epochs) / epochs



def _cpu_seconds() -> tuple[float, dict[int, float], float]:
    """CPU seconds of this process, of each live child process (by pid), and of the children already reaped."""
    me = psutil.Process()
    own = sum(me.cpu_times()[:2])
    children = {}
    for child in me.children(recursive=True):
        try:
            children[child.pid] = sum(child.cpu_times()[:2])
        except psutil.Error:            # it exited between the listing and the reading
            pass
    reaped = os.times()
    return own, children, reaped.children_user + reaped.children_system


def cpu_and_wall_seconds(fn: Callable[[], object]) -> tuple[float, float]:
    """Run ``fn`` once; return the CPU seconds it took in this process and its children, and the wall seconds.

    A child (a DataLoader worker) started during the call counts whole; one that ends during it counts through
    the reaped children's time.
    """
    own0, kids0, reaped0 = _cpu_seconds()
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    own1, kids1, reaped1 = _cpu_seconds()
    cpu = (own1 - own0) + (reaped1 - reaped0)
    cpu += sum(t - kids0.get(pid, 0.0) for pid, t in kids1.items())
    cpu -= sum(t for pid, t in kids0.items() if pid not in kids1)   # their whole lifetime is in the reaped time
    return cpu, wall


def cores_busy(fn: Callable[[], object]) -> float:
    """Cores kept busy while ``fn`` ran: CPU seconds of this process and its children (DataLoader workers) per
    wall-clock second. Example: ``cores_busy(lambda: run_epoch(loader, step))`` → 1.8 (of 2 cores)."""
    cpu, wall = cpu_and_wall_seconds(fn)
    return cpu / wall if wall > 0 else float("nan")
