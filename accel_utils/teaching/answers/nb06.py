"""Answer keys of notebook 06 (compilation)."""
from __future__ import annotations

from . import Choice

KEYS = {
    "06.3": Choice(
        options=("a", "b", "c", "d"),
        correct="b",
        feedback={
            "a": "No: torch._dynamo.explain found no graph break in the block (printed under the profiler table): "
                 "all of it was compiled. Look at where its time goes instead.",
            "b": "Yes. The matrix products run in the same vendor kernels (oneDNN/MKL, cuBLAS) whether compiled or "
                 "not, so compile can only shorten the rest of the block, and Amdahl's law caps the gain at "
                 "1 / (their share). The chain is all memory-bound elementwise passes: fusion turns them into one.",
            "c": "No: the chain's tensor is the larger one, and it gained the most. Size alone does not slow compiled "
                 "code; what matters is how much of the time fusion can touch.",
            "d": "No: inference_mode only stops autograd's bookkeeping; the compiled code is the same, fused kernels "
                 "included. The profiler shows where the block's time goes.",
        },
    ),
}
