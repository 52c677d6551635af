"""Answer keys of notebook 05's multiple-choice exercises."""
from __future__ import annotations

from . import Choice


def _what_dominates(context) -> str:
    """(b) when the fixed cost is under half of the MLP's for-loop step (memory traffic dominates), else (a)."""
    return "b" if context["share"] < 0.5 else "a"


KEYS = {
    "05.3": Choice(
        options=("a", "b", "c", "d"),
        correct=_what_dominates,
        feedback={
            "a": "The fixed cost per step and per tensor is what the six tiny tensors measure. It dominates only if "
                 "it is most of the MLP's step: is your share above one half? If it is, the launches or dispatches "
                 "of the for-loop's many small operations are what the faster implementation saves.",
            "b": "The for-loop's time then scales with the bytes it moves: each of its elementwise operations reads "
                 "and writes whole tensors (two of them fresh temporaries), about nine passes where the fused step "
                 "makes one. That is the story when the fixed cost is a small share of the MLP's step: is yours?",
            "c": "No: both run with the same thread count (this notebook sets one thread on a CPU), and on a GPU "
                 "threads are not the difference either.",
            "d": "No: section 4 checked that every implementation leaves the same parameters after three steps, "
                 "weight decay included.",
        },
    ),
}
