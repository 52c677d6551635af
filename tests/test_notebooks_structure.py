"""Every notebook follows the course's shape, in its teacher version (solutions/) and its learner version (notebooks/)."""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from accel_utils.core.course import COURSE
from accel_utils.teaching.answers import answer_key
from tools.course_repo import NOTEBOOKS, SOLUTIONS, colab_url

ROOT = Path(__file__).resolve().parent.parent
MAX_MAIN_LINE_WORDS = 1800
AUTHORING_WORDS = re.compile(r"reference run|course target|issue target|machine [A-C]\b|this course's reference",
                             flags=re.I)


def load(folder, item):
    return json.loads((folder / item.filename).read_text())


def text(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def markdown(nb):
    return "\n".join(text(c) for c in nb["cells"] if c["cell_type"] == "markdown")


def tagged(nb, tag):
    return [c for c in nb["cells"] if tag in c.get("metadata", {}).get("tags", [])]


def code_of(nb):
    return "\n".join(text(c) for c in nb["cells"] if c["cell_type"] == "code")


def main_line_words(nb) -> int:
    """Words of markdown prose before '## Exercises', navigation cells excluded."""
    words = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown" or tagged({"cells": [cell]}, "nav-header"):
            continue
        if re.search(r"^## Exercises", text(cell), flags=re.M):
            break
        words += len(re.findall(r"[A-Za-z0-9][\w'’-]*", text(cell)))
    return words


def test_file_names_match_the_course_map():
    for folder in (SOLUTIONS, NOTEBOOKS):
        present = sorted(p.name for p in folder.glob("*.ipynb"))
        assert present == sorted(item.filename for item in COURSE), folder


@pytest.fixture(params=COURSE, ids=lambda item: item.stem)
def item(request):
    for folder in (SOLUTIONS, NOTEBOOKS):
        if not (folder / request.param.filename).exists():
            pytest.fail(f"{folder.name}/{request.param.filename} is missing")
    return request.param


def test_title_goals_summary_exercises(item):
    md = markdown(load(SOLUTIONS, item))
    assert re.search(rf"^# {item.number} · ", md, flags=re.M), "title '# NN · Title' missing"
    for heading in ("You will learn", "Prerequisites", "Hardware", "Time", "## Summary", "## Exercises",
                    "## Pitfalls", "## Further reading"):
        assert heading in md, f"{heading!r} missing"
    assert len(re.findall(r"^###.*★", md, flags=re.M)) >= 3, "at least three exercises (★ to ★★★)"
    assert "★★★" in md


def test_main_line_fits_one_sitting(item):
    words = main_line_words(load(SOLUTIONS, item))
    assert words <= MAX_MAIN_LINE_WORDS, f"{words} words of prose before the exercises (at most {MAX_MAIN_LINE_WORDS})"


def test_no_authoring_language_for_learners(item):
    found = AUTHORING_WORDS.findall(markdown(load(SOLUTIONS, item)) + code_of(load(NOTEBOOKS, item)))
    assert not found, f"authoring language reaches the learner: {sorted(set(found))}"


def test_every_exercise_has_a_solution_and_a_self_check(item):
    nb = load(SOLUTIONS, item)
    assert tagged(nb, "solution"), "solution cells (tag 'solution') missing"
    assert len(re.findall(r"au\.check_\w+\(", code_of(nb))) >= 3, "three self-checks expected"
    assert "check_explanation" not in code_of(nb), "keyword checks pass without understanding: use check_choice"


def test_multiple_choice_keys_match_the_options_shown(item):
    nb = load(SOLUTIONS, item)
    for cell_index, cell in enumerate(nb["cells"]):
        for key in re.findall(r"au\.check_choice\(\s*[\"'](\d\d\.\d+)[\"']", text(cell)):
            assert key.startswith(item.number + "."), f"{key} used in notebook {item.number}"
            entry = answer_key(key)
            above = "\n".join(text(c) for c in nb["cells"][:cell_index] if c["cell_type"] == "markdown")
            exercise = above[above.rfind("### "):]
            for letter in entry.options:
                assert f"({letter})" in exercise, f"option ({letter}) of {key} is not shown in its exercise"


def _assigned_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:   # a cell with IPython magics
        return set()
    return {t.id for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) for t in ast.walk(t)
            if isinstance(t, ast.Name)}


def test_no_answer_printed_above_its_prediction(item):
    """The value a prediction is checked against is computed after the prediction, never above the exercise."""
    nb = load(SOLUTIONS, item)
    cells = nb["cells"]
    for i, cell in enumerate(cells):
        for call in re.findall(r"au\.check_prediction\(\s*\w+\s*,\s*([A-Za-z_]\w*)", text(cell)):
            heading = max(j for j in range(i + 1) if cells[j]["cell_type"] == "markdown"
                          and re.search(r"^###.*★", text(cells[j]), flags=re.M))
            before = set().union(*(_assigned_names(text(c)) for c in cells[:heading] if c["cell_type"] == "code"))
            assert call not in before, f"{call!r}, the answer to the prediction in cell {i}, is computed above it"


def test_generated_cells_and_colab_badges(item):
    for folder in (SOLUTIONS, NOTEBOOKS):
        nb = load(folder, item)
        header = tagged(nb, "nav-header")
        assert header and nb["cells"][0] is header[0]
        assert colab_url(item.filename, folder.name) in text(header[0]), f"{folder.name}: badge must open this file"
        assert tagged(nb, "nav-footer") and nb["cells"][-1] is tagged(nb, "nav-footer")[0]
        setup = tagged(nb, "setup")
        assert len(setup) == 1 and "import accel_utils as au" in text(setup[0])


def test_navigation_links_resolve(item):
    for folder in (SOLUTIONS, NOTEBOOKS):
        nb = load(folder, item)
        for cell in tagged(nb, "nav-header") + tagged(nb, "nav-footer"):
            for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text(cell)):
                if not target.startswith("http"):
                    assert (folder / target).exists(), f"broken link {target}"


def test_measures_and_records(item):
    code = code_of(load(SOLUTIONS, item))
    assert "au.fingerprint()" in code or "au.probe()" in code
    assert "au.record(" in code, "headline results must be recorded"
    assert ".cuda()" not in code, "use au.get_device(), never .cuda()"
    assert "benchmark_interleaved" not in code and "paired=True" not in code, "one timing call: au.benchmark({...})"


def test_learner_version_has_no_solutions_and_no_outputs(item):
    nb = load(NOTEBOOKS, item)
    assert not tagged(nb, "solution")
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_stored_outputs_are_clean(item):
    """The teacher version's stored outputs: no error, no failed check, no stderr, no machine path, no widget state."""
    nb = load(SOLUTIONS, item)
    assert "widgets" not in nb["metadata"], "saved widget state"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"cell {i} holds an error"
            shown = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert "✘" not in shown, f"cell {i}: a reference solution fails its check: {shown.strip()[:120]}"
            assert not (out.get("name") == "stderr" and shown.strip()), f"cell {i} stores stderr: {shown.strip()[:120]}"
            assert "/tmp/" not in shown and str(ROOT) not in shown, f"cell {i} stores a machine path"
        if cell.get("outputs"):
            assert cell.get("execution_count") is not None, f"cell {i} has outputs but no execution count"
    size = (SOLUTIONS / item.filename).stat().st_size
    assert size < 2_500_000, f"stored notebook is {size / 1e6:.1f} MB; keep outputs small"


def test_generated_cells_and_learner_versions_are_in_step():
    result = subprocess.run([sys.executable, "-m", "tools.sync_notebooks", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
