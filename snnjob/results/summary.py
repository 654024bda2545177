"""Coverage checks and summaries of shard rows, and reading/writing ``summary.json``.

Plain Python and numpy (no pyarrow): every function takes shard rows as an iterable of dicts
keyed by the :data:`~snnjob.results.schema.SHARD_COLUMNS` names, e.g. from
:func:`snnjob.results.store.read_shard_rows`. A :class:`pyarrow.Table` is accepted too (its
``to_pylist()`` is used). Rates are computed from summed counts, never by averaging per-shard
rates, because shards may hold different numbers of images. Summaries are
:class:`~snnjob.results.model.RunSummary` objects: :func:`summarize` builds one,
:func:`load_summary` reads one and :func:`write_summary` writes one.
"""

from __future__ import annotations

import functools
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from snnjob.atomic import write_json_atomic as _write_json_atomic
from snnjob.errors import RunDirError
from snnjob.results.model import (
    LEGACY_SEED_KEY,
    Point,
    RunSummary,
    StepStats,
    as_summary,
    upgrade_summary,
)
from snnjob.results.schema import POINT_FIELDS, PointKey, as_int

__all__ = [
    "LEGACY_SEED_KEY",
    "check_coverage",
    "load_summary",
    "summarize",
    "upgrade_summary",
    "wilson_interval",
    "write_json_atomic",
    "write_summary",
]

_COVERAGE_FIELDS = ("shard_id", "first_index", "last_index", "n_images", "params_sha256")
_SUMMARY_FIELDS = ("params_sha256", "n_images", "n_errors", "wall_time_s")


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def _row_dicts(rows: Any) -> Iterable[Mapping[str, Any]]:
    """``rows`` itself, or ``rows.to_pylist()`` for a table-like object (e.g. pyarrow)."""
    to_pylist = getattr(rows, "to_pylist", None)
    if callable(to_pylist):
        return to_pylist()
    if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
        raise TypeError(
            f"rows must be an iterable of shard-row dicts (or a table with to_pylist()), got "
            f"{type(rows).__name__}"
        )
    return rows


def _rows_by_point(rows: Any, names: Iterable[str]) -> dict[PointKey, list[dict]]:
    """Group the rows by point, keeping only the :data:`POINT_FIELDS` and ``names``."""
    names = list(dict.fromkeys([*POINT_FIELDS, *names]))
    groups: dict[PointKey, list[dict]] = defaultdict(list)
    for i, row in enumerate(_row_dicts(rows)):
        if not isinstance(row, Mapping):
            raise TypeError(f"row {i} must be a mapping, got {type(row).__name__}")
        missing = [name for name in names if name not in row]
        if missing:
            raise ValueError(f"row {i} lacks the columns {missing}; expected SHARD_COLUMNS names")
        kept = {name: row[name] for name in names}
        groups[PointKey.from_mapping(kept)].append(kept)
    return groups


# --------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------


def _interval_problems(rows: list[dict], n_images: int) -> list[str]:
    problems = []
    intervals = sorted({(r["first_index"], r["last_index"], r["shard_id"]) for r in rows})
    covered, covered_by = -1, None  # highest index covered so far and by which shard
    for first, last, shard in intervals:
        if first < 0 or last < first or last >= n_images:
            problems.append(f"shard {shard}: range {first}..{last} is not within 0..{n_images - 1}")
        if first > covered + 1:
            problems.append(f"gap: images {covered + 1}..{first - 1} are in no shard")
        elif first <= covered:
            problems.append(
                f"overlap: images {first}..{min(last, covered)} are in shards {covered_by} and "
                f"{shard}"
            )
        if last > covered:
            covered, covered_by = last, shard
    if covered < n_images - 1:
        problems.append(f"gap: images {covered + 1}..{n_images - 1} are in no shard")
    return problems


def _point_problems(rows: list[dict], n_images: int) -> list[str]:
    problems = []
    counts: dict[int, int] = defaultdict(int)
    for r in rows:
        counts[r["shard_id"]] += 1
    for shard, count in sorted(counts.items()):
        if count > 1:
            problems.append(f"duplicate: shard {shard} appears {count} times")
    for r in rows:
        size = r["last_index"] - r["first_index"] + 1
        if r["n_images"] != size:
            problems.append(
                f"shard {r['shard_id']}: n_images = {r['n_images']} but its range "
                f"{r['first_index']}..{r['last_index']} holds {size}"
            )
    hashes = sorted({r["params_sha256"] for r in rows})
    if len(hashes) > 1:
        problems.append(f"shards were evaluated with different parameter files: {hashes}")
    return problems + _interval_problems(rows, n_images)


