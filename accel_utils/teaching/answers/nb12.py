"""Answer keys of 12 · Dynamic inference: early exit."""
from __future__ import annotations

from collections.abc import Mapping

from . import Choice


def _where_the_gap_lies(context: Mapping) -> str:
    """'b' when the measured speedup's interval lies below the FLOP prediction, 'c' above it, else 'd'."""
    measured, predicted = context.get("measured"), context.get("flop_prediction")
    if predicted is None or not getattr(measured, "has_ci", False):
        return "d"
    if measured.ci_high < predicted:
        return "b"
    if measured.ci_low > predicted:
        return "c"
    return "d"


KEYS = {
    # ★★★ Exercise 3: the speedup FLOPs predict for early exit at batch 1, against the one measured.
    "12.3": Choice(
        options=("a", "b", "c", "d"),
        correct=_where_the_gap_lies,
        feedback={
            "a": "No: every sample runs once, stage by stage, and leaves at the first exit sure enough; nothing is "
                 "recomputed (the written-out early_exit shows it). The gap lies in what each exit costs.",
            "b": "Yes, when the measured interval lies below the FLOP prediction. Section 4 printed each exit's share "
                 "of the full network's time next to its share of the FLOPs: the early exits cost more of the time "
                 "than of the FLOPs. At batch 1 each operator pays a fixed cost whatever its size, the early stages "
                 "are cheap in FLOPs but not in time, and every exit passed adds a head and a decision whose answer "
                 "must reach the host. FLOPs count none of it. If the interval contains the prediction, though, there "
                 "is no gap to explain.",
            "c": "This is right only when the measured interval lies above the FLOP prediction: then the stages early "
                 "exit skips cost more of the time than of the FLOPs (compare the shares printed in section 4). When "
                 "the measurement lies below the prediction, the early exits cost more than their FLOPs say.",
            "d": "This is right only when the measured interval contains the FLOP prediction: then no gap was "
                 "measured. When the whole interval lies on one side of it, the gap is real; compare each exit's "
                 "share of the time with its share of the FLOPs to see where it comes from.",
        },
    ),
}
