"""Regenerate README's course map and reference results, and the teacher's kit's notebook table.

From accel_utils/course.py and reference/results/ (run_times.json included):
    python tools/update_readme.py          # rewrite README.md and docs/teaching.md between their markers
    python tools/update_readme.py --check  # exit 1 if either is out of step
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from accel_utils.course import COURSE  # noqa: E402
from accel_utils.report import summary_markdown  # noqa: E402
from tools.course_repo import ROOT, colab_url  # noqa: E402

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


def fill(text: str, blocks: dict[str, str], name: str) -> str:
    """text with each <!-- block:start --> … <!-- block:end --> replaced by its generated body."""
    for block, body in blocks.items():
        pattern = rf"(<!-- {block}:start -->\n).*?(<!-- {block}:end -->)"
        if not re.search(pattern, text, flags=re.S):
            raise RuntimeError(f"{name} lacks the markers <!-- {block}:start --> / <!-- {block}:end -->")
        text = re.sub(pattern, lambda m: m.group(1) + body + "\n" + m.group(2), text, flags=re.S)
    return text


def render(readme: str) -> str:
    """README with both generated blocks replaced."""
    return fill(readme, {"course-map": course_map(), "results": reference_results()}, "README.md")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for path, make in ((README, render), (TEACHING, lambda t: fill(t, {"teaching-map": teaching_map()}, "docs/teaching.md"))):
        before = path.read_text()
        after = make(before)
        if after != before:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(after)
    if args.check and stale:
        print(", ".join(map(str, stale)), "out of step: run python tools/update_readme.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
