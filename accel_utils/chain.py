"""A chain of techniques measured alike: every stage timed in one paired session, each step judged, records read fairly.

The capstone (notebook 14) applies techniques one after another (distill → prune → fine-tune → ONNX Runtime →
INT8), keeps a step only when it pays, and measures every stage the same way::

    from accel_utils import chain
    stages = [chain.eager_stage("baseline", model, "baseline.pt", accuracy=acc)]
    stages.append(chain.ort_stage("+ ONNX Runtime", deploy.OrtModel(onnx_file), accuracy=acc_ort))
    times = chain.measure(stages, [x1, xb], device="cpu")      # {1: Measurements, 64: Measurements}, one session each
    print(chain.chain_table(stages, times))
    chain.plot_chain(stages, times[1])

Every stage is timed in the same rounds at each batch size, so a step's ratio (stage over the one before) and a
cumulative ratio (stage over the baseline) are both paired: the machine's drift between minutes cancels.
"""
from __future__ import annotations

import collections
import contextlib
import json
import re
import statistics
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .core.config import project_root, results_dir
from .core.fmt import format_time
from .core.machine import fingerprint
from .core.results import SAME_RUNTIME, load_results
from .core.stats import Accuracy, Speedup, compare, paired_speedup
from .core.timing import Measurements, benchmark

EAGER, ORT = "eager PyTorch", "ONNX Runtime"
ROLES = ("chain", "intermediate", "alone")


@dataclass
class Stage:
    """One model of the chain: how to run it, where it runs, its file on disk, its accuracy and what it cost to make.

    ``role`` is "chain" (a candidate step of the chain), "intermediate" (shown, not a step: e.g. pruned before
    fine-tuning) or "alone" (a technique applied alone to the baseline, to compare with the chain).
    """

    name: str
    runner: Callable[[torch.Tensor], Callable[[], object]]
    size_bytes: int
    runtime: str
    device: str = "cpu"
    accuracy: float | None = None
    path: str | None = None
    make_seconds: float = 0.0
    role: str = "chain"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; valid: {', '.join(ROLES)}")


