"""Record a result of a notebook, with the machine it was measured on, into results/<notebook>.json."""
from __future__ import annotations

import datetime as _dt
import uuid
from pathlib import Path

import torch

from .config import get_mode, results_dir
from .machine import fingerprint, get_device
from .results import CROSS_RUNTIME, SAME_RUNTIME, add_record, check_notebook_name
from .stats import Accuracy, Difference, Measurement, Speedup, compare
from .stats import accuracy_difference as paired_accuracy_difference

_RUN_ID = uuid.uuid4().hex[:12]  # one per process: records from an earlier run of a notebook are replaced


class Record(dict):
    """One result as written to the results file; shown in a notebook as one line, not as the whole dict."""

    def __repr__(self) -> str:
        speed = f" · {self['speedup']:.2f}×" if self.get("speedup") is not None else ""
        return f"recorded in results/{self['notebook']}.json: {self['technique']}{speed}"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def _interval(a) -> list[float] | None:
    return [a.low, a.high] if isinstance(a, Accuracy) else None


def record(*, notebook: str, technique: str, baseline: Measurement | str, candidate: Measurement | str,
           speedup: Speedup | None = None, metric: str = "latency", unit: str = "s",
           baseline_median: float | None = None, candidate_median: float | None = None,
           accuracy_baseline: float | None = None, accuracy_candidate: float | None = None,
           size_bytes_baseline: int | None = None, size_bytes_candidate: int | None = None,
           accuracy_difference: Difference | None = None, cross_runtime: bool = False, note: str | None = None, device: str | None = None,
           extra: dict | None = None,
           folder: str | Path | None = None) -> Record:
    """Add one result to results/<notebook>.json (replacing an earlier run's records) and return it.

    Pass two Measurements of one ``au.benchmark({...})`` session: the paired speedup and its CI are computed.
    Measurements timed apart are refused (their ratio mixes the technique with the machine's drift). For
    results that are not timings of a callable, pass labels with medians (and a paired Speedup, if any).
    Accuracies from ``au.evaluate`` carry their intervals; when both were scored on the same examples the
    paired difference is recorded too. ``accuracy_difference`` records another Difference instead (over seeds,
    from ``au.paired_difference``; in points). ``cross_runtime=True`` marks a baseline on another runtime or library
    (shown as such, never a headline); ``device`` is where it ran (default: the
    candidate's, else ``au.get_device()``); ``note`` says what a number means (e.g. a goal never reached).
    Example: ``au.record(notebook="00_start_here", technique="vectorise", baseline=ms["loop"], candidate=ms["matmul"])``.
    """
    check_notebook_name(notebook)
    if isinstance(baseline, Measurement) and isinstance(candidate, Measurement):
        measured = compare(baseline, candidate)
        if not measured.paired:
            raise ValueError(f"{baseline.label!r} and {candidate.label!r} were timed apart: their ratio mixes the "
                             "technique with the machine's drift. Time them together: au.benchmark({...})")
        speedup = speedup or measured
        baseline_median, candidate_median = baseline.median, candidate.median
    if speedup is not None and not speedup.paired:
        raise ValueError(f"the speedup {speedup} comes from measurements timed apart; time them together")
    if device is None:
        device = candidate.device if isinstance(candidate, Measurement) else str(get_device())
    difference = accuracy_difference
    if difference is None and isinstance(accuracy_baseline, Accuracy) and isinstance(accuracy_candidate, Accuracy):
        difference = paired_accuracy_difference(accuracy_baseline, accuracy_candidate)
    b_label = baseline.label if isinstance(baseline, Measurement) else str(baseline)
    c_label = candidate.label if isinstance(candidate, Measurement) else str(candidate)
    rec = Record({
        "notebook": notebook, "technique": technique, "baseline": b_label, "candidate": c_label, "metric": metric,
        "baseline_median": baseline_median, "candidate_median": candidate_median, "unit": unit,
        "speedup": speedup.value if speedup else None,
        "speedup_ci_low": speedup.ci_low if speedup else None,
        "speedup_ci_high": speedup.ci_high if speedup else None,
        "paired": bool(speedup and speedup.paired), "rounds": len(speedup.values) if speedup else None,
        "runtime": CROSS_RUNTIME if cross_runtime else SAME_RUNTIME, "note": note,
        "accuracy_baseline": None if accuracy_baseline is None else float(accuracy_baseline),
        "accuracy_candidate": None if accuracy_candidate is None else float(accuracy_candidate),
        "accuracy_baseline_ci": _interval(accuracy_baseline), "accuracy_candidate_ci": _interval(accuracy_candidate),
        "accuracy_difference": difference.value if isinstance(difference, Difference) else None,
        "accuracy_difference_ci": [difference.ci_low, difference.ci_high] if difference is not None
        and difference.has_ci else None,
        "accuracy_n": accuracy_candidate.n if isinstance(accuracy_candidate, Accuracy) else None,
        "size_bytes_baseline": size_bytes_baseline, "size_bytes_candidate": size_bytes_candidate,
        "mode": get_mode(), "fingerprint": fingerprint(), "device": str(device),
        "torch_version": torch.__version__,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run_id": _RUN_ID, "extra": extra or {},
    })
    add_record(rec, folder=Path(folder) if folder is not None else results_dir(), keep_run=_RUN_ID)
    return rec
