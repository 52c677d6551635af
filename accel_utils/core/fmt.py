"""How numbers read: times and sizes with their units (the one formatter of each)."""
from __future__ import annotations


def format_time(seconds: float | None) -> str:
    """2.31 s, 1.23 ms, 45.6 µs, 812 ns; a dash for None."""
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_bytes(n: float | None) -> str:
    """1.17 MB, 324 kB, 12 B (decimal units, as disks count); a dash for None."""
    if n is None:
        return "—"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"
