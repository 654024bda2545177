"""Which digits are mistaken for which: ``confusion.png``.

Per panel (one per recipe in a recipe sweep), the confusion matrix at one ``n_steps``: rows
are true digits, columns predicted ones; each cell shows its count and is coloured by the
fraction of its row (log scale, so the off-diagonal errors show beside a full diagonal).
Each row's tick label gives that digit's error (off-diagonal share of the row).
The image of a panel holds the row fractions, its texts the counts (gid
``cell:<panel>:<true>:<predicted>``, non-zero cells only).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from snnjob.architecture import N_CLASSES
from snnjob.plots.common import check_path, save_png

__all__ = ["class_errors", "confusion_counts", "confusion_figure", "plot_confusion"]


def confusion_counts(labels: Any, predictions: Any) -> np.ndarray:
    """``(10, 10)`` int64 counts: ``[i, j]`` = images of digit ``i`` predicted as ``j``."""
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if labels.ndim != 1 or labels.shape != predictions.shape:
        raise ValueError(
            f"labels and predictions must be 1-d of one length, got {labels.shape} and "
            f"{predictions.shape}"
        )
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= N_CLASSES):
            raise ValueError(f"{name} must be digits 0..{N_CLASSES - 1}")
    counts = np.zeros((N_CLASSES, N_CLASSES), np.int64)
    np.add.at(counts, (labels.astype(np.int64), predictions.astype(np.int64)), 1)
    return counts


def class_errors(counts: np.ndarray) -> np.ndarray:
    """Per true digit, the fraction of its images predicted as another digit (nan if none)."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - np.diag(counts) / totals


def _matrix(counts: Any, title: str) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.shape != (N_CLASSES, N_CLASSES) or (counts < 0).any():
        raise ValueError(f"{title!r}: counts must be a ({N_CLASSES}, {N_CLASSES}) array >= 0")
    return counts.astype(np.int64)


def confusion_figure(matrices: Mapping[str, Any], *, n_steps: int) -> Figure:
    """The figure of :func:`plot_confusion`: one axes per entry of ``matrices``, in order."""
    if not matrices:
        raise ValueError("no confusion matrices to plot")
    counts = {title: _matrix(m, title) for title, m in matrices.items()}
    fig = Figure(figsize=(5.6 * len(counts), 5.2), layout="constrained")
    axes = fig.subplots(1, len(counts), squeeze=False)[0]
    norm = LogNorm(vmin=1e-3, vmax=1.0)
    cmap = colormaps["viridis"].with_extremes(bad="white")  # empty cells: white
    for ax, (title, m) in zip(axes, counts.items()):
        totals = m.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            fractions = np.where(totals > 0, m / np.maximum(totals, 1), 0.0)
        image = ax.imshow(np.ma.masked_equal(fractions, 0.0), cmap=cmap, norm=norm)
        for (i, j), k in np.ndenumerate(m):
            if k:
                colour = "white" if fractions[i, j] < 0.1 else "black"
                ax.text(j, i, str(k), ha="center", va="center", fontsize=7, color=colour,
                        gid=f"cell:{title}:{i}:{j}")  # fmt: skip
        errors = class_errors(m)
        ax.set_xticks(range(N_CLASSES))
        ax.set_yticks(range(N_CLASSES),
                      [f"{d}: {100 * e:.1f}%" if np.isfinite(e) else f"{d}: -"
                       for d, e in enumerate(errors)])  # fmt: skip
        ax.set_xlabel("predicted digit")
        ax.set_ylabel("true digit: its error")
        total = int(m.sum())
        wrong = total - int(np.trace(m))
        head = f"{title}\n" if title else ""
        ax.set_title(f"{head}{wrong} of {total} wrong ({100 * wrong / max(total, 1):.2f}%)",
                     fontsize=10)  # fmt: skip
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="fraction of the true digit's images")
    fig.suptitle(f"Confusion at n_steps = {n_steps} (counts over training and evaluation seeds)",
                 fontsize=11)  # fmt: skip
    return fig


def plot_confusion(path: str | os.PathLike, matrices: Mapping[str, Any], *, n_steps: int) -> Path:
    """Plot confusion matrices (counts from :func:`confusion_counts`), one panel each.

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG file (``.png``); missing folders are created.
    matrices : Mapping[str, array]
        Panel title (e.g. the recipe; ``""`` for none) -> ``(10, 10)`` counts.
    n_steps : int
        The presentation time the predictions were read at (for the title).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    check_path(path)
    return save_png(confusion_figure(matrices, n_steps=n_steps), path)
