"""``results/`` (one row per shard) and ``predictions/`` (one row per image): their Arrow
schemas, ``write_shard``, ``completed_shards`` and the readers.

The columns are described once, in :mod:`snnjob.results.schema`; this module turns them into
:data:`SHARD_SCHEMA` and :func:`prediction_schema`. Rows and predictions are validated (before
anything is written) by :mod:`snnjob.results.rows`; files are written, listed and read by
:mod:`snnjob.results.parquet`. See :mod:`snnjob.results` for the folder layout and write order.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from snnjob.errors import RunDirError
from snnjob.results.parquet import (
    arrow_schema,
    concat,
    list_files,
    map_files,
    read_files,
    read_footer,
    read_schema,
    write_file,
)
from snnjob.results.rows import ROW_KEY_FIELDS, check_predictions, normalize_row
from snnjob.results.schema import (
    POINT_FIELDS,
    PREDICTION_COLUMNS,
    PREDICTION_SCHEMA_VERSION,
    PREDICTIONS_DIR,
    RESULTS_DIR,
    SHARD_COLUMNS,
    SHARD_SCHEMA_VERSION,
    PointKey,
    shard_file_name,
)

__all__ = [
    "prediction_schema",
    "SHARD_SCHEMA",
    "completed_shards",
    "read_predictions",
    "read_results",
    "read_shard_rows",
    "write_shard",
]

SHARD_SCHEMA = arrow_schema(SHARD_COLUMNS, SHARD_SCHEMA_VERSION)
"""Arrow schema of ``results/*.parquet``; columns: :data:`snnjob.results.schema.SHARD_COLUMNS`."""


@functools.cache
def prediction_schema(n_classes: int) -> pa.Schema:
    """Arrow schema of ``predictions/*.parquet`` for a dataset of ``n_classes`` classes;
    columns: :data:`snnjob.results.schema.PREDICTION_COLUMNS`."""
    return arrow_schema(PREDICTION_COLUMNS, PREDICTION_SCHEMA_VERSION, n_classes)


# --------------------------------------------------------------------------------------------
# Writing shards
# --------------------------------------------------------------------------------------------


def _predictions_table(
    point: PointKey, shard_id: int, row: Mapping[str, Any], predictions: Mapping[str, Any]
) -> pa.Table:
    """Validate the per-image predictions of a shard against its row; return the table."""
    arrays = check_predictions(row, predictions)
    n = row["n_images"]
    schema = prediction_schema(arrays["output"].shape[1])
    output_type = schema.field("output").type
    columns = {
        "params_id": pa.array([point.params_id] * n, pa.string()),
        "train_seed": pa.array(np.full(n, point.train_seed, np.int64)),
        "n_steps": pa.array(np.full(n, point.n_steps, np.int64)),
        "eval_seed": pa.array(np.full(n, point.eval_seed, np.int64)),
        "shard_id": pa.array(np.full(n, shard_id, np.int64)),
        "image_index": pa.array(arrays["image_index"]),
        "label": pa.array(arrays["label"]),
        "prediction": pa.array(arrays["prediction"]),
        "output": pa.FixedSizeListArray.from_arrays(
            pa.array(arrays["output"].ravel()), type=output_type
        ),
    }
    return pa.table(columns, schema=schema)


def write_shard(
    out_dir: str | os.PathLike,
    *,
    point: PointKey,
    shard_id: int,
    row: Mapping[str, Any],
    predictions: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write one evaluated shard atomically (predictions first, then the results row).

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder of the run; ``results/`` and ``predictions/`` are created in it.
    point : PointKey
        The sweep point.
    shard_id : int
        Shard index (>= 0).
    row : Mapping[str, Any]
        Exactly the columns of :data:`snnjob.results.schema.SHARD_COLUMNS` other than the key
        columns (:data:`~snnjob.results.schema.POINT_FIELDS` and ``shard_id``), which may be
        included too and must then agree with ``point`` and ``shard_id``; ``finished_at`` is a
        timezone-aware :class:`datetime.datetime`. Checked: ``0 <= first_index <=
        last_index``, ``n_images == last_index - first_index + 1``, ``0 <= n_errors <=
        n_images``, ``wall_time_s`` finite and >= 0, non-empty strings.
    predictions : Mapping[str, numpy.ndarray] or None
        Per-image results with exactly the keys ``image_index`` (ints, each of
        ``first_index..last_index`` once), ``label`` and ``prediction`` (class ints) and
        ``output`` (shape ``(n_images, N_CLASSES)``, floating point, stored as float32). The
        number of ``label != prediction`` must equal ``row["n_errors"]``. ``None`` writes no
        predictions.

    Returns
    -------
    pathlib.Path
        Path of the results file.

    Raises
    ------
    TypeError, ValueError
        If ``row`` or ``predictions`` is malformed (the message names the missing or
        unexpected keys or the bad value); nothing is written then.
    RunDirError
        If the output folder cannot be written.
    """
    shard_file_name(point, shard_id)  # a PointKey and a shard id, checked before anything
    full_row = normalize_row(point, int(shard_id), row)
    results = pa.Table.from_pylist([full_row], schema=SHARD_SCHEMA)
    if predictions is not None:
        table = _predictions_table(point, int(shard_id), full_row, predictions)
        write_file(out_dir, PREDICTIONS_DIR, table)
    return write_file(out_dir, RESULTS_DIR, results)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _shard_files(out_dir: str | os.PathLike, folder: str, *, clean_tmp: bool = False) -> dict:
    """``list_files``, keyed by (point, shard_id) too: ``{(point, shard_id): (path, keys)}``."""
    return {
        (PointKey.from_mapping(keys), keys["shard_id"]): (path, keys)
        for path, keys in list_files(out_dir, folder, clean_tmp=clean_tmp).items()
    }


def _probe_results_file(path: Path) -> None:
    """Check a results file's Parquet footer: readable, SHARD_SCHEMA and exactly one row."""
    rows = read_footer(path, SHARD_SCHEMA).num_rows
    if rows != 1:
        raise RunDirError(
            f"{path} holds {rows} rows instead of one; the folder was modified by hand: remove "
            f"the file or choose another output folder"
        )


def completed_shards(out_dir: str | os.PathLike) -> set[tuple[PointKey, int]]:
    """Return the (point, shard_id) pairs whose results file is already written.

    Leftover hidden temp files of interrupted writes are deleted from ``results/`` and
    ``predictions/``. A results file whose Parquet footer cannot be read is treated as not
    done: it is deleted with a :class:`RuntimeWarning`. Only file names and footers are read
    (fast); :func:`read_results` checks the rows themselves. Call this only while no worker is
    writing into ``out_dir`` (for example before the sweep starts), since it deletes temp files.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder of the run (need not exist yet).

    Returns
    -------
    set[tuple[PointKey, int]]

    Raises
    ------
    RunDirError
        If the folder holds files of a different run or foreign ``*.parquet`` files, or
        cannot be read.
    """
    list_files(out_dir, PREDICTIONS_DIR, clean_tmp=True)
    files = _shard_files(out_dir, RESULTS_DIR, clean_tmp=True)
    done: set[tuple[PointKey, int]] = set()
    paths = [path for path, _ in files.values()]
    for key, path, (_, exc) in zip(files, paths, map_files(_probe_results_file, paths)):
        if exc is None:
            done.add(key)
            continue
        warnings.warn(
            f"removing unreadable results file {path} ({exc}); the shard will be re-run",
            RuntimeWarning,
            stacklevel=2,
        )
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return done


def read_results(out_dir: str | os.PathLike) -> pa.Table:
    """Read every shard row of a run.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder of the run.

    Returns
    -------
    pyarrow.Table
        Table with :data:`SHARD_SCHEMA` (empty if nothing was written), sorted by
        ``params_id, train_seed, n_steps, eval_seed, shard_id``.

    Raises
    ------
    RunDirError
        If a file cannot be read or holds a different schema.
    """
    tables = read_files(list_files(out_dir, RESULTS_DIR), SHARD_SCHEMA)
    return concat(tables, SHARD_SCHEMA, ROW_KEY_FIELDS)


def read_predictions(out_dir: str | os.PathLike) -> pa.Table:
    """Read the per-image predictions of every completed shard of a run.

    Only shards whose results file exists count: a predictions file left without results by an
    interrupted write is skipped (it is rewritten when that shard is re-run).

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder of the run.

    Returns
    -------
    pyarrow.Table
        Table with :func:`prediction_schema` (empty if none), sorted by
        ``params_id, train_seed, n_steps, eval_seed, image_index``.

    Raises
    ------
    RunDirError
        If a file cannot be read or holds a different schema.
    """
    done = _shard_files(out_dir, RESULTS_DIR)
    files = dict(v for k, v in _shard_files(out_dir, PREDICTIONS_DIR).items() if k in done)
    # K, the number of classes, from the first file's output column (no file: K = 0)
    schema = prediction_schema(_n_classes(read_schema(next(iter(files)))) if files else 0)
    tables = read_files(files, schema)
    return concat(tables, schema, (*POINT_FIELDS, "image_index"))


def _n_classes(schema: pa.Schema) -> int:
    """The size of a predictions file's ``output`` column (0 if it has none: refused later)."""
    try:
        return schema.field("output").type.list_size
    except (KeyError, AttributeError):
        return 0


def read_shard_rows(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Read every shard row of a run as plain Python dicts (no pyarrow needed by the caller).

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder of the run.

    Returns
    -------
    list[dict[str, Any]]
        One dict per shard, keyed by the :data:`~snnjob.results.schema.SHARD_COLUMNS` names
        (``finished_at`` is a UTC :class:`datetime.datetime`), in the order of
        :func:`read_results`. Ready for :func:`snnjob.results.summary.check_coverage` and
        :func:`snnjob.results.summary.summarize`.

    Raises
    ------
    RunDirError
        If a file cannot be read or holds a different schema.
    """
    return read_results(out_dir).to_pylist()
