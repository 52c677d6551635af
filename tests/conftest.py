"""Shared test settings: results go to a temporary folder, never into the repository."""
import pytest


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path, monkeypatch):
    """Every test writes results under its own tmp folder."""
    monkeypatch.setenv("ACCEL_RESULTS_DIR", str(tmp_path / "results"))
    yield
