"""Answer keys of 08 · Pruning."""
from __future__ import annotations

from collections.abc import Mapping

from . import Choice, interval_below


def _batch1_gains_less(context: Mapping) -> str:
    """'b' when the batch-1 speedup's interval lies wholly below the large batch's, else 'd' (no gap measured)."""
    return "b" if interval_below(context.get("batch1"), context.get("batch")) else "d"


KEYS = {
    # ★★★ Exercise 3: half the channels removed, ~4× fewer FLOPs, a smaller speedup, and smaller still at batch 1.
    "08.3": Choice(
        options=("a", "b", "c", "d"),
        correct=_batch1_gains_less,
        feedback={
            "a": "No: channel pruning leaves no zeros behind. It rebuilds smaller dense layers (count the channels "
                 "printed in section 4); every remaining weight is used. Zeros are the story of unstructured "
                 "pruning, and there they cost the same at every batch size.",
            "b": "This is the model when the batch-1 interval lies below the large batch's: each layer call pays a "
                 "fixed cost (Python, dispatch, launching a kernel, allocating the output) whatever its width. At a "
                 "large batch that cost is spread over many images; at batch 1 it is a large share of the time, and "
                 "removing FLOPs shortens only the rest (Amdahl). The fixed share you computed says how large. Read "
                 "the intervals first, though: when they overlap there is no gap to explain.",
            "c": "No: FLOPs per image do not depend on the batch size; the ratio printed above is per image and holds "
                 "at every batch. What changes with the batch is how much of the time is arithmetic at all.",
            "d": "This is right only when the two intervals overlap: then no gap was measured and explaining one "
                 "would explain noise. When the batch-1 interval lies wholly below the large batch's, the gap is real: "
                 "fixed per-call costs that do not shrink with the channels are a larger share at batch 1.",
        },
    ),
}
