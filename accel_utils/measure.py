"""Honest timing: torch.utils.benchmark with warm-up, device sync and a fixed thread count; speedups with CIs."""
from __future__ import annotations

import logging
import math
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .config import by_mode
from .hardware import get_device


def _sync(device: torch.device) -> None:
    """Wait for queued work on the device so a timer sees it finish."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _seconds_per_call(fn: Callable[[], object], device: torch.device, number: int = 1) -> float:
    """Wall-clock seconds per call of ``number`` calls of ``fn``, the device synchronized before and after."""
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / number


def _fmt_time(seconds: float) -> str:
    """1.23 ms, 45.6 µs, 2.31 s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


@dataclass
class Measurement:
    """Timings of one callable: seconds per call, one value per measured block."""

    label: str
    times: list[float]
    number_per_run: int = 1
    threads: int = 1
    device: str = "cpu"
    meta: dict = field(default_factory=dict)

    @property
    def median(self) -> float:
        """Median seconds per call."""
        return float(statistics.median(self.times))

    @property
    def mean(self) -> float:
        """Mean seconds per call."""
        return float(statistics.fmean(self.times))

    @property
    def iqr(self) -> float:
        """Interquartile range of seconds per call (the spread)."""
        q1, q3 = np.percentile(self.times, [25, 75])
        return float(q3 - q1)

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of seconds per call."""
        return float(np.percentile(self.times, q))

    def throughput(self, items_per_call: int) -> float:
        """Items per second at the median time, e.g. samples/s for a batch of items_per_call."""
        return items_per_call / self.median

    def __str__(self) -> str:
        return (f"{self.label}: median {_fmt_time(self.median)} (IQR {_fmt_time(self.iqr)}, "
                f"{len(self.times)} runs × {self.number_per_run} calls, {self.threads} threads, {self.device})")


@dataclass(frozen=True)
class Speedup:
    """Ratio of medians baseline/candidate with a bootstrap 95% confidence interval."""

    value: float
    ci_low: float
    ci_high: float
    baseline: str
    candidate: str

    def __str__(self) -> str:
        return (f"{self.candidate} vs {self.baseline}: {self.value:.2f}× "
                f"(95% CI {self.ci_low:.2f}–{self.ci_high:.2f})")

    @property
    def significant(self) -> bool:
        """True when the CI excludes 1.0 (a real change, faster or slower)."""
        return self.ci_low > 1.0 or self.ci_high < 1.0


def _benchmark_module():
    """torch.utils.benchmark, imported without the CUDA_HOME warning a CUDA build prints on CPU-only machines."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils import benchmark as tbench
    finally:
        logger.setLevel(old)
    return tbench


def _resolve_device(device) -> torch.device:
    """A torch.device from a string/device/None (None = au.get_device())."""
    return get_device() if device is None else torch.device(device)


def benchmark(fn: Callable[[], object], *, label: str = "", device=None, warmup: int = 3,
              min_run_time: float | None = None, max_run_time: float | None = None,
              threshold: float = 0.05, min_runs: int | None = None, threads: int | None = None) -> Measurement:
    """Time ``fn()`` with torch.utils.benchmark: warm-up, device sync, adaptive number of runs.

    Example: ``m = au.benchmark(lambda: model(x), label="fp32")``; ``m.median`` is seconds per call.
    """
    if not callable(fn):
        raise TypeError(f"benchmark() needs a callable, got {type(fn).__name__}; "
                        "wrap the code to time in a function, e.g. lambda: model(x)")
    device = _resolve_device(device)
    threads = threads or torch.get_num_threads()
    min_run_time = by_mode(0.01, 0.2, 0.5) if min_run_time is None else min_run_time
    max_run_time = by_mode(0.3, 4.0, 10.0) if max_run_time is None else max_run_time

    def call():
        fn()
        _sync(device)

    for _ in range(warmup):
        call()
    timer = _benchmark_module().Timer(stmt="call()", globals={"call": call}, num_threads=threads, label=label)
    m = timer.adaptive_autorange(threshold=threshold, min_run_time=min_run_time, max_run_time=max_run_time)
    times, min_runs = list(m.times), by_mode(4, 10, 10) if min_runs is None else min_runs
    while len(times) < min_runs and sum(times) * m.number_per_run < max_run_time:  # enough blocks for a CI
        times += timer.timeit(m.number_per_run).times
    return Measurement(label=label, times=times, number_per_run=m.number_per_run,
                       threads=threads, device=str(device))


