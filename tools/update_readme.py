"""Regenerate README's course map and reference results, the teacher's kit's notebook table and notes' results.

From accel_utils/course.py and reference/results/ (run_times.json included):
    python -m tools.update_readme          # rewrite README.md, docs/teaching.md and docs/teaching/NN.md between
                                           # their markers
    python -m tools.update_readme --check  # exit 1 if any is out of step
"""
from __future__ import annotations

import argparse
import json
import re
import sys

from accel_utils.core.course import COURSE
from accel_utils.core.report_tables import load_folder, md_table, summary_markdown, summary_rows
from tools.course_repo import ROOT, colab_url

README = ROOT / "README.md"
TEACHING = ROOT / "docs" / "teaching.md"
REFERENCE = ROOT / "reference" / "results"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def _minutes(stem: str) -> str:
    """Minutes the reference run took for a notebook in standard mode, or 'not run'."""
    times_path = REFERENCE / "run_times.json"
    t = (json.loads(times_path.read_text()) if times_path.exists() else {}).get(stem)
    return f"{t['seconds'] / 60:.1f}" if t and t.get("mode") == "standard" else "not run"


def course_map() -> str:
    """The course-map table: number, notebook, what it teaches, hardware, minutes of the reference run, badge."""
    rows = ["| No. | notebook | you learn | hardware | min (standard, 2-core CPU) | Colab |", "|---|---|---|---|---|---|"]
    for item in COURSE:
        minutes = _minutes(item.stem)
        rows.append(f"| {item.number} | [{item.title}](notebooks/{item.filename}) | {item.teaches} | {item.gpu} | "
                    f"{minutes} | [![Open In Colab]({BADGE})]({colab_url(item.filename)}) |")
    return "\n".join(rows)


def reference_results() -> str:
    """The reference run's summary table (headings demoted to sit inside README)."""
    text = summary_markdown(REFERENCE)
    return re.sub(r"^# Results\n\n", "", text).strip()


def teaching_map() -> str:
    """The teacher's kit table: number, notebook, its teacher's notes, minutes of the reference run."""
    rows = ["| No. | notebook | teacher's notes | run time, min (standard, 2-core CPU) |", "|---|---|---|---|"]
    for item in COURSE:
        rows.append(f"| {item.number} | [{item.title}](../notebooks/{item.filename}) | "
                    f"[notes](teaching/{item.stem}.md) | {_minutes(item.stem)} |")
    return "\n".join(rows)


def notebook_results(stem: str) -> str:
    """One notebook's records of the reference run, with the machine and run time, for its teacher's notes."""
    folder = load_folder(REFERENCE)
    records = folder.notebooks.get(stem, [])
    if not records:
        return "_Not run in the reference run yet._"
    machines = sorted({r["fingerprint"] for r in records})
    lines = [f"Reference run (`python -m tools.run_notebooks --inplace {stem[:2]}`), {_minutes(stem)} min, on "
             + ", ".join(f"`{m}`" for m in machines) + ":", ""]
    header = ("technique", "baseline → candidate", "metric", "baseline", "candidate", "speedup (95% CI)",
              "accuracy", "size")
    rows = [row[1:] for row in summary_rows(folder) if row[0].split(" ")[0] == stem and row[1] != "not run"]
    return "\n".join(lines + md_table(header, rows))


def fill(text: str, blocks: dict[str, str], name: str) -> str:
    """text with each <!-- block:start --> … <!-- block:end --> replaced by its generated body."""
    for block, body in blocks.items():
        pattern = rf"(<!-- {block}:start -->\n).*?(<!-- {block}:end -->)"
        if not re.search(pattern, text, flags=re.S):
            raise RuntimeError(f"{name} lacks the markers <!-- {block}:start --> / <!-- {block}:end -->")
        text = re.sub(pattern, lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text, flags=re.S)
    return text


def render(readme: str) -> str:
    """README with both generated blocks replaced."""
    return fill(readme, {"course-map": course_map(), "results": reference_results()}, "README.md")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    notes = [(TEACHING.parent / "teaching" / f"{item.stem}.md",
              lambda t, stem=item.stem: fill(t, {"results": notebook_results(stem)}, f"{stem}.md")) for item in COURSE]
    for path, make in ((README, render), (TEACHING, lambda t: fill(t, {"teaching-map": teaching_map()}, "docs/teaching.md")),
                       *notes):
        before = path.read_text() if path.exists() else ""
        after = make(before)
        if after != before:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(after)
    if args.check and stale:
        print(", ".join(map(str, stale)), "out of step: run python -m tools.update_readme")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
