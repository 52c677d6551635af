"""The results report: summary.md + report.html from real au.record runs, and two folders compared (smoke vs standard)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from accel_utils.core import report, report_tables
from accel_utils.core.course import COURSE

ROOT = Path(__file__).resolve().parent.parent

# One real "run": times two tiny callables with au.benchmark and records them, as a notebook does.
RECORDER = r"""
import sys, torch, accel_utils as au
folder, extra = sys.argv[1], sys.argv[2] == "extra"
x = torch.randn(128, 128)
ms = au.benchmark({"python loop": lambda: [x[i].sum() for i in range(32)], "vectorised": lambda: x[:32].sum(1),
                   "matmul": lambda: x @ x}, rounds=8, block_time=0.002)
m_loop, m_vec, m_mm = ms["python loop"], ms["vectorised"], ms["matmul"]
au.record(notebook="00_start_here", technique="vectorise", baseline=m_loop, candidate=m_vec,
          accuracy_baseline=0.9, accuracy_candidate=0.9, size_bytes_baseline=1000, size_bytes_candidate=500, folder=folder)
if extra:  # only this run has a second technique and a second notebook
    au.record(notebook="00_start_here", technique="matmul vs loop", baseline=m_loop, candidate=m_mm, folder=folder)
    au.record(notebook="02_mixed_precision", technique="bf16", baseline=m_loop, candidate=m_vec,
              accuracy_baseline=0.95, accuracy_candidate=0.94, folder=folder)
"""


def _env(mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ACCEL_RESULTS_DIR", "ACCEL_MODE")}
    env.update(ACCEL_MODE=mode, PYTHONPATH=str(ROOT), ACCEL_DEVICE="cpu")
    return env


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two results folders from two real processes: smoke (one technique) and standard (three, two notebooks)."""
    base = tmp_path_factory.mktemp("runs")
    smoke, standard = base / "smoke_results", base / "standard_results"
    procs = [subprocess.Popen([sys.executable, "-c", RECORDER, str(folder), extra], env=_env(mode), cwd=base,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for folder, mode, extra in ((smoke, "smoke", "no"), (standard, "standard", "extra"))]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out
    return smoke, standard


def _records(folder: Path, notebook: str) -> list[dict]:
    return json.loads((folder / f"{notebook}.json").read_text())["records"]


def test_summary_and_html(folders):
    smoke, _ = folders
    paths = report.write_report(smoke)
    assert [p.name for p in paths] == ["summary.md", "report.html"]
    md = (smoke / "summary.md").read_text()
    rec = _records(smoke, "00_start_here")[0]
    assert rec["mode"] == "smoke"
    assert report_tables.fmt_speedup(rec) in md and rec["fingerprint"] in md  # the recorded numbers, as recorded
    for item in COURSE[1:]:  # every other notebook has no results: 'not run', no number
        assert re.search(rf"^\| {item.stem} \| not run \|( +\|)+$", md, flags=re.M), item.stem
    page = (smoke / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2  # speedup chart and accuracy-vs-latency chart, embedded
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)  # self-contained
    assert len(page) < 400_000
    assert page.count("not run</td>") == len(COURSE) - 1


def test_empty_folder_is_all_not_run(tmp_path):
    report.write_report(tmp_path)
    md = (tmp_path / "summary.md").read_text()
    assert "No results yet." in md and md.count("| not run |") == len(COURSE)
    assert "data:image/png" not in (tmp_path / "report.html").read_text()


def test_since_hides_an_earlier_runs_results(folders, tmp_path):
    smoke, _ = folders
    md = report_tables.summary_markdown(smoke, since="2999-01-01T00:00:00+00:00")
    assert "| 00_start_here | not run (results of" in md and "×" not in md
    assert report_tables.fmt_speedup(_records(smoke, "00_start_here")[0]) in report_tables.summary_markdown(smoke, since="2000-01-01")


def test_compare_smoke_vs_standard(folders, tmp_path):
    smoke, standard = folders
    out = tmp_path / "compare"
    assert report.main([str(smoke), "--compare", str(standard), "--out", str(out)]) == 0  # the command line
    md = (out / "comparison.md").read_text()
    assert "mode smoke" in md and "mode standard" in md
    header = next(line for line in md.splitlines() if line.startswith("| notebook"))
    assert "speedup · smoke_results" in header and "speedup · standard_results" in header
    rows = {tuple(c.strip() for c in line.strip("|").split(" | ")[:2]): line
            for line in md.splitlines() if line.startswith("| 0")}
    both = rows[("00_start_here", "vectorise")]  # in both folders: each folder's own number, side by side
    s_smoke, s_std = (report_tables.fmt_speedup(_records(f, "00_start_here")[0]) for f in (smoke, standard))
    assert both.index(s_smoke) < both.rindex(s_std)
    assert "not recorded" in rows[("00_start_here", "matmul vs loop")]  # technique only the standard run has
    assert "not run" in rows[("02_mixed_precision", "bf16")]  # notebook the smoke run never ran
    assert rows[("01_hardware_and_roofline", "not run")].count("not run") == 3
    page = (out / "comparison.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and "smoke_results" in page and "standard_results" in page


def test_compare_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        report.write_comparison(tmp_path, tmp_path / "nope", tmp_path / "out")


def test_mixed_modes_are_flagged(folders, tmp_path):
    smoke, standard = folders
    for src in (smoke / "00_start_here.json", standard / "02_mixed_precision.json"):
        (tmp_path / src.name).write_text(src.read_text())
    md = report_tables.summary_markdown(tmp_path)
    assert "more than one mode" in md
    assert "| 00_start_here (smoke mode) |" in md and "| 02_mixed_precision (standard mode) |" in md


def test_records_from_two_machines_are_labelled(folders, tmp_path):
    _, standard = folders
    data = json.loads((standard / "02_mixed_precision.json").read_text())
    for r in data["records"]:
        r["fingerprint"] = r["fingerprint"].replace(" threads", " threads AVX2-only-test-cpu")
    (tmp_path / "02_mixed_precision.json").write_text(json.dumps(data))
    (tmp_path / "00_start_here.json").write_text((standard / "00_start_here.json").read_text())
    md = report_tables.summary_markdown(tmp_path)
    assert "Machine A: `" in md and "Machine B: `" in md
    assert "| 00_start_here · machine A |" in md and "| 02_mixed_precision · machine B |" in md
    assert "machine" not in report_tables.summary_markdown(standard).split("| notebook |")[1]   # one machine: no labels
