"""Write the generated cells of every notebook: navigation, Colab badge, the setup cell; strip widget state.

    python tools/sync_notebooks.py          # rewrite notebooks/ in place
    python tools/sync_notebooks.py --check  # exit 1 if anything is out of step (used by the tests)
"""
from __future__ import annotations

import argparse
import sys

import nbformat

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
from accel_utils.course import COURSE  # noqa: E402
from tools.course_repo import NOTEBOOKS, colab_extras, colab_url, repo_url  # noqa: E402

COLAB_DIR = "/content/accel-course"


def nav_line(index: int) -> str:
    """‹ previous | Contents | next › links for the notebook at index in COURSE."""
    parts = []
    if index > 0:
        prev = COURSE[index - 1]
        parts.append(f"[‹ {prev.number} · {prev.title}]({prev.filename})")
    parts.append("[Contents](../README.md#course-map)")
    if index + 1 < len(COURSE):
        nxt = COURSE[index + 1]
        parts.append(f"[{nxt.number} · {nxt.title} ›]({nxt.filename})")
    return " | ".join(parts)


def header_source(index: int) -> str:
    """The first cell: navigation and the Open-in-Colab badge for this very file."""
    badge = (f'<a href="{colab_url(COURSE[index].filename)}" target="_parent">'
             '<img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>')
    return f"{nav_line(index)}\n\n{badge}"


def footer_source(index: int) -> str:
    """The last cell: navigation again."""
    return f"---\n{nav_line(index)}"


def setup_source() -> str:
    """The setup cell, identical in every notebook."""
    extras = ", ".join(repr(e) for e in colab_extras())
    return f'''# Setup, the same in every notebook. Locally it imports the installed course package;
# on Colab it fetches the course and installs it with --no-deps, so Colab's own torch stays.
import os, subprocess, sys
if "google.colab" in sys.modules:
    if not os.path.isdir("{COLAB_DIR}"):
        subprocess.run(["git", "clone", "-q", "--depth", "1", "{repo_url()}", "{COLAB_DIR}"], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "{COLAB_DIR}"], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", {extras}], check=True)
    os.environ.setdefault("ACCEL_DATA_DIR", "{COLAB_DIR}/data")
    os.environ.setdefault("ACCEL_RESULTS_DIR", "{COLAB_DIR}/results")
try:
    import accel_utils as au
except ModuleNotFoundError:  # a checkout used without installing: take the package beside notebooks/
    sys.path.insert(0, os.path.abspath(".."))
    import accel_utils as au
au.keep_freed_memory();  # freed tensor memory is reused, not returned to the OS: notebook 00 measures why'''


def _cell_with_tag(nb, tag: str):
    """The first cell carrying tag, or None."""
    return next((c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])), None)


def sync(nb, index: int) -> None:
    """Put the generated cells of notebook COURSE[index] in place."""
    wanted = {"nav-header": ("markdown", header_source(index), 0),
              "setup": ("code", setup_source(), None),
              "nav-footer": ("markdown", footer_source(index), -1)}
    for tag, (kind, source, position) in wanted.items():
        cell = _cell_with_tag(nb, tag)
        if cell is None:
            if position is None:
                raise ValueError(f"{COURSE[index].filename}: no cell tagged {tag!r}; tag the setup cell")
            cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
            cell.metadata["tags"] = [tag]
            nb.cells.insert(position if position == 0 else len(nb.cells), cell)
        cell.source = source
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report notebooks out of step, change nothing")
    args = parser.parse_args()
    stale = []
    for index, item in enumerate(COURSE):
        path = NOTEBOOKS / item.filename
        if not path.exists():
            continue
        before = path.read_text()
        nb = nbformat.reads(before, as_version=4)
        sync(nb, index)
        after = nbformat.writes(nb) + "\n"
        if after != before:
            stale.append(item.filename)
            if not args.check:
                path.write_text(after)
    if args.check and stale:
        print("out of step (run python tools/sync_notebooks.py):", ", ".join(stale))
        return 1
    print(("checked" if args.check else "synced"), sum((NOTEBOOKS / i.filename).exists() for i in COURSE), "notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
