"""Error-vs-step curves and anytime points summed over shards (plain Python, like
:mod:`snnjob.results.summary`).

Each curve is one simulation of the test set (a parameter set and an evaluation seed) read
at every step: ``n_errors[t - 1]`` is the number of images misclassified when read at step
``t``, summed over the shards, which is exactly a sweep point's count at ``n_steps = t``.
The same simulation's anytime points (:mod:`snnjob.anytime`) give, per threshold, the errors
and the mean steps used when each image stops at its first confident step. Both are
returned typed (:class:`~snnjob.results.model.Curve`, :class:`~snnjob.results.model.Anytime`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from snnjob.results.model import Anytime, AnytimePoint, Curve
from snnjob.results.schema import CURVE_FIELDS
from snnjob.results.summary import wilson_interval


def summarize_curves(
    rows: Iterable[Mapping[str, Any]], n_images: int
) -> tuple[list[Curve], list[str]]:
    """Sum curve rows over shards; return ``(curves, problems)``.

    A curve is kept only when its shards cover ``0..n_images - 1`` exactly once, all with the
    same number of steps; otherwise a problem names it (e.g. a run folder from a version of
    snnjob that wrote no curves).
    """
    groups = _by_simulation(rows)
    curves, problems = [], []
    for key, shards in sorted(groups.items()):
        name = "p-{}_t-{}_s-{}".format(*key)
        lengths = {len(steps) for steps in shards.values()}
        if not _covers(shards, n_images):
            problems.append(f"curve {name}: its shards do not cover images 0..{n_images - 1}")
            continue
        if len(lengths) != 1:
            problems.append(f"curve {name}: shards have different numbers of steps {lengths}")
            continue
        (n_steps,) = lengths
        errors = [0] * n_steps
        for steps in shards.values():
            for row in steps:
                errors[row["step"] - 1] += row["n_errors"]
        intervals = [wilson_interval(e, n_images) for e in errors]
        curves.append(
            Curve(
                **dict(zip(CURVE_FIELDS, key)),
                n_images=n_images,
                n_errors=tuple(errors),
                error=tuple(e / n_images for e in errors),
                ci95_low=tuple(low for low, _ in intervals),
                ci95_high=tuple(high for _, high in intervals),
            )
        )
    return curves, problems


def summarize_anytime(
    rows: Iterable[Mapping[str, Any]], n_images: int
) -> tuple[list[Anytime], list[str]]:
    """Sum anytime rows over shards; return ``(entries, problems)``.

    One entry per simulation (:data:`CURVE_FIELDS`) whose shards cover ``0..n_images - 1``
    exactly once, all with the same thresholds and ``n_steps``: ``n_images``, ``n_steps`` and
    ``points``, one per threshold with ``threshold``, ``n_errors``, ``error``, its Wilson
    interval and ``mean_steps``. A simulation with anytime rows that do not is named in a
    problem instead; one with none at all (a run from before ``anytime/``, or
    ``eval.anytime_thresholds: []``) is simply absent.
    """
    groups = _by_simulation(rows)
    entries, problems = [], []
    for key, shards in sorted(groups.items()):
        name = "p-{}_t-{}_s-{}".format(*key)
        if not _covers(shards, n_images):
            problems.append(f"anytime {name}: its shards do not cover images 0..{n_images - 1}")
            continue
        kinds = {(tuple(r["threshold"] for r in s), s[0]["n_steps"]) for s in shards.values()}
        if len(kinds) != 1:
            problems.append(f"anytime {name}: shards have different thresholds or n_steps")
            continue
        ((thresholds, n_steps),) = kinds
        points = []
        for i, threshold in enumerate(thresholds):
            n_errors = sum(s[i]["n_errors"] for s in shards.values())
            steps = sum(s[i]["steps_sum"] for s in shards.values())
            low, high = wilson_interval(n_errors, n_images)
            points.append(AnytimePoint(threshold=threshold, n_errors=n_errors,
                                       error=n_errors / n_images, ci95_low=low, ci95_high=high,
                                       mean_steps=steps / n_images))  # fmt: skip
        entries.append(Anytime(**dict(zip(CURVE_FIELDS, key)), n_images=n_images,
                               n_steps=n_steps, points=tuple(points)))  # fmt: skip
    return entries, problems


def _by_simulation(
    rows: Iterable[Mapping[str, Any]],
) -> dict[tuple, dict[int, list[Mapping[str, Any]]]]:
    """Rows grouped by simulation (:data:`CURVE_FIELDS`), then by shard, in row order."""
    groups: dict[tuple, dict[int, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[tuple(row[name] for name in CURVE_FIELDS)][row["shard_id"]].append(row)
    return groups


def _covers(shards: Mapping[int, list[Mapping[str, Any]]], n_images: int) -> bool:
    """Whether the shards' ranges tile ``0..n_images - 1`` exactly once."""
    covered = sorted((s[0]["first_index"], s[0]["last_index"]) for s in shards.values())
    contiguous = all(a[1] + 1 == b[0] for a, b in zip(covered, covered[1:]))
    return contiguous and covered[0][0] == 0 and covered[-1][1] == n_images - 1
