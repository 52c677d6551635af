"""The report's content: a results folder read in course order, its rows, and the markdown tables (no PyTorch)."""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from .config import results_dir
from .course import COURSE
from .fmt import format_time
from .results import CROSS_RUNTIME, load_results

HEADER = ("notebook", "technique", "baseline → candidate", "metric", "baseline", "candidate",
          "speedup (95% CI)", "accuracy", "size")
COMPARE_HEADER = ("notebook", "technique", "baseline → candidate")
NOT_RUN = "not run"


@dataclass
class Folder:
    """The records of one results folder, grouped by notebook in course order."""

    path: Path
    name: str
    notebooks: dict[str, list[dict]] = field(default_factory=dict)  # stem -> records ([] = not run)
    ignored: dict[str, str] = field(default_factory=dict)  # stem -> timestamp of results older than `since`

    @property
    def records(self) -> list[dict]:
        return [r for rows in self.notebooks.values() for r in rows]

    def distinct(self, key: str) -> list[str]:
        """Sorted distinct values of one field over all records."""
        return sorted({str(r.get(key)) for r in self.records if r.get(key) is not None})

    def machine_label(self, fingerprint: str | None) -> str:
        """'A', 'B', ... for each distinct fingerprint when the records come from more than one; '' otherwise."""
        machines = sorted({_machine(fp) for fp in self.distinct("fingerprint")})
        if len(machines) < 2 or fingerprint is None:
            return ""
        return chr(ord("A") + machines.index(_machine(fingerprint)))

    def machine_lines(self) -> list[str]:
        """Fingerprint(s) and versions, one readable line each."""
        if not self.records:
            return ["No results yet."]
        stamps = self.distinct("timestamp")
        lines = [f"Machine{' ' + label if (label := self.machine_label(fp)) else ''}: `{fp}`"
                 for fp in self.distinct("fingerprint")]
        lines.append(f"torch {', '.join(self.distinct('torch_version'))} · device {', '.join(self.distinct('device'))} · "
                     f"mode {', '.join(self.distinct('mode'))} · recorded {stamps[0][:16].replace('T', ' ')} – {stamps[-1][:16].replace('T', ' ')} UTC")
        if len(self.distinct("mode")) > 1:
            lines.append("Warning: these results come from more than one mode; compare numbers only within a mode.")
        return lines


def _machine(fingerprint: str) -> str:
    """The fingerprint without its mode: the same machine run in two modes is one machine."""
    return re.sub(r" · mode \S+$", "", str(fingerprint))


def _parse_time(value) -> _dt.datetime | None:
    """A timezone-aware datetime from an ISO string or datetime (naive means UTC)."""
    if value is None:
        return None
    t = value if isinstance(value, _dt.datetime) else _dt.datetime.fromisoformat(str(value))
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def load_folder(folder: str | Path | None = None, *, name: str | None = None, since=None) -> Folder:
    """Read a results folder: every course notebook (in course order, [] when not run), then any others."""
    path = Path(folder) if folder is not None else results_dir()
    out = Folder(path=path, name=name or path.name)
    since = _parse_time(since)
    grouped: dict[str, list[dict]] = {}
    for r in load_results(folder=path) if path.is_dir() else []:
        grouped.setdefault(r["notebook"], []).append(r)
    for stem in [item.stem for item in COURSE] + sorted(set(grouped) - {item.stem for item in COURSE}):
        rows = grouped.get(stem, [])
        if since and rows and max(_parse_time(r["timestamp"]) for r in rows) < since:
            out.ignored[stem] = max(r["timestamp"] for r in rows)
            rows = []
        out.notebooks[stem] = rows
    return out


# ---------------------------------------------------------------- cell formatting (shared by markdown and HTML)

def _num(value, fmt: str) -> str:
    """Format a number or show an em dash for a missing one."""
    return "—" if value is None else format(value, fmt)


def fmt_median(value, unit: str | None) -> str:
    """A median with its unit: times in seconds shown in ms/µs/s."""
    if value is None:
        return "—"
    if unit in (None, "s"):
        return format_time(value)
    return f"{value:.4g} {unit}"


def fmt_speedup(r: dict | None) -> str:
    """'1.66× (1.60–1.72)', '1.66× (few rounds)' or a dash."""
    if not r or r.get("speedup") is None:
        return "—"
    lo, hi = r.get("speedup_ci_low"), r.get("speedup_ci_high")
    return f"{r['speedup']:.2f}×" + (f" ({lo:.2f}–{hi:.2f})" if lo is not None and hi is not None else " (few rounds)")


def fmt_accuracy(r: dict | None) -> str:
    """'97.1% → 96.8% (−0.3, CI −0.9 to +0.3)' or a dash: the difference with its interval when recorded."""
    a, b = (r or {}).get("accuracy_baseline"), (r or {}).get("accuracy_candidate")
    if a is None and b is None:
        return "—"
    text = f"{_num(None if a is None else 100 * a, '.1f')}% → {_num(None if b is None else 100 * b, '.1f')}%"
    d, ci = r.get("accuracy_difference"), r.get("accuracy_difference_ci")
    if d is not None and ci:
        text += f" ({d:+.1f}, CI {ci[0]:+.1f} to {ci[1]:+.1f})"
    return text


