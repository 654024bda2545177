"""PNG figures of inputs, network outputs and error rates.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas directly, so this
module never touches :mod:`matplotlib.pyplot`, its global figure list or the selected backend.
Each function writes its PNG atomically (to a hidden temporary file in the same folder, then
:func:`os.replace`) and returns the path.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from snnjob.architecture import IMAGE_SHAPE, N_CLASSES
from snnjob.atomic import write_atomic
from snnjob.results.summary import load_summary

__all__ = ["plot_digits", "plot_error_vs_steps", "plot_outputs_over_time"]

IMAGE_SIDE = IMAGE_SHAPE[0]
_DPI = 100


def _save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Render ``fig`` to ``path`` as PNG via a hidden temp file in the same folder."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plot path must end with .png, got {path}")
    FigureCanvasAgg(fig)
    return write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=_DPI))


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
    return _save_png(fig, path)


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
    return _save_png(fig, path)


def _seed_lines(points: Sequence[Mapping[str, Any]]) -> dict[tuple, list[Mapping[str, Any]]]:
    lines: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for p in points:
        lines[(p["params_id"], p["train_seed"], p["eval_seed"])].append(p)
    return {key: sorted(pts, key=lambda p: p["n_steps"]) for key, pts in sorted(lines.items())}


def _recipe_colours(points: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """params id -> colour of its recipe, when the points hold several recipes (else empty)."""
    names = list(dict.fromkeys(p.get("recipe") for p in points))
    if len(names) < 2:
        return {}
    return {p["params_id"]: f"C{names.index(p['recipe']) % 10}" for p in points}


def _style(colours: dict[str, str], params_id: str, label: str) -> dict[str, Any]:
    """Several recipes: the recipe's colour, no label (the recipe's mean line has it)."""
    return {"color": colours.get(params_id), "label": None} if colours else {"label": label}


def _draw_seed_lines(ax, lines: dict[tuple, list], *, single: bool, colours: dict) -> None:
    """One line per seed pair with a CI band; with a single n_steps, dodged error bars."""
    multi_params = len({key[0] for key in lines}) > 1
    show_legend = len(lines) <= 10
    # With one n_steps every line is a single point: spread them sideways so bars stay visible.
    width = max(0.05 * next(iter(lines.values()))[0]["n_steps"], 0.5)
    offsets = np.linspace(-width, width, len(lines)) if single and len(lines) > 1 else None
    for i, ((params_id, train_seed, eval_seed), pts) in enumerate(lines.items()):
        x = np.array([p["n_steps"] for p in pts], dtype=np.float64)
        y = 100.0 * np.array([p["error"] for p in pts])
        low = 100.0 * np.array([p["ci95_low"] for p in pts])
        high = 100.0 * np.array([p["ci95_high"] for p in pts])
        label = f"train seed {train_seed}, eval seed {eval_seed}"
        if multi_params:
            label = f"{params_id}: {label}"
        if offsets is not None:
            x = x + offsets[i]
        style = _style(colours, params_id, label if show_legend else None)
        (line,) = ax.plot(x, y, marker="o", lw=1.0, alpha=0.8, **style)
        if single:
            ax.errorbar(
                x, y, yerr=[y - low, high - y], fmt="none", capsize=3, color=line.get_color()
            )
        else:
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15, lw=0)
    if single:
        centre = next(iter(lines.values()))[0]["n_steps"]
        ax.set_xlim(centre - 3 * width, centre + 3 * width)


def _draw_curves(ax, curves: Sequence[Mapping[str, Any]], lines: dict, colours: dict) -> None:
    """Each curve over every step with its band; the sweep's points marked with error bars."""
    multi_params = len({c["params_id"] for c in curves}) > 1
    show_legend = len(curves) <= 10
    for c in curves:
        key = (c["params_id"], c["train_seed"], c["eval_seed"])
        x = np.arange(1, len(c["error"]) + 1)
        label = f"train seed {key[1]}, eval seed {key[2]}"
        if multi_params:
            label = f"{key[0]}: {label}"
        style = _style(colours, c["params_id"], label if show_legend else None)
        (line,) = ax.plot(x, 100.0 * np.asarray(c["error"]), lw=1.0, alpha=0.8, **style)
        band = (100.0 * np.asarray(c["ci95_low"]), 100.0 * np.asarray(c["ci95_high"]))
        ax.fill_between(x, *band, color=line.get_color(), alpha=0.12, lw=0)
        pts = lines.get(key, [])
        if pts:
            px = np.array([p["n_steps"] for p in pts], dtype=np.float64)
            py = 100.0 * np.array([p["error"] for p in pts])
            err = [py - 100.0 * np.array([p["ci95_low"] for p in pts]),
                   100.0 * np.array([p["ci95_high"] for p in pts]) - py]  # fmt: skip
            ax.errorbar(px, py, yerr=err, fmt="o", ms=5, capsize=3, color=line.get_color())
    ax.set_xlim(0.8, max(len(c["error"]) for c in curves) * 1.1)
    # the first steps sit near chance (90%), the requested points near 1%: a log scale
    # shows both
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _draw_anytime(ax, anytime: Sequence[Mapping[str, Any]], colours: dict) -> None:
    """Each simulation's anytime points: error against mean steps used, thresholds marked."""
    multi_params = len({a["params_id"] for a in anytime}) > 1
    show = len(anytime) <= 10
    for a in anytime:
        pts = sorted(a["points"], key=lambda p: p["mean_steps"])
        x = np.array([p["mean_steps"] for p in pts])
        y = 100.0 * np.array([p["error"] for p in pts])
        label = (
            f"anytime (labels: threshold): train seed {a['train_seed']}, eval seed {a['eval_seed']}"
        )
        if multi_params:
            label = f"{a['params_id']}: {label}"
        style = _style(colours, a["params_id"], label if show else None)
        (line,) = ax.plot(x, y, ls="--", marker="D", ms=5, lw=1.2, **style)
        if a is anytime[0]:  # the thresholds once: every simulation has the same ones
            for p, xi, yi in zip(pts, x, y):
                ax.annotate(f"{p['threshold']:g}", (xi, yi), textcoords="offset points",
                            xytext=(4, 4), fontsize="x-small", color=line.get_color())  # fmt: skip
    left, right = ax.get_xlim()
    low = min(left, 0.8) if ax.get_xscale() == "log" else min(left, 0)
    ax.set_xlim(low, max(right, max(a["n_steps"] for a in anytime) + 1))


