"""Execute the course notebooks headless, one after another, and aggregate their results.

    python -m tools.run_notebooks --out build --results results   # make run: the solved versions, into build/
    python -m tools.run_notebooks --inplace 03_batch_size           # refresh a teacher notebook's stored outputs
    python -m tools.run_notebooks --student --out build/student     # the learner's versions, answers left empty
A failing notebook is reported by name with its error; the others still run; the exit code is 1 at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from accel_utils.core.course import COURSE, lesson
from accel_utils.core.report import write_report
from accel_utils.core.results import write_atomic
from tools.course_repo import NOTEBOOKS, ROOT, SOLUTIONS
from tools.make_student import make_student

REFERENCE_RESULTS = ROOT / "reference" / "results"


def clean(nb) -> None:
    """Drop saved widget state and per-cell timing metadata so stored notebooks stay small and stable."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)


def execute(path: Path, timeout: int):
    """Run one notebook in its own folder; return (notebook, error message or None)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
        error = None
    except CellExecutionError as e:
        lines = [line for line in str(e).splitlines() if line.strip()]
        error = lines[-1] if lines else "cell failed"
    except Exception as e:  # kernel died, timeout
        error = f"{type(e).__name__}: {e}".splitlines()[0]
    clean(nb)
    return nb, error


def write_html(nb, target: Path) -> None:
    """An HTML rendering of an executed notebook, for reading without Jupyter."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    target.write_text(body)


def _note_run_time(results: Path, stem: str, seconds: float) -> None:
    """Keep each notebook's last wall-clock run time (README's 'minutes' column) in run_times.json."""
    path = results / "run_times.json"
    times = json.loads(path.read_text()) if path.exists() else {}
    times[stem] = {"seconds": round(seconds, 1), "mode": os.environ["ACCEL_MODE"]}
    write_atomic(path, json.dumps(times, indent=1, sort_keys=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="stems or numbers (default: the whole course)")
    parser.add_argument("--out", default="build", help="folder for executed notebooks and HTML")
    parser.add_argument("--results", default=None, help="results folder (default results/, reference/results with --inplace)")
    parser.add_argument("--inplace", action="store_true",
                        help="store outputs in solutions/ and regenerate notebooks/ (the reference run)")
    parser.add_argument("--student", action="store_true", help="run the learner's versions in notebooks/")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    parser.add_argument("--no-report", action="store_true", help="skip the results report at the end")
    args = parser.parse_args()

    if args.inplace and args.student:
        parser.error("--inplace stores the teacher versions' outputs; it cannot run the student versions")
    source = NOTEBOOKS if args.student else SOLUTIONS
    items = [lesson(n) for n in args.notebooks] if args.notebooks else [i for i in COURSE if (source / i.filename).exists()]
    results = Path(args.results) if args.results else (REFERENCE_RESULTS if args.inplace else ROOT / "results")
    os.environ["ACCEL_RESULTS_DIR"] = str(results.resolve())
    os.environ.setdefault("ACCEL_MODE", "standard")
    out = Path(args.out)
    if not args.inplace:
        out.mkdir(parents=True, exist_ok=True)
    print(f"mode {os.environ['ACCEL_MODE']} · results in {results} · {len(items)} notebooks", flush=True)

    failures, start = [], time.perf_counter()
    for n, item in enumerate(items, 1):
        t0 = time.perf_counter()
        print(f"[{n}/{len(items)}] {item.stem} …", end=" ", flush=True)
        (results / f"{item.stem}.json").unlink(missing_ok=True)  # a failed run must show "not run", not old numbers
        nb, error = execute(source / item.filename, args.timeout)
        elapsed = time.perf_counter() - t0
        if args.inplace:
            if error is None:
                nbformat.write(nb, SOLUTIONS / item.filename)
                make_student([SOLUTIONS / item.filename])
        else:
            nbformat.write(nb, out / item.filename)
            write_html(nb, out / f"{item.stem}.html")
        if error is None:
            _note_run_time(results, item.stem, elapsed)
        if error:
            failures.append((item.stem, error))
            print(f"FAILED after {elapsed:.0f} s: {error}", flush=True)
        else:
            print(f"ok ({elapsed:.0f} s)", flush=True)

    if not args.no_report:
        paths = write_report(results)
        print("report:", ", ".join(str(p) for p in paths))
    print(f"{len(items) - len(failures)} passed, {len(failures)} failed in {time.perf_counter() - start:.0f} s")
    for stem, error in failures:
        print(f"  {stem}: {error}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
