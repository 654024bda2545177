"""Firing rates of the LIF layers, from the spike statistics (``summary["spikes"]``).

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
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from snnjob.plots.common import check_path, save_png

__all__ = [
    "plot_spike_histograms",
    "plot_spike_rates",
    "spike_histograms",
    "spike_histograms_figure",
    "spike_rates_figure",
]


def _entry_label(entry: Mapping[str, Any]) -> str:
    recipe = "" if entry.get("recipe", "base") == "base" else f"{entry['recipe']}, "
    return f"{recipe}training seed {entry['train_seed']}"


def spike_rates_figure(spikes: Sequence[Mapping[str, Any]]) -> Figure:
    """The figure of :func:`plot_spike_rates`."""
    if not spikes:
        raise ValueError("no spike statistics to plot")
    layers = list(dict.fromkeys(r["layer"] for entry in spikes for r in entry["layers"]))
    n_sets = len(spikes)
    width = 0.8 / n_sets
    fig = Figure(figsize=(2.2 + 2.0 * len(layers), 4.2), layout="tight")
    ax = fig.add_subplot()
    top = max(r["p95_rate_hz"] for e in spikes for r in e["layers"]) or 1.0
    for j, entry in enumerate(spikes):
        color = f"C{j % 10}"
        rows = {r["layer"]: r for r in entry["layers"]}
        stats, positions, present = [], [], []
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
            present.append(layer)
            ax.annotate(f"{100 * r['silent_fraction']:.0f}% silent", (x, r["p95_rate_hz"]),
                        xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7,
                        color=color)  # fmt: skip
        drawn = ax.bxp(stats, positions=positions, widths=width * 0.8, showmeans=True,
                       boxprops={"color": color}, medianprops={"color": color},
                       meanprops={"marker": "o", "markerfacecolor": color,
                                  "markeredgecolor": color, "markersize": 4})  # fmt: skip
        for layer, median in zip(present, drawn["medians"]):
            median.set_gid(f"median:{entry['params_id']}:{layer}")
        ax.plot([], [], color=color, label=_entry_label(entry))
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
    return fig


def plot_spike_rates(path: str | os.PathLike, spikes: Sequence[Mapping[str, Any]]) -> Path:
    """Per LIF layer, a box of its neurons' firing rates (whiskers: 5th and 95th percentiles,
    a dot: the mean), one box per parameter set, each annotated with its silent fraction.

    ``spikes``: the ``"spikes"`` entries of ``summary.json`` (one per parameter set, each with
    per-layer ``layers`` rows of :data:`snnjob.results.schema.SPIKE_COLUMNS`).
    """
    check_path(path)
    return save_png(spike_rates_figure(spikes), path)


def spike_histograms(spikes: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per layer (in order of appearance), the histograms to draw: one per spikes entry
    whose row has one (rows of ``spikes-v1`` files have none and are left out), each
    ``{"params_id", "label", "edges_hz", "counts", "fraction"}`` with ``fraction`` =
    counts / the layer's neurons."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in spikes:
        for r in entry["layers"]:
            if r.get("rate_hist_counts") is None:
                continue
            counts = np.asarray(r["rate_hist_counts"], dtype=np.int64)
            edges = np.asarray(r["rate_hist_edges_hz"], dtype=np.float64)
            if edges.shape != (counts.size + 1,):
                raise ValueError(f"{r['layer']}: {counts.size} bins need {counts.size + 1} edges")
            out.setdefault(r["layer"], []).append({
                "params_id": entry["params_id"], "label": _entry_label(entry),
                "n_neurons": int(r["n_neurons"]), "silent_fraction": r["silent_fraction"],
                "edges_hz": edges, "counts": counts, "fraction": counts / r["n_neurons"],
            })  # fmt: skip
    return out


def spike_histograms_figure(spikes: Sequence[Mapping[str, Any]]) -> Figure:
    """The figure of :func:`plot_spike_histograms`: one axes per layer, one step line per
    parameter set (same colour in every layer)."""
    layers = spike_histograms(spikes)
    if not layers:
        raise ValueError("no firing-rate histograms to plot (spike statistics older than "
                         "spikes-v2 have none)")  # fmt: skip
    fig = Figure(figsize=(1.0 + 3.6 * len(layers), 3.8), layout="constrained")
    axes = fig.subplots(1, len(layers), squeeze=False)[0]
    colours = {e["params_id"]: f"C{i % 10}" for i, e in enumerate(spikes)}
    for ax, (layer, hists) in zip(axes, layers.items()):
        for h in hists:
            label = f"{h['label']}: {100 * h['silent_fraction']:.0f}% silent"
            ax.stairs(h["fraction"], h["edges_hz"], baseline=None, lw=1.5,
                      color=colours[h["params_id"]], label=label,
                      gid=f"hist:{h['params_id']}:{layer}")  # fmt: skip
        ax.set_yscale("log")
        ax.set_xlim(left=0)
        ax.set_title(f"{layer} ({hists[0]['n_neurons']} neurons)", fontsize=10)
        ax.set_xlabel("firing rate (Hz)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("fraction of the layer's neurons")
    first = spikes[0]
    fig.suptitle(f"Per-neuron firing rates: {first['n_images']} test images x "
                 f"{first['n_steps']} steps (silent neurons: the first bin)",
                 fontsize=10)  # fmt: skip
    return fig


def plot_spike_histograms(path: str | os.PathLike, spikes: Sequence[Mapping[str, Any]]) -> Path:
    """Per LIF layer, the histogram of its neurons' firing rates (fraction of the layer's
    neurons per bin, log scale), one step line per parameter set.

    ``spikes``: the ``"spikes"`` entries of ``summary.json``; layer rows need
    ``rate_hist_edges_hz`` and ``rate_hist_counts`` (:data:`~snnjob.results.schema.
    SPIKE_COLUMNS`, schema ``spikes-v2``); rows without them are left out.
    """
    check_path(path)
    return save_png(spike_histograms_figure(spikes), path)
