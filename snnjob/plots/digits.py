"""Input images and network outputs: ``digits.png`` and ``outputs_over_time.png``.

Images are rows of ``h * w * c`` values in [0, 1] (channels last, as the network reads
them), for any ``image_shape`` ``(h, w, c)``: one channel is shown in gray, three as RGB,
any other number as the gray mean of the channels. Without ``image_shape`` a row is taken
to be a square single-channel image. Labels and predictions are class indices, titled with
their ``class_names`` when given (and not just the numbers ``"0"`` .. ``"K-1"``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from snnjob.plots.common import check_classes, check_path, class_names_of, numbered, save_png

__all__ = ["digits_figure", "outputs_over_time_figure", "plot_digits", "plot_outputs_over_time"]


def _image_shape(image_shape: Any) -> tuple[int, int, int]:
    shape = tuple(image_shape)
    if len(shape) != 3 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v > 0 for v in shape
    ):
        raise ValueError(f"image_shape must be 3 positive integers (h, w, c), got {image_shape!r}")
    return tuple(int(v) for v in shape)  # type: ignore[return-value]


def _images(images: Any, image_shape: Any) -> tuple[np.ndarray, tuple[int, int, int]]:
    """``images`` as ``(N, h * w * c)`` rows and their ``(h, w, c)``.

    Flat rows need ``image_shape`` unless they are square single-channel images; arrays of
    shape ``(N, h, w)`` or ``(N, h, w, c)`` bring their own shape.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim not in (2, 3, 4):
        raise ValueError(
            f"images must be rows of pixels, shape (N, h * w * c), got shape {images.shape}"
        )
    if image_shape is not None:
        shape = _image_shape(image_shape)
    elif images.ndim > 2:
        shape = _image_shape((*images.shape[1:], 1)[:3])
    else:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1] or side == 0:
            raise ValueError(
                f"images have rows of {images.shape[1]} values, which is not a square "
                "single-channel image: pass image_shape=(height, width, channels)"
            )
        shape = (side, side, 1)
    rows = images.reshape(images.shape[0], -1)
    if rows.shape[1] != math.prod(shape):
        raise ValueError(
            f"images must have shape (N, {math.prod(shape)}) for image_shape {shape}, "
            f"got {images.shape}"
        )
    return rows, shape


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


def _show_image(ax, row: np.ndarray, shape: tuple[int, int, int]) -> None:
    h, w, c = shape
    if c == 3:
        ax.imshow(np.clip(row.reshape(h, w, 3), 0.0, 1.0))
    else:
        gray = row.reshape(h, w) if c == 1 else row.reshape(h, w, c).mean(axis=2)
        ax.imshow(gray, cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])


class _Titles:
    """Titles of an image: ``label L[, pred P]`` by number, ``Name[, pred Other]`` by name."""

    def __init__(self, class_names: Sequence[str] | None):
        self.names = None if class_names is None or numbered(class_names) else list(class_names)

    def label(self, label: Any) -> str:
        return f"label {label}" if self.names is None else self.names[int(label)]

    def pred(self, label: Any, prediction: Any) -> str:
        if self.names is None:
            return f"label {label}, pred {prediction}"
        return f"{self.names[int(label)]}, pred {self.names[int(prediction)]}"


def _class_colours(n_classes: int) -> list[Any] | None:
    """One colour per class: the default cycle (None) up to 10, tab20 up to 20, else turbo."""
    if n_classes <= 10:
        return None
    if n_classes <= 20:
        return [colormaps["tab20"](k) for k in range(n_classes)]
    return [colormaps["turbo"](x) for x in np.linspace(0.0, 1.0, n_classes)]


