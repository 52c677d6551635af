"""Silence a library's progress prints, log lines and warnings inside a block (noise in a notebook's output)."""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator, Sequence


@contextlib.contextmanager
def quiet_libraries(loggers: Sequence[str] = ("",)) -> Iterator[None]:
    """Raise the named loggers ('' is the root) to ERROR, swallow stdout prints and warnings; restore after."""
    targets = [logging.getLogger(name or None) for name in loggers]
    old = [lg.level for lg in targets]
    for lg in targets:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(targets, old):
            lg.setLevel(level)
