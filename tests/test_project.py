"""The project's own files agree: dependencies in pyproject and environment.yml, README and the course map."""
import re
from pathlib import Path

from accel_utils.core.course import COURSE
from tools.course_repo import colab_url, repo_url

ROOT = Path(__file__).resolve().parent.parent


def _names(requirements):
    return {re.split(r"[<>=!~\[ ;]", r.strip(), maxsplit=1)[0].lower().replace("_", "-") for r in requirements if r.strip()}


def _pyproject_dependencies():
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, flags=re.S | re.M).group(1)
    return _names(re.findall(r'"([^"]+)"', block))


def test_environment_yml_agrees_with_pyproject():
    env = (ROOT / "environment.yml").read_text()
    assert "conda-forge" in env
    python = re.search(r"^  - python=(\d+)\.(\d+)", env, flags=re.M)
    assert python, "environment.yml must pin a python version"
    low = re.search(r'requires-python\s*=\s*">=(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert tuple(map(int, python.groups())) >= tuple(map(int, low.groups()))
    entries = re.findall(r"^\s+- (.+)$", env.split("\ndependencies:", 1)[1], flags=re.M)
    others = [e for e in entries if not re.match(r"(python=|pip$|pip:|-e \.)", e)]
    assert not others, f"environment.yml lists packages outside pyproject: {others}"
    assert any(e.startswith("-e .") for e in entries), "environment.yml must install the project itself"


def test_readme_lists_every_notebook_with_its_badge():
    readme = (ROOT / "README.md").read_text()
    assert "## Course map" in readme
    for item in COURSE:
        assert f"notebooks/{item.filename}" in readme, f"{item.filename} missing from README"
        assert colab_url(item.filename) in readme, f"Colab badge of {item.filename} missing from README"


def test_readme_names_the_commands_and_justifies_dependencies():
    readme = (ROOT / "README.md").read_text()
    for command in ("make lab", "make run", "make test"):
        assert command in readme
    for dep in _pyproject_dependencies() - {"jupyterlab", "torch", "torchvision", "matplotlib", "ipywidgets"}:
        assert f"`{dep}`" in readme, f"README must say why {dep} is a dependency"


def test_repository_url_is_kept_once():
    url = repo_url()
    assert url.startswith("https://github.com/")
    for path in list((ROOT / "accel_utils").glob("*.py")) + list((ROOT / "tools").glob("*.py")):
        assert url not in path.read_text(), f"{path.name} repeats the repository URL; read it from pyproject"


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_and_teachers_kit_are_in_step_with_the_reference_run():
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-m", "tools.update_readme", "--check"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_notebook_has_teachers_notes():
    for item in COURSE:
        path = ROOT / "docs" / "teaching" / f"{item.stem}.md"
        assert path.exists(), f"teacher's notes missing: {path.relative_to(ROOT)}"
        text = path.read_text()
        for section in ("## Time in class", "## Prerequisites", "## What to discuss", "## Results to expect on a 2-core CPU",
                        "not measured here", "## Common student mistakes"):
            assert section in text, f"{path.name}: {section!r} missing"
