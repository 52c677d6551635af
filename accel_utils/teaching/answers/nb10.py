"""Answer keys of 10 · Knowledge distillation."""
from __future__ import annotations

from collections.abc import Mapping

from . import Choice


def _read_the_interval(context: Mapping) -> str:
    """From the paired per-seed difference (distilled − scratch): 'b' above zero, 'e' below, else 'c'."""
    gain = context.get("gain")
    low, high = getattr(gain, "ci_low", None), getattr(gain, "ci_high", None)
    if low is None or high is None:
        return "c"
    return "b" if low > 0 else "e" if high < 0 else "c"


KEYS = {
    # ★★★ Exercise 3: does this run support "distillation improves the student"?
    "10.3": Choice(
        options=("a", "b", "c", "d", "e"),
        correct=_read_the_interval,
        feedback={
            "a": "Two means always differ a little. Whether the difference is the technique or the luck of the seeds "
                 "is what the interval of the paired per-seed differences says: read it, not the means.",
            "b": "This is the right reading when the interval of the paired per-seed differences lies wholly above "
                 "zero: the same initial weights and batches in each pair cancel most of the seed-to-seed spread, and "
                 "what is left says the gain is larger than that noise, for this student, teacher and data. Check "
                 "your interval: if it contains zero (or there were too few seeds for one), the gain is not shown.",
            "c": "This is the right reading when the interval contains zero, or when too few seeds gave none: the "
                 "gain is not distinguishable from seed-to-seed noise. More seeds (or more test images) narrow the "
                 "interval; a harder task, a smaller student or fewer labels would make a real gain larger. If your "
                 "interval lies wholly on one side of zero, though, the data do say something.",
            "d": "One pair going the other way is what noise does: a technique that helps on average can lose on a "
                 "given seed. Judge the average of the paired differences by its interval.",
            "e": "This is the right reading only when the interval lies wholly below zero. Check your interval: if "
                 "it contains zero, the data say neither better nor worse.",
        },
    ),
}
