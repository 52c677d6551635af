"""Answer keys of notebook 16's multiple-choice exercises (decoding at a realistic size)."""
from __future__ import annotations

from collections.abc import Mapping

from . import Choice


def _four_bit_vs_int8(context: Mapping) -> str:
    """(a) when the 4-bit step is faster than INT8 by most of the byte ratio (still bandwidth-bound), else (b).

    context: ``byte_ratio`` (INT8 bytes per token / 4-bit bytes per token) and ``speed_ratio`` (INT8 time per
    token / 4-bit time per token), both measured in the notebook.
    """
    byte_ratio, speed_ratio = float(context["byte_ratio"]), float(context["speed_ratio"])
    return "a" if speed_ratio >= 0.8 * byte_ratio else "b"


KEYS = {
    "16.3": Choice(
        options=("a", "b", "c", "d"),
        correct=_four_bit_vs_int8,
        feedback={
            "a": "(a) holds when the two printed ratios are close (the time ratio at least about 80% of the byte "
                 "ratio): both steps then read their bytes at about the same rate, near the bandwidth, and the time "
                 "follows the bytes. Compare the ratios printed above with that.",
            "b": "(b) holds when the time ratio falls well short of the byte ratio: once a step no longer reads at "
                 "the bandwidth, fewer weight bytes buy less. Unpacking 4-bit values costs instructions, and what "
                 "was not quantized (attention over the cached keys, LayerNorms, the runtime's per-operator costs) "
                 "stays the same size: the 4-bit step's achieved GB/s sits far below the roof. Compare the ratios "
                 "printed above with that.",
            "c": "No: the file and the session hold the packed 4-bit weights (the op count shows MatMulNBits "
                 "nodes, and the file is smaller); the kernel unpacks a block at a time in registers, never a "
                 "float copy of the whole weight.",
            "d": "No: the op count printed in section 4 shows one MatMulNBits per Linear layer plus one for the "
                 "output head; the head is quantized like every other layer.",
        },
    ),
    "16.4": Choice(
        options=("a", "b", "c", "d"),
        correct="a",
        feedback={
            "a": "Right: the speedup is about tokens per target call ÷ (1 + k × the draft's cost per guess as a "
                 "share of a target step + the extra cost of verifying k + 1 tokens at once); guesses after the "
                 "first rejection were paid for and thrown away.",
            "b": "No: the output is asserted identical to the target's greedy output, token for token; speculative "
                 "decoding only changes how many target calls produce it.",
            "c": "No: the target keeps its KV cache and rolls it back (crop) to the accepted tokens after each "
                 "round; without it every verification would recompute the whole context.",
            "d": "No: the rounds are paired and the interval printed with the speedup is narrow; the gap is "
                 "systematic, the cost of the draft and of verification, not noise.",
        },
    ),
}
