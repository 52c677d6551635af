"""Self-checks for the exercises, judged against the learner's own measurements and explained in plain words.

A check with nothing to judge yet (the learner's variable still ``None``, a function still a stub that raises
NotImplementedError) says what to fill in and does not fail: the student notebook runs top to bottom.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .answers import answer_key


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


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_prediction(predicted: float | None, measured: float, *, what: str = "speedup",
                     within: float = 0.3) -> Check:
    """Compare a learner's prediction with the value measured on their machine (``within``: ±30% by default)."""
    if predicted is None:
        return Check(None, f"No prediction yet: write down the {what} you expect, then run this cell again.")
    if not _is_number(predicted) or predicted <= 0:
        return Check(False, f"A prediction must be a positive number, got {predicted!r}.")
    if not _is_number(measured) or measured <= 0:
        return Check(None, f"The measured {what} is {measured!r}: there is nothing to compare a prediction with. "
                           "Run the measurement cell again.")
    ratio = measured / predicted
    if abs(ratio - 1) <= within:
        return Check(True, f"Measured {what} {measured:.3g} vs your {predicted:.3g}: within {within:.0%}. Well predicted.")
    direction = "higher" if ratio > 1 else "lower"
    return Check(False, f"Measured {what} {measured:.3g} is {max(ratio, 1 / ratio):.2f}× {direction} than your "
                        f"{predicted:.3g}. Look at what the measurement includes before the next guess.")


def check_value(answer: float | None, expected: float, *, what: str, rel_tol: float = 0.05,
                abs_tol: float = 0.0) -> Check:
    """A number the learner computes from their own measurements (a bound, a share), against the same sum done here."""
    if answer is None:
        return Check(None, f"No answer yet: compute the {what} from your measurements, then run this cell again.")
    if not _is_number(answer):
        return Check(False, f"The {what} must be a number, got {answer!r}.")
    if math.isclose(answer, expected, rel_tol=rel_tol, abs_tol=abs_tol):
        return Check(True, f"{what}: {answer:.3g}, as the measurements give ({expected:.3g}).")
    return Check(False, f"{what}: your {answer:.3g} differs from what your measurements give by more than "
                        f"{rel_tol:.0%}. Recompute it step by step.")


def check_close(candidate, reference, *, what: str = "output", atol: float = 1e-5, rtol: float = 1e-4) -> Check:
    """Does the learner's tensor match the reference (shape, values within tolerance)?"""
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


def check_choice(key: str, answer: str | None, **context) -> Check:
    """Judge a multiple-choice answer ('a', 'b', …) to exercise ``key`` ('06.3'), with feedback on the choice made.

    ``context`` carries the learner's measurements where the right answer depends on them.
    """
    entry = answer_key(key)
    letters = ", ".join(entry.options)
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return Check(None, f"No answer yet: set MY_ANSWER to one of {letters}, then run this cell again.")
    choice = str(answer).strip().lower().strip("()")
    if choice not in entry.options:
        return Check(False, f"{answer!r} is not one of the options {letters}.")
    right = entry.correct_for(context)
    return Check(choice == right, entry.feedback_for(choice, context))


def attempt(fn: Callable, *args, **kwargs):
    """Call the learner's function; None if it is still a stub that raises NotImplementedError."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        return None
