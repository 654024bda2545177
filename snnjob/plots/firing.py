"""Firing rates of the LIF layers, from the spike statistics (``summary.spikes``).

- ``spike_rates.png`` (:func:`plot_spike_rates`): per layer a box per parameter set
  (whiskers 5th-95th percentile, a dot: the mean); its median line is tagged
  ``median:<params id>:<layer>``.
- ``spike_rate_histograms.png`` (:func:`plot_spike_histograms`): per layer the histogram of
  per-neuron firing rates (``rate_hist_edges_hz``, ``rate_hist_counts`` of the ``spikes/``
  rows, schema ``spikes-v2``) as the fraction of the layer's neurons per bin, one step line
  per parameter set, tagged ``hist:<params id>:<layer>``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from snnjob.plots.common import check_path, save_png
from snnjob.results.model import BASE, SpikeEntry, SpikeLayer, as_spike_entries

__all__ = [
    "plot_spike_histograms",
    "plot_spike_rates",
    "spike_histograms",
    "spike_histograms_figure",
    "spike_rates_figure",
]


def _entry_label(entry: SpikeEntry) -> str:
    recipe = "" if entry.recipe == BASE else f"{entry.recipe}, "
    return f"{recipe}training seed {entry.train_seed}"


def _box(r: SpikeLayer) -> dict[str, Any]:
    """The box of one layer's rates, as :meth:`matplotlib.axes.Axes.bxp` takes it."""
    return {"whislo": r.p05_rate_hz, "q1": r.p25_rate_hz, "med": r.p50_rate_hz,
            "q3": r.p75_rate_hz, "whishi": r.p95_rate_hz, "mean": r.mean_rate_hz,
            "fliers": [], "label": r.layer}  # fmt: skip


def spike_rates_figure(spikes: Sequence[SpikeEntry | Mapping[str, Any]]) -> Figure:
    """The figure of :func:`plot_spike_rates`."""
    spikes = as_spike_entries(spikes)
    if not spikes:
        raise ValueError("no spike statistics to plot")
    layers = list(dict.fromkeys(r.layer for entry in spikes for r in entry.layers))
    n_sets = len(spikes)
    width = 0.8 / n_sets
    fig = Figure(figsize=(2.2 + 2.0 * len(layers), 4.2), layout="tight")
    ax = fig.add_subplot()
    top = max(r.p95_rate_hz for e in spikes for r in e.layers) or 1.0
    for j, entry in enumerate(spikes):
        color = f"C{j % 10}"
        rows = {r.layer: r for r in entry.layers}
        stats, positions, present = [], [], []
        for i, layer in enumerate(layers):
            if layer not in rows:
                continue
            r = rows[layer]
            x = i + (j - (n_sets - 1) / 2) * width
            stats.append(_box(r))
            positions.append(x)
            present.append(layer)
            ax.annotate(f"{100 * r.silent_fraction:.0f}% silent", (x, r.p95_rate_hz),
                        xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7,
                        color=color)  # fmt: skip
        drawn = ax.bxp(stats, positions=positions, widths=width * 0.8, showmeans=True,
                       boxprops={"color": color}, medianprops={"color": color},
                       meanprops={"marker": "o", "markerfacecolor": color,
                                  "markeredgecolor": color, "markersize": 4})  # fmt: skip
        for layer, median in zip(present, drawn["medians"]):
            median.set_gid(f"median:{entry.params_id}:{layer}")
        ax.plot([], [], color=color, label=_entry_label(entry))
    ax.set_xticks(range(len(layers)), layers)
    ax.set_xlim(-0.6, len(layers) - 0.4)
    ax.set_ylim(0, top * 1.15)
    ax.set_ylabel("firing rate per neuron (Hz)")
    first = spikes[0]
    ax.set_title(
        f"LIF firing rates: {first.n_images} test images x {first.n_steps} steps "
        "(box: 25-75%, whiskers: 5-95%, dot: mean)",
        fontsize=9,
    )
    if n_sets > 1:
        ax.legend(fontsize=8)
    return fig


def plot_spike_rates(
    path: str | os.PathLike, spikes: Sequence[SpikeEntry | Mapping[str, Any]]
) -> Path:
    """Per LIF layer, a box of its neurons' firing rates (whiskers: 5th and 95th percentiles,
    a dot: the mean), one box per parameter set, each annotated with its silent fraction.

    ``spikes``: a summary's ``spikes`` (:class:`~snnjob.results.model.SpikeEntry`, or the
    ``"spikes"`` dicts of ``summary.json``: one per parameter set, each with per-layer
    ``layers`` rows of :data:`snnjob.results.schema.SPIKE_COLUMNS`).
    """
    check_path(path)
    return save_png(spike_rates_figure(spikes), path)


