"""Answer keys of the multiple-choice exercises, one module per notebook (nb00.py, nb01.py, …).

Each module holds ``KEYS = {"06.3": Choice(...)}``. The question and its options are written in the notebook's
markdown; the key holds which option is right (possibly depending on the learner's measurement) and feedback
for every option, so a wrong choice learns why without being told the answer.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    """One multiple-choice exercise: its option letters, the right one (or a rule on context), feedback per option."""

    options: tuple[str, ...]
    correct: str | Callable[[Mapping], str]
    feedback: Mapping[str, str | Callable[[Mapping], str]]

    def __post_init__(self):
        if set(self.feedback) != set(self.options):
            raise ValueError(f"feedback must cover exactly the options {self.options}, got {sorted(self.feedback)}")
        if isinstance(self.correct, str) and self.correct not in self.options:
            raise ValueError(f"correct option {self.correct!r} is not one of {self.options}")

    def feedback_for(self, choice: str, context: Mapping) -> str:
        """What to tell a learner who chose ``choice``; it may read their measurements."""
        text = self.feedback[choice]
        return text(context) if callable(text) else text

    def correct_for(self, context: Mapping) -> str:
        """The right option, given the learner's measurements where it depends on them."""
        right = self.correct(context) if callable(self.correct) else self.correct
        if right not in self.options:
            raise ValueError(f"the rule chose {right!r}, not one of {self.options}")
        return right


def interval_below(a, b) -> bool:
    """True when both Speedups carry an interval and a's lies wholly below b's: a gap the measurement supports."""
    has = all(getattr(s, "ci_low", None) is not None and getattr(s, "ci_high", None) is not None for s in (a, b))
    return has and a.ci_high < b.ci_low


def answer_key(key: str) -> Choice:
    """The Choice for exercise ``key`` ('NN.k'); KeyError naming the known keys of that notebook."""
    number = key.split(".", 1)[0]
    if not (len(number) == 2 and number.isdigit()):
        raise KeyError(f"exercise keys look like '06.3', got {key!r}")
    try:
        module = importlib.import_module(f"{__name__}.nb{number}")
    except ModuleNotFoundError:
        raise KeyError(f"no answer keys for notebook {number} (module nb{number}.py)") from None
    if key not in module.KEYS:
        raise KeyError(f"no answer key {key!r}; notebook {number} has {', '.join(sorted(module.KEYS)) or 'none'}")
    return module.KEYS[key]
