"""Test error against presentation time: ``error_vs_steps.png``.

Besides each simulation's line, the figure carries (tagged with a ``gid``, see
:func:`snnjob.plots.common.tagged`):

- ``seed-mean:<recipe>``: the mean over training seeds at each ``n_steps`` (each seed's
  error pooled over its evaluation seeds), :func:`seed_means`;
- ``seed-band:<recipe>`` (a band, with several ``n_steps``) and ``seed-bars:<recipe>``
  (error bars on the mean): its 95% Student-t interval over training seeds; absent with one
  training seed (the legend says so);
- ``rate-mode:<recipe>``: the rate-mode (``LIFRate``, no spikes) error, mean over training
  seeds, as a horizontal line, :func:`rate_mode_lines`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from snnjob.plots.common import check_path, recipe_colour, recipes_of, save_png
from snnjob.results.byrecipe import summarize_recipes
from snnjob.results.model import Anytime, Curve, Point, RecipeSummary, RunSummary, as_summary

__all__ = ["error_vs_steps_figure", "plot_error_vs_steps", "rate_mode_lines", "seed_means"]


def seed_means(summary: RunSummary | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per recipe (in order of appearance in the points), the mean test error over training
    seeds at each ``n_steps`` with its 95% Student-t interval (None with one seed), as
    :func:`snnjob.results.byrecipe.summarize_recipes` computes it (``summary.recipes``).

    Each entry: ``recipe``, ``train_seeds`` and per ``n_steps`` (lists, sorted by
    ``n_steps``): ``n_steps``, ``n_train_seeds``, ``mean_error``, ``ci95_low``,
    ``ci95_high`` (fractions).
    """
    out = []
    for r in _recipe_means(as_summary(summary)):
        rows = r.by_n_steps
        out.append({
            "recipe": r.recipe, "train_seeds": list(r.train_seeds),
            "n_steps": [b.n_steps for b in rows],
            "n_train_seeds": [b.n_train_seeds for b in rows],
            "mean_error": [b.mean_error for b in rows],
            "ci95_low": [b.mean_ci95_low for b in rows],
            "ci95_high": [b.mean_ci95_high for b in rows],
        })  # fmt: skip
    return out


