"""Every notebook follows the course's shape: title, goals, setup, results, exercises, navigation, clean outputs."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from accel_utils.course import COURSE
from tools.course_repo import colab_url

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def load(item):
    return json.loads((NOTEBOOKS / item.filename).read_text())


def text(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def markdown(nb):
    return "\n".join(text(c) for c in nb["cells"] if c["cell_type"] == "markdown")


def tagged(nb, tag):
    return [c for c in nb["cells"] if tag in c.get("metadata", {}).get("tags", [])]


def test_file_names_match_the_course_map():
    present = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert present == sorted(item.filename for item in COURSE)


@pytest.fixture(params=COURSE, ids=lambda item: item.stem)
def item(request):
    if not (NOTEBOOKS / request.param.filename).exists():
        pytest.fail(f"{request.param.filename} is missing")
    return request.param


def test_title_goals_summary_exercises(item):
    nb = load(item)
    md = markdown(nb)
    assert re.search(rf"^# {item.number} · ", md, flags=re.M), "title '# NN · Title' missing"
    for heading in ("You will learn", "Prerequisites", "Hardware", "Time", "## Summary", "## Exercises",
                    "## Pitfalls", "## Further reading"):
        assert heading in md, f"{heading!r} missing"
    assert len(re.findall(r"^###.*★", md, flags=re.M)) >= 3, "at least three exercises (★ to ★★★)"
    assert "★★★" in md


def test_every_exercise_has_a_solution_and_a_self_check(item):
    nb = load(item)
    assert tagged(nb, "solution"), "solution cells (tag 'solution') missing"
    code = "\n".join(text(c) for c in nb["cells"] if c["cell_type"] == "code")
    assert len(re.findall(r"au\.check_\w+\(|checks\.check_\w+\(", code)) >= 3, "three self-checks expected"


def test_generated_cells_and_colab_badge(item):
    nb = load(item)
    header = tagged(nb, "nav-header")
    assert header and nb["cells"][0] is header[0]
    assert colab_url(item.filename) in text(header[0])
    assert tagged(nb, "nav-footer") and nb["cells"][-1] is tagged(nb, "nav-footer")[0]
    setup = tagged(nb, "setup")
    assert len(setup) == 1 and "import accel_utils as au" in text(setup[0])


def test_navigation_links_resolve(item):
    nb = load(item)
    for cell in tagged(nb, "nav-header") + tagged(nb, "nav-footer"):
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text(cell)):
            if not target.startswith("http"):
                assert (NOTEBOOKS / target).exists(), f"broken link {target}"


def test_measures_and_records(item):
    code = "\n".join(text(c) for c in load(item)["cells"] if c["cell_type"] == "code")
    assert "au.fingerprint()" in code or "au.probe()" in code
    assert "au.record(" in code, "headline results must be recorded"
    assert ".cuda()" not in code, "use au.get_device(), never .cuda()"


def test_outputs_are_clean(item):
    nb = load(item)
    assert "widgets" not in nb["metadata"], "saved widget state"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"cell {i} holds an error"
        if cell.get("outputs"):
            assert cell.get("execution_count") is not None, f"cell {i} has outputs but no execution count"
    size = (NOTEBOOKS / item.filename).stat().st_size
    assert size < 2_500_000, f"stored notebook is {size / 1e6:.1f} MB; keep outputs small"


def test_generated_cells_are_in_step():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "sync_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
