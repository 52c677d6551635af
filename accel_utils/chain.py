"""Measure a chain of optimizations uniformly: every prefix timed at batch 1 and batched, its file, its accuracy.

The capstone (notebook 14) applies techniques one after another (distill → prune → fine-tune → ONNX Runtime →
INT8) and measures each prefix the same way::

    from accel_utils import chain
    stages = [chain.measure_stage("baseline", chain.eager_runner(model), x1, xb, accuracy=acc, path=pt_file)]
    stages.append(chain.measure_stage("ORT INT8", ort_model.runner, x1, xb, accuracy=acc_q, path=onnx_file))
    print(chain.chain_table(stages))
    chain.plot_waterfall(stages)
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .core.config import project_root, results_dir
from .core.fmt import format_time
from .core.machine import fingerprint
from .core.results import load_results
from .core.stats import Measurement, Speedup, compare
from .core.timing import benchmark


@dataclass
class Stage:
    """One prefix of the chain: its latency at batch 1 and batched, file size, accuracy and what it cost to make."""

    name: str
    latency_1: Measurement
    latency_batch: Measurement
    batch: int
    accuracy: float
    size_bytes: int
    path: str | None = None
    make_seconds: float = 0.0  # training / calibration / export time spent to produce this stage from the last
    meta: dict = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Images per second at the batched size (median time)."""
        return self.latency_batch.throughput(self.batch)


