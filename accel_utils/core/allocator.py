"""The C memory allocator under PyTorch's CPU tensors: keep freed memory for reuse, as jemalloc and tcmalloc do.

glibc's malloc gives large blocks back to the operating system when they are freed (and hands out blocks above a
moving threshold with a fresh mmap). A model whose activations are megabytes then pays page faults for new
memory at every call, and how many depends on what the process did before: the same inference measured before
and after a training run can differ by half. PyTorch's CPU performance guide recommends a caching allocator for
this reason; ``keep_freed_memory()`` gets the same behaviour from glibc itself.

Notebook 00 measures the difference with ``python -m accel_utils.allocator_demo [--keep]``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # mallopt parameters from glibc's <malloc.h>
_LIMIT = 1 << 30                                # keep up to 1 GiB of freed memory; no mmap below that size
_state = "default"


def allocator_state() -> str:
    """A short description of the allocator this process uses, for printing beside results."""
    return _state


def keep_freed_memory() -> str:
    """Make glibc's malloc keep freed memory for reuse (no trimming, no mmap per large block); say what was done.

    A no-op where the allocator is not glibc's (macOS, Windows, musl) or a caching one is preloaded
    (jemalloc/tcmalloc through LD_PRELOAD, as on Colab): those already keep freed memory.
    """
    global _state
    preload = os.environ.get("LD_PRELOAD", "")
    for name in ("tcmalloc", "jemalloc", "mimalloc"):
        if name in preload:
            _state = f"{name} (LD_PRELOAD): keeps freed memory"
            return _state
    if not sys.platform.startswith("linux"):
        _state = f"the system allocator of {sys.platform}"
        return _state
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, _LIMIT) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _LIMIT) == 1
    except (OSError, AttributeError):  # not glibc
        ok = False
    _state = "glibc malloc, freed memory kept for reuse" if ok else "the C library's malloc, untuned (no mallopt)"
    return _state
