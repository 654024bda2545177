"""What every plot module shares: the Agg canvas and atomic PNG write, input checks, colours.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas directly, so no
plot module touches :mod:`matplotlib.pyplot`, its global figure list or the selected
backend. Each ``plot_*`` function is ``save_png(<name>_figure(...), path)``: the
``*_figure`` builders return the figure, whose artists hold the plotted values (the
artists that carry a summary's numbers are tagged with a ``gid``, see :func:`tagged`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from snnjob.architecture import IMAGE_SHAPE
from snnjob.atomic import write_atomic

IMAGE_SIDE = IMAGE_SHAPE[0]
BASE = "base"  # the recipe of a job without a recipe sweep (snnjob.results.byrecipe.BASE)
_DPI = 100


def save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Render ``fig`` to ``path`` as PNG via a hidden temp file in the same folder."""
    check_path(path)
    FigureCanvasAgg(fig)
    return write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=_DPI))


def tagged(fig: Figure, gid: str) -> list[Any]:
    """Every artist of ``fig`` whose ``gid`` is ``gid`` (how tests read plotted values back)."""
    return [a for a in fig.findobj(lambda a: a.get_gid() == gid)]


def recipes_of(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """The recipe names of ``entries`` in order of appearance (``base`` when unlabelled)."""
    return list(dict.fromkeys(e.get("recipe", BASE) for e in entries))


def recipe_colour(names: list[str], recipe: str, single: str | None = "black") -> str | None:
    """``C<i>`` of the recipe's position in ``names``; ``single`` when there is one recipe."""
    if len(names) < 2:
        return single
    return f"C{names.index(recipe) % 10}"


def check_path(path: str | os.PathLike) -> None:
    """Refuse a non-PNG path before any work is done."""
    if Path(path).suffix.lower() != ".png":
        raise ValueError(f"plot path must end with .png, got {path}")
