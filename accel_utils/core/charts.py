"""The course's standard charts; each returns a matplotlib Figure captioned with the machine fingerprint."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .stats import Speedup


def _figure(width: float = 6.4, height: float = 3.6):
    """A new figure and axes (pyplot imported lazily: no backend choice at import)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return fig, ax


def _caption(fig, text: str | None = None) -> None:
    """Put a caption under the figure: the given text, else this machine's fingerprint."""
    if text is None:
        from .machine import fingerprint  # PyTorch only where a caption must name this machine: reports pass theirs

        text = fingerprint()
    fig.supxlabel(text, fontsize=7, color="0.35")


def plot_speedups(speedups: Sequence[Speedup], *, labels: Sequence[str] | None = None, title: str = "Speedup",
                  caption: str | None = None):
    """Horizontal bars of speedup with 95% CI whiskers (or every round's ratio as dots) and a line at 1×."""
    fig, ax = _figure(6.4, 0.45 * len(speedups) + 1.4)
    values = np.array([s.value for s in speedups])
    err = np.array([[s.value - s.ci_low if s.has_ci else 0 for s in speedups],
                    [s.ci_high - s.value if s.has_ci else 0 for s in speedups]])
    names = list(labels) if labels else [s.candidate for s in speedups]
    colors = ["tab:green" if s.faster else "tab:red" if s.slower else "tab:gray" for s in speedups]
    y = np.arange(len(speedups))[::-1]
    ax.barh(y, values, xerr=err, color=colors, capsize=3, alpha=0.85)
    for yi, s in zip(y, speedups):
        if not s.has_ci and s.values:
            ax.plot(s.values, [yi] * len(s.values), "k.", ms=4)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(y, names)
    for yi, v in zip(y, values):
        ax.text(v, yi, f" {v:.2f}×", va="center", ha="left", fontsize=8)
    ax.set_xlabel("speedup over baseline (×): median of paired rounds, whiskers 95% CI")
    ax.set_title(title)
    _caption(fig, caption)
    return fig


def plot_pareto(points: Sequence[tuple[str, float, float]], *, xlabel: str = "latency (ms)",
                ylabel: str = "accuracy (%)", title: str = "Accuracy vs latency", log_x: bool = False,
                caption: str | None = None):
    """Scatter of (label, latency, accuracy) with the Pareto front (faster and at least as accurate) joined."""
    fig, ax = _figure()
    xs, ys = np.array([p[1] for p in points]), np.array([p[2] for p in points])
    ax.scatter(xs, ys, zorder=3)
    for label, x, y in points:
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    order = np.argsort(xs)
    front, best = [], -np.inf
    for i in order:
        if ys[i] > best:
            front.append(i)
            best = ys[i]
    ax.plot(xs[front], ys[front], "--", color="tab:orange", label="Pareto front", zorder=2)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _caption(fig, caption)
    return fig


def plot_roofline(peak_flops: dict[str, float], bandwidth: float,
                  ops: Sequence[tuple[str, float, float]] = (), *, title: str = "Roofline", caption: str | None = None):
    """Roofline: min(peak, intensity × bandwidth) for each peak (FLOP/s), ops as (label, FLOP/byte, FLOP/s)."""
    fig, ax = _figure(6.4, 4.2)
    lo = min([0.05] + [o[1] / 2 for o in ops])
    hi = max([1e3] + [o[1] * 2 for o in ops])
    intensity = np.logspace(np.log10(lo), np.log10(hi), 200)
    for name, peak in peak_flops.items():
        ax.plot(intensity, np.minimum(peak, intensity * bandwidth), label=f"{name} peak {peak / 1e9:.0f} GFLOP/s")
        ax.axvline(peak / bandwidth, color="0.8", lw=0.6, ls=":")
    for label, ai, achieved in ops:
        ax.scatter([ai], [achieved], zorder=3)
        ax.annotate(label, (ai, achieved), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte moved)")
    ax.set_ylabel("FLOP/s")
    ax.set_title(f"{title} — memory bandwidth {bandwidth / 1e9:.1f} GB/s")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    _caption(fig, caption)
    return fig
