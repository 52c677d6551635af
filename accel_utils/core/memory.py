"""Peak memory of a call: the CUDA allocator's peak on GPUs, the peak bytes of live tensors elsewhere."""
from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode  # documented for __torch_dispatch__; no public alias

from .machine import get_device


def _tensors(tree):
    """Every tensor in nested tuples, lists and dicts (an op's arguments and results)."""
    if isinstance(tree, torch.Tensor):
        yield tree
    elif isinstance(tree, (tuple, list)):
        for item in tree:
            yield from _tensors(item)
    elif isinstance(tree, dict):
        for item in tree.values():
            yield from _tensors(item)


class LiveTensorBytes(TorchDispatchMode):
    """Counts the storages that operations create inside the context, while they live; keeps the peak.

    Tensors that existed before (inputs, weights) are not counted; an op's scratch space that never becomes a
    tensor (inside a fused kernel) is not seen. This is what the program holds, independent of how the C
    allocator (malloc) keeps or returns freed pages, which makes the process's resident size a poor measure.
    """

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self._known: dict[int, weakref.ref] = {}   # id(storage) -> weak reference, counted or pre-existing

    def _free(self, key: int, nbytes: int, _ref) -> None:
        self._known.pop(key, None)
        self.live -= nbytes

    def _storages(self, tree):
        for t in _tensors(tree):
            if not t.is_meta:
                yield t.untyped_storage()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        for st in self._storages((args, kwargs)):   # inputs: known, never counted as new
            self._known.setdefault(id(st), weakref.ref(st))
        out = func(*args, **(kwargs or {}))
        for st in self._storages(out):
            if id(st) in self._known and self._known[id(st)]() is st:
                continue
            nbytes, key = st.nbytes(), id(st)
            self._known[key] = weakref.ref(st, lambda ref, k=key, n=nbytes: self._free(k, n, ref))
            self.live += nbytes
            self.peak = max(self.peak, self.live)
        return out


def peak_memory(fn: Callable[[], object], *, device=None) -> int:
    """Peak bytes fn() adds: the allocator's peak on CUDA; elsewhere the peak bytes of tensors it holds at once."""
    if not callable(fn):
        raise TypeError(f"peak_memory() needs a callable, got {type(fn).__name__}")
    device = get_device() if device is None else torch.device(device)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - start)
    with LiveTensorBytes() as tracker:
        fn()
    return int(tracker.peak)
