import json
import os
import subprocess
import sys

import pytest

import accel_utils as au

FIELDS = {"notebook", "technique", "baseline", "candidate", "metric", "baseline_median", "candidate_median", "unit",
          "speedup", "speedup_ci_low", "speedup_ci_high", "accuracy_baseline", "accuracy_candidate",
          "size_bytes_baseline", "size_bytes_candidate", "mode", "fingerprint", "device", "torch_version", "timestamp"}


def test_record_writes_every_field(tmp_path):
    base, cand = au.Measurement("fp32", [2.0, 2.1, 1.9]), au.Measurement("bf16", [1.0, 1.1, 0.9])
    rec = au.record(notebook="99_test", technique="t", baseline=base, candidate=cand, accuracy_baseline=0.9,
                    accuracy_candidate=0.89, folder=tmp_path)
    data = json.loads((tmp_path / "99_test.json").read_text())
    assert data["records"] == [rec]
    assert FIELDS <= set(rec)
    assert rec["speedup"] == pytest.approx(2.0) and rec["speedup_ci_low"] <= 2.0 <= rec["speedup_ci_high"]
    assert rec["size_bytes_baseline"] is None


def test_same_run_replaces_same_key_and_keeps_others(tmp_path):
    m = au.Measurement("a", [1.0])
    au.record(notebook="99_test", technique="x", baseline=m, candidate=m, folder=tmp_path)
    au.record(notebook="99_test", technique="y", baseline=m, candidate=m, folder=tmp_path)
    au.record(notebook="99_test", technique="x", baseline=m, candidate=m, folder=tmp_path)
    assert sorted(r["technique"] for r in au.load_results("99_test", folder=tmp_path)) == ["x", "y"]


def test_later_run_replaces_earlier_records(tmp_path):
    code = ("import accel_utils as au; m = au.Measurement('a', [1.0]); "
            "au.record(notebook='99_test', technique='{}', baseline=m, candidate=m, folder=r'{}')")
    subprocess.run([sys.executable, "-c", code.format("old", tmp_path)], check=True)
    subprocess.run([sys.executable, "-c", code.format("new", tmp_path)], check=True)
    assert [r["technique"] for r in au.load_results("99_test", folder=tmp_path)] == ["new"]


def test_record_is_atomic_on_failure(tmp_path, monkeypatch):
    m = au.Measurement("a", [1.0])
    au.record(notebook="99_test", technique="kept", baseline=m, candidate=m, folder=tmp_path)
    before = (tmp_path / "99_test.json").read_text()

    def broken_dumps(*a, **k):
        raise KeyboardInterrupt

    from accel_utils.core import results as results_module
    monkeypatch.setattr(results_module.json, "dumps", broken_dumps)
    with pytest.raises(KeyboardInterrupt):
        au.record(notebook="99_test", technique="lost", baseline=m, candidate=m, folder=tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "99_test.json").read_text() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_record_without_measurements(tmp_path):
    rec = au.record(notebook="99_test", technique="accuracy only", baseline="dense", candidate="pruned",
                    metric="accuracy", accuracy_baseline=0.97, accuracy_candidate=0.96, folder=tmp_path)
    assert rec["speedup"] is None and rec["baseline"] == "dense"


def test_results_file_is_readable_like_any_other(tmp_path):
    au.record(notebook="00_x", technique="t", baseline="b", candidate="c", folder=tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "00_x.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_record_shows_as_one_line(tmp_path):
    base, cand = au.Measurement("fp32", [2.0, 2.1, 1.9]), au.Measurement("bf16", [1.0, 1.1, 0.9])
    rec = au.record(notebook="00_x", technique="bf16 autocast", baseline=base, candidate=cand, folder=tmp_path)
    assert repr(rec) == "recorded in results/00_x.json: bf16 autocast · 2.00×" and "\n" not in repr(rec)
    assert json.loads(json.dumps(rec)) == dict(rec)
