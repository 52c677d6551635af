"""A realistic input pipeline for notebook 04: encoded image files, per-sample decode and augmentation, caches.

Everything a DataLoader worker must import lives here (not in a notebook cell), so ``num_workers > 0``
works under ``spawn`` (macOS, Windows) as well as ``fork`` (Linux).
"""
from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
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


def decode_file(path: str) -> torch.Tensor:
    """Read and decode one PNG/JPEG file into a uint8 1×H×W (grayscale) tensor, with Pillow as torchvision's
    ImageFolder does (torchvision.io's decoders are deprecated from torchvision 0.29 in favour of TorchCodec)."""
    from PIL import Image

    with Image.open(path) as img:
        arr = np.asarray(img.convert("L"))
    return torch.from_numpy(arr.copy()).unsqueeze(0)


def train_transform(crop: int = 96, mean: Sequence[float] = (0.1307,), std: Sequence[float] = (0.3081,),
                    to_float: bool = True):
    """Per-sample augmentation with torchvision.transforms.v2: a random resized crop, then (optionally) normalise.

    With ``to_float=False`` the output stays uint8 (4× fewer bytes to collate and copy; normalise later).
    """
    from torchvision.transforms import v2

    steps = [v2.RandomResizedCrop(crop, scale=(0.6, 1.0), ratio=(0.85, 1.15), antialias=True)]
    if to_float:
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    return v2.Compose(steps)


class EncodedImageDataset(Dataset):
    """Images as encoded files: every __getitem__ reads, decodes and augments one file (the realistic, naive way)."""

    def __init__(self, files: Sequence[tuple[str, int]], transform: Callable | None = None):
        self.files = list(files)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i):
        path, y = self.files[i]
        x = decode_file(path)
        if self.transform is not None:
            x = self.transform(x)
        return x, y


class CachedImageDataset(Dataset):
    """Decode every file once and keep the uint8 tensors in memory; augment per sample on each access."""

    def __init__(self, files: Sequence[tuple[str, int]], transform: Callable | None = None):
        self.images = torch.stack([decode_file(p) for p, _ in files])
        self.labels = torch.tensor([y for _, y in files], dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i]
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[i])

    @property
    def nbytes(self) -> int:
        """Memory the cached images take, in bytes."""
        return self.images.numel() * self.images.element_size()


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


def collate_uint8(batch):
    """Stack (uint8 image, label) samples into one uint8 batch and a label tensor: 4× fewer bytes than float32."""
    xs, ys = zip(*batch)
    return torch.stack(xs), torch.as_tensor(ys, dtype=torch.long)


def normalize_batch(x: torch.Tensor, mean: Sequence[float] = (0.1307,), std: Sequence[float] = (0.3081,)) -> torch.Tensor:
    """uint8 N×C×H×W → normalised float32 on the tensor's own device (do it after the copy to the GPU)."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return (x.float() / 255 - m) / s


def random_affine_batch(x: torch.Tensor, *, out_size: int, scale: tuple[float, float] = (0.6, 1.0),
                        max_degrees: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Batched augmentation with a different random crop-zoom (and rotation, if max_degrees) per sample, one grid_sample call.

    Runs wherever x lives (GPU-side augmentation on CUDA); x is float N×C×H×W, the result N×C×out×out.
    Note: a v2 transform applied to a whole batch tensor draws ONE set of parameters for all samples.
    """
    n = x.shape[0]
    dev = x.device

    def rand(*shape):
        return torch.rand(*shape, generator=generator, device=generator.device if generator else dev).to(dev)

    area = scale[0] + (scale[1] - scale[0]) * rand(n)
    side = area.sqrt()                       # crop side as a fraction of the image
    angle = (rand(n) * 2 - 1) * math.radians(max_degrees)
    tx = (1 - side) * (rand(n) * 2 - 1)      # crop centre, kept inside the image
    ty = (1 - side) * (rand(n) * 2 - 1)
    cos, sin = torch.cos(angle) * side, torch.sin(angle) * side
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, [n, x.shape[1], out_size, out_size], align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


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
        c = time_first_call(lambda: step(x, y), device=device)
        if i >= skip:
            result.wait.append(w)
            result.compute.append(c)
    return result


def distinct_views(copies: int, epochs: int) -> float:
    """Fraction of an epochs-long run whose augmented views are new, when only ``copies`` were pre-computed."""
    if copies < 1 or epochs < 1:
        raise ValueError(f"copies and epochs must be >= 1, got {copies}, {epochs}")
    return min(copies, epochs) / epochs

