"""Answer keys of 14 · Capstone: combining techniques."""
from __future__ import annotations

from collections.abc import Mapping

from . import Choice


def _int8_gap(context: Mapping) -> str:
    """'b' when INT8 measurably buys less in the chain than alone on the baseline (paired interval below 1), else 'd'."""
    gap = context.get("int8_chain_over_alone")
    return "b" if getattr(gap, "slower", False) else "d"


KEYS = {
    # ★★★ Exercise 3: INT8 (in ONNX Runtime, against ONNX Runtime fp32) buys less on the chain's small model than on
    # the baseline. Context: int8_chain_over_alone, the paired per-round ratio (chain step) / (alone step) at batch 1.
    "14.3": Choice(
        options=("a", "b", "c", "d"),
        correct=_int8_gap,
        feedback={
            "a": "No: pruning removed whole channels, it did not shrink the bits of the weights that remain. Each "
                 "remaining weight is still a 32-bit float in the fp32 file, and INT8 stores it in 8 bits in both "
                 "models alike. Look at the time per convolution in the profiler table instead.",
            "b": "Right when the gap is measured. INT8 makes the work inside a convolution cheaper (8-bit products, "
                 "four times fewer bytes of weights), so a layer gains in proportion to its arithmetic. Around the "
                 "convolutions it adds work that does not shrink with the model: quantizing the input, changing the "
                 "layout (Transpose), dequantizing the output, and a first convolution over one input channel where "
                 "int8 has nothing to vectorize. In the baseline the wide convolutions dominate, so the saving wins; "
                 "in the small model at batch 1 they take a few microseconds each, and the fixed additions eat most "
                 "or all of the saving. The profiler table shows both columns.",
            "c": "No: both INT8 models were calibrated on the same number of real training images, and calibration "
                 "changes the scales (so accuracy), not how long the int8 kernels take. The question is about time.",
            "d": "Right only when the paired ratio (chain over alone) has an interval that does not lie below 1: then "
                 "INT8 did not measurably buy less in the chain, and explaining a gap would explain noise. When its "
                 "interval lies below 1, the gap is real and the profiler table shows where it comes from.",
        },
    ),
}
