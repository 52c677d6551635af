"""Generate the learner's notebooks: notebooks/NN.ipynb from solutions/NN.ipynb, solutions removed, outputs cleared.

    python -m tools.make_student                 # every notebook of solutions/ -> notebooks/
    python -m tools.make_student 03 09           # some notebooks (stems or numbers)
    python -m tools.make_student --out /tmp/s    # another folder
    python -m tools.make_student --check         # exit 1 if notebooks/ is not what solutions/ generates

solutions/ holds the teacher's versions (the single source: exercises solved, the reference run's outputs);
notebooks/ the learner's, generated here and committed, so every link a learner follows opens them. A cell is
a solution when it carries the tag "solution". Every output is cleared: the learner runs the notebook and sees
their own machine's numbers, and no output hints at a removed answer.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from accel_utils.core.course import COURSE, lesson
from tools.course_repo import NOTEBOOKS, SOLUTIONS, sync

SOLUTION_TAG = "solution"


def is_solution(cell) -> bool:
    """True for a cell tagged 'solution'."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_version(nb, index: int | None = None):
    """A copy of a notebook without its solution cells, outputs and execution counts cleared.

    With ``index`` (its place in the course map) the navigation and Colab badge point at notebooks/.
    """
    nb = nbformat.from_dict(nb)  # deep copy
    nb.cells = [cell for cell in nb.cells if not is_solution(cell)]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nb.metadata["accel_course"] = {"version": "student", "generated_by": "tools/make_student.py",
                                   "source": "solutions/"}
    if index is not None:
        sync(nb, index, "notebooks")
    return nb


def _index(stem: str) -> int | None:
    return next((i for i, item in enumerate(COURSE) if item.stem == stem), None)


def render(path: Path) -> str:
    """The student version of the teacher notebook at ``path``, as the text written to notebooks/."""
    student = student_version(nbformat.read(path, as_version=4), _index(path.stem))
    nbformat.validate(student)
    return nbformat.writes(student) + "\n"


def make_student(paths: list[Path], out: Path = NOTEBOOKS) -> list[tuple[Path, int]]:
    """Write the student version of each teacher notebook into ``out``; return (path written, solutions removed)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        target = out / path.name
        target.write_text(render(path))
        written.append((target, sum(is_solution(c) for c in nb.cells)))
    return written


def stale(paths: list[Path], out: Path = NOTEBOOKS) -> list[str]:
    """Names of the student notebooks in ``out`` that differ from what their teacher versions generate."""
    return [p.name for p in paths if not (out / p.name).exists() or (out / p.name).read_text() != render(p)]


def resolve(names: list[str]) -> list[Path]:
    """Teacher notebooks from stems ('03_batch_size'), numbers ('03') or paths; all of solutions/ if none."""
    if not names:
        return sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    paths = []
    for name in names:
        p = Path(name)
        paths.append(p if p.suffix == ".ipynb" and p.exists() else SOLUTIONS / lesson(name).filename)
        if not paths[-1].exists():
            raise SystemExit(f"no notebook {name!r} in {SOLUTIONS}")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="stems, numbers or paths (default: every notebook)")
    parser.add_argument("--out", default=str(NOTEBOOKS), help="output folder (default: notebooks/)")
    parser.add_argument("--check", action="store_true", help="report student notebooks out of step, write nothing")
    args = parser.parse_args(argv)
    paths = resolve(args.notebooks)
    if args.check:
        behind = stale(paths, Path(args.out))
        if behind:
            print("out of step with solutions/ (run python -m tools.make_student):", ", ".join(behind))
            return 1
        print(f"checked {len(paths)} student notebooks")
        return 0
    for target, removed in make_student(paths, Path(args.out)):
        print(f"{target}  ({removed} solution cell{'s' if removed != 1 else ''} removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