def save_state_dict(model: nn.Module, path: str | Path) -> int:
    """torch.save the model's state_dict to ``path`` (a real file) and return its bytes on disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, str(path))
    return path.stat().st_size


def _model_device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters()), torch.empty(0)).device


def eager_runner(model: nn.Module, *, autocast_dtype: torch.dtype | None = None) -> Callable[[torch.Tensor], Callable]:
    """``runner(x)`` → a zero-argument callable running ``model(x)`` in eval + inference mode (optionally autocast).

    The input is moved once to the model's device. The same shape as ``deploy.OrtModel.runner``, so eager and
    ONNX Runtime stages are timed the same way.
    """
    model.eval()
    device = _model_device(model)

    def runner(x: torch.Tensor) -> Callable[[], object]:
        x = x.to(device)
        ctx = (lambda: torch.autocast(device.type, dtype=autocast_dtype)) if autocast_dtype else contextlib.nullcontext

        def call():
            with torch.inference_mode(), ctx():
                return model(x)
        return call
    return runner


def eager_stage(name: str, model: nn.Module, path: str | Path, *, accuracy: float | None = None,
                make_seconds: float = 0.0, role: str = "chain", **meta) -> Stage:
    """A Stage for an eager PyTorch model: its state_dict saved to ``path`` (size read from the file)."""
    size = save_state_dict(model, path)
    return Stage(name, eager_runner(model), size, EAGER, str(_model_device(model)), accuracy, str(path),
                 float(make_seconds), role, meta)


def ort_stage(name: str, ort_model, *, accuracy: float | None = None, make_seconds: float = 0.0,
              role: str = "chain", **meta) -> Stage:
    """A Stage for a ``deploy.OrtModel``: the device is the one its session really runs on (CPU provider: cpu)."""
    providers = list(ort_model.providers)
    device = "cuda" if providers and providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider") else "cpu"
    size = Path(ort_model.path).stat().st_size
    return Stage(name, ort_model.runner, size, ORT, device, accuracy, str(ort_model.path), float(make_seconds),
                 role, {"providers": providers, **meta})


def _same_device(a: str, b: str) -> bool:
    da, db = torch.device(a), torch.device(b)
    return da.type == db.type and (da.type == "cpu" or (da.index or 0) == (db.index or 0))


def measure(stages: Sequence[Stage], inputs: Sequence[torch.Tensor], *, device="cpu", rounds: int | None = None,
            block_time: float | None = None) -> dict[int, Measurements]:
    """Time every stage in one ``au.benchmark`` session per input (batch size): {batch: Measurements}.

    Every stage must run on ``device``: a stage on another device (an eager model left on the GPU while ONNX
    Runtime runs on the CPU) is refused, since its ratio would mix the technique with a change of hardware.
    """
    if not stages:
        raise ValueError("measure() needs at least one stage")
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names must be unique, got {names}")
    device = str(torch.device(device))
    elsewhere = [f"{s.name!r} on {s.device}" for s in stages if not _same_device(s.device, device)]
    if elsewhere:
        raise ValueError(f"every stage must run on {device} to be compared; " + ", ".join(elsewhere) +
                         ". Move the model (copy.deepcopy(model).to(device)) or time that stage on its own device")
    out = {}
    for x in inputs:
        b = int(x.shape[0])
        if b in out:
            raise ValueError(f"two inputs with batch {b}: one input per batch size")
        out[b] = benchmark({s.name: s.runner(x) for s in stages}, device=device, rounds=rounds, block_time=block_time)
    return out


def cumulative_speedups(ms: Measurements, names: Sequence[str]) -> list[Speedup]:
    """Paired speedup of every named stage over the first one (the first is 1.00× by definition)."""
    return [compare(ms[names[0]], ms[n]) for n in names]


def step_speedups(ms: Measurements, names: Sequence[str]) -> list[Speedup]:
    """Paired speedup of each named stage over the one before it (len(names) - 1 entries)."""
    return [compare(ms[a], ms[b]) for a, b in zip(names[:-1], names[1:])]


def interaction(ms: Measurements, alone: tuple[str, str], chained: tuple[str, str]) -> Speedup:
    """How much more a step buys inside the chain than alone: per round (chain step ratio) / (alone step ratio).

    ``alone`` and ``chained`` are (before, after) stage names of one session. Above 1: the step buys more in the
    chain; below 1: less. Paired by round, so its interval is that of a real difference, not of drift.
    """
    for name in (*alone, *chained):
        if name not in ms:
            raise KeyError(f"no stage {name!r} in this session; stages: {', '.join(ms)}")
    a0, a1, c0, c1 = (np.asarray(ms[n].times, dtype=float) for n in (*alone, *chained))
    return paired_speedup((c0 / c1) / (a0 / a1), f"{alone[0]} → {alone[1]}", f"{chained[0]} → {chained[1]}")


# ----------------------------------------------------------------------------- keeping only the steps that pay


@dataclass
class Decision:
    """One step of the chain judged against the last kept stage: kept or dropped, and why (printed from numbers)."""

    step: str
    before: str
    after: str
    kept: bool
    reason: str

    def __str__(self) -> str:
        return f"{'KEEP' if self.kept else 'DROP'} {self.step}: {self.after} vs {self.before}: {self.reason}"


def judge_step(step: str, before: Stage, after: Stage, ms: Measurements, *, acceptable: bool,
               accuracy_text: str = "") -> Decision:
    """Keep ``after`` only if it is measurably faster than ``before`` in the paired session ``ms`` (the interval of
    the speedup lies above 1) **and** ``acceptable`` (its accuracy within the goal's budget); else drop it.

    A step whose interval straddles 1 is dropped: "not measurably faster" is not a reason to keep it. The reason
    is written from the numbers; a change of runtime is named cross-runtime.
    """
    speed = compare(ms[before.name], ms[after.name])
    if not acceptable:
        reason = f"accuracy outside the budget{': ' + accuracy_text if accuracy_text else ''}"
    elif not speed.faster:
        reason = f"{speed.value:.2f}× ({speed.interval()}): not measurably faster"
    else:
        reason = f"{speed.value:.2f}× ({speed.interval()})" + (f"; {accuracy_text}" if accuracy_text else "")
    if before.runtime != after.runtime:
        reason += f" [cross-runtime: {before.runtime} → {after.runtime}, both on {after.device}]"
    return Decision(step, before.name, after.name, bool(acceptable) and speed.faster, reason)


def fastest(stages: Sequence[Stage], ms: Measurements, acceptable: Callable[[Stage], bool]) -> Stage:
    """The stage with the lowest median time in ``ms`` among those ``acceptable`` (the measured best of a session)."""
    ok = [s for s in stages if acceptable(s)]
    if not ok:
        raise ValueError("no acceptable stage")
    return min(ok, key=lambda s: ms[s.name].median)


def replay(candidates: Sequence[Stage], judge: Callable[[Stage, Stage], bool]) -> list[bool]:
    """Walk candidates in build order, judging each against the last kept one; the first is the start (kept).

    ``judge(before, after)`` says whether the step pays for the goal. Returns one flag per candidate.
    """
    if not candidates:
        raise ValueError("replay() needs at least the starting stage")
    kept, last = [True], candidates[0]
    for st in candidates[1:]:
        ok = bool(judge(last, st))
        kept.append(ok)
        last = st if ok else last
    return kept


def smaller_by(min_gain: float, acceptable: Callable[[Stage], bool]) -> Callable[[Stage, Stage], bool]:
    """A judge for the goal 'smallest file': the step's file at least ``min_gain``× smaller and ``acceptable(after)``."""
    if min_gain < 1:
        raise ValueError(f"min_gain must be at least 1, got {min_gain}")
    return lambda before, after: before.size_bytes >= min_gain * after.size_bytes and bool(acceptable(after))


# ----------------------------------------------------------------------------- tables and figures


def _acc(a) -> str:
    if a is None or (isinstance(a, float) and np.isnan(a)):
        return "—"
    if isinstance(a, Accuracy):
        return f"{100 * a:.1f} ({100 * a.low:.1f}–{100 * a.high:.1f})"
    return f"{100 * a:.1f}"


def _ratio(s: Speedup | None) -> str:
    if s is None:
        return "—"
    if s.has_ci:
        return f"{s.value:.2f}× ({s.ci_low:.2f}–{s.ci_high:.2f})"
    return f"{s.value:.2f}× (few rounds)"


def chain_table(stages: Sequence[Stage], times: Mapping[int, Measurements], *,
                decisions: Sequence[Decision] = ()) -> str:
    """Every stage of one session: accuracy (95% CI), median time and paired speedup over the first stage per batch,
    the size of its file, what it cost to make, and whether the chain kept it."""
    verdict = {d.after: "kept" if d.kept else "dropped" for d in decisions}
    base = stages[0].name
    width = max(len(s.name) for s in stages)
    head = f"{'stage':{width}}  {'runtime':13}  {'accuracy % (95% CI)':>19}"
    for b in times:
        head += f"  {f'b{b}':>8}  {f'vs {base[:12]}, b{b}':>20}"
    head += f"  {'size kB':>8}  {'make s':>6}  chain"
    rows = [head]
    for st in stages:
        row = f"{st.name:{width}}  {st.runtime:13}  {_acc(st.accuracy):>19}"
        for ms in times.values():
            s = None if st.name == base else compare(ms[base], ms[st.name])
            row += f"  {format_time(ms[st.name].median):>8}  {'1.00× (baseline)' if s is None else _ratio(s):>20}"
        mark = {"intermediate": "(not a step)", "alone": "(alone, for §4)"}.get(st.role, verdict.get(st.name, "start"))
        row += f"  {st.size_bytes / 1e3:8.1f}  {st.make_seconds:6.1f}  {mark}"
        rows.append(row)
    return "\n".join(rows)


def plot_chain(stages: Sequence[Stage], ms: Measurements, *, kept: Sequence[str], title: str | None = None,
               caption: str | None = None):
    """Two panels: cumulative paired speedup of each chain stage (kept steps coloured, dropped ones grey, 95% CI
    whiskers, each step's factor above its bar) and accuracy with its interval against median latency."""
    import matplotlib.pyplot as plt

    chain_stages = [s for s in stages if s.role == "chain"]
    names = [s.name for s in chain_stages]
    base = names[0]
    cum = cumulative_speedups(ms, names)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.9), layout="constrained", width_ratios=(3, 2))
    last_kept = base
    for i, (st, c) in enumerate(zip(chain_stages, cum)):
        is_kept = st.name in kept
        step = None if i == 0 else compare(ms[last_kept], ms[st.name])
        color = "0.55" if i == 0 else ("tab:green" if is_kept else "0.85")
        ax.bar(i, c.value, color=color, width=0.6, edgecolor="0.3", hatch="" if is_kept or i == 0 else "//")
        if c.has_ci:
            ax.errorbar(i, c.value, yerr=[[c.value - c.ci_low], [c.ci_high - c.value]], color="black", capsize=3,
                        lw=0.8)
        label = f"{c.value:.2f}×" + ("" if step is None else f"\nstep {step.value:.2f}×" + ("" if is_kept else
                                                                                             "\ndropped"))
        ax.text(i, (c.ci_high if c.has_ci else c.value) * 1.05, label, ha="center", va="bottom", fontsize=7)
        if is_kept:
            last_kept = st.name
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(f"speedup over {base} (×, log)")
    top = max(c.ci_high if c.has_ci else c.value for c in cum)
    low = min(c.ci_low if c.has_ci else c.value for c in cum)
    ax.set_ylim(min(0.5, low * 0.8), top * 3)
    ax.set_title(title or "Each stage over the baseline, one paired session (steps: over the last kept stage)",
                 fontsize=9)
    for st in stages:
        if st.accuracy is None or st.role == "alone":
            continue
        t = ms[st.name].median * 1e3
        a = float(st.accuracy) * 100
        err = ([[a - 100 * st.accuracy.low], [100 * st.accuracy.high - a]] if isinstance(st.accuracy, Accuracy)
               else None)
        style = "o" if st.name in kept or st.name == base else ("s" if st.role == "intermediate" else "x")
        ax2.errorbar(t, a, yerr=err, fmt=style, capsize=3, color="tab:green" if st.name in kept else "0.5")
        ax2.annotate(st.name, (t, a), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax2.set_xscale("log")
    ax2.set_xlabel("median latency per call (ms, log)")
    ax2.set_ylabel("test accuracy (%, 95% CI)")
    ax2.set_title("Accuracy vs latency: ● kept, × dropped, ■ not a step", fontsize=9)
    ax2.grid(alpha=0.3)
    fig.supxlabel(caption or fingerprint(), fontsize=7, color="0.35")
    return fig


# ----------------------------------------------------------------------------- ONNX Runtime's own profiler


def ort_node_times(ort_model, x: torch.Tensor, *, runs: int = 50) -> list[tuple[str, str, float]]:
    """(node, operator, median µs per run) for every node ONNX Runtime ran, from its own profiler, in graph order.

    A new session with profiling on is made from ``ort_model``'s file and options (providers included); the
    first run (memory planning, kernel selection) is left out. Shows the graph as ORT runs it, after its fusions
    (a QDQ model runs QLinearConv, not Conv between Quantize and Dequantize).
    """
    import onnxruntime as ort

    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    with tempfile.TemporaryDirectory() as tmp:
        so = ort_model.session.get_session_options()
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "ort_profile")
        session = ort.InferenceSession(str(ort_model.path), sess_options=so,
                                       providers=ort_model.session.get_providers())
        feed = {ort_model.input_name: x.detach().cpu().contiguous().numpy().astype(np.float32, copy=False)}
        session.run(None, feed)
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_node: dict[str, list[float]] = collections.defaultdict(list)
    op_of, order = {}, {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            node = e["name"][: -len("_kernel_time")]
            per_node[node].append(float(e["dur"]))
            op_of[node] = e.get("args", {}).get("op_name", "?")
            order.setdefault(node, len(order))
    rows = []
    for node in sorted(per_node, key=order.get):
        times = per_node[node][-runs:]          # drop the warm-up run
        rows.append((node, op_of[node], float(statistics.median(times))))
    return rows


# ----------------------------------------------------------------------------- reading the course's results fairly


def results_folders() -> list[tuple[str, Path]]:
    """Where course results may be, in order: the learner's results/ folder, then the course's stored results."""
    folders = [("your results/", results_dir())]
    root = project_root()
    candidates = ([root / "reference" / "results"] if root else []) + [Path.cwd().parent / "reference" / "results",
                                                                       Path.cwd() / "reference" / "results"]
    for c in candidates:
        if c.is_dir() and all(c.resolve() != f.resolve() for _, f in folders):
            folders.append(("course's stored results", c))
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


def record_batch(r: Mapping) -> int | None:
    """The batch size a record was measured at: ``extra["batch"]``, else 'batch N' in its technique, else None."""
    b = (r.get("extra") or {}).get("batch")
    if isinstance(b, int) and not isinstance(b, bool):
        return b
    m = re.search(r"\bbatch (\d+)\b", str(r.get("technique", "")))
    return int(m.group(1)) if m else None


def random_weights(r: Mapping) -> bool:
    """True for a record measured on random (untrained) weights: speed only, not a model anyone would ship."""
    extra = r.get("extra") or {}
    text = " ".join(str(v) for v in (r.get("technique"), r.get("note"), extra.get("weights"))).lower()
    return "random weights" in text or "random (speed only)" in text or "untrained" in text


def like_for_like(records: Sequence[Mapping], *, by: str = "speedup", batch: int | None = None
                  ) -> tuple[list[Mapping], collections.Counter]:
    """The records a decision guide may set side by side, and a count of the others by why they were left out.

    Kept: measured against a baseline on the same runtime, on trained weights, paired (for speed), at ``batch``
    when one is given (for size, the batch does not matter), with the quantity ``by`` (speedup or size) recorded,
    or a note saying why there is none (a goal never reached). Never 'each notebook's best': every record that
    qualifies is returned, in the order the notebook wrote them.
    """
    if by not in ("speedup", "size"):
        raise ValueError(f"unknown by={by!r}; valid: speedup, size")
    kept, left = [], collections.Counter()
    for r in records:
        if r.get("runtime") is None:
            left["runtime not recorded"] += 1
        elif r["runtime"] != SAME_RUNTIME:
            left["cross-runtime"] += 1
        elif random_weights(r):
            left["random weights"] += 1
        elif by == "size" and not (r.get("size_bytes_baseline") and r.get("size_bytes_candidate")):
            left["no size"] += 1
        elif by == "speedup" and r.get("speedup") is None and not r.get("note"):
            left["no speedup"] += 1
        elif by == "speedup" and r.get("speedup") is not None and not r.get("paired"):
            left["not paired"] += 1
        elif by == "speedup" and batch is not None and record_batch(r) != batch:
            left["another batch size" if record_batch(r) is not None else "batch not recorded"] += 1
        else:
            kept.append(r)
    if by == "size":   # one line per pair of files: the same model at two batch sizes is one size result
        seen, unique = set(), []
        for r in kept:
            key = (r["size_bytes_baseline"], r["size_bytes_candidate"])
            if key not in seen:
                seen.add(key)
                unique.append(r)
        kept = unique
    return kept, left


def describe_record(r: Mapping, *, by: str = "speedup") -> str:
    """One line of the guide: technique, speedup with CI (or size ratio), accuracy change with CI, batch, note."""
    parts = [str(r["technique"])]
    if by == "size":
        parts.append(f"{r['size_bytes_baseline'] / r['size_bytes_candidate']:.1f}× smaller file")
    if r.get("speedup") is not None:
        lo, hi = r.get("speedup_ci_low"), r.get("speedup_ci_high")
        ci = f" (CI {lo:.2f}–{hi:.2f})" if lo is not None and hi is not None else " (few rounds)"
        parts.append(f"{r['speedup']:.2f}×{ci} {r.get('metric') or ''}".rstrip())
    d, ci = r.get("accuracy_difference"), r.get("accuracy_difference_ci")
    if d is not None and ci and None not in ci:
        parts.append(f"accuracy {d:+.1f} pts (CI {ci[0]:+.1f} to {ci[1]:+.1f})")
    elif r.get("accuracy_baseline") is not None and r.get("accuracy_candidate") is not None:
        parts.append(f"accuracy {100 * (r['accuracy_candidate'] - r['accuracy_baseline']):+.1f} pts (no interval)")
    if r.get("note"):
        parts.append(f"note: {r['note']}")
    parts.append(f"[{r.get('mode', '?')} mode]")
    return " · ".join(parts)


def describe_left_out(left: collections.Counter) -> str:
    """'left out: 3 cross-runtime, 1 random weights' (or '' when nothing was)."""
    return "" if not left else "left out: " + ", ".join(f"{n} {why}" for why, n in left.most_common())
