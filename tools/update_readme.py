"""Regenerate README's course map and reference results from accel_utils/course.py and reference/results/.

    python tools/update_readme.py          # rewrite README.md between its markers
    python tools/update_readme.py --check  # exit 1 if README is out of step
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
REFERENCE = ROOT / "reference" / "results"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def course_map() -> str:
    """The course-map table: number, notebook, what it teaches, hardware, minutes of the reference run, badge."""
    times_path = REFERENCE / "run_times.json"
    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    rows = ["| No. | notebook | you learn | hardware | min (standard, 2-core CPU) | Colab |", "|---|---|---|---|---|---|"]
    for item in COURSE:
        t = times.get(item.stem)
        minutes = f"{t['seconds'] / 60:.1f}" if t and t.get("mode") == "standard" else "not run"
        rows.append(f"| {item.number} | [{item.title}](notebooks/{item.filename}) | {item.teaches} | {item.gpu} | "
                    f"{minutes} | [![Open In Colab]({BADGE})]({colab_url(item.filename)}) |")
    return "\n".join(rows)


def reference_results() -> str:
    """The reference run's summary table (headings demoted to sit inside README)."""
    text = summary_markdown(REFERENCE)
    return re.sub(r"^# Results\n\n", "", text).strip()


def render(readme: str) -> str:
    """README with both generated blocks replaced."""
    for name, body in (("course-map", course_map()), ("results", reference_results())):
        pattern = rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)"
        if not re.search(pattern, readme, flags=re.S):
            raise RuntimeError(f"README.md lacks the markers <!-- {name}:start --> / <!-- {name}:end -->")
        readme = re.sub(pattern, lambda m: m.group(1) + body + "\n" + m.group(2), readme, flags=re.S)
    return readme


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    before = README.read_text()
    after = render(before)
    if args.check:
        if after != before:
            print("README.md is out of step: run python tools/update_readme.py")
            return 1
        return 0
    README.write_text(after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
