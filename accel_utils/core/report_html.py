"""HTML rendering of the results report: one self-contained page, charts embedded as base64 PNG."""
from __future__ import annotations

import base64
import datetime as _dt
import html
import io

import numpy as np
from PIL import Image

from .charts import plot_pareto, plot_speedups
from .report_tables import HEADER, NOT_RUN, Folder, comparison_header, comparison_pairs, comparison_rows, summary_rows
from .stats import Speedup
from .version import __version__

DPI = 80  # small files, still readable
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.86em;width:100%}
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}tr:nth-child(even) td{background:#fafafa}
td:nth-child(n+4){white-space:nowrap}td.notrun{color:#999;font-style:italic}code{background:#f3f3f3;padding:0 .25em;border-radius:3px}
.warn{color:#a40}.note{color:#666;font-size:.9em}img{max-width:100%;height:auto}
"""


def _png(fig) -> str:
    """A matplotlib figure as an <img> with a base64 PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    small = io.BytesIO()  # a 64-colour palette: a third of the bytes, no visible loss on a chart
    Image.open(io.BytesIO(buf.getvalue())).convert("RGB").quantize(64).save(small, format="PNG", optimize=True)
    buf = small if small.tell() < buf.tell() else buf
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _caption(folder: Folder) -> str:
    return " | ".join(folder.distinct("fingerprint")) or folder.name


def _short(text: str, n: int = 42) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _label(r: dict) -> str:
    metric = "" if r.get("metric") in (None, "latency") else f" [{r['metric']}]"
    return _short(f"{r['notebook'][:2]} {r['technique']}: {r['candidate']}{metric}")


def _speedups(records: list[dict]) -> list[tuple[dict, Speedup]]:
    out = []
    for r in records:
        if r.get("speedup") is not None:
            lo, hi = r.get("speedup_ci_low"), r.get("speedup_ci_high")
            lo, hi = (r["speedup"], r["speedup"]) if lo is None or hi is None else (lo, hi)
            out.append((r, Speedup(r["speedup"], lo, hi, r["baseline"], r["candidate"])))
    return out


def _log_if_wide(ax, values) -> None:
    values = [v for v in values if v and v > 0]
    if values and max(values) / min(values) > 20:
        ax.set_xscale("log")


def speedup_chart(folder: Folder) -> str:
    """Speedup bars with CI whiskers for every recorded speedup (au.plot_speedups), or a note."""
    pairs = _speedups(folder.records)
    if not pairs:
        return '<p class="note">No speedups recorded.</p>'
    fig = plot_speedups([s for _, s in pairs], labels=[_label(r) for r, _ in pairs],
                        title="Speedup of every technique over its baseline", caption=_caption(folder))
    _log_if_wide(fig.axes[0], [s.ci_low for _, s in pairs] + [s.ci_high for _, s in pairs])
    fig.set_size_inches(9, fig.get_figheight())
    return _png(fig)


def pareto_points(records: list[dict]) -> list[tuple[str, float, float]]:
    """(label, latency ms, accuracy %) of every baseline and candidate with a recorded latency and accuracy."""
    points = {}
    for r in records:
        if r.get("unit", "s") != "s" or r.get("metric", "latency") not in ("latency", None):
            continue
        for side in ("baseline", "candidate"):
            t, acc = r.get(f"{side}_median"), r.get(f"accuracy_{side}")
            if t is not None and acc is not None:
                label = _short(f"{r['notebook'][:2]} {r[side]}", 28)
                points.setdefault((label, round(t, 12)), (label, t * 1e3, acc * 100))
    return list(points.values())


def pareto_chart(folder: Folder) -> str:
    """Accuracy vs latency across the course (au.plot_pareto), or a note."""
    points = pareto_points(folder.records)
    if not points:
        return '<p class="note">No result with both a latency and an accuracy recorded.</p>'
    xs = [p[1] for p in points]
    fig = plot_pareto(points, xlabel="latency (ms, median)", title="Accuracy vs latency across the course",
                      log_x=max(xs) / min(xs) > 20, caption=_caption(folder))
    fig.set_size_inches(9, 5)
    return _png(fig)


def comparison_chart(a: Folder, b: Folder) -> str:
    """Grouped bars: each technique's speedup (with CI whiskers) in folder a and folder b."""
    import matplotlib.pyplot as plt

    rows = [(stem, ra, rb) for stem, ra, rb in comparison_pairs(a, b)
            if (ra and ra.get("speedup") is not None) or (rb and rb.get("speedup") is not None)]
    if not rows:
        return '<p class="note">No speedups recorded in either folder.</p>'
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.6), layout="constrained")
    y = np.arange(len(rows))[::-1]
    values = []
    for k, (folder, color) in enumerate(((a, "tab:blue"), (b, "tab:orange"))):
        recs = [row[1 + k] for row in rows]
        v = np.array([r["speedup"] if r and r.get("speedup") is not None else np.nan for r in recs])
        lo = np.array([r.get("speedup_ci_low") or r["speedup"] if r and r.get("speedup") is not None else np.nan for r in recs])
        hi = np.array([r.get("speedup_ci_high") or r["speedup"] if r and r.get("speedup") is not None else np.nan for r in recs])
        ax.barh(y + (0.2 if k == 0 else -0.2), np.nan_to_num(v), height=0.38, color=color, alpha=0.85, label=folder.name,
                xerr=np.nan_to_num([v - lo, hi - v]), capsize=2)
        values += list(lo[~np.isnan(lo)]) + list(hi[~np.isnan(hi)])
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(y, [_label(ra or rb) for _, ra, rb in rows])
    ax.set_xlabel("speedup over baseline (×), whiskers: 95% CI; no bar: not run")
    ax.set_title("Speedup, technique by technique")
    ax.legend(fontsize=8)
    _log_if_wide(ax, values)
    fig.supxlabel(f"{a.name}: {_caption(a)}\n{b.name}: {_caption(b)}", fontsize=7, color="0.35")
    return _png(fig)


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(f'<td{" class=notrun" if str(c).startswith(NOT_RUN) else ""}>{html.escape(str(c))}</td>'
                        for c in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _machine(folder: Folder) -> str:
    lines = []
    for line in folder.machine_lines():
        text = html.escape(line)
        if line.startswith("Machine: `"):
            text = f"Machine: <code>{html.escape(line[10:-1])}</code>"
        lines.append(f'<p{" class=warn" if line.startswith("Warning") else ""}>{text}</p>')
    return "".join(lines)


def _page(title: str, body: str) -> str:

    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{body}<p class=note>Generated {stamp} by accel_utils {__version__}. "
            "Only recorded numbers are shown; a notebook without results is marked “not run”.</p></body></html>\n")


def summary_html(folder: Folder) -> str:
    """The course report: machine, table of every technique, speedup chart, accuracy-vs-latency chart."""
    body = (f"<h2>Machine and versions</h2>{_machine(folder)}"
            f"<h2>Every technique</h2>{_table(HEADER, summary_rows(folder))}"
            f"<h2>Speedups</h2>{speedup_chart(folder)}"
            "<h2>Accuracy vs latency</h2><p class=note>Each point is one model of one notebook (baseline or candidate); "
            "the notebooks use different models and sizes, so read this as a map of the course, not a contest.</p>"
            f"{pareto_chart(folder)}")
    return _page(f"Results — {folder.name}", body)


def comparison_html(a: Folder, b: Folder) -> str:
    """Two results folders side by side: both machines, one table, grouped speedup chart."""
    machines = "".join(f"<h3>{html.escape(f.name)} <span class=note>({html.escape(str(f.path))})</span></h3>{_machine(f)}"
                       for f in (a, b))
    body = (f"<h2>Machines</h2>{machines}"
            f"<h2>Technique by technique</h2>{_table(comparison_header(a, b), comparison_rows(a, b))}"
            f"<h2>Speedups</h2>{comparison_chart(a, b)}")
    return _page(f"Results compared — {a.name} vs {b.name}", body)
