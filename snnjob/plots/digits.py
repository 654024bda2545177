"""Input images and network outputs: ``digits.png`` and ``outputs_over_time.png``."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from snnjob.architecture import N_CLASSES
from snnjob.plots.common import IMAGE_SIDE, check_path, save_png

__all__ = ["digits_figure", "outputs_over_time_figure", "plot_digits", "plot_outputs_over_time"]


def _images_2d(images: Any) -> np.ndarray:
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 2 or images.shape[1] != IMAGE_SIDE * IMAGE_SIDE:
        raise ValueError(
            f"images must have shape (N, {IMAGE_SIDE * IMAGE_SIDE}), got {images.shape}"
        )
    return images


def _labels(values: Any, n: int, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] < n:
        raise ValueError(
            f"{name} must be a 1-d array with at least {n} entries, got {values.shape}"
        )
    return values


def _count(n: Any, available: int, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    if available < 1:
        raise ValueError("nothing to plot: no examples given")
    return min(int(n), available)


def _show_digit(ax, image: np.ndarray) -> None:
    ax.imshow(image.reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])


def digits_figure(
    images: np.ndarray, labels: np.ndarray, *, predictions: np.ndarray | None = None, n: int = 16
) -> Figure:
    """The figure of :func:`plot_digits`: axes ``i`` (row-major) shows image ``i``, titled
    ``label L`` or ``label L, pred P`` (red when wrong)."""
    images = _images_2d(images)
    n = _count(n, images.shape[0])
    labels = _labels(labels, n, "labels")
    if predictions is not None:
        predictions = _labels(predictions, n, "predictions")
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(1.6 * cols, 1.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        _show_digit(ax, images[i])
        if predictions is None:
            ax.set_title(f"label {labels[i]}", fontsize="small")
        else:
            wrong = predictions[i] != labels[i]
            ax.set_title(
                f"label {labels[i]}, pred {predictions[i]}",
                fontsize="small",
                color="red" if wrong else "black",
            )
    return fig


def plot_digits(
    path: str | os.PathLike,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    predictions: np.ndarray | None = None,
    n: int = 16,
) -> Path:
    """Plot a grid of sample input images titled with their labels (and predictions).

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG file (``.png``); missing folders are created.
    images : numpy.ndarray
        Flattened images, shape ``(N, 784)``, values in [0, 1].
    labels : numpy.ndarray
        True digits, shape ``(N,)``.
    predictions : numpy.ndarray or None
        Predicted digits, shape ``(N,)``; wrong predictions are titled in red.
    n : int
        Number of images to show (the first ``min(n, N)``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    check_path(path)
    return save_png(digits_figure(images, labels, predictions=predictions, n=n), path)


def outputs_over_time_figure(
    images: np.ndarray, outputs: np.ndarray, labels: np.ndarray, *, dt: float = 0.001, n: int = 5
) -> Figure:
    """The figure of :func:`plot_outputs_over_time`: row ``i`` holds image ``i`` (left) and
    its ten output traces (right, one line per class in class order)."""
    images = _images_2d(images)
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim != 3 or outputs.shape[2] != N_CLASSES or outputs.shape[1] < 1:
        raise ValueError(f"outputs must have shape (N, n_steps, {N_CLASSES}), got {outputs.shape}")
    if not (isinstance(dt, int | float | np.floating) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number, got {dt!r}")
    n = _count(n, min(images.shape[0], outputs.shape[0]))
    labels = _labels(labels, n, "labels")
    time = (np.arange(outputs.shape[1]) + 1) * float(dt)
    fig = Figure(figsize=(9.0, 2.2 * n), layout="constrained")
    axes = fig.subplots(n, 2, squeeze=False, width_ratios=[1, 3])
    for i in range(n):
        _show_digit(axes[i, 0], images[i])
        axes[i, 0].set_title(f"label {labels[i]}", fontsize="small")
        ax = axes[i, 1]
        lines = ax.plot(time, outputs[i])
        ax.set_ylabel("output")
        ax.set_xlim(0.0, time[-1])
        if i == n - 1:
            ax.set_xlabel("time (s)")
        if i == 0:
            ax.legend(
                lines,
                [str(digit) for digit in range(N_CLASSES)],
                title="digit",
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                fontsize="small",
            )
    return fig


def plot_outputs_over_time(
    path: str | os.PathLike,
    images: np.ndarray,
    outputs: np.ndarray,
    labels: np.ndarray,
    *,
    dt: float = 0.001,
    n: int = 5,
) -> Path:
    """Plot, per example, the input image and the filtered output of each class over time.

    Like the last figure of the NengoDL spiking-MNIST example: one row per example, the image
    on the left and the ten output traces on the right.

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG file (``.png``); missing folders are created.
    images : numpy.ndarray
        Flattened images, shape ``(N, 784)``, values in [0, 1].
    outputs : numpy.ndarray
        Filtered network output, shape ``(N, n_steps, 10)``.
    labels : numpy.ndarray
        True digits, shape ``(N,)``.
    dt : float
        Simulator timestep in seconds; step ``k`` (0-based) is plotted at ``(k + 1) * dt``.
    n : int
        Number of examples to show (the first ``min(n, N)``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    check_path(path)
    return save_png(outputs_over_time_figure(images, outputs, labels, dt=dt, n=n), path)
