"""Generate the student version of every notebook: solution cells removed, outputs cleared.

    python tools/make_student.py                       # notebooks/*.ipynb -> student/*.ipynb
    python tools/make_student.py 03 09 --out /tmp/s    # some notebooks (stems, numbers or paths), another folder

The notebooks in notebooks/ are the teacher versions (solutions filled in, executed in CI); the student
versions are generated from them, never edited by hand. A cell is a solution when it carries the tag
"solution". Every output is cleared in the student version: the learner runs the notebook and sees their
own machine's numbers (and no output hints at a removed answer).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTION_TAG = "solution"


def is_solution(cell) -> bool:
    """True for a cell tagged 'solution'."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_version(nb):
    """A copy of a notebook without its solution cells, with every output and execution count cleared."""
    nb = nbformat.from_dict(nb)  # deep copy
    nb.cells = [cell for cell in nb.cells if not is_solution(cell)]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nb.metadata["accel_course"] = {"version": "student", "generated_by": "tools/make_student.py"}
    return nb


def _resolve(names: list[str]) -> list[Path]:
    """Notebook paths from stems ('03_batch_size'), numbers ('03') or paths; all of notebooks/ if none."""
    if not names:
        return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    paths = []
    for name in names:
        p = Path(name)
        if p.suffix == ".ipynb" and p.exists():
            paths.append(p)
            continue
        matches = sorted(NOTEBOOKS.glob(f"{name}*.ipynb")) if len(name) == 2 else [NOTEBOOKS / f"{name}.ipynb"]
        if not matches or not matches[0].exists():
            raise SystemExit(f"no notebook {name!r} in {NOTEBOOKS}")
        paths += matches
    return paths


def make_student(paths: list[Path], out: Path) -> list[tuple[Path, int]]:
    """Write the student version of each notebook into ``out``; return (path written, solutions removed)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        student = student_version(nb)
        nbformat.validate(student)
        target = out / path.name
        nbformat.write(student, target)
        written.append((target, len(nb.cells) - len(student.cells)))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="stems, numbers or paths (default: every notebook)")
    parser.add_argument("--out", default=str(ROOT / "student"), help="output folder (default: student/)")
    args = parser.parse_args(argv)
    paths = _resolve(args.notebooks)
    if not paths:
        print(f"no notebooks found in {NOTEBOOKS}")
        return 1
    for target, removed in make_student(paths, Path(args.out)):
        print(f"{target}  ({removed} solution cell{'s' if removed != 1 else ''} removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
