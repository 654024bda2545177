"""What every plot module shares: the Agg canvas and atomic PNG write, input checks, colours,
class names.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas directly, so no
plot module touches :mod:`matplotlib.pyplot`, its global figure list or the selected
backend. Each ``plot_*`` function is ``save_png(<name>_figure(...), path)``: the
``*_figure`` builders return the figure, whose artists hold the plotted values (the
artists that carry a summary's numbers are tagged with a ``gid``, see :func:`tagged`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from snnjob.atomic import write_atomic

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


def recipes_of(entries: Iterable[Any]) -> list[str]:
    """The recipe names of ``entries`` (summary entries with a ``recipe``: points,
    rate-mode rows, ...) in order of appearance."""
    return list(dict.fromkeys(e.recipe for e in entries))


def recipe_colour(names: list[str], recipe: str, single: str | None = "black") -> str | None:
    """``C<i>`` of the recipe's position in ``names``; ``single`` when there is one recipe."""
    if len(names) < 2:
        return single
    return f"C{names.index(recipe) % 10}"


def check_path(path: str | os.PathLike) -> None:
    """Refuse a non-PNG path before any work is done."""
    if Path(path).suffix.lower() != ".png":
        raise ValueError(f"plot path must end with .png, got {path}")


def class_names_of(class_names: Sequence[str] | None, n_classes: int) -> list[str]:
    """The ``n_classes`` legend and tick names: ``class_names`` (checked to be ``n_classes``
    strings) or ``"0"`` .. ``"K-1"`` when None."""
    if class_names is None:
        return [str(k) for k in range(n_classes)]
    if isinstance(class_names, str) or not all(isinstance(n, str) for n in class_names):
        raise ValueError(f"class_names must be a sequence of strings, got {class_names!r}")
    names = list(class_names)
    if len(names) != n_classes:
        raise ValueError(f"class_names has {len(names)} names, but there are {n_classes} classes")
    return names


def numbered(names: Sequence[str]) -> bool:
    """Whether ``names`` are just the class numbers (``"0"``, ``"1"``, ... as MNIST's are)."""
    return list(names) == [str(k) for k in range(len(names))]


def check_classes(values: Any, n_classes: int, name: str) -> np.ndarray:
    """``values`` as int64 class indices, refused unless whole numbers in 0..n_classes-1."""
    array = np.asarray(values)
    if array.size and not (
        np.issubdtype(array.dtype, np.integer)
        or (np.issubdtype(array.dtype, np.floating) and np.all(array == np.round(array)))
    ):
        raise ValueError(f"{name} must be whole class indices, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise ValueError(
            f"{name} must be class indices 0..{n_classes - 1} ({n_classes} classes), got "
            f"values from {array.min()} to {array.max()}"
        )
    return array.astype(np.int64)
