"""How big a workload is: one rule from the run mode and the device class, so a lesson shows on any machine.

A workload sized for a 2-core CPU measures kernel launches and casts on a GPU, not arithmetic; one sized for a
big GPU takes hours on a CPU. Every notebook sizes its models, images and batches with ``by_workload``:

    mode \\ device     cpu      gpu (T4, Apple)   big-gpu (A100, H100, H200)
    smoke            tiny     tiny              tiny
    standard         cpu      gpu               big-gpu
    full             cpu      big-gpu           big-gpu

Counts of steps, epochs and rounds (how long to run, not how big) stay with ``by_mode``.
"""
from __future__ import annotations

from typing import TypeVar

from .config import get_mode
from .machine import device_class

T = TypeVar("T")
WORKLOADS = ("tiny", "cpu", "gpu", "big-gpu")
_RULE = {
    "smoke": {"cpu": "tiny", "gpu": "tiny", "big-gpu": "tiny"},
    "standard": {"cpu": "cpu", "gpu": "gpu", "big-gpu": "big-gpu"},
    "full": {"cpu": "cpu", "gpu": "big-gpu", "big-gpu": "big-gpu"},   # a CPU runs full mode longer, not bigger
}


def workload(device=None, *, mode: str | None = None) -> str:
    """The workload size for this mode on this device: tiny, cpu, gpu or big-gpu."""
    return _RULE[mode or get_mode()][device_class(device)]


def by_workload(*, tiny: T, cpu: T, gpu: T, big_gpu: T | None = None, device=None) -> T:
    """Pick a size by ``workload()``, e.g. ``BATCH = au.by_workload(tiny=8, cpu=32, gpu=128, big_gpu=256)``.

    ``big_gpu`` defaults to the ``gpu`` value.
    """
    return {"tiny": tiny, "cpu": cpu, "gpu": gpu, "big-gpu": gpu if big_gpu is None else big_gpu}[workload(device)]
