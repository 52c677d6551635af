"""Answer keys of notebook 04's multiple-choice exercises."""
from __future__ import annotations

from . import Choice


def _gap_explained(context) -> str:
    """(d) when one worker came within 20% of the perfect-overlap bound, else (b): the cores were not free."""
    return "d" if context["measured"] >= 0.8 * context["bound"] else "b"


KEYS = {
    "04.3": Choice(
        options=("a", "b", "c", "d"),
        correct=_gap_explained,
        feedback={
            "a": "Not the lock: each DataLoader worker is a separate process with its own interpreter, so Python's "
                 "global interpreter lock never makes the worker and the main process wait for each other.",
            "b": "Overlap needs an idle core for the worker. When the compute thread, the worker and whatever else "
                 "runs share too few cores, they take turns and decoding in the worker takes time away from "
                 "computing: the busy-core count shows how much CPU the process really got. That explains a gap, "
                 "but only if there is one: is the measured speedup far below the bound?",
            "c": "No: a collated batch reaches the main process through shared memory, which costs far less than "
                 "reading, decoding and augmenting its images (the collation timing in 'Going further' shows the "
                 "scale).",
            "d": "That holds only if the measured speedup is within 20% of the bound you computed: then the worker "
                 "found an idle core and overlapped as the model says. Compare the two numbers the check printed.",
        },
    ),
}
