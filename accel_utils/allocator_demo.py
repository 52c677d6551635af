"""Time a small CNN's inference in a fresh process, with or without keeping freed memory (notebook 00).

    python -m accel_utils.allocator_demo [--keep]   # prints {"allocator": ..., "times": [...]} as JSON
"""
from __future__ import annotations

import json
import sys

import torch

from .core.allocator import allocator_state, keep_freed_memory
from .core.timing import benchmark
from .models import SmallCNN


def time_cnn_inference() -> list[float]:
    """Seconds per call of a SmallCNN's inference on a batch of 64 MNIST-sized images."""
    torch.manual_seed(0)
    model = SmallCNN(1, 10, (32, 64, 128)).eval()
    x = torch.randn(64, 1, 28, 28)
    with torch.inference_mode():
        return benchmark(lambda: model(x), label="SmallCNN batch 64", device="cpu").times


def main(argv: list[str] | None = None) -> int:
    """Print the allocator in use and the times as one JSON line."""
    if "--keep" in (sys.argv[1:] if argv is None else argv):
        keep_freed_memory()
    print(json.dumps({"allocator": allocator_state(), "times": time_cnn_inference()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
