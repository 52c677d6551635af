"""Aggregate results/<notebook>.json files into results/summary.md (python -m accel_utils.report [folder])."""
from __future__ import annotations

import argparse
from pathlib import Path

from .config import results_dir
from .course import COURSE
from .results import _write_atomic, load_results


def _num(value, fmt: str) -> str:
    """Format a number or show an em dash for a missing one."""
    return "—" if value is None else format(value, fmt)


def _median(value, unit: str) -> str:
    """A median with its unit, milliseconds for times in seconds."""
    if value is None:
        return "—"
    return f"{value * 1e3:.3g} ms" if unit == "s" else f"{value:.4g} {unit}"


def _speedup(r: dict) -> str:
    """'1.66× (1.60–1.72)' or a dash."""
    if r.get("speedup") is None:
        return "—"
    ci = f" ({r['speedup_ci_low']:.2f}–{r['speedup_ci_high']:.2f})" if r.get("speedup_ci_low") is not None else ""
    return f"{r['speedup']:.2f}×{ci}"


def _accuracy(r: dict) -> str:
    """'97.1% → 96.8%' or a dash."""
    a, b = r.get("accuracy_baseline"), r.get("accuracy_candidate")
    if a is None and b is None:
        return "—"
    return f"{_num(a and 100 * a, '.1f')}% → {_num(b and 100 * b, '.1f')}%"


def _size(r: dict) -> str:
    """'44.7 MB → 11.3 MB' or a dash."""
    a, b = r.get("size_bytes_baseline"), r.get("size_bytes_candidate")
    if a is None and b is None:
        return "—"
    return f"{_num(a and a / 1e6, '.3g')} MB → {_num(b and b / 1e6, '.3g')} MB"


def summary_markdown(folder: str | Path | None = None) -> str:
    """The summary table of every record in a results folder, notebooks without results marked 'not run'."""
    folder = Path(folder) if folder is not None else results_dir()
    records = load_results(folder=folder)
    fingerprints = sorted({r["fingerprint"] for r in records})
    lines = ["# Results", ""]
    lines += [f"Machine: `{fp}`" for fp in fingerprints] or ["No results yet."]
    lines += ["", "| notebook | technique | baseline → candidate | metric | baseline | candidate | speedup (95% CI) | accuracy | size | mode |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    by_notebook = {}
    for r in records:
        by_notebook.setdefault(r["notebook"], []).append(r)
    for item in COURSE:
        rows = by_notebook.pop(item.stem, [])
        if not rows:
            lines.append(f"| {item.stem} | not run | | | | | | | | |")
        for r in rows:
            lines.append(f"| {item.stem} | {r['technique']} | {r['baseline']} → {r['candidate']} | {r.get('metric', '')} | "
                         f"{_median(r.get('baseline_median'), r.get('unit', 's'))} | "
                         f"{_median(r.get('candidate_median'), r.get('unit', 's'))} | {_speedup(r)} | {_accuracy(r)} | "
                         f"{_size(r)} | {r.get('mode', '')} |")
    for stem, rows in by_notebook.items():  # results of notebooks not in the course map
        for r in rows:
            lines.append(f"| {stem} | {r['technique']} | {r['baseline']} → {r['candidate']} | {r.get('metric', '')} | "
                         f"{_median(r.get('baseline_median'), r.get('unit', 's'))} | "
                         f"{_median(r.get('candidate_median'), r.get('unit', 's'))} | {_speedup(r)} | {_accuracy(r)} | "
                         f"{_size(r)} | {r.get('mode', '')} |")
    return "\n".join(lines) + "\n"


def write_report(folder: str | Path | None = None) -> list[Path]:
    """Write summary.md into the results folder; return the paths written."""
    folder = Path(folder) if folder is not None else results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "summary.md"
    _write_atomic(path, summary_markdown(folder))
    return [path]


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m accel_utils.report [results_folder]."""
    parser = argparse.ArgumentParser(description="Aggregate results/*.json into a summary.")
    parser.add_argument("folder", nargs="?", default=None, help="results folder (default: results/)")
    args = parser.parse_args(argv)
    for path in write_report(args.folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
