"""Answer keys of notebook 07 (distributed training with DDP)."""
from __future__ import annotations

from collections.abc import Mapping

from . import Choice


def _ddp_gap(context: Mapping) -> str:
    """(e) where the learner measured DDP faster than one process (extra hardware put to work), else (b)."""
    return "e" if context.get("ddp_faster") else "b"


KEYS = {
    "07.3": Choice(
        options=("a", "b", "c", "d", "e"),
        correct=_ddp_gap,
        feedback={
            "a": "No: DistributedSampler gives each rank its own share, so each process computes on the global batch "
                 "÷ the world size; together they do the arithmetic of one process once, not twice.",
            "b": "Right when DDP was not faster: each step adds an all-reduce of every gradient (and a wait for the "
                 "slower rank), which the no_sync step measured, and on the same cores DDP has no extra hardware to "
                 "gain from. If you measured DDP faster, something one process left idle was put to work: look "
                 "again at option (e).",
            "c": "No: both processes compute at the same time; gloo only carries the all-reduce between them. The "
                 "no_sync step, where they never talk, shows two processes computing side by side.",
            "d": "No: section 3 checked that DDP ends with the weights of one process on the same global batches "
                 "(to rounding after one step): averaging the gradients is what makes the update the same.",
            "e": "Right when DDP was faster: each process keeps its own device (a second GPU, or cores that one "
                 "process's threads did not keep busy, on matrices this small or on a machine busy with other work) "
                 "working on its share of the samples, and that gain outweighs the all-reduce. If you measured DDP "
                 "not faster, there was no idle hardware to put to work: look again at option (b).",
        },
    ),
}
