"""The course repository's public URL (kept once, in pyproject.toml) and what is generated from it."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from accel_utils.core.course import COURSE

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"   # the learner's versions: exercises unsolved, no outputs (generated)
SOLUTIONS = ROOT / "solutions"   # the teacher's versions: the source, solved, with the reference run's outputs


def repo_url() -> str:
    """The Repository URL from pyproject.toml's [project.urls]."""
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, flags=re.M)
    if not match:
        raise RuntimeError("pyproject.toml has no [project.urls] Repository entry")
    return match.group(1).rstrip("/")


def colab_extras() -> list[str]:
    """The 'colab' optional dependencies from pyproject.toml: what Colab lacks."""
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r"^colab\s*=\s*\[([^\]]*)\]", text, flags=re.M)
    return re.findall(r'"([^"]+)"', match.group(1)) if match else []


def colab_url(filename: str, folder: str = "notebooks") -> str:
    """Open-in-Colab address of <folder>/<filename> on the main branch (notebooks/: the learner's version)."""
    if folder not in ("notebooks", "solutions"):
        raise ValueError(f"folder must be 'notebooks' or 'solutions', got {folder!r}")
    path = repo_url().split("github.com/", 1)[1]
    return f"https://colab.research.google.com/github/{path}/blob/main/{folder}/{filename}"


# ---------------------------------------------------------------- cells generated in every notebook

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


def header_source(index: int, folder: str) -> str:
    """The first cell: navigation and the Open-in-Colab badge for this very file (in notebooks/ or solutions/)."""
    badge = (f'<a href="{colab_url(COURSE[index].filename, folder)}" target="_parent">'
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


def sync(nb, index: int, folder: str) -> None:
    """Put the generated cells of notebook COURSE[index], as stored in ``folder``, in place."""
    wanted = {"nav-header": ("markdown", header_source(index, folder), 0),
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
