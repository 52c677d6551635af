"""Do two standard runs of the course agree, and does every record read as issue 18 asks?

    python -m tools.check_runs reference/results build/second-run-results

For every record in both folders: the ratio of the two runs' speedups (within 0.85–1.18×?) and whether their
intervals overlap. For each folder: records whose baseline is not named same-runtime or cross-runtime, speedups
recorded without pairing, and records of identical code (``extra["identical_code"]``) outside 0.95–1.05×.
Exit status 1 when a check fails.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accel_utils.core.results import CROSS_RUNTIME, SAME_RUNTIME, load_results

AGREE = (0.85, 1.18)
IDENTICAL = (0.95, 1.05)
MIN_OVERLAP = 0.90


def _key(r: dict) -> tuple:
    return (r["notebook"], r["technique"], r["baseline"], r["candidate"], r.get("metric"))


def agreement(a: list[dict], b: list[dict]) -> tuple[list[tuple], float]:
    """Rows (key, speedup a, speedup b, ratio, intervals overlap) for records with a speedup in both; overlap share."""
    rb = {_key(r): r for r in b}
    rows = []
    for r in a:
        other = rb.get(_key(r))
        if not other or r.get("speedup") is None or other.get("speedup") is None:
            continue
        overlap = None
        if None not in (r.get("speedup_ci_low"), r.get("speedup_ci_high"), other.get("speedup_ci_low"),
                        other.get("speedup_ci_high")):
            overlap = r["speedup_ci_low"] <= other["speedup_ci_high"] and other["speedup_ci_low"] <= r["speedup_ci_high"]
        rows.append((_key(r), r["speedup"], other["speedup"], r["speedup"] / other["speedup"], overlap))
    judged = [row for row in rows if row[4] is not None]
    share = sum(row[4] for row in judged) / len(judged) if judged else 1.0
    return rows, share


def record_problems(records: list[dict]) -> list[str]:
    """Records that do not name their baseline's runtime, speedups not paired, identical code outside 0.95–1.05×."""
    problems = []
    for r in records:
        name = f"{r['notebook']}: {r['technique']}"
        if r.get("runtime") not in (SAME_RUNTIME, CROSS_RUNTIME):
            problems.append(f"{name}: baseline runtime not named")
        if r.get("speedup") is not None and not r.get("paired"):
            problems.append(f"{name}: speedup recorded without paired rounds")
        if (r.get("extra") or {}).get("identical_code") and r.get("speedup") is not None \
                and not IDENTICAL[0] <= r["speedup"] <= IDENTICAL[1]:
            problems.append(f"{name}: identical code reads {r['speedup']:.3f}×")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="a results folder (e.g. reference/results)")
    parser.add_argument("second", nargs="?", help="a second run's results folder on the same kind of machine")
    args = parser.parse_args(argv)
    failed = False
    folders = [Path(args.first)] + ([Path(args.second)] if args.second else [])
    runs = [load_results(folder=f) for f in folders]
    for folder, records in zip(folders, runs):
        problems = record_problems(records)
        print(f"{folder}: {len(records)} records, {len(problems)} problems")
        for p in problems:
            print("  -", p)
        failed |= bool(problems)
    if len(runs) == 2:
        rows, share = agreement(*runs)
        outside = [row for row in rows if not AGREE[0] <= row[3] <= AGREE[1]]
        print(f"{len(rows)} speedups in both runs; ratio between runs within {AGREE[0]}–{AGREE[1]}×: "
              f"{len(rows) - len(outside)}/{len(rows)}; intervals overlapping: {share:.0%} (need {MIN_OVERLAP:.0%})")
        for key, a, b, ratio, overlap in rows:
            flag = "" if AGREE[0] <= ratio <= AGREE[1] else "  <-- outside"
            print(f"  {key[0][:2]} {key[1][:60]:60} {a:7.2f}× {b:7.2f}×  ratio {ratio:5.2f}"
                  f"  {'overlap' if overlap else 'apart' if overlap is not None else 'no CI'}{flag}")
        failed |= bool(outside) or share < MIN_OVERLAP
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
