"""Answer keys of notebook 01's multiple-choice exercises."""
from __future__ import annotations

from ..answers import Choice

KEYS = {
    # ★★★ Exercise 3: the depthwise conv reaches a far smaller share of the fp32 peak than the dense conv.
    "01.3": Choice(
        options=("a", "b", "c", "d"),
        correct="b",
        feedback={
            "a": "FLOP/s is a rate: fewer FLOPs done in proportionally less time would give the same FLOP/s. The "
                 "depthwise conv's time did not shrink with its FLOPs — ask what it spends that time on.",
            "b": "Right. Each input value feeds only 9 multiply-adds (one 3×3 window, one channel), so the depthwise "
                 "conv does about 2 FLOPs per byte it must move: left of the ridge, where the roof is intensity × "
                 "bandwidth. The dense conv reuses every input value across every output channel, far right of the "
                 "ridge, under the compute roof.",
            "c": "Both convs run on the same threads of the same library. Thread scaling (section 4) changes how fast "
                 "each goes, not where it sits relative to the ridge.",
            "d": "A perfect kernel still cannot beat its roof: at about 2 FLOP/byte, min(peak, intensity × bandwidth) "
                 "is the bandwidth term, a small share of the peak. A better library can only approach that roof.",
        },
    ),
}
