"""Explore controls built from core ipywidgets only (they work with Colab's ipywidgets 7)."""
from __future__ import annotations

from collections.abc import Callable


def explore(fn: Callable, **controls) -> None:
    """Show ``fn`` with one control per keyword (as ipywidgets.interact does), rendered once.

    ``fn`` should draw its answer (a matplotlib figure, shown with ``plt.show()``): each change of a control
    replaces the figure. Example: ``au.explore(show, workers=(0, 4, 1), cached=False)``. Headless (CI, nbclient)
    it runs ``fn`` once with the defaults.
    """
    import ipywidgets
    from IPython.display import display

    ui = ipywidgets.interactive(fn, **controls)
    for child in ui.children:  # re-run on release, not on every pixel of a drag: each run measures
        if hasattr(child, "continuous_update"):
            child.continuous_update = False
    display(ui)
