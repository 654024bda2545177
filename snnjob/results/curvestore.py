"""``curves/`` (the error curves) and ``anytime/`` (the anytime counts): their Arrow schemas,
writers (validation) and readers, over :mod:`snnjob.results.parquet`.

One curve file per (parameter set, evaluation seed, shard), written before that shard's
results files (a results file implies its curve), one row per step from 1 to the longest
``n_steps`` of the sweep: the errors a sweep point at that ``n_steps`` would have, read from
the same simulation. Columns: :data:`snnjob.results.schema.CURVE_COLUMNS`.

One anytime file per (parameter set, evaluation seed, shard) too, written with the curve
(before the results files), one row per threshold of ``eval.anytime_thresholds``: errors and
steps used when each image stops early (:mod:`snnjob.anytime`).
Columns: :data:`snnjob.results.schema.ANYTIME_COLUMNS`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from snnjob.results.parquet import arrow_schema, concat, list_files, read_files, write_file
from snnjob.results.schema import (
    ANYTIME_COLUMNS,
    ANYTIME_DIR,
    ANYTIME_SCHEMA_VERSION,
    CURVE_COLUMNS,
    CURVE_SCHEMA_VERSION,
    CURVES_DIR,
    curve_file_name,
)

CURVE_SCHEMA = arrow_schema(CURVE_COLUMNS, CURVE_SCHEMA_VERSION)
"""Arrow schema of ``curves/*.parquet``."""
ANYTIME_SCHEMA = arrow_schema(ANYTIME_COLUMNS, ANYTIME_SCHEMA_VERSION)
"""Arrow schema of ``anytime/*.parquet``."""


def write_curve(
    out_dir: str | os.PathLike,
    *,
    params_id: str,
    train_seed: int,
    eval_seed: int,
    shard_id: int,
    first_index: int,
    step_errors: np.ndarray,
    n_images: int,
) -> Path:
    """Write one shard's errors at every step (``step_errors[t - 1]`` at step ``t``)."""
    errors = np.asarray(step_errors)
    if errors.ndim != 1 or len(errors) == 0 or not np.issubdtype(errors.dtype, np.integer):
        raise ValueError(f"step_errors must be a non-empty 1-d integer array, got {errors!r}")
    if n_images < 1 or errors.min() < 0 or errors.max() > n_images:
        raise ValueError(f"step_errors must lie within 0..n_images={n_images}")
    n = len(errors)
    columns = {
        **_shard_columns(n, params_id, train_seed, eval_seed, shard_id, first_index, n_images),
        "step": np.arange(1, n + 1, dtype=np.int64),
        "n_images": np.full(n, n_images, dtype=np.int64),
        "n_errors": errors.astype(np.int64),
    }
    return write_file(out_dir, CURVES_DIR, pa.table(columns, schema=CURVE_SCHEMA))


def write_anytime(
    out_dir: str | os.PathLike,
    *,
    params_id: str,
    train_seed: int,
    eval_seed: int,
    shard_id: int,
    first_index: int,
    n_images: int,
    n_steps: int,
    thresholds,
    n_errors: np.ndarray,
    steps_sum: np.ndarray,
) -> Path:
    """Write one shard's anytime counts: per threshold, errors and steps used (summed)."""
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    errors, steps = np.asarray(n_errors), np.asarray(steps_sum)
    n = len(thresholds)
    if n == 0 or errors.shape != (n,) or steps.shape != (n,):
        raise ValueError(f"need one n_errors and steps_sum per threshold ({n}), got "
                         f"{errors.shape} and {steps.shape}")  # fmt: skip
    if n_images < 1 or errors.min() < 0 or errors.max() > n_images:
        raise ValueError(f"n_errors must lie within 0..n_images={n_images}")
    if steps.min() < n_images or steps.max() > n_images * n_steps:
        raise ValueError(f"steps_sum must lie within n_images..n_images * n_steps={n_steps}")
    columns = {
        **_shard_columns(n, params_id, train_seed, eval_seed, shard_id, first_index, n_images),
        "threshold": thresholds,
        "n_steps": np.full(n, n_steps, dtype=np.int64),
        "n_images": np.full(n, n_images, dtype=np.int64),
        "n_errors": errors.astype(np.int64),
        "steps_sum": steps.astype(np.int64),
    }
    return write_file(out_dir, ANYTIME_DIR, pa.table(columns, schema=ANYTIME_SCHEMA))


def _shard_columns(
    n: int,
    params_id: str,
    train_seed: int,
    eval_seed: int,
    shard_id: int,
    first_index: int,
    n_images: int,
) -> dict[str, Any]:
    """The key columns ``curves/`` and ``anytime/`` share, repeated over ``n`` rows."""
    curve_file_name(params_id, train_seed, eval_seed, shard_id)  # checks the keys' types
    return {
        "params_id": [params_id] * n,
        "train_seed": np.full(n, train_seed, dtype=np.int64),
        "eval_seed": np.full(n, eval_seed, dtype=np.int64),
        "shard_id": np.full(n, shard_id, dtype=np.int64),
        "first_index": np.full(n, first_index, dtype=np.int64),
        "last_index": np.full(n, first_index + n_images - 1, dtype=np.int64),
    }


def read_curve_rows(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every curve row of a run (empty if none), sorted by params, seeds, shard and step."""
    return _read_rows(out_dir, CURVES_DIR, CURVE_SCHEMA, "step")


def read_anytime_rows(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every anytime row of a run (empty if none, e.g. a run from before ``anytime/``),
    sorted by params, seeds, shard and threshold."""
    return _read_rows(out_dir, ANYTIME_DIR, ANYTIME_SCHEMA, "threshold")


def _read_rows(out_dir, folder: str, schema: pa.Schema, last: str) -> list[dict[str, Any]]:
    tables = read_files(list_files(out_dir, folder), schema)
    order = ("params_id", "train_seed", "eval_seed", "shard_id", last)
    return concat(tables, schema, order).to_pylist()
