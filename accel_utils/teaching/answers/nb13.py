"""Answer keys of notebook 13's multiple-choice exercises (see accel_utils/teaching/answers/__init__.py)."""
from . import Choice

KEYS = {
    "13.3": Choice(
        options=("a", "b", "c", "d"),
        correct="b",
        feedback={
            "a": "No: look at the graph ONNX Runtime runs, printed above. The Q/DQ pairs around each convolution "
                 "are fused into integer convolutions (QLinearConv): the weights stay int8 and the multiply-adds "
                 "are done in int8.",
            "b": "Yes. INT8 shrinks one part of the time, the convolutions' arithmetic, as Amdahl's law says: the "
                 "fixed per-call work, quantizing the input, dequantizing the output and the fp32 ops stay. How "
                 "large the arithmetic's share is changes with the batch size, and with it the speedup.",
            "c": "No: both were timed in the same rounds and compared round by round, and the interval says how "
                 "much noise there is. Speed follows the work each call does, not the file size.",
            "d": "No: both sessions were created with the same thread count (deploy sets ONNX Runtime's intra-op "
                 "threads to torch.get_num_threads()).",
        },
    ),
}
