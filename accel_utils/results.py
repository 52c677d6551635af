"""Results files: one JSON per notebook under results/, written atomically."""
from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
import uuid
from pathlib import Path

import torch

from .config import get_mode, results_dir
from .hardware import fingerprint, get_device
from .measure import Measurement, Speedup, compare

FIELDS = ("notebook", "technique", "baseline", "candidate", "metric", "baseline_median", "candidate_median", "unit",
          "speedup", "speedup_ci_low", "speedup_ci_high", "accuracy_baseline", "accuracy_candidate",
          "size_bytes_baseline", "size_bytes_candidate", "mode", "fingerprint", "device", "torch_version", "timestamp")
_RUN_ID = uuid.uuid4().hex[:12]  # one per process: records from an earlier run of a notebook are replaced


class Record(dict):
    """One result as written to the results file; shown in a notebook as one line, not as the whole dict."""

    def __repr__(self) -> str:
        speed = f" · {self['speedup']:.2f}×" if self.get("speedup") is not None else ""
        return f"recorded in results/{self['notebook']}.json: {self['technique']}{speed}"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def _write_atomic(path: Path, text: str) -> None:
    """Write text to path so that readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a results file is as readable as any other
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_results(notebook: str | None = None, folder: str | Path | None = None) -> list[dict]:
    """Every record in a results folder (default results/), or only one notebook's."""
    folder = Path(folder) if folder is not None else results_dir()
    files = [folder / f"{notebook}.json"] if notebook else sorted(folder.glob("*.json"))
    records = []
    for path in files:
        if path.exists():
            records += json.loads(path.read_text()).get("records", [])
    return records


def record(*, notebook: str, technique: str, baseline: Measurement | str, candidate: Measurement | str,
           speedup: Speedup | None = None, metric: str = "latency", unit: str = "s",
           baseline_median: float | None = None, candidate_median: float | None = None,
           accuracy_baseline: float | None = None, accuracy_candidate: float | None = None,
           size_bytes_baseline: int | None = None, size_bytes_candidate: int | None = None,
           extra: dict | None = None, folder: str | Path | None = None) -> Record:
    """Add one result to results/<notebook>.json (replacing an earlier run's records) and return it.

    Pass Measurements for baseline/candidate and the speedup with its CI is computed; or pass labels
    with medians (and a Speedup) for results that are not timings of a callable.
    Example: ``au.record(notebook="00_start_here", technique="vectorise", baseline=m_loop, candidate=m_vec)``.
    """
    if isinstance(baseline, Measurement) and isinstance(candidate, Measurement):
        speedup = speedup or compare(baseline, candidate)
        baseline_median, candidate_median = baseline.median, candidate.median
    b_label = baseline.label if isinstance(baseline, Measurement) else str(baseline)
    c_label = candidate.label if isinstance(candidate, Measurement) else str(candidate)
    rec = Record({
        "notebook": notebook, "technique": technique, "baseline": b_label, "candidate": c_label, "metric": metric,
        "baseline_median": baseline_median, "candidate_median": candidate_median, "unit": unit,
        "speedup": speedup.value if speedup else None,
        "speedup_ci_low": speedup.ci_low if speedup else None,
        "speedup_ci_high": speedup.ci_high if speedup else None,
        "accuracy_baseline": accuracy_baseline, "accuracy_candidate": accuracy_candidate,
        "size_bytes_baseline": size_bytes_baseline, "size_bytes_candidate": size_bytes_candidate,
        "mode": get_mode(), "fingerprint": fingerprint(), "device": str(get_device()),
        "torch_version": torch.__version__,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run_id": _RUN_ID, "extra": extra or {},
    })
    path = (Path(folder) if folder is not None else results_dir()) / f"{notebook}.json"
    old = json.loads(path.read_text()).get("records", []) if path.exists() else []
    key = (technique, b_label, c_label, metric)
    kept = [r for r in old if r.get("run_id") == _RUN_ID
            and (r["technique"], r["baseline"], r["candidate"], r.get("metric")) != key]
    _write_atomic(path, json.dumps({"notebook": notebook, "records": kept + [rec]}, indent=1))
    return rec
