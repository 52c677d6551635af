"""Answer keys of 15 · Advanced: transformer inference."""
from __future__ import annotations

from collections.abc import Mapping

from . import Choice


def _batching(context: Mapping) -> str:
    """(b) when most of a batch-1 step is shared by the batch (the learner's measured share), else (c)."""
    shared = context.get("shared")
    if shared is None:
        raise KeyError("15.3 needs the measured shared part of a batch-1 step: check_choice(..., shared=...)")
    return "b" if shared >= 0.5 else "c"


KEYS = {
    "15.3": Choice(
        options=("a", "b", "c", "d"),
        correct=_batching,
        feedback={
            "a": "No: the Python loop runs once per generation step whatever the batch size; a batch of B requests is "
                 "one call of each operator on B rows, not B calls. If Python overhead grew with B, batching would "
                 "not raise throughput at all.",
            "b": "This is the model when the shared part f / t(1) is large, as for a small model decoding at batch "
                 "1: most of a batch-1 step is paid once per step (launching dozens of small operators, reading every "
                 "weight) and the whole batch shares it. What grows with B is each request's own work, its rows of "
                 "arithmetic and its attention over its own KV cache, r per request: the throughput gain "
                 "B·t(1)/t(B) tends to t(1)/r, an Amdahl bound, short of B. (If your share came out small, look "
                 "at (c).)",
            "c": "This fits only when the shared part f / t(1) is small: one request's arithmetic already kept the "
                 "machine busy, so batching had little idle capacity to fill. When most of a batch-1 step is shared "
                 "(a share above one half), (b) is the model.",
            "d": "No: greedy decoding computes every token exactly once, batched or not. Rounding may differ in a "
                 "batched matmul, which can flip a near-tie, but nothing is ever recomputed.",
        },
    ),
}
