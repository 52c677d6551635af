"""Timing with one policy: warm-up, a fixed thread count, blocks of calls bracketed by device syncs, rounds in turn.

``benchmark({"a": fa, "b": fb})`` is the one way to compare speeds: the callables run in alternating rounds,
so a shared machine's drift between minutes falls on all alike, and ``compare`` pairs their times round by
round. The order changes every round so that each callable follows every other one equally often (a balanced
Latin square): what one callable leaves behind (a runtime's spinning threads, a cold cache) is not charged to
the same neighbour every round. Every block of calls, for every callable, is timed the same way:

    synchronize(device); t0 = perf_counter(); fn() × number; synchronize(device); (perf_counter() - t0) / number

On a GPU the syncs make the clock see the queued kernels finish; a block of several calls lets the CPU queue
the next launch while the GPU runs the current one, as it does in a real loop. ``time_calls`` uses blocks of
one call (a latency per call, for percentiles). ``torch.utils.benchmark.Timer`` does the same per block but
runs extra calls before each one, which a round-robin of slow calls cannot afford.
"""
from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import contextmanager

import torch

from .config import by_mode
from .fmt import format_time
from .machine import get_device, synchronize
from .stats import Measurement, Speedup, compare


@contextmanager
def intra_op_threads(threads: int | None):
    """Run the block with ``threads`` intra-op threads (None: as is), restoring the count after."""
    old = torch.get_num_threads()
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be a positive count, got {threads}")
    torch.set_num_threads(threads or old)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(old)


def seconds_per_call(fn: Callable[[], object], device: torch.device, number: int = 1) -> float:
    """Wall-clock seconds per call over ``number`` calls of ``fn``, the device synchronized before and after."""
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    synchronize(device)
    return (time.perf_counter() - t0) / number


def _resolve_device(device) -> torch.device:
    """A torch.device from a string/device/None (None = get_device())."""
    return get_device() if device is None else torch.device(device)


def _check_callable(fn, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"{what} needs a callable, got {type(fn).__name__}; "
                        "wrap the code to time in a function, e.g. lambda: model(x)")


class Measurements(dict):
    """Measurements of one ``benchmark`` session by label, timed in the same rounds: compare them pairwise."""

    @classmethod
    def from_rounds(cls, times: Mapping[str, list[float]], *, number_per_run: int = 1, threads: int | None = None,
                    device: str = "cpu") -> Measurements:
        """One session from seconds per call timed round by round elsewhere (in subprocesses, in torchrun workers).

        Round i of every label must have been timed in the same round, in turns, as ``benchmark`` does.
        """
        lengths = {len(t) for t in times.values()}
        if not times or len(lengths) != 1 or 0 in lengths:
            raise ValueError(f"from_rounds() needs one time per round for every label, got {lengths or 'nothing'}")
        session = uuid.uuid4().hex[:12]
        return cls({label: Measurement(label=label, times=list(t), number_per_run=number_per_run,
                                       threads=threads or torch.get_num_threads(), device=device, session=session)
                    for label, t in times.items()})

    @property
    def session(self) -> str:
        """The id shared by every Measurement of this session."""
        return next(iter(self.values())).session

    def speedups(self, baseline: str | None = None) -> dict[str, Speedup]:
        """Paired speedup of every other label over ``baseline`` (default: the first label)."""
        baseline = baseline or next(iter(self))
        if baseline not in self:
            raise KeyError(f"no measurement {baseline!r}; labels: {', '.join(self)}")
        return {label: compare(self[baseline], m) for label, m in self.items() if label != baseline}

    def table(self, baseline: str | None = None, *, items_per_call: int | None = None) -> str:
        """The text table of ``au.table`` for this session."""
        labels = list(self)
        return table(list(self.values()), baseline=labels.index(baseline) if baseline else 0,
                     items_per_call=items_per_call)


def balanced_orders(n: int) -> list[list[int]]:
    """Orders of n callables in which each follows every other equally often (Williams' balanced Latin square)."""
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    orders = [[(i + shift) % n for i in first] for shift in range(n)]
    return orders + [order[::-1] for order in orders] if n % 2 else orders


