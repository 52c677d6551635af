"""Results files: what au.record writes, what it refuses, and files that are read back validated."""
import json
import os
import subprocess
import sys

import pytest

import accel_utils as au
from accel_utils.core import results as results_module

FIELDS = set(results_module.FIELDS)


def _pair(base=(2.0, 2.1, 1.9, 2.0, 2.05, 1.95, 2.0, 2.1), cand=(1.0, 1.05, 0.95, 1.0, 1.0, 1.0, 1.0, 1.05)):
    return au.Measurement("fp32", list(base), session="s"), au.Measurement("bf16", list(cand), session="s")


def test_record_writes_every_field(tmp_path):
    base, cand = _pair()
    acc_b, acc_c = au.Accuracy(900, 1000), au.Accuracy(890, 1000)
    rec = au.record(notebook="99_test", technique="t", baseline=base, candidate=cand, accuracy_baseline=acc_b,
                    accuracy_candidate=acc_c, folder=tmp_path)
    data = json.loads((tmp_path / "99_test.json").read_text())
    assert data["records"] == [rec] and FIELDS <= set(rec)
    assert rec["speedup"] == pytest.approx(2.0) and rec["speedup_ci_low"] <= 2.0 <= rec["speedup_ci_high"]
    assert rec["paired"] and rec["rounds"] == 8 and rec["runtime"] == "same runtime"
    assert rec["accuracy_baseline_ci"] == pytest.approx([acc_b.low, acc_b.high]) and rec["accuracy_n"] == 1000
    assert rec["accuracy_difference"] == pytest.approx(-1.0) and len(rec["accuracy_difference_ci"]) == 2
    assert rec["device"] == "cpu" and rec["size_bytes_baseline"] is None


def test_record_refuses_measurements_timed_apart(tmp_path):
    base, cand = au.Measurement("fp32", [2.0] * 8), au.Measurement("bf16", [1.0] * 8)
    with pytest.raises(ValueError, match="timed apart"):
        au.record(notebook="99_test", technique="t", baseline=base, candidate=cand, folder=tmp_path)
    apart = au.compare(base, cand)
    with pytest.raises(ValueError, match="timed apart"):
        au.record(notebook="99_test", technique="t", baseline="a", candidate="b", speedup=apart, folder=tmp_path)


def test_cross_runtime_and_notes_are_kept(tmp_path):
    rec = au.record(notebook="99_test", technique="ORT vs eager", baseline="eager", candidate="ORT",
                    cross_runtime=True, note="not reached in 7 epochs", folder=tmp_path)
    assert rec["runtime"] == "cross-runtime" and rec["note"] == "not reached in 7 epochs"


@pytest.mark.parametrize("name", ["../x", "x", "99_Test", "99_test/../../etc", "", "99 test"])
def test_notebook_names_cannot_leave_the_results_folder(tmp_path, name):
    with pytest.raises(ValueError, match="notebook must be a stem"):
        au.record(notebook=name, technique="t", baseline="a", candidate="b", folder=tmp_path)
    assert not list(tmp_path.parent.glob("x.json"))


def test_same_run_replaces_same_key_and_keeps_others(tmp_path):
    for technique in ("x", "y", "x"):
        au.record(notebook="99_test", technique=technique, baseline="a", candidate="b", folder=tmp_path)
    assert sorted(r["technique"] for r in au.load_results("99_test", folder=tmp_path)) == ["x", "y"]


@pytest.mark.slow
def test_later_run_replaces_earlier_records(tmp_path):
    code = "import accel_utils as au; au.record(notebook='99_test', technique='{}', baseline='a', candidate='b', folder=r'{}')"
    subprocess.run([sys.executable, "-c", code.format("old", tmp_path)], check=True)
    subprocess.run([sys.executable, "-c", code.format("new", tmp_path)], check=True)
    assert [r["technique"] for r in au.load_results("99_test", folder=tmp_path)] == ["new"]


def test_record_is_atomic_on_failure(tmp_path, monkeypatch):
    au.record(notebook="99_test", technique="kept", baseline="a", candidate="b", folder=tmp_path)
    before = (tmp_path / "99_test.json").read_text()

    def broken_dumps(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(results_module.json, "dumps", broken_dumps)
    with pytest.raises(KeyboardInterrupt):
        au.record(notebook="99_test", technique="lost", baseline="a", candidate="b", folder=tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "99_test.json").read_text() == before and not list(tmp_path.glob("*.tmp"))


def test_a_corrupt_results_file_is_named_on_read(tmp_path):
    (tmp_path / "99_test.json").write_text("{ not json")
    with pytest.raises(results_module.ResultsFileError, match="99_test.json: not valid JSON"):
        au.load_results("99_test", folder=tmp_path)
    (tmp_path / "99_test.json").write_text(json.dumps({"records": [{"notebook": "99_test"}]}))
    with pytest.raises(results_module.ResultsFileError, match="99_test.json: record 0 lacks technique"):
        au.load_results(folder=tmp_path)


def test_record_sets_a_corrupt_file_aside_and_says_so(tmp_path):
    (tmp_path / "99_test.json").write_text("{ not json")
    with pytest.warns(UserWarning, match="moved to .*99_test.json.corrupt"):
        au.record(notebook="99_test", technique="t", baseline="a", candidate="b", folder=tmp_path)
    assert (tmp_path / "99_test.json.corrupt").read_text() == "{ not json"
    assert [r["technique"] for r in au.load_results("99_test", folder=tmp_path)] == ["t"]


def test_results_file_is_readable_like_any_other(tmp_path):
    au.record(notebook="00_x", technique="t", baseline="b", candidate="c", folder=tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "00_x.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_record_shows_as_one_line(tmp_path):
    base, cand = _pair()
    rec = au.record(notebook="00_x", technique="bf16 autocast", baseline=base, candidate=cand, folder=tmp_path)
    assert repr(rec) == "recorded in results/00_x.json: bf16 autocast · 2.00×" and "\n" not in repr(rec)
    assert json.loads(json.dumps(rec)) == dict(rec)


def test_a_difference_over_seeds_is_recorded(tmp_path):
    seeds = au.paired_difference([96.0] * 8, [96.5] * 8, what="points")
    rec = au.record(notebook="99_test", technique="distillation over seeds", baseline="scratch", candidate="distilled",
                    metric="accuracy", accuracy_difference=seeds, folder=tmp_path)
    assert rec["accuracy_difference"] == pytest.approx(0.5) and rec["accuracy_difference_ci"] is not None
