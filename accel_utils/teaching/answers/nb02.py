"""Answer keys of 02 · Mixed precision."""
from __future__ import annotations

from collections.abc import Mapping

from . import Choice, interval_below


def _gap_measured(context: Mapping) -> str:
    """'b' when the training step's speedup interval lies wholly below inference's, else 'd' (no gap to explain)."""
    return "b" if interval_below(context.get("training"), context.get("inference")) else "d"


KEYS = {
    "02.3": Choice(
        options=("a", "b", "c", "d"),
        correct=_gap_measured,
        feedback={
            "a": "No: autograd runs each backward operation in the dtype its forward operation used, so the "
                 "gradients of the 16-bit convolutions and matmuls are computed in 16 bits too. Leaving backward() "
                 "outside the autocast block is the recipe, not a slowdown.",
            "b": "This is the model when a gap is measured: only convolutions and matmuls get faster (Amdahl). A "
                 "training step adds work that does not: the optimizer updates the fp32 master weights, autocast "
                 "casts those weights to 16 bits again at every step, and the backward pass adds memory-bound "
                 "element-wise work (BatchNorm, ReLU, residual additions). A smaller share of the step speeds up. "
                 "But read the intervals first: it applies only when training's interval lies wholly below "
                 "inference's.",
            "c": "No: bf16 uses no scaler at all and shows the same kind of gap. Where a scaler runs (fp16) it "
                 "multiplies the loss by one number and checks the gradients for inf: a few passes over the "
                 "gradients, like the optimizer's, not the main difference.",
            "d": "This is right only when the two intervals overlap (or training gained at least as much): then there "
                 "is no measured gap, and explaining one would explain noise. When training's interval lies wholly "
                 "below inference's, the gap is real and has a cause: only convolutions and matmuls speed up, and a "
                 "training step holds more work that does not.",
        },
    ),
}
