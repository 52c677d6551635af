"""torch.profiler's operator table, without the profiler library's own log lines on stderr.

Kineto, the library under torch.profiler, writes lines such as "USDT: … profiler_start" and, on a machine with a
CUDA build of PyTorch but no GPU, "ERROR: … gpuGetDeviceCount failed" to the process's stderr from C++; in a
notebook they land in the output. ``op_table`` captures stderr at the file-descriptor level while profiling and
passes on every line that is not one of those.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator

import torch
from torch.profiler import ProfilerActivity, profile

from .machine import synchronize

KINETO_NOISE = re.compile(r"^(USDT|STAGE):.*|^ERROR:.*gpuGetDeviceCount failed.*|^\s*$")


@contextlib.contextmanager
def native_stderr_filtered(noise: re.Pattern = KINETO_NOISE) -> Iterator[None]:
    """Capture what C/C++ code writes to stderr (fd 2) inside the block; re-emit the lines ``noise`` does not match."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines() if not noise.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def op_table(fn: Callable[[], object], *, calls: int = 3, row_limit: int = 12, device=None,
             sort_by: str | None = None) -> str:
    """The operator table of ``calls`` calls of ``fn`` (after one warm-up call): time and count per operator.

    Sorted by self time on the device that ran it (CUDA when ``device`` is a GPU, else the CPU).
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sort_by = sort_by or ("self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total")
    fn()
    synchronize(device)
    with native_stderr_filtered(), profile(activities=activities) as prof:
        for _ in range(calls):
            fn()
        synchronize(device)
    return prof.key_averages().table(sort_by=sort_by, row_limit=row_limit)