def check_coverage(
    rows: Iterable[Mapping[str, Any]],
    n_images: int,
    *,
    expected: Iterable[PointKey] | None = None,
) -> dict[PointKey, list[str]]:
    """Check that each point's shards cover its test set exactly once.

    Parameters
    ----------
    rows : Iterable[Mapping[str, Any]]
        Shard rows, e.g. from :func:`snnjob.results.store.read_shard_rows` (or a table with
        ``to_pylist()``). Each needs the point fields and ``shard_id``, ``first_index``,
        ``last_index``, ``n_images`` and ``params_sha256``.
    n_images : int
        Size of each point's test set: the shards must cover ``0..n_images - 1``.
    expected : Iterable[PointKey] or None
        Points that must be present; a point with no rows is reported as a problem.

    Returns
    -------
    dict[PointKey, list[str]]
        Human-readable problems per point (gaps, overlaps, duplicated shard ids, ranges outside
        the test set, ``n_images`` that disagrees with the range, mixed ``params_sha256``).
        Empty when every point is covered exactly once.

    Raises
    ------
    TypeError, ValueError
        If ``rows`` is not an iterable of mappings or a row lacks a needed column.
    """
    n_images = as_int(n_images, "n_images", minimum=1)
    groups = _rows_by_point(rows, _COVERAGE_FIELDS)
    problems: dict[PointKey, list[str]] = {}
    for point, point_rows in groups.items():
        found = _point_problems(point_rows, n_images)
        if found:
            problems[point] = found
    for point in expected or ():
        if point not in groups:
            problems[point] = ["no shards were evaluated"]
    return problems


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def wilson_interval(n_errors: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``n_errors / n``, from
    ``scipy.stats.binomtest(n_errors, n).proportion_ci(confidence, method="wilson")``.

    Parameters
    ----------
    n_errors : int
        Number of "successes" (here: misclassified images), ``0 <= n_errors <= n``.
    n : int
        Number of trials (images).
    confidence : float
        Confidence level, in (0, 1); the default gives a 95% interval.

    Returns
    -------
    tuple[float, float]
        ``(low, high)`` with ``0 <= low <= n_errors / n <= high <= 1``; ``(0.0, 1.0)`` if
        ``n == 0``.
    """
    n = as_int(n, "n", minimum=0)
    n_errors = as_int(n_errors, "n_errors", minimum=0)
    if n_errors > n:
        raise ValueError(f"n_errors = {n_errors} exceeds n = {n}")
    if not (isinstance(confidence, int | float | np.floating) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if n == 0:
        return 0.0, 1.0
    return _wilson(n_errors, n, float(confidence))


@functools.lru_cache(maxsize=1 << 16)  # per-step curves ask for the same counts many times
def _wilson(n_errors: int, n: int, confidence: float) -> tuple[float, float]:
    from scipy.stats import binomtest

    ci = binomtest(n_errors, n).proportion_ci(confidence, method="wilson")
    p = n_errors / n  # clipped: rounding must never put the estimate outside its interval
    low = 0.0 if n_errors == 0 else min(p, float(ci.low))
    high = 1.0 if n_errors == n else max(p, float(ci.high))
    return low, high


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


def _point_summary(point: PointKey, rows: list[dict]) -> Point:
    hashes = sorted({r["params_sha256"] for r in rows})
    if len(hashes) != 1:
        raise RunDirError(
            f"point {point.slug} mixes shards from different parameter files {hashes}: the "
            f"folder holds more than one run; use a fresh output folder"
        )
    n_images = sum(r["n_images"] for r in rows)
    n_errors = sum(r["n_errors"] for r in rows)
    low, high = wilson_interval(n_errors, n_images)
    return Point(
        params_id=point.params_id,
        params_sha256=hashes[0],
        train_seed=point.train_seed,
        n_steps=point.n_steps,
        eval_seed=point.eval_seed,
        n_images=n_images,
        n_errors=n_errors,
        error=n_errors / n_images if n_images else 0.0,
        ci95_low=low,
        ci95_high=high,
        n_shards=len(rows),
        eval_wall_time_s=float(sum(r["wall_time_s"] for r in rows)),
    )


def _by_n_steps(points: list[Point]) -> tuple[StepStats, ...]:
    errors: dict[int, list[float]] = defaultdict(list)
    for p in points:
        errors[p.n_steps].append(p.error)
    out = []
    for n_steps in sorted(errors):
        values = np.asarray(errors[n_steps], dtype=np.float64)
        out.append(
            StepStats(
                n_steps=n_steps,
                n_points=int(values.size),
                mean_error=float(values.mean()),
                std_error=float(values.std(ddof=1)) if values.size > 1 else 0.0,
                min_error=float(values.min()),
                max_error=float(values.max()),
            )
        )
    return tuple(out)


def _point_order(p: Point) -> tuple:
    return p.train_seed, p.n_steps, p.eval_seed, p.params_id


def summarize(rows: Iterable[Mapping[str, Any]]) -> RunSummary:
    """Summarize shard rows per point and per ``n_steps``.

    Counts are summed over a point's shards and the error rate is ``sum(n_errors) /
    sum(n_images)`` (never a mean of per-shard rates). Run :func:`check_coverage` first: this
    function does not detect missing or duplicated shards.

    Parameters
    ----------
    rows : Iterable[Mapping[str, Any]]
        Shard rows, e.g. from :func:`snnjob.results.store.read_shard_rows` (or a table with
        ``to_pylist()``). Each needs the point fields and ``params_sha256``, ``n_images``,
        ``n_errors`` and ``wall_time_s``.

    Returns
    -------
    RunSummary
        With ``points`` and ``by_n_steps`` (:mod:`snnjob.results.model`; ``to_dict()`` for
        the JSON). Each :class:`~snnjob.results.model.Point` has ``params_id``,
        ``params_sha256``, ``train_seed``, ``n_steps``, ``eval_seed``, ``n_images``,
        ``n_errors``, ``error`` (fraction), ``ci95_low``, ``ci95_high`` (Wilson 95%
        interval), ``n_shards`` and ``eval_wall_time_s`` (sum over shards); points are
        sorted by ``(train_seed, n_steps, eval_seed, params_id)``. Each ``by_n_steps`` entry
        (:class:`~snnjob.results.model.StepStats`) has ``n_steps``, ``n_points``,
        ``mean_error``, ``std_error`` (sample standard deviation of the point errors across
        eval and training seeds; 0.0 for a single point), ``min_error`` and ``max_error``,
        sorted by ``n_steps``.

    Raises
    ------
    RunDirError
        If one point mixes shards evaluated with different parameter files.
    ValueError
        If a row lacks a needed column.
    """
    groups = _rows_by_point(rows, _SUMMARY_FIELDS)
    points = [_point_summary(point, point_rows) for point, point_rows in groups.items()]
    points.sort(key=_point_order)
    return RunSummary(points=tuple(points), by_n_steps=_by_n_steps(points))


def load_summary(source: str | os.PathLike | Mapping[str, Any] | RunSummary) -> RunSummary:
    """Read a ``summary.json`` (or take an already loaded one) as a :class:`RunSummary`.

    Parameters
    ----------
    source : str, os.PathLike, Mapping[str, Any] or RunSummary
        Path of a ``summary.json``, or its parsed content.

    Returns
    -------
    RunSummary
        :meth:`RunSummary.from_dict` of it: older formats (no ``schema``) are upgraded
        (point key ``"seed"`` -> ``"eval_seed"``) and fields they lack take their defaults.

    Raises
    ------
    OSError
        If the file cannot be read (e.g. :class:`FileNotFoundError`).
    ValueError
        If it is not JSON or not a summary (:class:`~snnjob.results.convert.FormatError`
        names the field: an unknown ``schema``, a value of the wrong type); the message
        names the file.
    """
    if isinstance(source, RunSummary | Mapping):
        return as_summary(source)
    path = Path(source)
    text = path.read_text(encoding="utf-8")
    try:
        return RunSummary.from_dict(json.loads(text))
    except ValueError as exc:
        raise ValueError(f"{path} is not an snnjob summary.json: {exc}") from None


def write_summary(path: str | os.PathLike, summary: RunSummary) -> Path:
    """Write ``summary`` as ``summary.json`` (:meth:`RunSummary.to_dict`), atomically."""
    return _write_json_atomic(path, summary.to_dict())


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as strict JSON atomically (:func:`snnjob.atomic.write_json_atomic`);
    :class:`PointKey` values are written as mappings of the :data:`POINT_FIELDS`, a
    :class:`RunSummary` as :meth:`RunSummary.to_dict`."""
    return _write_json_atomic(path, obj, default=_point_json)


def _point_json(obj: Any) -> Any:
    if isinstance(obj, PointKey):
        return obj.as_dict()
    if isinstance(obj, RunSummary):
        return obj.to_dict()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")
