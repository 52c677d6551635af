"""Write the generated cells of every teacher notebook (navigation, Colab badge, setup), then the student versions.

    python -m tools.sync_notebooks          # rewrite solutions/ in place and regenerate notebooks/
    python -m tools.sync_notebooks --check  # exit 1 if anything is out of step (used by the tests)
"""
from __future__ import annotations

import argparse
import sys

import nbformat

from accel_utils.core.course import COURSE
from tools.course_repo import SOLUTIONS, sync
from tools.make_student import make_student, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report notebooks out of step, change nothing")
    args = parser.parse_args(argv)
    behind, paths = [], []
    for index, item in enumerate(COURSE):
        path = SOLUTIONS / item.filename
        if not path.exists():
            continue
        paths.append(path)
        before = path.read_text()
        nb = nbformat.reads(before, as_version=4)
        sync(nb, index, "solutions")
        after = nbformat.writes(nb) + "\n"
        if after != before:
            behind.append(f"solutions/{item.filename}")
            if not args.check:
                path.write_text(after)
    if args.check:
        behind += [f"notebooks/{name}" for name in stale(paths)]
        if behind:
            print("out of step (run python -m tools.sync_notebooks):", ", ".join(behind))
            return 1
        print("checked", len(paths), "notebooks and their student versions")
        return 0
    make_student(paths)
    print("synced", len(paths), "notebooks and wrote their student versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
