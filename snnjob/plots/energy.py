"""Test error against synaptic operations per image: ``error_vs_synops.png``.

The SNN-vs-ANN cost picture (what keras-spiking's ``ModelEnergy`` tabulates): a spiking
network's work per image is its synaptic operations, each spike times its neuron's fan-out
(:meth:`snnjob.architecture.NetSpec.fan_out`), summed over the LIF layers and the ``n_steps`` the
image is shown for; the rate (ANN) network does ``macs_per_image_step`` multiply-accumulates
once. Synops per image at ``n_steps`` = (the spike statistics' synops per image and step,
measured at the sweep's longest ``n_steps``) x ``n_steps``: the per-step rate is assumed
constant over the window. The first weighted layer reads the analog image, not spikes: its
multiply-accumulates are not synaptic operations and are left out of the synops.

Tagged artists (:func:`snnjob.plots.common.tagged`): ``synops:<params id>`` (one line per
parameter set, x = synops per image, y = error %), ``ann-macs:<recipe>`` (the rate network's
MACs per image, a vertical line) and ``ann-error:<recipe>`` (its rate-mode error there).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from snnjob.plots.common import check_path, recipe_colour, recipes_of, save_png
from snnjob.plots.steps import rate_means
from snnjob.results.model import RunSummary, as_summary

__all__ = ["error_vs_synops_figure", "plot_error_vs_synops", "synops_points"]


@dataclass(frozen=True)
class SynopsLine:
    """One parameter set: its synops per image and its error at each of its ``n_steps``."""

    params_id: str
    recipe: str
    train_seed: int
    synops_per_image_step: float
    n_steps: list[int]
    synops_per_image: list[float]
    error: list[float]


def synops_points(summary: RunSummary | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per ``summary.spikes`` entry (one per parameter set): ``params_id``, ``recipe``,
    ``train_seed``, ``synops_per_image_step`` (summed over its LIF layers) and, per
    ``n_steps`` of its points (sorted lists): ``n_steps``, ``synops_per_image``
    (``synops_per_image_step x n_steps``) and ``error`` (the parameter set's errors pooled
    over evaluation seeds: summed ``n_errors`` / summed ``n_images``)."""
    return [asdict(line) for line in synops_lines(as_summary(summary))]


def synops_lines(summary: RunSummary) -> list[SynopsLine]:
    """:func:`synops_points`, typed."""
    counts: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for p in summary.points:
        c = counts[p.params_id][p.n_steps]
        c[0] += p.n_errors
        c[1] += p.n_images
    out = []
    for entry in summary.spikes:
        per_step = float(sum(r.synops_per_image_step for r in entry.layers))
        by_steps = counts.get(entry.params_id, {})
        steps = sorted(by_steps)
        out.append(SynopsLine(
            params_id=entry.params_id, recipe=entry.recipe, train_seed=entry.train_seed,
            synops_per_image_step=per_step, n_steps=steps,
            synops_per_image=[per_step * n for n in steps],
            error=[by_steps[n][0] / by_steps[n][1] for n in steps],
        ))  # fmt: skip
    return out


def _macs_of(ann_macs: Real | Mapping[str, Real], names: list[str]) -> dict[str, float]:
    if isinstance(ann_macs, Real) and not isinstance(ann_macs, bool):
        return dict.fromkeys(names, float(ann_macs))
    if not isinstance(ann_macs, Mapping):
        raise ValueError(f"ann_macs must be a number or a mapping recipe -> MACs, got {ann_macs!r}")
    return {name: float(v) for name, v in ann_macs.items()}


def error_vs_synops_figure(
    summary: RunSummary | Mapping[str, Any], ann_macs: Real | Mapping[str, Real]
) -> Figure:
    """The figure of :func:`plot_error_vs_synops` (tagged artists: the module docstring)."""
    summary = as_summary(summary)
    lines = [s for s in synops_lines(summary) if s.n_steps]
    if not lines:
        raise ValueError("no spike statistics with matching points to plot")
    names = recipes_of([*summary.points, *lines])
    macs = _macs_of(ann_macs, names)
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    labelled = len(lines) <= 10
    for s in lines:
        colour = recipe_colour(names, s.recipe, single=None)
        name = f"{s.recipe}, " if len(names) > 1 else ""
        label = f"spiking: {name}training seed {s.train_seed}" if labelled else None
        (line,) = ax.plot(s.synops_per_image, 100.0 * np.asarray(s.error), marker="o",
                          color=colour, label=label, gid=f"synops:{s.params_id}")  # fmt: skip
        for n, x, y in zip(s.n_steps, s.synops_per_image, s.error):
            ax.annotate(f"{n}", (x, 100.0 * y), textcoords="offset points", xytext=(4, 4),
                        fontsize="x-small", color=line.get_color())  # fmt: skip
    rates = {r.recipe: r for r in rate_means(summary)}
    for name in names:
        if name not in macs:
            continue
        colour = recipe_colour(names, name, single="black")
        prefix = f"{name}: " if len(names) > 1 else ""
        label = f"{prefix}rate (ANN) network: {macs[name]:.3g} MACs per image"
        ax.axvline(macs[name], color=colour, ls="--", lw=1.5, gid=f"ann-macs:{name}", label=label)
        if name in rates:
            error = 100.0 * rates[name].error
            ax.plot([macs[name]], [error], marker="*", ms=14, color=colour, ls="none",
                    gid=f"ann-error:{name}",
                    label=f"{prefix}rate-mode error {error:.2f}%")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("operations per image (spiking: synops = spikes x fan-out; ANN: MACs)")
    ax.set_ylabel("test error (%)")
    ax.set_title("Test error vs. synaptic operations per image (labels: n_steps)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_error_vs_synops(
    path: str | os.PathLike,
    summary: RunSummary | Mapping[str, Any],
    ann_macs: Real | Mapping[str, Real],
) -> Path:
    """Plot test error (%) against synaptic operations per image, one line per parameter set
    through its ``n_steps`` points, beside the rate network's MACs per image.

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG file (``.png``); missing folders are created.
    summary : RunSummary or Mapping[str, Any]
        A summary with ``points`` and ``spikes`` (and ``rate_mode``, drawn as a star on
        the ANN line when present), or its ``summary.json`` dict; see :func:`synops_points`.
    ann_macs : number or Mapping[str, number]
        The rate network's multiply-accumulates per image
        (:meth:`snnjob.architecture.NetSpec.macs_per_image_step`), for every recipe or per recipe.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    check_path(path)
    return save_png(error_vs_synops_figure(summary, ann_macs), path)
