"""The statistics behind every number: one bootstrap, speedups from paired rounds, accuracies with intervals.

Pure NumPy: the report and the results files use these types without importing PyTorch.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .fmt import format_time

MIN_SAMPLES_FOR_CI = 8   # below this, a bootstrap interval is not worth printing: show the values instead
N_BOOT = 2000
Z95 = 1.959963984540054


def bootstrap_ci(samples: Sequence[float] | np.ndarray, statistic: Callable = np.median, *, n_boot: int = N_BOOT,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over one sample (resampled with replacement).

    Paired data are bootstrapped by passing their per-pair values (ratios, differences): the pairs stay whole.
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"bootstrap_ci() needs a non-empty 1-D sample, got shape {x.shape}")
    rng = np.random.default_rng(seed)
    draws = statistic(x[rng.integers(0, x.size, size=(n_boot, x.size))], axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


@dataclass
class Measurement:
    """Timings of one callable: seconds per call, one value per round.

    ``session`` names the run of ``au.benchmark`` that timed it: measurements of one session were timed in
    the same rounds, so ``compare`` pairs them round by round.
    """

    label: str
    times: list[float]
    number_per_run: int = 1
    threads: int = 1
    device: str = "cpu"
    session: str | None = None

    def __post_init__(self):
        if len(self.times) == 0:
            raise ValueError(f"Measurement {self.label!r} has no times")

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

    def per_item(self, items_per_call: int, label: str | None = None) -> Measurement:
        """Seconds per item (a sample of a batch, a token), still of this session: it pairs as this one does."""
        if items_per_call < 1:
            raise ValueError(f"items_per_call must be at least 1, got {items_per_call}")
        return replace(self, label=label or self.label, times=[t / items_per_call for t in self.times])

    def throughput(self, items_per_call: int) -> float:
        """Items per second at the median time, e.g. samples/s for a batch of items_per_call."""
        return items_per_call / self.median

    def __str__(self) -> str:
        return (f"{self.label}: median {format_time(self.median)} (IQR {format_time(self.iqr)}, "
                f"{len(self.times)} rounds × {self.number_per_run} calls, {self.threads} threads, {self.device})")


class _Estimate:
    """An estimate with an optional 95% interval (ci_low, ci_high); the values it came from when too few."""

    ci_low: float | None
    ci_high: float | None

    @property
    def has_ci(self) -> bool:
        """True when an interval was computed (enough samples, paired)."""
        return self.ci_low is not None and self.ci_high is not None


@dataclass(frozen=True)
class Speedup(_Estimate):
    """How many times faster the candidate is: the median of per-round ratios baseline/candidate.

    ``ci_low``/``ci_high`` hold a bootstrap 95% interval when there are at least MIN_SAMPLES_FOR_CI rounds,
    else None and ``values`` shows every ratio. ``paired`` is False for two measurements timed apart: their
    ratio is shown for what it is and never recorded.
    """

    value: float
    ci_low: float | None
    ci_high: float | None
    baseline: str
    candidate: str
    paired: bool = True
    values: tuple[float, ...] = field(default=(), repr=False)
    samples: str = "rounds"   # what each value is: a round of timing, a seed, a run

    @property
    def faster(self) -> bool:
        """True when the interval lies above 1: measurably faster."""
        return self.has_ci and self.ci_low > 1.0

    @property
    def slower(self) -> bool:
        """True when the interval lies below 1: measurably slower."""
        return self.has_ci and self.ci_high < 1.0

    @property
    def significant(self) -> bool:
        """True when the interval excludes 1.0 (a real change, faster or slower)."""
        return self.faster or self.slower

    def verdict(self) -> str:
        """'faster', 'slower' or 'no measurable difference', read from the interval only."""
        if not self.has_ci:
            return f"too few {self.samples} to say"
        return "faster" if self.faster else "slower" if self.slower else "no measurable difference"

    def interval(self) -> str:
        """'95% CI 1.10–1.30', or the values when there were too few rounds for an interval."""
        if self.has_ci:
            return f"95% CI {self.ci_low:.2f}–{self.ci_high:.2f}"
        if not self.paired:
            return "timed apart: no interval"
        return "values " + ", ".join(f"{v:.2f}" for v in self.values) + f": too few {self.samples} for an interval"

    def __str__(self) -> str:
        return f"{self.candidate} vs {self.baseline}: {self.value:.2f}× ({self.interval()})"


def compare(baseline: Measurement, candidate: Measurement, *, n_boot: int = N_BOOT, seed: int = 0) -> Speedup:
    """Speedup of candidate over baseline.

    Measurements timed in the same ``au.benchmark({...})`` session are paired round by round: the speedup is
    the median of the per-round ratios and its 95% interval a bootstrap over those ratios, so drift between
    rounds cancels. Measurements timed apart give the ratio of medians with no interval (``paired=False``).
    """
    b, c = np.asarray(baseline.times, dtype=float), np.asarray(candidate.times, dtype=float)
    paired = baseline.session is not None and baseline.session == candidate.session
    if not paired:
        return Speedup(float(np.median(b) / np.median(c)), None, None, baseline.label, candidate.label, paired=False)
    if b.size != c.size:
        raise ValueError(f"measurements of one session need one time per round each; got {b.size} and {c.size}")
    return paired_speedup(b / c, baseline.label, candidate.label, n_boot=n_boot, seed=seed)


def paired_speedup(ratios: Sequence[float], baseline: str, candidate: str, *, n_boot: int = N_BOOT,
                   seed: int = 0, samples: str = "rounds") -> Speedup:
    """A Speedup from paired ratios baseline/candidate (rounds timed together, or seeds run alike)."""
    r = np.asarray(ratios, dtype=float)
    if r.size == 0 or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"paired_speedup() needs positive, finite ratios, got {list(r)}")
    value = float(np.median(r))
    if r.size < MIN_SAMPLES_FOR_CI:
        return Speedup(value, None, None, baseline, candidate, values=tuple(float(v) for v in r), samples=samples)
    low, high = bootstrap_ci(r, n_boot=n_boot, seed=seed)
    return Speedup(value, low, high, baseline, candidate, values=tuple(float(v) for v in r), samples=samples)


def wilson_interval(correct: int, total: int, *, z: float = Z95) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion correct/total (sound near 0 and 1, unlike ±2 standard errors)."""
    if total <= 0:
        raise ValueError("an accuracy needs at least one example (total > 0)")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must lie in 0..{total}, got {correct}")
    p, z2 = correct / total, z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    return max(0.0, centre - half), min(1.0, centre + half)


