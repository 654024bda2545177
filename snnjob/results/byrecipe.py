"""The recipes of a summary (:mod:`snnjob.recipes`): each entry labelled, each recipe pooled.

Plain Python, on :class:`~snnjob.results.model.RunSummary` (a ``summary.json`` dict is
converted). Every ``summary.json`` entry that names a ``params_id`` (``points``,
``curves``, ``anytime``, ``rate_mode``, ``spikes``, ``params``) gets the ``recipe`` it was
trained with (``base`` in a job without a recipe sweep), and ``recipes`` aggregates each
recipe per ``n_steps`` across its training seeds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from snnjob.results.model import (
    BASE,
    Point,
    PooledRate,
    RateMode,
    RecipeStepStats,
    RecipeSummary,
    RunSummary,
    as_summary,
)
from snnjob.results.summary import wilson_interval

__all__ = ["BASE", "label_recipes", "summarize_recipes"]

LABELLED = ("points", "curves", "anytime", "rate_mode", "spikes", "params")


def label_recipes(
    summary: RunSummary | Mapping[str, Any],
    recipe_of: Mapping[str, str],
    order: Sequence[str] = (),
) -> RunSummary:
    """``summary`` with the ``recipe`` of every entry of the :data:`LABELLED` sections set
    from ``recipe_of`` (params id -> recipe name; others: ``base``). With ``order`` (recipe
    names), each section is sorted by recipe, stably."""
    summary = as_summary(summary)
    rank = {name: i for i, name in enumerate(order)}
    sections = {}
    for section in LABELLED:
        entries = [replace(e, recipe=recipe_of.get(e.params_id, BASE))
                   for e in getattr(summary, section)]  # fmt: skip
        if rank:
            entries.sort(key=lambda e: rank.get(e.recipe, len(rank)))
        sections[section] = tuple(entries)
    return replace(summary, **sections)


def summarize_recipes(
    summary: RunSummary | Mapping[str, Any], recipes: Sequence[Mapping[str, Any]]
) -> tuple[RecipeSummary, ...]:
    """One entry per recipe (in the order given: mappings ``{"recipe", "slug",
    "overrides"}``, :meth:`snnjob.recipes.Recipe.as_dict`) from the labelled ``points``
    (and ``rate_mode``) of ``summary``.

    Per ``n_steps``: each training seed's error (its counts summed over evaluation seeds
    and shards); ``mean_error``, ``std_error`` (sample standard deviation; 0.0 for one
    seed), ``min_error`` and ``max_error`` across training seeds; ``mean_ci95_low`` /
    ``mean_ci95_high``, the 95% Student-t interval of the mean over training seeds (what a
    new seed's training varies; None with one seed); and the pooled counts
    ``n_images``, ``n_errors``, ``error`` with their Wilson 95% interval (test-image noise
    only: the same test images in every seed, so it is narrower than the seed spread).
    ``rate_mode``: pooled counts and mean error of the recipe's rate-mode rows, if any.
    """
    summary = as_summary(summary)
    out = []
    for recipe in recipes:
        name = recipe["recipe"]
        points = [p for p in summary.points if p.recipe == name]
        rates = [r for r in summary.rate_mode if r.recipe == name]
        out.append(RecipeSummary(
            recipe=name, slug=recipe.get("slug", ""),
            overrides=dict(recipe.get("overrides") or {}),
            train_seeds=tuple(sorted({p.train_seed for p in points})),
            params_ids=tuple(dict.fromkeys(p.params_id for p in points)),
            by_n_steps=_by_n_steps(points),
            rate_mode=_pooled_rate(rates) if rates else None,
        ))  # fmt: skip
    return tuple(out)


def _by_n_steps(points: list[Point]) -> tuple[RecipeStepStats, ...]:
    counts: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    n_points: dict[int, int] = defaultdict(int)
    for p in points:
        c = counts[p.n_steps][p.train_seed]
        c[0] += p.n_errors
        c[1] += p.n_images
        n_points[p.n_steps] += 1
    rows = []
    for n_steps in sorted(counts):
        per_seed = counts[n_steps]
        errors = np.array([e / n for e, n in per_seed.values()], dtype=np.float64)
        low, high = _mean_interval(errors)
        n_errors, n_images, error, ci = _pooled([(e, n) for e, n in per_seed.values()])
        rows.append(RecipeStepStats(
            n_steps=n_steps,
            n_train_seeds=len(per_seed),
            n_points=n_points[n_steps],
            mean_error=float(errors.mean()),
            std_error=float(errors.std(ddof=1)) if errors.size > 1 else 0.0,
            min_error=float(errors.min()),
            max_error=float(errors.max()),
            mean_ci95_low=low,
            mean_ci95_high=high,
            n_images=n_images, n_errors=n_errors, error=error, ci95_low=ci[0], ci95_high=ci[1],
        ))  # fmt: skip
    return tuple(rows)


def _mean_interval(values: np.ndarray) -> tuple[float | None, float | None]:
    """95% Student-t interval of the mean of ``values`` (one per training seed)."""
    if values.size < 2:
        return None, None
    from scipy import stats

    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    mean = float(values.mean())
    return max(0.0, mean - half), mean + half


def _pooled(counts: list[tuple[int, int]]) -> tuple[int, int, float, tuple[float, float]]:
    """``(n_errors, n_images)`` pairs summed: the counts, the error and its Wilson interval."""
    n_errors = sum(e for e, _ in counts)
    n_images = sum(n for _, n in counts)
    error = n_errors / n_images if n_images else 0.0
    return n_errors, n_images, error, wilson_interval(n_errors, n_images)


def _pooled_rate(rows: list[RateMode]) -> PooledRate:
    """Rate-mode rows pooled, and their mean error over training seeds."""
    n_errors, n_images, error, (low, high) = _pooled([(r.n_errors, r.n_images) for r in rows])
    mean = float(np.mean([r.error for r in rows]))
    return PooledRate(n_images=n_images, n_errors=n_errors, error=error, ci95_low=low,
                      ci95_high=high, mean_error=mean)  # fmt: skip
