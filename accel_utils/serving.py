"""Serving with dynamic batching, simulated from measured service times: latency p50/p95 at an arrival rate."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


def poisson_arrivals(rate: float, n: int, *, seed: int = 0) -> np.ndarray:
    """Arrival times (s, sorted) of n requests arriving at random at ``rate`` requests per second."""
    if rate <= 0 or n <= 0:
        raise ValueError(f"rate and n must be positive, got rate={rate}, n={n}")
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, size=n)
    return np.cumsum(gaps)


def service_time_from_table(times: Mapping[int, float]) -> Callable[[int], float]:
    """A service-time function from measured {batch size: seconds per batch}, interpolated between sizes.

    Example: ``service = service_time_from_table({1: 0.002, 8: 0.006, 32: 0.02})``; ``service(4)``.
    """
    if not times:
        raise ValueError("service_time_from_table() needs at least one measured batch size")
    sizes = np.array(sorted(times), dtype=float)
    secs = np.array([times[int(b)] for b in sizes], dtype=float)

    def service(batch: int) -> float:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        if batch > sizes[-1]:  # beyond the largest measured batch: scale the per-item time linearly
            return float(secs[-1] * batch / sizes[-1])
        return float(np.interp(batch, sizes, secs))

    return service


@dataclass
class ServingResult:
    """Per-request latencies (s, arrival to answer) and the batch sizes the server ran."""

    latencies: np.ndarray
    batch_sizes: np.ndarray
    busy_seconds: float
    span_seconds: float

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of request latency in seconds."""
        return float(np.percentile(self.latencies, q))

    @property
    def p50(self) -> float:
        """Median request latency in seconds."""
        return self.percentile(50)

    @property
    def p95(self) -> float:
        """95th-percentile request latency in seconds."""
        return self.percentile(95)

    @property
    def mean_batch(self) -> float:
        """Mean number of requests per batch the server ran."""
        return float(np.mean(self.batch_sizes))

    @property
    def utilization(self) -> float:
        """Fraction of the time the server was computing (near 1: saturated, queues grow)."""
        return self.busy_seconds / self.span_seconds if self.span_seconds > 0 else 0.0


def simulate_serving(arrivals: np.ndarray, service: Callable[[int], float], *, max_batch: int = 1,
                     max_wait: float = 0.0) -> ServingResult:
    """One server, requests in arrival order; it runs a batch when max_batch are waiting or the oldest has waited max_wait.

    ``max_batch=1`` is plain one-at-a-time serving. A request's latency includes its wait in the queue,
    the wait for its batch to fill, and the batch's service time ``service(batch_size)``.
    """
    arrivals = np.asarray(arrivals, dtype=float)
    if max_batch < 1 or max_wait < 0:
        raise ValueError(f"max_batch must be >= 1 and max_wait >= 0, got {max_batch}, {max_wait}")
    n = len(arrivals)
    done = np.empty(n)
    batches, busy, free_at, i = [], 0.0, 0.0, 0
    while i < n:
        first = arrivals[i]
        # the batch closes when it is full or the oldest request has waited max_wait, but never before the server is free
        full_at = arrivals[i + max_batch - 1] if i + max_batch - 1 < n else np.inf
        start = max(free_at, min(first + max_wait, full_at))
        j = i + 1
        while j < n and j - i < max_batch and arrivals[j] <= start:
            j += 1
        t = service(j - i)
        done[i:j] = start + t
        busy += t
        free_at = start + t
        batches.append(j - i)
        i = j
    return ServingResult(latencies=done - arrivals, batch_sizes=np.array(batches), busy_seconds=busy,
                         span_seconds=float(done.max() - arrivals.min()) if n else 0.0)


def knee(batch_sizes, throughputs, *, fraction: float = 0.9) -> int:
    """The smallest batch size whose throughput reaches ``fraction`` of the best measured throughput."""
    batch_sizes, throughputs = list(batch_sizes), np.asarray(throughputs, dtype=float)
    if len(batch_sizes) != len(throughputs) or not batch_sizes:
        raise ValueError("knee() needs equally long, non-empty batch_sizes and throughputs")
    best = throughputs.max()
    for b, t in zip(batch_sizes, throughputs):
        if t >= fraction * best:
            return int(b)
    return int(batch_sizes[int(np.argmax(throughputs))])
