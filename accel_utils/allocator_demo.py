"""A small CNN's inference under two allocators, each in a fresh process, timed in alternating rounds (notebook 00).

glibc's malloc can be told to keep freed memory (``au.keep_freed_memory()``), but not told to forget it again: the
setting lasts for the life of a process. So the comparison needs two fresh processes, one per setting. They start
side by side as workers; each round, each is asked in turn (the order alternating) to time one block of calls, and
the two times of a round are paired, as ``au.benchmark`` pairs the callables of one process. The machine's drift
between minutes then falls on both sides of every round and cancels in the per-round ratios.

    python -m accel_utils.allocator_demo [--keep]           # one process: its allocator and times, as JSON
    python -m accel_utils.allocator_demo [--keep] --serve   # a worker: one block timed per line read on stdin
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import torch

from .core.allocator import allocator_state, keep_freed_memory
from .core.stats import Measurement
from .core.timing import Measurements, benchmark, seconds_per_call
from .models import SmallCNN

DEFAULT, KEPT = "default malloc", "freed memory kept"


def cnn_inference():
    """The call timed: a SmallCNN's inference on a batch of 64 MNIST-sized images, on the CPU."""
    torch.manual_seed(0)
    model = SmallCNN(1, 10, (32, 64, 128)).eval()
    x = torch.randn(64, 1, 28, 28)

    def call():
        with torch.inference_mode():
            return model(x)
    return call


def time_cnn_inference() -> list[float]:
    """Seconds per call of the CNN's inference, one value per round of ``au.benchmark``."""
    return benchmark(cnn_inference(), label="SmallCNN batch 64", device="cpu").times


def serve(block_time: float, stdin=sys.stdin, stdout=sys.stdout) -> None:
    """Warm up, say which allocator is in use, then time one block of calls per line read until end of input."""
    call = cnn_inference()
    for _ in range(3):
        call()
    number = max(1, round(block_time / max(seconds_per_call(call, torch.device("cpu")), 1e-9)))
    print(json.dumps({"allocator": allocator_state(), "number": number, "threads": torch.get_num_threads()}),
          file=stdout, flush=True)
    for _ in stdin:
        print(json.dumps({"seconds": seconds_per_call(call, torch.device("cpu"), number)}), file=stdout, flush=True)


class _Worker:
    """One fresh Python process running ``serve``, with or without ``--keep``."""

    def __init__(self, keep: bool, block_time: float):
        package_parent = str(Path(__file__).resolve().parent.parent)   # importable even when not installed
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
        self.errors = tempfile.TemporaryFile(mode="w+")
        args = [sys.executable, "-m", "accel_utils.allocator_demo", "--serve", f"--block-time={block_time}"]
        self.process = subprocess.Popen(args + (["--keep"] if keep else []), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.errors, text=True, env=env)
        self.hello = self._read()

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=60)
            self.errors.seek(0)
            tail = "".join(self.errors.readlines()[-5:]).strip()
            raise RuntimeError(f"the allocator worker stopped (exit code {self.process.returncode}): {tail}")
        return json.loads(line)

    def time_block(self) -> float:
        self.process.stdin.write("time\n")
        self.process.stdin.flush()
        return self._read()["seconds"]

    def close(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.errors.close()


def compare_allocators(rounds: int, *, block_time: float = 0.1) -> tuple[Measurements, dict[str, str]]:
    """Time the CNN in two fresh processes (default malloc, freed memory kept) in ``rounds`` alternating rounds.

    Returns Measurements labelled ``DEFAULT`` and ``KEPT`` of one session (``au.compare`` pairs them round by
    round) and what allocator each process reported.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    workers = {}
    try:
        workers = {DEFAULT: _Worker(False, block_time), KEPT: _Worker(True, block_time)}
        times = {label: [] for label in workers}
        order = list(workers)
        for r in range(rounds):
            for label in (order if r % 2 == 0 else order[::-1]):
                times[label].append(workers[label].time_block())
    finally:
        for worker in workers.values():
            worker.close()
    session = uuid.uuid4().hex[:12]
    ms = Measurements({label: Measurement(label=label, times=times[label], number_per_run=w.hello["number"],
                                          threads=w.hello["threads"], device="cpu", session=session)
                       for label, w in workers.items()})
    return ms, {label: w.hello["allocator"] for label, w in workers.items()}


def main(argv: list[str] | None = None) -> int:
    """One process: print its allocator and times as one JSON line; ``--serve``: act as a worker."""
    args = sys.argv[1:] if argv is None else argv
    if "--keep" in args:
        keep_freed_memory()
    if "--serve" in args:
        block = next((float(a.split("=", 1)[1]) for a in args if a.startswith("--block-time=")), 0.1)
        serve(block)
        return 0
    print(json.dumps({"allocator": allocator_state(), "times": time_cnn_inference()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
