"""Real data offline (the MNIST 5k subset), torchvision datasets when online, synthetic tensors for speed.

Dataset classes live here (not in notebook cells) so DataLoader workers can import them under spawn.
"""
from __future__ import annotations

import gzip
import socket
import sys
import urllib.error
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .core.config import data_dir

KNOWN_DATASETS = ("mnist5k", "mnist", "fashion_mnist", "cifar10", "synthetic")
MNIST5K_FILE = "mnist_5k.csv.gz"
SPLIT_SEED = 20240229  # fixed: the train/val/test split never depends on a notebook's training seed
_STATS = {  # per-channel mean and std of the training images, for normalisation
    "mnist5k": ((0.1307,), (0.3081,)),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


class ImageTensorDataset(Dataset):
    """Images kept as uint8 N×C×H×W in memory, normalised to float per item."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean=(0.0,), std=(1.0,)):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 N×C×H×W, got {images.dtype} {tuple(images.shape)}")
        self.images, self.labels = images, labels.long()
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return (self.images[i].float() / 255 - self.mean) / self.std, self.labels[i]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every image normalised at once, and the labels: for compute-only loops."""
        return (self.images.float() / 255 - self.mean) / self.std, self.labels


class SyntheticDataset(Dataset):
    """Random normal inputs with random labels: for speed measurements only, never for accuracy."""

    def __init__(self, n: int, shape: tuple[int, ...], num_classes: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn((n, *shape), generator=g)
        self.y = torch.randint(0, num_classes, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All inputs and labels."""
        return self.x, self.y


@dataclass
class DatasetSplits:
    """Train / (val) / test datasets with what a model needs to know about them."""

    name: str
    train: Dataset
    test: Dataset
    val: Dataset | None
    num_classes: int
    input_shape: tuple[int, ...]
    source: str

    def __str__(self) -> str:
        sizes = f"train {len(self.train)}" + (f", val {len(self.val)}" if self.val is not None else "") + f", test {len(self.test)}"
        return f"{self.name}: {sizes}; input {self.input_shape}, {self.num_classes} classes — {self.source}"


def _find_mnist5k(root: Path) -> Path:
    """The MNIST 5k file in root, or in the repository's data/ as a fallback."""
    candidates = [root / MNIST5K_FILE, Path(__file__).resolve().parent.parent / "data" / MNIST5K_FILE]
    for path in candidates:
        if path.exists():
            return path
    raise FileNotFoundError(f"{MNIST5K_FILE} not found in {', '.join(str(c.parent) for c in candidates)}; "
                            "set ACCEL_DATA_DIR to the course's data/ folder")


def _load_cache(cache: Path, source: Path) -> np.ndarray | None:
    """The cached array if the cache is newer than its source and readable; a corrupt cache is named and dropped."""
    if not cache.exists() or cache.stat().st_mtime < source.stat().st_mtime:
        return None
    try:
        with np.load(cache) as f:
            arr = f["data"]
        if arr.ndim != 2 or arr.shape[1] != 785:
            raise ValueError(f"shape {arr.shape}, expected (N, 785)")
        return arr
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        warnings.warn(f"the cache {cache} is corrupt ({e}); rebuilding it from {source.name}", stacklevel=3)
        return None


def _read_mnist5k(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (5000×1×28×28 uint8) and labels from the CSV, cached as .npz beside it (rebuilt if corrupt)."""
    path = _find_mnist5k(root)
    cache = path.with_suffix("").with_suffix(".npz")
    arr = _load_cache(cache, path)
    if arr is None:
        try:
            with gzip.open(path, "rt") as f:
                arr = np.loadtxt(f, delimiter=",", dtype=np.uint8)
        except (OSError, ValueError) as e:
            raise RuntimeError(f"could not read {path}: {e}") from e
        try:
            tmp = cache.with_suffix(".tmp.npz")
            np.savez(tmp, data=arr)
            tmp.replace(cache)
        except OSError:
            pass  # a read-only data folder: parse every time
    images = torch.from_numpy(arr[:, :784].reshape(-1, 1, 28, 28).copy())
    labels = torch.from_numpy(arr[:, 784].astype(np.int64))
    return images, labels


def _stratified_split(labels: torch.Tensor, n_test_per_class: int, val_fraction: float):
    """Fixed per-class split into train, val and test indices."""
    rng = np.random.default_rng(SPLIT_SEED)
    train, val, test = [], [], []
    for c in np.unique(labels.numpy()):
        idx = rng.permutation(np.flatnonzero(labels.numpy() == c))
        test += idx[:n_test_per_class].tolist()
        rest = idx[n_test_per_class:]
        n_val = int(round(len(rest) * val_fraction))
        val += rest[:n_val].tolist()
        train += rest[n_val:].tolist()
    return [torch.tensor(sorted(s), dtype=torch.long) for s in (train, val, test)]


def _torchvision_arrays(name: str, root: Path, train: bool, download: bool, timeout: float):
    """uint8 images N×C×H×W and labels of a torchvision dataset, downloaded with a timeout."""
    import torchvision

    cls = {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST,
           "cifar10": torchvision.datasets.CIFAR10}[name]
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        ds = cls(str(root), train=train, download=download)
    finally:
        socket.setdefaulttimeout(old)
    data = torch.as_tensor(np.asarray(ds.data))
    data = data.permute(0, 3, 1, 2) if data.ndim == 4 else data.unsqueeze(1)
    return data.contiguous(), torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)


class DatasetUnavailable(RuntimeError):
    """A dataset that was asked for and cannot be had here; the message names it and says why."""


def load_dataset(name: str = "mnist5k", *, val_fraction: float = 0.0, root: str | Path | None = None,
                 download: bool = True, timeout: float = 30.0, n: int = 1024,
                 shape: tuple[int, ...] = (1, 28, 28), num_classes: int = 10, seed: int = 0,
                 offline_fallback: str | None = None) -> DatasetSplits:
    """Load a dataset by name: mnist5k (offline, real), mnist, fashion_mnist, cifar10 (torchvision), synthetic.

    Online datasets are downloaded into ``ACCEL_DATA_DIR`` (default ``data/``) with a timeout. When the
    download fails for lack of a network, ``DatasetUnavailable`` names the dataset and the reason; only with
    ``offline_fallback="mnist5k"`` (a notebook whose default needs a download) does it print a notice and use
    that instead. Any other failure (a bug, a corrupt file) is raised as it is.
    Example: ``splits = au.load_dataset("mnist5k", val_fraction=0.1)``.
    """
    key = name.lower().replace("-", "_")
    if key not in KNOWN_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(KNOWN_DATASETS)}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    root = Path(root) if root is not None else data_dir()

    if key == "synthetic":
        train = SyntheticDataset(n, tuple(shape), num_classes, seed)
        test = SyntheticDataset(max(n // 4, 1), tuple(shape), num_classes, seed + 1)
        return DatasetSplits("synthetic", train, test, None, num_classes, tuple(shape),
                             "random tensors — for speed only, never for accuracy")

    if key == "mnist5k":
        images, labels = _read_mnist5k(root)
        tr, va, te = _stratified_split(labels, n_test_per_class=100, val_fraction=val_fraction)
        mean, std = _STATS[key]
        make = lambda idx: ImageTensorDataset(images[idx], labels[idx], mean, std)  # noqa: E731
        return DatasetSplits("mnist5k", make(tr), make(te), make(va) if len(va) else None, 10, (1, 28, 28),
                             "MNIST, 5,000-digit subset shipped with the course (500 per class)")

    try:
        root.mkdir(parents=True, exist_ok=True)
        x_tr, y_tr = _torchvision_arrays(key, root, True, download, timeout)
        x_te, y_te = _torchvision_arrays(key, root, False, download, timeout)
    except (TimeoutError, urllib.error.URLError, ConnectionError, RuntimeError) as e:
        # torchvision raises URLError/timeouts offline, RuntimeError("Dataset not found") without download
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        if offline_fallback is None:
            raise DatasetUnavailable(f"could not load {key!r} into {root}: {type(e).__name__}: {reason}. "
                                     "It needs a download (or its files in that folder); the offline "
                                     "dataset is 'mnist5k'.") from e
        print(f"[accel_utils] could not load {key} ({type(e).__name__}: {reason}); "
              f"using the offline {offline_fallback} instead.", file=sys.stderr)
        return load_dataset(offline_fallback, val_fraction=val_fraction, root=root)
    mean, std = _STATS[key]
    val = None
    if val_fraction:
        perm = torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(SPLIT_SEED))
        n_val = int(len(y_tr) * val_fraction)
        val = ImageTensorDataset(x_tr[perm[:n_val]], y_tr[perm[:n_val]], mean, std)
        x_tr, y_tr = x_tr[perm[n_val:]], y_tr[perm[n_val:]]
    return DatasetSplits(key, ImageTensorDataset(x_tr, y_tr, mean, std), ImageTensorDataset(x_te, y_te, mean, std),
                         val, 10, tuple(x_tr.shape[1:]), f"torchvision {key} (cached in {root})")


def make_loaders(splits: DatasetSplits, *, batch_size: int = 128, num_workers: int = 0, pin_memory: bool = False,
                 seed: int = 0, eval_batch_size: int | None = None):
    """(train_loader, test_loader): shuffled, seeded training batches; test batches in order."""
    g = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(splits.train, batch_size=batch_size, shuffle=True, generator=g,
                              num_workers=num_workers, pin_memory=pin_memory, persistent_workers=num_workers > 0)
    test_loader = DataLoader(splits.test, batch_size=eval_batch_size or max(batch_size, 256), shuffle=False,
                             num_workers=num_workers, pin_memory=pin_memory, persistent_workers=num_workers > 0)
    return train_loader, test_loader