def save_state_dict(model: nn.Module, path: str | Path) -> int:
    """torch.save the model's state_dict to ``path`` (a real file) and return its bytes on disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, str(path))
    return path.stat().st_size


def eager_runner(model: nn.Module, *, autocast_dtype: torch.dtype | None = None) -> Callable[[torch.Tensor], Callable]:
    """``runner(x)`` → a zero-argument callable running ``model(x)`` in eval + inference mode (optionally autocast).

    The same shape as ``deploy.OrtModel.runner``, so eager and ONNX Runtime stages are timed the same way.
    """
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device

    def runner(x: torch.Tensor) -> Callable[[], object]:
        x = x.to(device)
        ctx = (lambda: torch.autocast(device.type, dtype=autocast_dtype)) if autocast_dtype else contextlib.nullcontext

        def call():
            with torch.inference_mode(), ctx():
                return model(x)
        return call
    return runner


def measure_stage(name: str, runner: Callable[[torch.Tensor], Callable], x1: torch.Tensor, xb: torch.Tensor, *,
                  accuracy: float, path: str | Path | None = None, size_bytes: int | None = None,
                  make_seconds: float = 0.0, **benchmark_kwargs) -> Stage:
    """Time ``runner(x1)()`` (batch 1) and ``runner(xb)()`` (batched) with ``au.benchmark``; size from the file.

    ``runner`` maps an input to a zero-argument callable (``eager_runner(model)`` or ``OrtModel.runner``).
    ``path`` is the stage's file on disk (its size is read) unless ``size_bytes`` is given.
    """
    if x1.shape[0] != 1:
        raise ValueError(f"x1 must be a batch of 1, got shape {tuple(x1.shape)}")
    if size_bytes is None:
        if path is None:
            raise ValueError("give the stage's file (path=) or its size (size_bytes=)")
        size_bytes = Path(path).stat().st_size
    m1 = benchmark(runner(x1), label=f"{name} · b1", **benchmark_kwargs)
    mb = benchmark(runner(xb), label=f"{name} · b{xb.shape[0]}", **benchmark_kwargs)
    return Stage(name, m1, mb, int(xb.shape[0]), float(accuracy), int(size_bytes),
                 str(path) if path is not None else None, float(make_seconds))


def cumulative_speedups(stages: Sequence[Stage], *, batched: bool = False) -> list[Speedup]:
    """Speedup (with bootstrap 95% CI) of every stage over the first one, at batch 1 (or batched)."""
    pick = (lambda s: s.latency_batch) if batched else (lambda s: s.latency_1)
    return [compare(pick(stages[0]), pick(s)) for s in stages]


def step_speedups(stages: Sequence[Stage], *, batched: bool = False) -> list[Speedup]:
    """Speedup of each stage over the one before it (the first entry is stage 1 over stage 0)."""
    pick = (lambda s: s.latency_batch) if batched else (lambda s: s.latency_1)
    return [compare(pick(a), pick(b)) for a, b in zip(stages[:-1], stages[1:])]


def chain_table(stages: Sequence[Stage]) -> str:
    """A text table of every prefix: accuracy, batch-1 and batched latency with speedups (95% CI), throughput, size."""
    s1, sb = cumulative_speedups(stages), cumulative_speedups(stages, batched=True)
    b = stages[0].batch
    width = max(len(s.name) for s in stages)
    head = (f"{'stage':{width}}  {'acc %':>6}  {'b1':>9}  {'speedup b1 (95% CI)':>20}  {f'b{b}':>9}  "
            f"{f'speedup b{b} (95% CI)':>20}  {'img/s':>8}  {'size kB':>8}  {'smaller':>7}")
    rows = [head]
    for st, a, c in zip(stages, s1, sb):
        rows.append(f"{st.name:{width}}  {100 * st.accuracy:6.1f}  {format_time(st.latency_1.median):>9}  "
                    f"{f'{a.value:.2f}× ({a.ci_low:.2f}–{a.ci_high:.2f})':>20}  {format_time(st.latency_batch.median):>9}  "
                    f"{f'{c.value:.2f}× ({c.ci_low:.2f}–{c.ci_high:.2f})':>20}  {st.throughput:8.0f}  "
                    f"{st.size_bytes / 1e3:8.1f}  {stages[0].size_bytes / st.size_bytes:6.1f}×")
    return "\n".join(rows)


def plot_waterfall(stages: Sequence[Stage], *, batched: bool = False, title: str | None = None,
                   caption: str | None = None):
    """Waterfall of cumulative speedup: one bar per prefix (log scale, 95% CI whiskers), each step's factor above it."""
    import matplotlib.pyplot as plt

    cum = cumulative_speedups(stages, batched=batched)
    steps = [None] + step_speedups(stages, batched=batched)
    fig, ax = plt.subplots(figsize=(7.2, 3.9), layout="constrained")
    x = np.arange(len(stages))
    bottoms = [1.0] + [c.value for c in cum[:-1]]
    for i, (c, s, bot) in enumerate(zip(cum, steps, bottoms)):
        lo, hi = min(bot, c.value), max(bot, c.value)
        color = "0.55" if s is None else ("tab:green" if s.ci_low > 1 else "tab:red" if s.ci_high < 1 else "tab:gray")
        ax.bar(i, hi - lo if hi > lo else hi * 0.02, bottom=lo, color=color, alpha=0.85, width=0.6)
        ax.errorbar(i, c.value, yerr=[[c.value - c.ci_low], [c.ci_high - c.value]], color="black", capsize=3, lw=0.8)
        ax.text(i, hi * 1.06, f"{c.value:.2f}×" + ("" if s is None else f"\n(step {s.value:.2f}×)"),
                ha="center", va="bottom", fontsize=7)
        if i + 1 < len(stages):
            ax.plot([i + 0.3, i + 0.7], [c.value, c.value], color="0.4", lw=0.7, ls=":")
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks(x, [s.name for s in stages], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("cumulative speedup over baseline (×, log)")
    top = max(c.ci_high for c in cum)
    ax.set_ylim(min(0.5, min(c.ci_low for c in cum) * 0.8), top * 2.2)
    which = f"batch {stages[0].batch}" if batched else "batch 1"
    ax.set_title(title or f"Cumulative speedup along the chain ({which})")
    fig.supxlabel(caption or fingerprint(), fontsize=7, color="0.35")
    return fig


# ----------------------------------------------------------------------------- reading the course's results


def results_folders() -> list[tuple[str, Path]]:
    """Where course results may be, in order: the learner's results/ folder, then the reference run's."""
    folders = [("your results/", results_dir())]
    root = project_root()
    candidates = ([root / "reference" / "results"] if root else []) + [Path.cwd().parent / "reference" / "results",
                                                                       Path.cwd() / "reference" / "results"]
    for c in candidates:
        if c.is_dir() and all(c.resolve() != f.resolve() for _, f in folders):
            folders.append(("reference run", c))
            break
    return folders


def course_results(notebooks: Sequence[str], folders: Sequence[tuple[str, Path]] | None = None) -> dict:
    """{notebook: (source label, records)} reading each notebook from the first folder that has its results.

    A notebook found in no folder maps to ``("not run", [])``: never a stale or made-up number.
    """
    folders = list(folders) if folders is not None else results_folders()
    out = {}
    for nb in notebooks:
        out[nb] = ("not run", [])
        for label, folder in folders:
            records = load_results(nb, folder=folder)
            if records:
                out[nb] = (label, records)
                break
    return out


def best_record(records: Sequence[dict], *, by: str = "speedup") -> dict | None:
    """The record with the largest speedup (``by="speedup"``) or size reduction (``by="size"``), or None."""
    if by == "speedup":
        scored = [(r["speedup"], r) for r in records if r.get("speedup")]
    elif by == "size":
        scored = [(r["size_bytes_baseline"] / r["size_bytes_candidate"], r) for r in records
                  if r.get("size_bytes_baseline") and r.get("size_bytes_candidate")]
    else:
        raise ValueError(f"unknown by={by!r}; valid: speedup, size")
    return max(scored, key=lambda t: t[0])[1] if scored else None


def describe_record(r: dict | None, *, by: str = "speedup") -> str:
    """One line for the decision guide: technique, speedup with CI (or size ratio), accuracy change, mode."""
    if r is None:
        return "no matching result recorded"
    parts = [f"{r['technique']}"]
    if by == "size" and r.get("size_bytes_baseline") and r.get("size_bytes_candidate"):
        parts.append(f"{r['size_bytes_baseline'] / r['size_bytes_candidate']:.1f}× smaller")
    if r.get("speedup"):
        ci = (f" (CI {r['speedup_ci_low']:.2f}–{r['speedup_ci_high']:.2f})"
              if r.get("speedup_ci_low") is not None else "")
        parts.append(f"{r['speedup']:.2f}×{ci} {r.get('metric') or ''}".rstrip())
    if r.get("accuracy_baseline") is not None and r.get("accuracy_candidate") is not None:
        parts.append(f"accuracy {100 * (r['accuracy_candidate'] - r['accuracy_baseline']):+.1f} pts")
    parts.append(f"[{r.get('mode', '?')} mode]")
    return " · ".join(parts)
