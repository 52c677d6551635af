"""Answer keys of notebook 00's multiple-choice exercises."""
from __future__ import annotations

from ..answers import Choice

KEYS = {
    # ★★★ Exercise 3: broadcasting makes one call per operator, like the matmul identity, yet is much slower.
    "00.3": Choice(
        options=("a", "b", "c", "d"),
        correct="c",
        feedback={
            "a": "Count them: broadcasting does about 3 FLOPs per (pair, feature) — subtract, square, add — and the "
                 "matmul identity about 2. That is 1.5× the arithmetic, far less than the gap you measured.",
            "b": "There is no hidden Python loop: each operator (subtract, power, sum) is one call into a compiled "
                 "kernel, a handful of calls in all. Python overhead is what the *loop* version pays, not this one.",
            "c": "Right. The broadcast writes an N × N × DIM temporary (N²·DIM·4 bytes), then reads it back to square "
                 "it and again to sum it: its time is set by memory traffic. The matmul identity reads a and b once "
                 "and reuses each loaded value many times from caches and registers, so arithmetic, not memory, sets "
                 "its pace. Exercise 2's chunks shrink the temporary; notebook 01 turns this into the roofline.",
            "d": "The identity does the same work: the assert_close above checked both against the loop's answer. "
                 "It only orders the arithmetic differently (‖a‖² + ‖b‖² − 2·a·b).",
        },
    ),
}