@dataclass(frozen=True)
class Histogram:
    """One parameter set's histogram of a layer's per-neuron firing rates."""

    params_id: str
    label: str
    n_neurons: int
    silent_fraction: float
    edges_hz: np.ndarray
    counts: np.ndarray
    fraction: np.ndarray


def spike_histograms(
    spikes: Sequence[SpikeEntry | Mapping[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    """Per layer (in order of appearance), the histograms to draw: one per spikes entry
    whose row has one (rows of ``spikes-v1`` files have none and are left out), each
    ``{"params_id", "label", "n_neurons", "silent_fraction", "edges_hz", "counts",
    "fraction"}`` with ``fraction`` = counts / the layer's neurons."""
    return {layer: [vars(h).copy() for h in hists] for layer, hists in _histograms(spikes).items()}


def _histograms(spikes: Sequence[SpikeEntry | Mapping[str, Any]]) -> dict[str, list[Histogram]]:
    out: dict[str, list[Histogram]] = {}
    for entry in as_spike_entries(spikes):
        for r in entry.layers:
            if r.rate_hist_counts is None or r.rate_hist_edges_hz is None:
                continue
            counts = np.asarray(r.rate_hist_counts, dtype=np.int64)
            edges = np.asarray(r.rate_hist_edges_hz, dtype=np.float64)
            if edges.shape != (counts.size + 1,):
                raise ValueError(f"{r.layer}: {counts.size} bins need {counts.size + 1} edges")
            out.setdefault(r.layer, []).append(Histogram(
                params_id=entry.params_id, label=_entry_label(entry), n_neurons=r.n_neurons,
                silent_fraction=r.silent_fraction, edges_hz=edges, counts=counts,
                fraction=counts / r.n_neurons,
            ))  # fmt: skip
    return out


def spike_histograms_figure(spikes: Sequence[SpikeEntry | Mapping[str, Any]]) -> Figure:
    """The figure of :func:`plot_spike_histograms`: one axes per layer, one step line per
    parameter set (same colour in every layer)."""
    spikes = as_spike_entries(spikes)
    layers = _histograms(spikes)
    if not layers:
        raise ValueError("no firing-rate histograms to plot (spike statistics older than "
                         "spikes-v2 have none)")  # fmt: skip
    fig = Figure(figsize=(1.0 + 3.6 * len(layers), 3.8), layout="constrained")
    axes = fig.subplots(1, len(layers), squeeze=False)[0]
    colours = {e.params_id: f"C{i % 10}" for i, e in enumerate(spikes)}
    for ax, (layer, hists) in zip(axes, layers.items()):
        for h in hists:
            label = f"{h.label}: {100 * h.silent_fraction:.0f}% silent"
            ax.stairs(h.fraction, h.edges_hz, baseline=None, lw=1.5,
                      color=colours[h.params_id], label=label,
                      gid=f"hist:{h.params_id}:{layer}")  # fmt: skip
        ax.set_yscale("log")
        ax.set_xlim(left=0)
        ax.set_title(f"{layer} ({hists[0].n_neurons} neurons)", fontsize=10)
        ax.set_xlabel("firing rate (Hz)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("fraction of the layer's neurons")
    first = spikes[0]
    fig.suptitle(f"Per-neuron firing rates: {first.n_images} test images x "
                 f"{first.n_steps} steps (silent neurons: the first bin)",
                 fontsize=10)  # fmt: skip
    return fig


def plot_spike_histograms(
    path: str | os.PathLike, spikes: Sequence[SpikeEntry | Mapping[str, Any]]
) -> Path:
    """Per LIF layer, the histogram of its neurons' firing rates (fraction of the layer's
    neurons per bin, log scale), one step line per parameter set.

    ``spikes``: a summary's ``spikes`` (or the ``"spikes"`` dicts of ``summary.json``); layer
    rows need
    ``rate_hist_edges_hz`` and ``rate_hist_counts`` (:data:`~snnjob.results.schema.
    SPIKE_COLUMNS`, schema ``spikes-v2``); rows without them are left out.
    """
    check_path(path)
    return save_png(spike_histograms_figure(spikes), path)
