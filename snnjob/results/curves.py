"""Error-vs-step curves summed over shards (plain Python, like :mod:`snnjob.results.summary`).

Each curve is one simulation of the test set (a parameter set and an evaluation seed) read
at every step: ``n_errors[t - 1]`` is the number of images misclassified when read at step
``t``, summed over the shards, which is exactly a sweep point's count at ``n_steps = t``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from snnjob.results.schema import CURVE_FIELDS
from snnjob.results.summary import wilson_interval


def summarize_curves(
    rows: Iterable[Mapping[str, Any]], n_images: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """Sum curve rows over shards; return ``(curves, problems)``.

    A curve is kept only when its shards cover ``0..n_images - 1`` exactly once, all with the
    same number of steps; otherwise a problem names it (e.g. a run folder from a version of
    snnjob that wrote no curves).
    """
    groups: dict[tuple, dict[int, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[tuple(row[name] for name in CURVE_FIELDS)][row["shard_id"]].append(row)
    curves, problems = [], []
    for key, shards in sorted(groups.items()):
        name = "p-{}_t-{}_s-{}".format(*key)
        lengths = {len(steps) for steps in shards.values()}
        covered = sorted((s[0]["first_index"], s[0]["last_index"]) for s in shards.values())
        contiguous = all(a[1] + 1 == b[0] for a, b in zip(covered, covered[1:]))
        if not (contiguous and covered[0][0] == 0 and covered[-1][1] == n_images - 1):
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
            {
                **dict(zip(CURVE_FIELDS, key)),
                "n_images": n_images,
                "n_errors": errors,
                "error": [e / n_images for e in errors],
                "ci95_low": [low for low, _ in intervals],
                "ci95_high": [high for _, high in intervals],
            }
        )
    return curves, problems
