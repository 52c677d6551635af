import pytest

import accel_utils as au


def test_mode_default_is_standard(monkeypatch):
    monkeypatch.delenv("ACCEL_MODE", raising=False)
    assert au.MODE == "standard"
    assert au.by_mode(1, 2, 3) == 2


@pytest.mark.parametrize("mode,expected", [("smoke", 1), ("standard", 2), ("full", 3), ("FULL", 3)])
def test_by_mode_follows_environment(monkeypatch, mode, expected):
    monkeypatch.setenv("ACCEL_MODE", mode)
    assert au.by_mode(smoke=1, standard=2, full=3) == expected


def test_bad_mode_lists_valid_ones(monkeypatch):
    monkeypatch.setenv("ACCEL_MODE", "turbo")
    with pytest.raises(ValueError, match="smoke, standard, full"):
        au.get_mode()
    with pytest.raises(ValueError, match="turbo"):
        _ = au.MODE


def test_results_and_data_dirs_honour_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ACCEL_RESULTS_DIR", str(tmp_path / "r"))
    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path / "d"))
    assert au.results_dir() == tmp_path / "r"
    assert au.data_dir() == tmp_path / "d"


def test_in_a_checkout_results_and_data_live_in_the_checkout(monkeypatch):
    from pathlib import Path

    from accel_utils.core import config
    root = Path(__file__).resolve().parent.parent
    monkeypatch.delenv("ACCEL_RESULTS_DIR", raising=False)
    monkeypatch.delenv("ACCEL_DATA_DIR", raising=False)
    assert config.project_root() == root
    assert au.results_dir() == root / "results" and au.data_dir() == root / "data"
