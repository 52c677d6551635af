"""Self-checks for the exercises: judged against the learner's own measurements, explained in plain words."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .measure import Speedup


@dataclass(frozen=True)
class Check:
    """The verdict of a self-check: passed or not (None: nothing to check yet), and why."""

    passed: bool | None
    message: str

    def __repr__(self) -> str:
        mark = {True: "✔", False: "✘", None: "…"}[self.passed]
        return f"{mark} {self.message}"

    def __bool__(self) -> bool:
        return bool(self.passed)


def check_prediction(predicted: float | None, measured: float, *, what: str = "speedup",
                     within: float = 0.25) -> Check:
    """Compare a learner's prediction with the measured value; within = relative tolerance (0.25 = ±25%)."""
    if predicted is None:
        return Check(None, f"No prediction yet: write down the {what} you expect, then run this cell again.")
    if not isinstance(predicted, (int, float)) or not math.isfinite(predicted) or predicted <= 0:
        return Check(False, f"A prediction must be a positive number, got {predicted!r}.")
    ratio = measured / predicted
    if abs(ratio - 1) <= within:
        return Check(True, f"Measured {what} {measured:.3g} vs your {predicted:.3g}: within {within:.0%}. Well predicted.")
    direction = "higher" if ratio > 1 else "lower"
    return Check(False, f"Measured {what} {measured:.3g} is {ratio if ratio > 1 else 1 / ratio:.2f}× {direction} "
                        f"than your {predicted:.3g}. Look at what the measurement includes before the next guess.")


def check_speedup_claim(claimed: float | None, speedup: Speedup) -> Check:
    """Is a claimed speedup consistent with the measured one, i.e. inside its 95% confidence interval?"""
    if claimed is None:
        return Check(None, "No claim yet: write the speedup you would report.")
    if speedup.ci_low <= claimed <= speedup.ci_high:
        return Check(True, f"{claimed:.2f}× lies inside the measured 95% CI {speedup.ci_low:.2f}–{speedup.ci_high:.2f}×.")
    return Check(False, f"{claimed:.2f}× lies outside the measured 95% CI {speedup.ci_low:.2f}–{speedup.ci_high:.2f}× "
                        f"(median {speedup.value:.2f}×): the data do not support that claim.")


def check_close(candidate, reference, *, what: str = "output", atol: float = 1e-5, rtol: float = 1e-4) -> Check:
    """Does the learner's tensor match the reference (shape, dtype family, values within tolerance)?"""
    if candidate is None:
        return Check(None, f"Nothing to check yet: compute the {what} first.")
    candidate, reference = torch.as_tensor(candidate), torch.as_tensor(reference)
    if candidate.shape != reference.shape:
        return Check(False, f"The {what} has shape {tuple(candidate.shape)}, expected {tuple(reference.shape)}.")
    diff = (candidate.float() - reference.float()).abs().max().item()
    if torch.allclose(candidate.float(), reference.float(), atol=atol, rtol=rtol):
        return Check(True, f"The {what} matches the reference (max abs difference {diff:.2e}).")
    return Check(False, f"The {what} differs from the reference by up to {diff:.3g} "
                        f"(allowed: atol {atol:g}, rtol {rtol:g}). Check the formula step by step.")


def check_explanation(text: str | None, *, must_mention: dict[str, tuple[str, ...]]) -> Check:
    """Does a written explanation name each idea? must_mention maps an idea to words that express it."""
    if not text or not text.strip():
        return Check(None, "No explanation yet: write a few sentences, then run this cell again.")
    lowered = text.lower()
    missing = [idea for idea, words in must_mention.items() if not any(w.lower() in lowered for w in words)]
    if not missing:
        return Check(True, "Your explanation covers the key ideas. Compare it with the discussion in the solution.")
    return Check(False, "Your explanation does not yet mention: " + "; ".join(missing) + ".")
