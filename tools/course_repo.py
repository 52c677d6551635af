"""The course repository's public URL (kept once, in pyproject.toml) and what is generated from it."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


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


def colab_url(filename: str) -> str:
    """Open-in-Colab address of notebooks/<filename> on the main branch."""
    path = repo_url().split("github.com/", 1)[1]
    return f"https://colab.research.google.com/github/{path}/blob/main/notebooks/{filename}"
