"""Explore controls built from core ipywidgets only (they work with Colab's ipywidgets 7)."""
from __future__ import annotations

from typing import Callable


def explore(fn: Callable, **controls):
    """Show ``fn`` with one control per keyword (as in ipywidgets.interact) and return the widget.

    Example: ``au.explore(show, workers=(0, 4, 1), cached=False)``. Runs headless too (nothing to click).
    """
    import ipywidgets
    from IPython.display import display

    ui = ipywidgets.interactive(fn, **controls)
    for child in ui.children:  # re-run on release, not on every pixel of a drag: each run measures
        if hasattr(child, "continuous_update"):
            child.continuous_update = False
    display(ui)
    return ui