def benchmark_interleaved(fns: dict[str, Callable[[], object]], *, rounds: int | None = None, device=None,
                          warmup: int = 3, block_time: float | None = None,
                          threads: int | dict[str, int] | None = None) -> dict[str, Measurement]:
    """Time several callables in alternating blocks, rotating their order each round, so drift hits all alike.

    Returns one Measurement per label, each holding one time per round: ``compare(a, b, paired=True)`` then
    takes the ratio within each round. ``threads`` is one intra-op count for all, or one per label.
    Example: ``m = au.benchmark_interleaved({"eager": f, "fused": g})``, then
    ``au.compare(m["eager"], m["fused"], paired=True)``.
    """
    for label, fn in fns.items():
        if not callable(fn):
            raise TypeError(f"benchmark_interleaved() needs callables, got {type(fn).__name__} for {label!r}")
    device = _resolve_device(device)
    rounds = by_mode(4, 10, 15) if rounds is None else rounds
    block_time = by_mode(0.005, 0.05, 0.1) if block_time is None else block_time
    per_label = threads if isinstance(threads, dict) else {label: threads for label in fns}

    def block(label, number):  # a stopwatch, not Timer.timeit: that runs two extra calls before every block
        with _intra_op_threads(per_label.get(label)):
            return _seconds_per_call(fns[label], device, number)

    labels, times, numbers = list(fns), {label: [] for label in fns}, {}
    for label, fn in fns.items():
        with _intra_op_threads(per_label.get(label)):
            for _ in range(warmup):
                fn()
        numbers[label] = max(1, math.ceil(block_time / max(block(label, 1), 1e-9)))  # calls per block
    for r in range(rounds):
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            times[label].append(block(label, numbers[label]))
    return {label: Measurement(label=label, times=times[label], number_per_run=numbers[label],
                               threads=per_label.get(label) or torch.get_num_threads(), device=str(device))
            for label in labels}


@contextmanager
def _intra_op_threads(threads: int | None):
    """Run the block with ``threads`` intra-op threads (None: as is), restoring the count after."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads or old)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(old)


def time_calls(fn: Callable[[], object], *, n: int, label: str = "", device=None, warmup: int = 3,
               threads: int | None = None) -> Measurement:
    """Time ``n`` single calls one by one (synchronized), for latency percentiles such as p95.

    ``threads`` (intra-op) applies while timing and is restored after, as in ``benchmark``.
    """
    if not callable(fn):
        raise TypeError(f"time_calls() needs a callable, got {type(fn).__name__}")
    device = _resolve_device(device)
    with _intra_op_threads(threads) as threads:
        for _ in range(warmup):
            fn()
        times = [_seconds_per_call(fn, device) for _ in range(n)]
    return Measurement(label=label, times=times, number_per_run=1, threads=threads, device=str(device))


def time_first_call(fn: Callable[[], object], *, device=None, threads: int | None = None) -> float:
    """Seconds taken by one synchronized call: for first calls (compile, calibration, autotune).

    ``threads`` (intra-op) applies during the call, as in ``time_calls``.
    """
    if not callable(fn):
        raise TypeError(f"time_first_call() needs a callable, got {type(fn).__name__}")
    device = _resolve_device(device)
    with _intra_op_threads(threads):
        return _seconds_per_call(fn, device)


def compare(baseline: Measurement, candidate: Measurement, *, paired: bool = False, n_boot: int = 2000,
            seed: int = 0) -> Speedup:
    """Speedup of candidate over baseline with a bootstrap 95% confidence interval.

    Unpaired: the ratio of medians. ``paired=True`` (times taken round by round, as ``benchmark_interleaved``
    gives them): the median of the per-round ratios, so drift between rounds cancels.
    """
    b, c = np.asarray(baseline.times, dtype=float), np.asarray(candidate.times, dtype=float)
    if b.size == 0 or c.size == 0:
        raise ValueError("compare() needs measurements with at least one time each")
    rng = np.random.default_rng(seed)
    if paired:
        if b.size != c.size:
            raise ValueError(f"compare(paired=True) needs one time per round in each; got {b.size} and {c.size}")
        ratios = b / c
        value = float(np.median(ratios))
        boot = np.median(rng.choice(ratios, size=(n_boot, ratios.size), replace=True), axis=1)
    else:
        value = float(np.median(b) / np.median(c))
        boot = (np.median(rng.choice(b, size=(n_boot, b.size), replace=True), axis=1)
                / np.median(rng.choice(c, size=(n_boot, c.size), replace=True), axis=1))
    low, high = np.percentile(boot, [2.5, 97.5])
    return Speedup(value, float(low), float(high), baseline.label, candidate.label)


def table(measurements: list[Measurement], *, baseline: int = 0, items_per_call: int | None = None,
          paired: bool = False) -> str:
    """A plain-text table: median, IQR, runs, (throughput) and speedup with CI against one baseline."""
    base = measurements[baseline]
    width = max(len(m.label) for m in measurements)
    head = f"{'':{width}}  {'median':>10}  {'IQR':>9}  {'runs':>5}"
    head += f"  {'items/s':>10}" if items_per_call else ""
    head += f"  speedup vs {base.label} (95% CI)"
    rows = [head]
    for m in measurements:
        row = f"{m.label:{width}}  {_fmt_time(m.median):>10}  {_fmt_time(m.iqr):>9}  {len(m.times):>5}"
        if items_per_call:
            row += f"  {m.throughput(items_per_call):>10.1f}"
        if m is base:
            row += "  1.00× (baseline)"
        else:
            s = compare(base, m, paired=paired)
            row += f"  {s.value:.2f}× ({s.ci_low:.2f}–{s.ci_high:.2f})"
        rows.append(row)
    return "\n".join(rows)
