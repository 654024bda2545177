"""The recipes of a summary (:mod:`snnjob.recipes`): each entry labelled, each recipe pooled.

Plain Python. Every ``summary.json`` entry that names a ``params_id`` (``points``,
``curves``, ``anytime``, ``rate_mode``, ``spikes``, ``params``) gets the ``recipe`` it was
trained with (``base`` in a job without a recipe sweep), and ``recipes`` aggregates each
recipe per ``n_steps`` across its training seeds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from snnjob.results.summary import wilson_interval

__all__ = ["BASE", "label_recipes", "summarize_recipes"]

BASE = "base"
LABELLED = ("points", "curves", "anytime", "rate_mode", "spikes", "params")


def label_recipes(
    summary: dict[str, Any], recipe_of: Mapping[str, str], order: Sequence[str] = ()
) -> None:
    """Add ``recipe`` (after ``params_id``) to every entry of the :data:`LABELLED` sections,
    in place; ``recipe_of`` maps params ids to recipe names (others: ``base``). With
    ``order`` (recipe names), each section is sorted by recipe, stably."""
    rank = {name: i for i, name in enumerate(order)}
    for section in LABELLED:
        entries = summary.get(section)
        if not isinstance(entries, list):
            continue
        entries = [_labelled(e, recipe_of) for e in entries]
        if rank:
            entries.sort(key=lambda e: rank.get(e.get("recipe"), len(rank)))
        summary[section] = entries


def _labelled(entry: Any, recipe_of: Mapping[str, str]) -> Any:
    if not isinstance(entry, Mapping) or "params_id" not in entry:
        return entry
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key != "recipe":
            out[key] = value
        if key == "params_id":
            out["recipe"] = recipe_of.get(value, BASE)
    return out


def summarize_recipes(
    summary: Mapping[str, Any], recipes: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One entry per recipe (in the order given: ``{"recipe", "slug", "overrides"}``) from
    the labelled ``points`` (and ``rate_mode``) of ``summary``.

    Per ``n_steps``: each training seed's error (its counts summed over evaluation seeds
    and shards); ``mean_error``, ``std_error`` (sample standard deviation; 0.0 for one
    seed), ``min_error`` and ``max_error`` across training seeds; ``mean_ci95_low`` /
    ``mean_ci95_high``, the 95% Student-t interval of the mean over training seeds (what a
    new seed's training varies; None with one seed); and the pooled counts
    ``n_images``, ``n_errors``, ``error`` with their Wilson 95% interval (test-image noise
    only: the same test images in every seed, so it is narrower than the seed spread).
    ``rate_mode``: pooled counts and mean error of the recipe's rate-mode rows, if any.
    """
    out = []
    for recipe in recipes:
        name = recipe["recipe"]
        points = [p for p in summary.get("points") or [] if p.get("recipe", BASE) == name]
        rates = [r for r in summary.get("rate_mode") or [] if r.get("recipe", BASE) == name]
        out.append({
            **recipe,
            "train_seeds": sorted({p["train_seed"] for p in points}),
            "params_ids": list(dict.fromkeys(p["params_id"] for p in points)),
            "by_n_steps": _by_n_steps(points),
            "rate_mode": _pooled(rates) if rates else None,
        })  # fmt: skip
    return out


def _by_n_steps(points: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    counts: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    n_points: dict[int, int] = defaultdict(int)
    for p in points:
        c = counts[p["n_steps"]][p["train_seed"]]
        c[0] += p["n_errors"]
        c[1] += p["n_images"]
        n_points[p["n_steps"]] += 1
    rows = []
    for n_steps in sorted(counts):
        per_seed = counts[n_steps]
        errors = np.array([e / n for e, n in per_seed.values()], dtype=np.float64)
        rows.append({
            "n_steps": n_steps,
            "n_train_seeds": len(per_seed),
            "n_points": n_points[n_steps],
            "mean_error": float(errors.mean()),
            "std_error": float(errors.std(ddof=1)) if errors.size > 1 else 0.0,
            "min_error": float(errors.min()),
            "max_error": float(errors.max()),
            **_mean_interval(errors),
            **_pooled([{"n_errors": e, "n_images": n} for e, n in per_seed.values()]),
        })  # fmt: skip
    return rows


def _mean_interval(values: np.ndarray) -> dict[str, float | None]:
    """95% Student-t interval of the mean of ``values`` (one per training seed)."""
    if values.size < 2:
        return {"mean_ci95_low": None, "mean_ci95_high": None}
    from scipy import stats

    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    mean = float(values.mean())
    return {"mean_ci95_low": max(0.0, mean - half), "mean_ci95_high": mean + half}


def _pooled(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    n_errors = sum(r["n_errors"] for r in rows)
    n_images = sum(r["n_images"] for r in rows)
    low, high = wilson_interval(n_errors, n_images)
    error = n_errors / n_images if n_images else 0.0
    out = {"n_images": n_images, "n_errors": n_errors, "error": error}
    out.update(ci95_low=low, ci95_high=high)
    if "error" in rows[0]:  # rate-mode rows: also the mean over training seeds
        out["mean_error"] = float(np.mean([r["error"] for r in rows]))
    return out
