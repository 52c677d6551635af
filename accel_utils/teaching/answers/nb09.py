"""Answer keys of notebook 09's multiple-choice exercises (see accel_utils/teaching/answers/__init__.py)."""
from . import Choice

KEYS = {
    "09.3": Choice(
        options=("a", "b", "c", "d"),
        # the bigger of the two measured factors says where most of the gain comes from
        correct=lambda ctx: "b" if ctx["runtime_factor"] > ctx["int8_factor"] else "c",
        feedback={
            "a": "No: fp32 in ONNX Runtime is already faster than fp32 eager, with no INT8 at all. The runtime's "
                 "factor is printed above the question; INT8 only adds the second one.",
            "b": "This holds when the runtime's factor is the larger of your two: leaving eager PyTorch removes a "
                 "fixed cost per layer (Python, dispatch, separate kernels), which dominates a batch of one, and "
                 "INT8 then shrinks only the arithmetic. That is why the INT8 record compares fp32 and INT8 in the "
                 "same runtime. Check it against the two factors printed above.",
            "c": "This holds when the INT8 factor is the larger of your two: the arithmetic then dominates even at "
                 "batch 1 (large layers, int8 dot-product instructions), so INT8 carries most of the gain and the "
                 "runtime the rest. Check it against the two factors printed above.",
            "d": "No: both runtimes were timed with the same number of threads (deploy sets ONNX Runtime's "
                 "intra-op threads to torch.get_num_threads()). Compare the two factors printed above.",
        },
    ),
}
