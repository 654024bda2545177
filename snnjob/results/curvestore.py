"""Parquet storage of the error curves (``OUT/curves``): the store's second pyarrow module.

One file per (parameter set, evaluation seed, shard), written before that shard's results
files (a results file implies its curve), one row per step from 1 to the longest
``n_steps`` of the sweep: the errors a sweep point at that ``n_steps`` would have, read from
the same simulation. Columns: :data:`snnjob.results.schema.CURVE_COLUMNS`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snnjob.atomic import write_atomic
from snnjob.errors import RunDirError
from snnjob.results.schema import (
    CURVE_COLUMNS,
    CURVE_SCHEMA_VERSION,
    CURVES_DIR,
    curve_file_name,
)
from snnjob.results.store import arrow_schema, read_table

CURVE_SCHEMA = arrow_schema(CURVE_COLUMNS, CURVE_SCHEMA_VERSION)
"""Arrow schema of ``curves/*.parquet``."""


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
        "params_id": [params_id] * n,
        "train_seed": np.full(n, train_seed, dtype=np.int64),
        "eval_seed": np.full(n, eval_seed, dtype=np.int64),
        "shard_id": np.full(n, shard_id, dtype=np.int64),
        "first_index": np.full(n, first_index, dtype=np.int64),
        "last_index": np.full(n, first_index + n_images - 1, dtype=np.int64),
        "step": np.arange(1, n + 1, dtype=np.int64),
        "n_images": np.full(n, n_images, dtype=np.int64),
        "n_errors": errors.astype(np.int64),
    }
    table = pa.table(columns, schema=CURVE_SCHEMA)
    path = Path(out_dir) / CURVES_DIR / curve_file_name(params_id, train_seed, eval_seed, shard_id)
    return write_atomic(path, lambda fh: pq.write_table(table, fh))


def read_curve_rows(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every curve row of a run (empty if none), sorted by params, seeds, shard and step."""
    folder = Path(out_dir) / CURVES_DIR
    if not folder.is_dir():
        return []
    tables = []
    for path in sorted(folder.glob("[!.]*.parquet")):  # not the hidden temporary files
        try:
            tables.append(read_table(path, CURVE_SCHEMA))
        except (OSError, pa.ArrowException) as exc:
            raise RunDirError(
                f"cannot read {path} ({exc}); remove it and run the evaluation again"
            ) from exc
    if not tables:
        return []
    order = [(name, "ascending") for name in ("params_id", "train_seed", "eval_seed",
                                               "shard_id", "step")]  # fmt: skip
    return pa.concat_tables(tables).sort_by(order).to_pylist()