def fmt_technique(r: dict) -> str:
    """The technique, marked when its baseline ran on another runtime, with its note."""
    text = r["technique"] + (" [cross-runtime]" if r.get("runtime") == CROSS_RUNTIME else "")
    return text + (f" — {r['note']}" if r.get("note") else "")


def fmt_size(r: dict | None) -> str:
    """'44.7 MB → 11.3 MB' or a dash."""
    a, b = (r or {}).get("size_bytes_baseline"), (r or {}).get("size_bytes_candidate")
    if a is None and b is None:
        return "—"
    return f"{_num(None if a is None else a / 1e6, '.3g')} MB → {_num(None if b is None else b / 1e6, '.3g')} MB"


def _not_run(folder: Folder, stem: str) -> str:
    return NOT_RUN + (f" (results of {folder.ignored[stem][:16]} are from an earlier run)" if stem in folder.ignored else "")


def summary_rows(folder: Folder) -> list[tuple[str, ...]]:
    """One row per record; one 'not run' row per notebook without records."""
    rows, mixed = [], len(folder.distinct("mode")) > 1
    for stem, records in folder.notebooks.items():
        if not records:
            rows.append((stem, _not_run(folder, stem)) + ("",) * (len(HEADER) - 2))
        for r in records:
            label = f"{stem} ({r.get('mode')} mode)" if mixed else stem
            machine = folder.machine_label(r.get("fingerprint"))
            label += f" · machine {machine}" if machine else ""
            rows.append((label, fmt_technique(r), f"{r['baseline']} → {r['candidate']}", r.get("metric") or "",
                         fmt_median(r.get("baseline_median"), r.get("unit")),
                         fmt_median(r.get("candidate_median"), r.get("unit")),
                         fmt_speedup(r), fmt_accuracy(r), fmt_size(r)))
    return rows


def _key(r: dict) -> tuple:
    return (r["notebook"], r["technique"], r["baseline"], r["candidate"], r.get("metric"))


def comparison_pairs(a: Folder, b: Folder) -> list[tuple[str, dict | None, dict | None]]:
    """(notebook, record in a, record in b) for every technique of either folder, in course order."""
    pairs = []
    for stem in list(dict.fromkeys(list(a.notebooks) + list(b.notebooks))):
        ra = {_key(r): r for r in a.notebooks.get(stem, [])}
        rb = {_key(r): r for r in b.notebooks.get(stem, [])}
        keys = list(dict.fromkeys(list(ra) + list(rb)))
        pairs += [(stem, ra.get(k), rb.get(k)) for k in keys] or [(stem, None, None)]
    return pairs


def comparison_header(a: Folder, b: Folder) -> tuple[str, ...]:
    return COMPARE_HEADER + tuple(f"{what} · {f.name}" for what in ("speedup", "candidate", "accuracy") for f in (a, b))


def comparison_rows(a: Folder, b: Folder) -> list[tuple[str, ...]]:
    """Technique by technique: speedup, candidate median and accuracy in each folder ('not run' where missing)."""
    rows = []
    for stem, ra, rb in comparison_pairs(a, b):
        r = ra or rb
        if r is None:
            rows.append((stem, NOT_RUN, "", _not_run(a, stem), _not_run(b, stem), "", "", "", ""))
            continue
        cells = []
        for fmt in (fmt_speedup, lambda x: fmt_median(x.get("candidate_median"), x.get("unit")), fmt_accuracy):
            for folder, x in ((a, ra), (b, rb)):
                cells.append(fmt(x) if x else (_not_run(folder, stem) if not folder.notebooks.get(stem) else "not recorded"))
        rows.append((stem, fmt_technique(r), f"{r['baseline']} → {r['candidate']}", *cells))
    return rows


# ---------------------------------------------------------------- markdown

def md_table(header, rows) -> list[str]:
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    return ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)] + \
           ["| " + " | ".join(map(esc, row)) + " |" for row in rows]


def summary_markdown(folder: str | Path | Folder | None = None, *, since=None) -> str:
    """The summary table of every record in a results folder, notebooks without results marked 'not run'."""
    f = folder if isinstance(folder, Folder) else load_folder(folder, since=since)
    lines = ["# Results", ""] + [line + "  " for line in f.machine_lines()] + [""]
    return "\n".join(lines + md_table(HEADER, summary_rows(f))) + "\n"


def comparison_markdown(a: Folder, b: Folder) -> str:
    """Two results folders side by side, technique by technique."""
    lines = [f"# Results compared: {a.name} vs {b.name}", ""]
    for f in (a, b):
        lines += [f"**{f.name}** (`{f.path}`)  "] + [line + "  " for line in f.machine_lines()] + [""]
    return "\n".join(lines + md_table(comparison_header(a, b), comparison_rows(a, b))) + "\n"