def plot_error_vs_steps(path: str | os.PathLike, summary: Mapping[str, Any]) -> Path:
    """Plot test error (%) against ``n_steps`` from a :func:`snnjob.results.summarize` result.

    With several recipes (``recipe`` in the points, ``summary["recipes"]``), every line is
    in its recipe's colour and each recipe's mean across seeds is a thick line (legend).
    With per-step curves (``summary["curves"]``): one continuous line per (params id,
    training seed, eval seed) over every step with its 95% Wilson band, the requested
    ``n_steps`` marked on it with error bars, and the mean across seeds at those points as
    a thick line, on logarithmic axes (the first steps are near chance). Without
    curves (older summaries): one thin line per seed pair through the requested points
    (dodged error bars when there is a single ``n_steps``), linear axes. With anytime points
    (``summary["anytime"]``): a dashed line per simulation of the error against the mean
    steps used when each image stops at its first confident step, labelled by threshold.

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG file (``.png``); missing folders are created.
    summary : Mapping[str, Any]
        Dict with ``"points"`` and ``"by_n_steps"`` as returned by ``summarize`` (or loaded
        from a ``summary.json``; older summaries whose points say ``"seed"`` are accepted).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    summary = load_summary(summary)
    points = summary["points"]
    if not points:
        raise ValueError("summary has no points to plot")
    lines = _seed_lines(points)
    steps = sorted({p["n_steps"] for p in points})
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.subplots()
    curves = summary.get("curves") or []
    colours = _recipe_colours(points)
    if curves:  # from step 1, on a log step axis: the short windows spread out
        _draw_curves(ax, curves, lines, colours)
    else:
        _draw_seed_lines(ax, lines, single=len(steps) == 1, colours=colours)
    means = [("black", "mean across seeds", summary.get("by_n_steps") or [])]
    if colours:  # one mean line per recipe, in its colour
        recipes = [r for r in summary.get("recipes") or [] if r["params_ids"]]
        means = [(colours.get(r["params_ids"][0]), f"{r['recipe']} (mean across seeds)",
                  r["by_n_steps"]) for r in recipes]  # fmt: skip
    for colour, label, by_steps in means:
        mx = [b["n_steps"] for b in by_steps]
        my = [100.0 * b["mean_error"] for b in by_steps]
        ax.plot(mx, my, color=colour, lw=3.0, marker="s", ms=7, label=label if mx else None)
    anytime = summary.get("anytime") or []
    if anytime:
        _draw_anytime(ax, anytime, colours)
    ticks = sorted({1, *steps}) if curves else steps
    ax.set_xticks(ticks, [str(n) for n in ticks], minor=False)
    ax.xaxis.set_minor_formatter("")
    ax.set_xlabel("timesteps per image (n_steps; anytime: mean steps used)" if anytime
                  else "timesteps per image (n_steps)")  # fmt: skip
    ax.set_ylabel("test error (%)")
    ax.set_title("Spiking test error vs. presentation time (95% CI)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return _save_png(fig, path)


def plot_spike_rates(path: str | os.PathLike, spikes: Sequence[Mapping[str, Any]]) -> Path:
    """Per LIF layer, a box of its neurons' firing rates (whiskers: 5th and 95th percentiles,
    a dot: the mean), one box per parameter set, each annotated with its silent fraction.

    ``spikes``: the ``"spikes"`` entries of ``summary.json`` (one per parameter set, each with
    per-layer ``layers`` rows of :data:`snnjob.results.schema.SPIKE_COLUMNS`).
    """
    if not spikes:
        raise ValueError("no spike statistics to plot")
    layers = list(dict.fromkeys(r["layer"] for entry in spikes for r in entry["layers"]))
    n_sets = len(spikes)
    width = 0.8 / n_sets
    fig = Figure(figsize=(2.2 + 2.0 * len(layers), 4.2))
    ax = fig.add_subplot()
    top = max(r["p95_rate_hz"] for e in spikes for r in e["layers"]) or 1.0
    for j, entry in enumerate(spikes):
        color = f"C{j % 10}"
        rows = {r["layer"]: r for r in entry["layers"]}
        stats, positions = [], []
        for i, layer in enumerate(layers):
            if layer not in rows:
                continue
            r = rows[layer]
            x = i + (j - (n_sets - 1) / 2) * width
            stats.append({
                "whislo": r["p05_rate_hz"], "q1": r["p25_rate_hz"], "med": r["p50_rate_hz"],
                "q3": r["p75_rate_hz"], "whishi": r["p95_rate_hz"], "mean": r["mean_rate_hz"],
                "fliers": [], "label": layer,
            })  # fmt: skip
            positions.append(x)
            ax.annotate(f"{100 * r['silent_fraction']:.0f}% silent", (x, r["p95_rate_hz"]),
                        xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7,
                        color=color)  # fmt: skip
        ax.bxp(stats, positions=positions, widths=width * 0.8, showmeans=True,
               boxprops={"color": color}, medianprops={"color": color},
               meanprops={"marker": "o", "markerfacecolor": color, "markeredgecolor": color,
                          "markersize": 4})  # fmt: skip
        recipe = "" if entry.get("recipe", "base") == "base" else f"{entry['recipe']}, "
        ax.plot([], [], color=color, label=f"{recipe}training seed {entry['train_seed']}")
    ax.set_xticks(range(len(layers)), layers)
    ax.set_xlim(-0.6, len(layers) - 0.4)
    ax.set_ylim(0, top * 1.15)
    ax.set_ylabel("firing rate per neuron (Hz)")
    first = spikes[0]
    ax.set_title(
        f"LIF firing rates: {first['n_images']} test images x {first['n_steps']} steps "
        "(box: 25-75%, whiskers: 5-95%, dot: mean)",
        fontsize=9,
    )
    if n_sets > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save_png(fig, path)


__all__ += ["plot_spike_rates"]