def benchmark(fns: Callable[[], object] | Mapping[str, Callable[[], object]], *, label: str = "", device=None,
              rounds: int | None = None, block_time: float | None = None, warmup: int = 3,
              threads: int | Mapping[str, int] | None = None) -> Measurement | Measurements:
    """Time callables in alternating rounds and return their Measurements (one time per round each).

    ``au.benchmark({"fp32": f, "bf16": g})`` → Measurements; ``au.compare(ms["fp32"], ms["bf16"])`` is then
    the median of the per-round ratios with a bootstrap 95% CI. ``au.benchmark(f, label="fp32")`` times one
    callable the same way (an absolute time; never the baseline of a comparison timed later).
    Each callable is called ``warmup`` times first; a block then holds enough calls to last ``block_time``.
    ``threads`` is one intra-op thread count for all or one per label (default: the current count).
    """
    single = callable(fns)
    if not single and not isinstance(fns, Mapping):
        raise TypeError(f"benchmark() needs a callable or a dict of callables, got {type(fns).__name__}; "
                        "wrap the code to time in a function, e.g. lambda: model(x)")
    named = {label: fns} if single else dict(fns)
    if not named:
        raise ValueError("benchmark() needs at least one callable to time, got an empty dict")
    for name, fn in named.items():
        _check_callable(fn, f"benchmark() entry {name!r}")
    if isinstance(threads, Mapping):
        unknown = set(threads) - set(named)
        if unknown:
            raise KeyError(f"threads given for unknown label(s) {sorted(unknown)}; labels: {', '.join(named)}")
        per_label = {name: threads.get(name) for name in named}
    else:
        per_label = {name: threads for name in named}
    device = _resolve_device(device)
    rounds = by_mode(8, 12, 20) if rounds is None else rounds
    block_time = by_mode(0.002, 0.05, 0.1) if block_time is None else block_time
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")

    numbers = {}
    for name, fn in named.items():
        with intra_op_threads(per_label[name]):
            for _ in range(warmup):
                fn()
            first = seconds_per_call(fn, device)                  # after warm-up: sizes the block
        numbers[name] = max(1, math.ceil(block_time / max(first, 1e-9)))
    labels, times = list(named), {name: [] for name in named}
    orders = balanced_orders(len(labels))
    for r in range(rounds):
        for name in (labels[i] for i in orders[r % len(orders)]):
            with intra_op_threads(per_label[name]):
                times[name].append(seconds_per_call(named[name], device, numbers[name]))
    session = uuid.uuid4().hex[:12]
    result = Measurements({name: Measurement(label=name, times=times[name], number_per_run=numbers[name],
                                             threads=per_label[name] or torch.get_num_threads(),
                                             device=str(device), session=session)
                           for name in labels})
    return result[labels[0]] if single else result


def time_calls(fn: Callable[[], object], *, n: int, label: str = "", device=None, warmup: int = 3,
               threads: int | None = None) -> Measurement:
    """Time ``n`` single calls one by one (each synchronized), for latency percentiles such as p95."""
    _check_callable(fn, "time_calls()")
    if n < 1:
        raise ValueError(f"time_calls() needs n ≥ 1, got {n}")
    device = _resolve_device(device)
    with intra_op_threads(threads) as used:
        for _ in range(warmup):
            fn()
        times = [seconds_per_call(fn, device) for _ in range(n)]
    return Measurement(label=label, times=times, number_per_run=1, threads=used, device=str(device))


def time_first_call(fn: Callable[[], object], *, device=None, threads: int | None = None) -> float:
    """Seconds taken by one synchronized call: for first calls (compile, calibration, autotune, engine builds)."""
    _check_callable(fn, "time_first_call()")
    device = _resolve_device(device)
    with intra_op_threads(threads):
        return seconds_per_call(fn, device)


def table(measurements: list[Measurement] | Measurements, *, baseline: int = 0,
          items_per_call: int | None = None) -> str:
    """A plain-text table: median, IQR, rounds, (throughput) and paired speedup with CI against one baseline."""
    measurements = list(measurements.values()) if isinstance(measurements, Mapping) else list(measurements)
    if not measurements:
        raise ValueError("table() needs at least one Measurement")
    base = measurements[baseline]
    width = max(len(m.label) for m in measurements)
    head = f"{'':{width}}  {'median':>10}  {'IQR':>9}  {'rounds':>6}"
    head += f"  {'items/s':>10}" if items_per_call else ""
    head += f"  speedup vs {base.label} (95% CI)"
    rows = [head]
    for m in measurements:
        row = f"{m.label:{width}}  {format_time(m.median):>10}  {format_time(m.iqr):>9}  {len(m.times):>6}"
        if items_per_call:
            row += f"  {m.throughput(items_per_call):>10.1f}"
        if m is base:
            row += "  1.00× (baseline)"
        else:
            s = compare(base, m)
            row += f"  {s.value:.2f}× ({s.interval().removeprefix('95% CI ')})"
        rows.append(row)
    return "\n".join(rows)

