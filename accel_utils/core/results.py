"""Results files: one JSON per notebook under results/, validated on read, written atomically (no PyTorch needed)."""
from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from pathlib import Path

from .config import results_dir

FIELDS = ("notebook", "technique", "baseline", "candidate", "metric", "baseline_median", "candidate_median", "unit",
          "speedup", "speedup_ci_low", "speedup_ci_high", "paired", "rounds", "runtime", "note",
          "accuracy_baseline", "accuracy_candidate", "accuracy_baseline_ci", "accuracy_candidate_ci",
          "accuracy_difference", "accuracy_difference_ci", "accuracy_n",
          "size_bytes_baseline", "size_bytes_candidate", "mode", "fingerprint", "device", "torch_version",
          "timestamp", "run_id", "extra")
REQUIRED = ("notebook", "technique", "baseline", "candidate", "metric", "mode", "fingerprint", "timestamp")
NOTEBOOK_NAME = re.compile(r"^[0-9]{2}_[a-z0-9_]+$")
SAME_RUNTIME, CROSS_RUNTIME = "same runtime", "cross-runtime"


class ResultsFileError(ValueError):
    """A results file that cannot be read as the course writes them; the message names the file."""


def check_notebook_name(notebook: str) -> str:
    """A notebook stem such as '03_batch_size' (no folders, no dots): results files never leave results/."""
    if not isinstance(notebook, str) or not NOTEBOOK_NAME.match(notebook):
        raise ValueError(f"notebook must be a stem like '03_batch_size' (two digits, lower case, underscores), "
                         f"got {notebook!r}")
    return notebook


def write_atomic(path: Path, text: str) -> None:
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


def validate(data, path: Path) -> list[dict]:
    """The records of one parsed results file; ResultsFileError naming ``path`` if its shape is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise ResultsFileError(f"{path}: expected an object with a 'records' list")
    for i, r in enumerate(data["records"]):
        if not isinstance(r, dict):
            raise ResultsFileError(f"{path}: record {i} is not an object")
        missing = [k for k in REQUIRED if k not in r]
        if missing:
            raise ResultsFileError(f"{path}: record {i} lacks {', '.join(missing)}")
        if r["notebook"] != data.get("notebook", r["notebook"]):
            raise ResultsFileError(f"{path}: record {i} belongs to {r['notebook']!r}, the file to {data['notebook']!r}")
        for key in ("speedup", "baseline_median", "candidate_median", "accuracy_baseline", "accuracy_candidate"):
            if r.get(key) is not None and not isinstance(r[key], (int, float)):
                raise ResultsFileError(f"{path}: record {i} has a non-numeric {key}: {r[key]!r}")
    return data["records"]


def read_file(path: Path) -> list[dict]:
    """The validated records of one results file; ResultsFileError naming the file if it is corrupt."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ResultsFileError(f"{path}: not valid JSON ({e}); delete it, or re-run its notebook to rewrite it") from None
    return validate(data, Path(path))


def load_results(notebook: str | None = None, folder: str | Path | None = None) -> list[dict]:
    """Every record in a results folder (default results/), or only one notebook's."""
    folder = Path(folder) if folder is not None else results_dir()
    files = [folder / f"{check_notebook_name(notebook)}.json"] if notebook else sorted(folder.glob("*.json"))
    records = []
    for path in files:
        if path.exists() and NOTEBOOK_NAME.match(path.stem):
            records += read_file(path)
    return records


def add_record(record: dict, *, folder: Path, keep_run: str) -> None:
    """Add ``record`` to its notebook's file, dropping records of other runs and the one it replaces."""
    path = folder / f"{check_notebook_name(record['notebook'])}.json"
    try:
        old = read_file(path) if path.exists() else []
    except ResultsFileError as e:   # set the corrupt file aside, named, and start a fresh one
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        warnings.warn(f"{e}; moved to {aside} and started a new {path.name}", stacklevel=3)
        old = []
    key = (record["technique"], record["baseline"], record["candidate"], record["metric"])
    kept = [r for r in old if r.get("run_id") == keep_run
            and (r["technique"], r["baseline"], r["candidate"], r.get("metric")) != key]
    write_atomic(path, json.dumps({"notebook": record["notebook"], "records": kept + [record]}, indent=1))