def rate_mode_lines(summary: RunSummary | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per recipe, the rate-mode test error from ``summary.rate_mode`` (one row per
    parameter set): ``recipe``, ``train_seeds``, ``error`` (mean over its training seeds,
    a fraction) and ``errors`` (each seed's). Empty when the summary has none."""
    return [asdict(line) for line in rate_means(as_summary(summary))]


@dataclass(frozen=True)
class RateLine:
    """One recipe's rate-mode error: the mean over its training seeds, and each seed's."""

    recipe: str
    train_seeds: list[int]
    error: float
    errors: list[float]


def rate_means(summary: RunSummary) -> list[RateLine]:
    """:func:`rate_mode_lines`, typed."""
    rows = summary.rate_mode
    out = []
    for name in recipes_of(rows):
        mine = [r for r in rows if r.recipe == name]
        errors = [r.error for r in mine]
        out.append(RateLine(recipe=name, train_seeds=[r.train_seed for r in mine],
                            error=float(np.mean(errors)), errors=errors))  # fmt: skip
    return out


def _recipe_means(summary: RunSummary) -> tuple[RecipeSummary, ...]:
    """Each recipe of the points (in order of appearance) pooled over training seeds."""
    names = recipes_of(summary.points)
    return summarize_recipes(summary, [{"recipe": name} for name in names])


def _seed_lines(points: Sequence[Point]) -> dict[tuple, list[Point]]:
    lines: dict[tuple, list[Point]] = defaultdict(list)
    for p in points:
        lines[(p.params_id, p.train_seed, p.eval_seed)].append(p)
    return {key: sorted(pts, key=lambda p: p.n_steps) for key, pts in sorted(lines.items())}


def _recipe_colours(points: Sequence[Point]) -> dict[str, str]:
    """params id -> colour of its recipe, when the points hold several recipes (else empty)."""
    names = recipes_of(points)
    if len(names) < 2:
        return {}
    return {p.params_id: recipe_colour(names, p.recipe) for p in points}


def _style(colours: dict[str, str], params_id: str, label: str) -> dict[str, Any]:
    """Several recipes: the recipe's colour, no label (the recipe's mean line has it)."""
    return {"color": colours.get(params_id), "label": None} if colours else {"label": label}


def _draw_seed_lines(ax, lines: dict[tuple, list[Point]], *, single: bool, colours: dict) -> None:
    """One line per seed pair with a CI band; with a single n_steps, dodged error bars."""
    multi_params = len({key[0] for key in lines}) > 1
    show_legend = len(lines) <= 10
    # With one n_steps every line is a single point: spread them sideways so bars stay visible.
    width = max(0.05 * next(iter(lines.values()))[0].n_steps, 0.5)
    offsets = np.linspace(-width, width, len(lines)) if single and len(lines) > 1 else None
    for i, ((params_id, train_seed, eval_seed), pts) in enumerate(lines.items()):
        x = np.array([p.n_steps for p in pts], dtype=np.float64)
        y = 100.0 * np.array([p.error for p in pts])
        low = 100.0 * np.array([p.ci95_low for p in pts])
        high = 100.0 * np.array([p.ci95_high for p in pts])
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
        centre = next(iter(lines.values()))[0].n_steps
        ax.set_xlim(centre - 3 * width, centre + 3 * width)


def _draw_curves(ax, curves: Sequence[Curve], lines: dict, colours: dict) -> None:
    """Each curve over every step with its band; the sweep's points marked with error bars."""
    multi_params = len({c.params_id for c in curves}) > 1
    show_legend = len(curves) <= 10
    for c in curves:
        key = (c.params_id, c.train_seed, c.eval_seed)
        x = np.arange(1, len(c.error) + 1)
        label = f"train seed {key[1]}, eval seed {key[2]}"
        if multi_params:
            label = f"{key[0]}: {label}"
        style = _style(colours, c.params_id, label if show_legend else None)
        (line,) = ax.plot(x, 100.0 * np.asarray(c.error), lw=1.0, alpha=0.8, **style)
        band = (100.0 * np.asarray(c.ci95_low), 100.0 * np.asarray(c.ci95_high))
        ax.fill_between(x, *band, color=line.get_color(), alpha=0.12, lw=0)
        pts = lines.get(key, [])
        if pts:
            px = np.array([p.n_steps for p in pts], dtype=np.float64)
            py = 100.0 * np.array([p.error for p in pts])
            err = [py - 100.0 * np.array([p.ci95_low for p in pts]),
                   100.0 * np.array([p.ci95_high for p in pts]) - py]  # fmt: skip
            ax.errorbar(px, py, yerr=err, fmt="o", ms=5, capsize=3, color=line.get_color())
    ax.set_xlim(0.8, max(len(c.error) for c in curves) * 1.1)
    # the first steps sit near chance (90%), the requested points near 1%: a log scale
    # shows both
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _draw_anytime(ax, anytime: Sequence[Anytime], colours: dict) -> None:
    """Each simulation's anytime points: error against mean steps used, thresholds marked."""
    multi_params = len({a.params_id for a in anytime}) > 1
    show = len(anytime) <= 10
    for a in anytime:
        pts = sorted(a.points, key=lambda p: p.mean_steps)
        x = np.array([p.mean_steps for p in pts])
        y = 100.0 * np.array([p.error for p in pts])
        label = f"anytime (labels: threshold): train seed {a.train_seed}, eval seed {a.eval_seed}"
        if multi_params:
            label = f"{a.params_id}: {label}"
        style = _style(colours, a.params_id, label if show else None)
        (line,) = ax.plot(x, y, ls="--", marker="D", ms=5, lw=1.2, **style)
        if a is anytime[0]:  # the thresholds once: every simulation has the same ones
            for p, xi, yi in zip(pts, x, y):
                ax.annotate(f"{p.threshold:g}", (xi, yi), textcoords="offset points",
                            xytext=(4, 4), fontsize="x-small", color=line.get_color())  # fmt: skip
    left, right = ax.get_xlim()
    low = min(left, 0.8) if ax.get_xscale() == "log" else min(left, 0)
    ax.set_xlim(low, max(right, max(a.n_steps for a in anytime) + 1))


def _draw_seed_mean(ax, mean: RecipeSummary, colour: str, prefix: str) -> None:
    """The mean over training seeds (thick) and its t-interval: error bars, and a band
    with several ``n_steps``; with one training seed, no interval and a legend that says so."""
    recipe, seeds, rows = mean.recipe, mean.train_seeds, mean.by_n_steps
    x = np.asarray([b.n_steps for b in rows], dtype=np.float64)
    y = 100.0 * np.asarray([b.mean_error for b in rows])
    nan = float("nan")
    low = 100.0 * np.array([nan if b.mean_ci95_low is None else b.mean_ci95_low for b in rows])
    high = 100.0 * np.array([nan if b.mean_ci95_high is None else b.mean_ci95_high for b in rows])
    has = ~np.isnan(low)
    if has.any():
        label = f"{prefix}mean of {len(seeds)} training seeds (95% t-interval)"
    else:
        label = f"{prefix}training seed {seeds[0]} only (no interval over seeds)"
    ax.plot(x, y, color=colour, lw=3.0, marker="s", ms=7, label=label, gid=f"seed-mean:{recipe}")
    if not has.any():
        return
    if len(x) > 1:
        ax.fill_between(x, low, high, where=has, color=colour, alpha=0.2, lw=0,
                        gid=f"seed-band:{recipe}")  # fmt: skip
    bars = ax.errorbar(x[has], y[has], yerr=[(y - low)[has], (high - y)[has]], fmt="none",
                       capsize=7, lw=2.0, color=colour)  # fmt: skip
    bars.lines[2][0].set_gid(f"seed-bars:{recipe}")


def _draw_rate_mode(ax, rate: RateLine, colour: str, prefix: str) -> None:
    n = len(rate.train_seeds)
    of = f", mean of {n} training seeds" if n > 1 else ""
    label = f"{prefix}rate mode (LIFRate, no spikes): {100 * rate.error:.2f}%{of}"
    ax.axhline(100.0 * rate.error, color=colour, ls=":", lw=2.0, label=label,
               gid=f"rate-mode:{rate.recipe}")  # fmt: skip


def error_vs_steps_figure(summary: RunSummary | Mapping[str, Any]) -> Figure:
    """The figure of :func:`plot_error_vs_steps` (see there and the module docstring)."""
    summary = as_summary(summary)
    points = summary.points
    if not points:
        raise ValueError("summary has no points to plot")
    lines = _seed_lines(points)
    steps = sorted({p.n_steps for p in points})
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    curves = summary.curves
    colours = _recipe_colours(points)
    if curves:  # from step 1, on a log step axis: the short windows spread out
        _draw_curves(ax, curves, lines, colours)
    else:
        _draw_seed_lines(ax, lines, single=len(steps) == 1, colours=colours)
    names = recipes_of(points)
    prefix = (lambda r: f"{r}: ") if len(names) > 1 else (lambda r: "")
    for mean in _recipe_means(summary):
        _draw_seed_mean(ax, mean, recipe_colour(names, mean.recipe), prefix(mean.recipe))
    for rate in rate_means(summary):
        if rate.recipe in names:
            _draw_rate_mode(ax, rate, recipe_colour(names, rate.recipe), prefix(rate.recipe))
    anytime = summary.anytime
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
    return fig


def plot_error_vs_steps(path: str | os.PathLike, summary: RunSummary | Mapping[str, Any]) -> Path:
    """Plot test error (%) against ``n_steps`` from a summary (:func:`snnjob.results.summarize`,
    :func:`~snnjob.results.summary.load_summary`, or a ``summary.json`` dict).

    Thick line: per recipe, the mean over training seeds with its 95% Student-t interval
    over the seeds (error bars, and a band with several ``n_steps``; none with one training
    seed, which the legend says). Dotted horizontal line: the recipe's rate-mode error
    (``summary.rate_mode``, mean over training seeds), when the summary has it.
    With several recipes (``recipe`` in the points), every line is in its recipe's colour.
    With per-step curves (``summary.curves``): one continuous line per (params id,
    training seed, eval seed) over every step with its 95% Wilson band, the requested
    ``n_steps`` marked on it with error bars, on logarithmic axes (the first steps are near
    chance). Without curves (older summaries): one thin line per seed pair through the
    requested points (dodged error bars when there is a single ``n_steps``), linear axes.
    With anytime points (``summary.anytime``): a dashed line per simulation of the error
    against the mean steps used when each image stops at its first confident step,
    labelled by threshold.

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG file (``.png``); missing folders are created.
    summary : RunSummary or Mapping[str, Any]
        A :class:`~snnjob.results.model.RunSummary` with ``points``, or a ``summary.json``
        dict (converted by :meth:`~snnjob.results.model.RunSummary.from_dict`; older
        summaries whose points say ``"seed"`` are accepted).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    check_path(path)
    return save_png(error_vs_steps_figure(summary), path)
