"""Which classes are mistaken for which: ``confusion.png``.

Per panel (one per recipe in a recipe sweep), the ``K x K`` confusion matrix at one
``n_steps`` (``K`` classes, from the data): rows are true classes, columns predicted ones;
each cell shows its count and is coloured by the fraction of its row (log scale, so the
off-diagonal errors show beside a full diagonal). Each row's tick label gives that class's
error (off-diagonal share of the row); ticks are the class names when given. The image of a
panel holds the row fractions, its texts the counts (gid
``cell:<panel>:<true>:<predicted>``, non-zero cells only).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from snnjob.plots.common import check_classes, check_path, class_names_of, numbered, save_png

__all__ = ["class_errors", "confusion_counts", "confusion_figure", "plot_confusion"]


def confusion_counts(labels: Any, predictions: Any, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` int64 counts: ``[i, j]`` = images of class ``i`` predicted
    as ``j``. Labels and predictions outside ``0 .. n_classes - 1`` are refused."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    n_classes = int(n_classes)
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if labels.ndim != 1 or labels.shape != predictions.shape:
        raise ValueError(
            f"labels and predictions must be 1-d of one length, got {labels.shape} and "
            f"{predictions.shape}"
        )
    labels = check_classes(labels, n_classes, "labels")
    predictions = check_classes(predictions, n_classes, "predictions")
    counts = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def class_errors(counts: np.ndarray) -> np.ndarray:
    """Per true class, the fraction of its images predicted as another class (nan if none)."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - np.diag(counts) / totals


def _matrix(counts: Any, title: str) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] < 2:
        raise ValueError(f"{title!r}: counts must be a square (K, K) array, got {counts.shape}")
    if (counts < 0).any():
        raise ValueError(f"{title!r}: counts must be >= 0")
    return counts.astype(np.int64)


def confusion_figure(
    matrices: Mapping[str, Any], *, n_steps: int, class_names: Sequence[str] | None = None
) -> Figure:
    """The figure of :func:`plot_confusion`: one axes per entry of ``matrices``, in order."""
    if not matrices:
        raise ValueError("no confusion matrices to plot")
    counts = {title: _matrix(m, title) for title, m in matrices.items()}
    shapes = {m.shape for m in counts.values()}
    if len(shapes) > 1:
        raise ValueError(f"confusion matrices of different shapes: {sorted(shapes)}")
    k = next(iter(shapes))[0]
    names = class_names_of(class_names, k)
    named = not numbered(names)
    longest = max(len(name) for name in names)
    grow = 0.12 * (min(k, 50) - 10) if k > 10 else 0.0  # more classes: a little larger
    width = 5.6 + grow + 0.08 * max(0, longest - 1)
    height = 5.2 + grow + (0.04 * longest if named else 0.0)
    fontsize = max(3.0, 7.0 * min(1.0, 10.0 / k) ** 0.5)
    fig = Figure(figsize=(width * len(counts), height), layout="constrained")
    axes = fig.subplots(1, len(counts), squeeze=False)[0]
    norm = LogNorm(vmin=1e-3, vmax=1.0)
    cmap = colormaps["viridis"].with_extremes(bad="white")  # empty cells: white
    for ax, (title, m) in zip(axes, counts.items()):
        totals = m.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            fractions = np.where(totals > 0, m / np.maximum(totals, 1), 0.0)
        image = ax.imshow(np.ma.masked_equal(fractions, 0.0), cmap=cmap, norm=norm)
        for (i, j), c in np.ndenumerate(m):
            if c:
                colour = "white" if fractions[i, j] < 0.1 else "black"
                ax.text(j, i, str(c), ha="center", va="center", fontsize=fontsize,
                        color=colour, gid=f"cell:{title}:{i}:{j}")  # fmt: skip
        errors = class_errors(m)
        if named:
            ax.set_xticks(range(k), names, rotation=45, ha="right", rotation_mode="anchor")
        else:
            ax.set_xticks(range(k))
        ax.set_yticks(range(k),
                      [f"{name}: {100 * e:.1f}%" if np.isfinite(e) else f"{name}: -"
                       for name, e in zip(names, errors)])  # fmt: skip
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class: its error")
        total = int(m.sum())
        wrong = total - int(np.trace(m))
        head = f"{title}\n" if title else ""
        ax.set_title(f"{head}{wrong} of {total} wrong ({100 * wrong / max(total, 1):.2f}%)",
                     fontsize=10)  # fmt: skip
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="fraction of the true class's images")
    fig.suptitle(f"Confusion at n_steps = {n_steps} (counts over training and evaluation seeds)",
                 fontsize=11)  # fmt: skip
    return fig


def plot_confusion(
    path: str | os.PathLike,
    matrices: Mapping[str, Any],
    *,
    n_steps: int,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Plot confusion matrices (counts from :func:`confusion_counts`), one panel each.

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG file (``.png``); missing folders are created.
    matrices : Mapping[str, array]
        Panel title (e.g. the recipe; ``""`` for none) -> ``(K, K)`` counts (the same ``K``
        for every panel).
    n_steps : int
        The presentation time the predictions were read at (for the title).
    class_names : sequence of str or None
        ``K`` class names for the ticks; None: ``0`` .. ``K-1``.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    check_path(path)
    return save_png(confusion_figure(matrices, n_steps=n_steps, class_names=class_names), path)