def digits_figure(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    predictions: np.ndarray | None = None,
    n: int = 16,
    image_shape: tuple[int, int, int] | None = None,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """The figure of :func:`plot_digits`: axes ``i`` (row-major) shows image ``i``, titled
    ``label L`` or ``label L, pred P`` (red when wrong); with class names ``Name`` or
    ``Name, pred Other``."""
    images, shape = _images(images, image_shape)
    n = _count(n, images.shape[0])
    labels = _labels(labels, n, "labels")[:n]
    if predictions is not None:
        predictions = _labels(predictions, n, "predictions")[:n]
    if class_names is not None:
        names = class_names_of(class_names, len(class_names))
        labels = check_classes(labels, len(names), "labels")
        if predictions is not None:
            predictions = check_classes(predictions, len(names), "predictions")
    titles = _Titles(class_names)
    if predictions is None:
        texts = [titles.label(labels[i]) for i in range(n)]
    else:
        texts = [titles.pred(labels[i], predictions[i]) for i in range(n)]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    aspect = min(max(shape[1] / shape[0], 0.5), 2.0)
    width = max(1.6 * aspect, 0.075 * max(len(t) for t in texts))  # long class names: wider
    fig = Figure(figsize=(width * cols, 1.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        _show_image(ax, images[i], shape)
        wrong = predictions is not None and predictions[i] != labels[i]
        ax.set_title(texts[i], fontsize="small", color="red" if wrong else "black")
    return fig


def plot_digits(
    path: str | os.PathLike,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    predictions: np.ndarray | None = None,
    n: int = 16,
    image_shape: tuple[int, int, int] | None = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Plot a grid of sample input images titled with their labels (and predictions).

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG file (``.png``); missing folders are created.
    images : numpy.ndarray
        Flattened images, shape ``(N, h * w * c)`` (channels last), values in [0, 1]; or
        ``(N, h, w)`` / ``(N, h, w, c)``.
    labels : numpy.ndarray
        True classes, shape ``(N,)``.
    predictions : numpy.ndarray or None
        Predicted classes, shape ``(N,)``; wrong predictions are titled in red.
    n : int
        Number of images to show (the first ``min(n, N)``).
    image_shape : tuple of int or None
        ``(h, w, c)`` of a flat row; None: a square single-channel image (a row length that
        is not a square is refused). ``c`` 1: gray, 3: RGB, other: the channel mean in gray.
    class_names : sequence of str or None
        Name of each class (index ``k`` -> ``class_names[k]``) for the titles; None, or the
        numbers ``"0"`` .. ``"K-1"``: titled ``label L, pred P``.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    check_path(path)
    fig = digits_figure(images, labels, predictions=predictions, n=n, image_shape=image_shape,
                        class_names=class_names)  # fmt: skip
    return save_png(fig, path)


def outputs_over_time_figure(
    images: np.ndarray,
    outputs: np.ndarray,
    labels: np.ndarray,
    *,
    dt: float = 0.001,
    n: int = 5,
    image_shape: tuple[int, int, int] | None = None,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """The figure of :func:`plot_outputs_over_time`: row ``i`` holds image ``i`` (left) and
    its ``K`` output traces (right, one line per class in class order; the legend names
    them ``class_names`` or ``0`` .. ``K-1``)."""
    images, shape = _images(images, image_shape)
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim != 3 or outputs.shape[2] < 2 or outputs.shape[1] < 1:
        raise ValueError(
            f"outputs must have shape (N, n_steps, n_classes) with n_steps >= 1 and "
            f"n_classes >= 2, got {outputs.shape}"
        )
    if not (isinstance(dt, int | float | np.floating) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number, got {dt!r}")
    n_classes = outputs.shape[2]
    names = class_names_of(class_names, n_classes)
    n = _count(n, min(images.shape[0], outputs.shape[0]))
    labels = _labels(labels, n, "labels")[:n]
    if class_names is not None:
        labels = check_classes(labels, n_classes, "labels")
    titles = _Titles(class_names)
    colours = _class_colours(n_classes)
    time = (np.arange(outputs.shape[1]) + 1) * float(dt)
    fig = Figure(figsize=(9.0, 2.2 * n), layout="constrained")
    axes = fig.subplots(n, 2, squeeze=False, width_ratios=[1, 3])
    for i in range(n):
        _show_image(axes[i, 0], images[i], shape)
        axes[i, 0].set_title(titles.label(labels[i]), fontsize="small")
        ax = axes[i, 1]
        if colours is not None:
            ax.set_prop_cycle(color=colours)
        lines = ax.plot(time, outputs[i])
        ax.set_ylabel("output")
        ax.set_xlim(0.0, time[-1])
        if i == n - 1:
            ax.set_xlabel("time (s)")
        if i == 0:
            ax.legend(
                lines,
                names,
                title="class",
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                fontsize="small",
                ncols=math.ceil(n_classes / 12),
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
    image_shape: tuple[int, int, int] | None = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Plot, per example, the input image and the filtered output of each class over time.

    Like the last figure of the NengoDL spiking-MNIST example: one row per example, the image
    on the left and one output trace per class on the right.

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG file (``.png``); missing folders are created.
    images : numpy.ndarray
        Flattened images, shape ``(N, h * w * c)`` (channels last), values in [0, 1]; or
        ``(N, h, w)`` / ``(N, h, w, c)``.
    outputs : numpy.ndarray
        Filtered network output, shape ``(N, n_steps, K)``, ``K >= 2`` classes.
    labels : numpy.ndarray
        True classes, shape ``(N,)``.
    dt : float
        Simulator timestep in seconds; step ``k`` (0-based) is plotted at ``(k + 1) * dt``.
    n : int
        Number of examples to show (the first ``min(n, N)``).
    image_shape : tuple of int or None
        ``(h, w, c)`` of a flat row, as for :func:`plot_digits`.
    class_names : sequence of str or None
        ``K`` class names for the legend and the image titles; None: ``0`` .. ``K-1``.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    check_path(path)
    fig = outputs_over_time_figure(images, outputs, labels, dt=dt, n=n, image_shape=image_shape,
                                   class_names=class_names)  # fmt: skip
    return save_png(fig, path)
