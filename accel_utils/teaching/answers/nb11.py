"""Answer keys of 11 · Lightweight architectures."""
from __future__ import annotations

from collections.abc import Mapping

from . import Choice


def _larger_batch_gains_more(context: Mapping) -> str:
    """'b' when the large batch's speedup interval lies wholly above batch 1's, else 'd' (no change measured)."""
    batch, batch1 = context.get("batch"), context.get("batch1")
    has = all(getattr(s, "has_ci", False) for s in (batch, batch1))
    return "b" if has and batch.ci_low > batch1.ci_high else "d"


KEYS = {
    # ★★★ Exercise 3: MobileNetSmall against ResNetSmall at batch 1 and at a larger batch.
    "11.3": Choice(
        options=("a", "b", "c", "d"),
        correct=_larger_batch_gains_more,
        feedback={
            "a": "No: FLOPs per image do not depend on the batch size; the FLOP ratio printed in section 6 holds at "
                 "every batch. What changes with the batch is how much of the time is arithmetic at all.",
            "b": "Yes, when the larger batch's interval lies above batch 1's. The operator table shows MobileNetSmall "
                 "making many more calls, and the share you computed shows how much of its time goes to operators "
                 "that do almost no FLOPs. Each call pays a fixed cost once, whatever the batch; at a larger batch it "
                 "is shared by all the images, and the time per image moves toward the arithmetic and memory "
                 "traffic, where MobileNetSmall does less. When the intervals overlap, though, there is no change "
                 "to explain.",
            "c": "No: a depthwise conv's arithmetic intensity per image does not grow with the batch: each input value "
                 "is still used k² times and each weight once per pixel. It stays on the memory-bound side of the "
                 "roofline at every batch size.",
            "d": "This is right only when the two intervals overlap: then no change with the batch was measured, and "
                 "explaining one would explain noise. When the larger batch's interval lies wholly above batch 1's, "
                 "the change is real: a fixed cost per operator call is shared by more images.",
        },
    ),
}