class Accuracy(float):
    """A fraction correct (0–1) that carries its 95% interval over the n test examples; it is a float.

    ``per_example`` (bool array) keeps which examples were right, so two models scored on the same examples
    can be compared pair by pair with ``accuracy_difference``.
    """

    def __new__(cls, correct: int, total: int, *, per_example=None):
        if total <= 0:
            raise ValueError("an accuracy needs at least one example: the loader was empty")
        self = super().__new__(cls, correct / total)
        self.correct, self.n = int(correct), int(total)
        self.low, self.high = wilson_interval(self.correct, self.n)
        self.per_example = None if per_example is None else np.asarray(per_example, dtype=bool)
        if self.per_example is not None and (self.per_example.size != total or self.per_example.sum() != correct):
            raise ValueError("per_example must hold one entry per example and agree with correct")
        return self

    @classmethod
    def from_correct(cls, per_example) -> Accuracy:
        """An Accuracy from a bool array with one entry per test example."""
        per_example = np.asarray(per_example, dtype=bool)
        return cls(int(per_example.sum()), int(per_example.size), per_example=per_example)

    @property
    def half_width(self) -> float:
        """Half the width of the interval, in fraction (0.01 = one point)."""
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        return f"{100 * float(self):.1f}% (95% CI {100 * self.low:.1f}–{100 * self.high:.1f}, n={self.n})"

    __repr__ = __str__

    def __reduce__(self):
        return (Accuracy, (self.correct, self.n), {"per_example": self.per_example})

    def __setstate__(self, state):
        self.per_example = state.get("per_example")


@dataclass(frozen=True)
class Difference(_Estimate):
    """candidate − baseline (in points for accuracies) with a 95% interval; ``significant`` when it excludes 0."""

    value: float
    ci_low: float | None
    ci_high: float | None
    what: str = "accuracy (points)"
    paired: bool = True
    values: tuple[float, ...] = field(default=(), repr=False)

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0: a difference the data support."""
        return self.has_ci and (self.ci_low > 0 or self.ci_high < 0)

    def verdict(self) -> str:
        """'better', 'worse' or 'no measurable difference', read from the interval only."""
        if not self.has_ci:
            return "too few samples to say"
        if self.ci_low > 0:
            return "better"
        if self.ci_high < 0:
            return "worse"
        return "no measurable difference"

    def __str__(self) -> str:
        if self.has_ci:
            return (f"{self.value:+.2f} {self.what} (95% CI {self.ci_low:+.2f} to {self.ci_high:+.2f}): "
                    f"{self.verdict()}")
        return f"{self.value:+.2f} {self.what} (values " + ", ".join(f"{v:+.2f}" for v in self.values) + \
            ": too few samples for an interval)"


def accuracy_difference(baseline: Accuracy, candidate: Accuracy, *, n_boot: int = N_BOOT,
                        seed: int = 0) -> Difference:
    """candidate − baseline in accuracy points, 95% interval from a paired bootstrap over the same test examples.

    Both must have been scored on the same examples (``per_example`` of equal length); otherwise the
    interval combines the two Wilson intervals as independent (wider, and said so by ``paired=False``).
    """
    value = 100 * (float(candidate) - float(baseline))
    a, b = getattr(baseline, "per_example", None), getattr(candidate, "per_example", None)
    if a is not None and b is not None and a.size == b.size:
        diffs = 100 * (b.astype(float) - a.astype(float))
        low, high = bootstrap_ci(diffs, np.mean, n_boot=n_boot, seed=seed)
        return Difference(value, low, high)
    if not (isinstance(baseline, Accuracy) and isinstance(candidate, Accuracy)):
        raise TypeError("accuracy_difference() needs two Accuracy values (au.evaluate returns them)")
    se = math.hypot(baseline.half_width, candidate.half_width) * 100
    return Difference(value, value - se, value + se, paired=False)


def paired_difference(baseline: Sequence[float], candidate: Sequence[float], *, what: str = "",
                      n_boot: int = N_BOOT, seed: int = 0) -> Difference:
    """Mean of candidate − baseline over paired runs (seeds); an interval only with MIN_SAMPLES_FOR_CI pairs."""
    a, b = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    if a.size != b.size or a.size == 0:
        raise ValueError(f"paired_difference() needs two non-empty sequences of equal length, got {a.size} and {b.size}")
    d = b - a
    if d.size < MIN_SAMPLES_FOR_CI:
        return Difference(float(d.mean()), None, None, what, values=tuple(float(v) for v in d))
    low, high = bootstrap_ci(d, np.mean, n_boot=n_boot, seed=seed)
    return Difference(float(d.mean()), low, high, what, values=tuple(float(v) for v in d))
