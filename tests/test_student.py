"""Learner versions: generated from the teacher notebooks (solutions/) with every solution cell removed and the
checks kept; the committed notebooks/ are exactly what the generator writes."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tools.make_student import is_solution, main, make_student

ROOT = Path(__file__).resolve().parent.parent

TEACHER = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


def _check_student(teacher, student) -> None:
    """No solution left; every other cell kept in order (so each check after a solution is there); outputs cleared."""
    assert not any(is_solution(c) for c in student.cells)
    kept = [c for c in teacher.cells if not is_solution(c)]
    generated = lambda c: "nav-header" in c.get("metadata", {}).get("tags", [])  # its badge opens notebooks/
    assert [(c.cell_type, c.source) for c in student.cells if not generated(c)] == \
        [(c.cell_type, c.source) for c in kept if not generated(c)]
    for i, cell in enumerate(teacher.cells):
        if is_solution(cell):
            after = next((c for c in teacher.cells[i + 1:] if not is_solution(c)), None)
            if after is not None:  # the check cell that follows the removed solution
                assert any(c.get("id") == after.get("id") and c.source == after.source for c in student.cells), \
                    f"cell after solution {i} missing: {after.source[:80]!r}"
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert "widgets" not in student.metadata
    nbformat.validate(student)


@pytest.mark.parametrize("path", TEACHER, ids=[p.stem for p in TEACHER])
def test_student_version(path, tmp_path):
    (target, removed), = make_student([path], tmp_path)
    teacher, student = nbformat.read(path, as_version=4), nbformat.read(target, as_version=4)
    assert removed == sum(is_solution(c) for c in teacher.cells)
    _check_student(teacher, student)


def test_command_line_on_a_made_up_notebook(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Exercises"),
                nbformat.v4.new_code_cell("ANSWER = None"),
                nbformat.v4.new_code_cell("ANSWER = 42", metadata={"tags": ["solution"]}),
                nbformat.v4.new_code_cell("print(ANSWER)"),
                nbformat.v4.new_markdown_cell("teacher's note", metadata={"tags": ["solution"]}),
                nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["setup"]})]
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="42\n")]
    nb.cells[3].execution_count = 3
    nb.metadata["widgets"] = {"state": {}}
    path = tmp_path / "99_made_up.ipynb"
    nbformat.write(nb, path)
    assert main([str(path), "--out", str(tmp_path / "student")]) == 0
    assert "2 solution cells removed" in capsys.readouterr().out
    student = nbformat.read(tmp_path / "student" / path.name, as_version=4)
    assert [c.source for c in student.cells] == ["## Exercises", "ANSWER = None", "print(ANSWER)", "x = 1"]
    _check_student(nbformat.read(path, as_version=4), student)
    assert nbformat.read(path, as_version=4).cells[3].outputs  # the teacher version is left untouched
