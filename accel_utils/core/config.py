"""Run mode and paths read from the environment (ACCEL_MODE, ACCEL_RESULTS_DIR, ACCEL_DATA_DIR)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

MODES = ("smoke", "standard", "full")
T = TypeVar("T")


def get_mode() -> str:
    """The run mode from ACCEL_MODE: smoke (CI), standard (default) or full (GPU-sized)."""
    mode = os.environ.get("ACCEL_MODE", "standard").strip().lower() or "standard"
    if mode not in MODES:
        raise ValueError(f"unknown ACCEL_MODE {mode!r}; valid: {', '.join(MODES)}")
    return mode


def by_mode(smoke: T, standard: T, full: T) -> T:
    """Pick the value for the current mode, e.g. ``STEPS = by_mode(2, 200, 2000)``."""
    return {"smoke": smoke, "standard": standard, "full": full}[get_mode()]


def project_root() -> Path | None:
    """The course repository's root if this package sits inside a checkout, else None."""
    here = Path(__file__).resolve().parents[2]   # accel_utils/core/config.py -> the checkout
    return here if (here / "pyproject.toml").exists() and (here / "notebooks").is_dir() else None


def results_dir() -> Path:
    """Where results files go: ACCEL_RESULTS_DIR, else <repo>/results, else ./results."""
    env = os.environ.get("ACCEL_RESULTS_DIR")
    if env:
        return Path(env)
    root = project_root()
    return (root / "results") if root else Path.cwd() / "results"


def data_dir() -> Path:
    """Where datasets live and downloads are cached: ACCEL_DATA_DIR, else <repo>/data, else ~/.cache."""
    env = os.environ.get("ACCEL_DATA_DIR")
    if env:
        return Path(env)
    root = project_root()
    return (root / "data") if root else Path.home() / ".cache" / "accel-course" / "data"
