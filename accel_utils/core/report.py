"""The course-wide results report: results/<notebook>.json → summary.md and report.html; two folders side by side.

    python -m accel_utils.core.report [results]                                   # summary.md + report.html
    python -m accel_utils.core.report results --compare other_results --out build/compare

Only recorded numbers are shown: a notebook without records is "not run"; with ``since`` (or ``--since``)
records older than that moment (an earlier run's) are ignored and the notebook also shows as "not run".
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .config import results_dir
from .report_html import comparison_html, summary_html
from .report_tables import comparison_markdown, load_folder, summary_markdown
from .results import write_atomic

# ---------------------------------------------------------------- writing

def _publish(paths: list[Path]) -> list[Path]:
    """Make written report files readable like any other file (the atomic writer creates them 0600)."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    for p in paths:
        p.chmod(0o666 & ~umask)
    return paths


def write_report(folder: str | Path | None = None, *, since=None) -> list[Path]:
    """Write summary.md and report.html into the results folder; return the paths written.

    ``since`` (datetime or ISO string): ignore records older than this, e.g. the start of the current run.
    """
    f = load_folder(folder, since=since)
    f.path.mkdir(parents=True, exist_ok=True)
    paths = [f.path / "summary.md", f.path / "report.html"]
    write_atomic(paths[0], summary_markdown(f))
    write_atomic(paths[1], summary_html(f))
    return _publish(paths)


def write_comparison(folder_a: str | Path, folder_b: str | Path, out: str | Path, *,
                     names: tuple[str, str] | None = None) -> list[Path]:
    """Write comparison.md and comparison.html for two results folders into ``out``; return the paths."""
    pa, pb = Path(folder_a), Path(folder_b)
    for p in (pa, pb):
        if not p.is_dir():
            raise FileNotFoundError(f"results folder {p} does not exist")
    if names is None:  # tell the two apart even when both folders are called 'results'
        names = (pa.name, pb.name) if pa.name != pb.name else (str(pa), str(pb))
    a, b = load_folder(pa, name=names[0]), load_folder(pb, name=names[1])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "comparison.md", out / "comparison.html"]
    write_atomic(paths[0], comparison_markdown(a, b))
    write_atomic(paths[1], comparison_html(a, b))
    return _publish(paths)


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m accel_utils.core.report [folder] [--compare other --out dir] [--since ISO]."""
    parser = argparse.ArgumentParser(description="Aggregate results/*.json into summary.md and report.html, "
                                                 "or compare two results folders.")
    parser.add_argument("folder", nargs="?", default=None, help="results folder (default: results/)")
    parser.add_argument("--compare", metavar="OTHER", help="a second results folder to show side by side")
    parser.add_argument("--out", default="build/compare", help="output folder of --compare (default build/compare)")
    parser.add_argument("--names", nargs=2, metavar=("A", "B"), help="names of the two folders in the comparison")
    parser.add_argument("--since", help="ignore records older than this ISO time (an earlier run's)")
    args = parser.parse_args(argv)
    if args.compare:
        paths = write_comparison(args.folder or results_dir(), args.compare, args.out, names=args.names)
    else:
        paths = write_report(args.folder, since=args.since)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
