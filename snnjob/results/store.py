"""Parquet storage of shard results and predictions (with :mod:`snnjob.results.curvestore`,
the only pyarrow I/O of :mod:`snnjob`).

The columns are described once, in :mod:`snnjob.results.schema`; this module turns them into
:data:`SHARD_SCHEMA` and :func:`prediction_schema` (each field's ``description`` metadata and
the schema metadata ``{"snnjob.schema": <version>}`` included), writes shard files atomically
and reads them back. Rows and predictions are validated (before anything is written) by
:mod:`snnjob.results.rows`. See :mod:`snnjob.results` for the folder layout and write order.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snnjob.atomic import is_tmp_name, write_atomic
from snnjob.errors import RunDirError
from snnjob.results.arrow import arrow_schema, check_schema, read_table  # noqa: F401
from snnjob.results.rows import ROW_KEY_FIELDS, check_predictions, normalize_row
from snnjob.results.schema import (
    POINT_FIELDS,
    PREDICTION_COLUMNS,
    PREDICTION_SCHEMA_VERSION,
    PREDICTIONS_DIR,
    RESULTS_DIR,
    SCHEMA_METADATA_KEY,
    SHARD_COLUMNS,
    SHARD_SCHEMA_VERSION,
    PointKey,
    parse_shard_file_name,
    shard_file_name,
)

__all__ = [
    "prediction_schema",
    "SHARD_SCHEMA",
    "arrow_schema",
    "completed_shards",
    "read_predictions",
    "read_results",
    "read_shard_rows",
    "write_shard",
]

_MAX_READ_THREADS = 16

SHARD_SCHEMA = arrow_schema(SHARD_COLUMNS, SHARD_SCHEMA_VERSION)
"""Arrow schema of ``results/*.parquet``; columns: :data:`snnjob.results.schema.SHARD_COLUMNS`."""


@functools.cache
def prediction_schema(n_classes: int) -> pa.Schema:
    """Arrow schema of ``predictions/*.parquet`` for a dataset of ``n_classes`` classes;
    columns: :data:`snnjob.results.schema.PREDICTION_COLUMNS`."""
    return arrow_schema(PREDICTION_COLUMNS, PREDICTION_SCHEMA_VERSION, n_classes)


_VERSION_KEY = SCHEMA_METADATA_KEY.encode()


def _write_parquet_atomic(path: Path, table: pa.Table) -> Path:
    return write_atomic(path, lambda fh: pq.write_table(table, fh))


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
    name = shard_file_name(point, shard_id)
    full_row = normalize_row(point, int(shard_id), row)
    results = pa.Table.from_pylist([full_row], schema=SHARD_SCHEMA)
    pred_table = None
    if predictions is not None:
        pred_table = _predictions_table(point, int(shard_id), full_row, predictions)
    out_dir = Path(out_dir)
    if pred_table is not None:
        _write_parquet_atomic(out_dir / PREDICTIONS_DIR / name, pred_table)
    return _write_parquet_atomic(out_dir / RESULTS_DIR / name, results)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _list_shard_files(folder: Path, *, clean_tmp: bool = False) -> dict[tuple[PointKey, int], Path]:
    """Map (point, shard_id) to the shard files in ``folder`` (empty if it does not exist).

    Hidden files are skipped (leftover temp files are deleted when ``clean_tmp``). Any other
    ``*.parquet`` file whose name is not a canonical shard file name is an error.
    """
    if not folder.exists():
        return {}
    if not folder.is_dir():
        raise RunDirError(f"{folder} is not a folder; choose another output folder")
    found: dict[tuple[PointKey, int], Path] = {}
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise RunDirError(f"cannot list {folder}: {exc}") from exc
    for entry in entries:
        if entry.name.startswith("."):
            if clean_tmp and is_tmp_name(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
            continue
        if not entry.name.endswith(".parquet"):
            continue
        parsed = parse_shard_file_name(entry.name)
        if parsed is None:
            raise RunDirError(
                f"unexpected file {entry.path}: not a shard file written by snnjob; remove it "
                f"or choose another output folder"
            )
        found[parsed] = Path(entry.path)
    return found


def _probe_results_file(path: Path) -> None:
    """Check a results file's Parquet footer: readable, SHARD_SCHEMA and exactly one row."""
    metadata = pq.read_metadata(path)
    check_schema(metadata.schema.to_arrow_schema(), SHARD_SCHEMA, path)
    if metadata.num_rows != 1:
        raise RunDirError(
            f"{path} holds {metadata.num_rows} rows instead of one; the folder was modified by "
            f"hand: remove the file or choose another output folder"
        )


def _map_files(func, paths: list[Path]) -> list[tuple[Any, Exception | None]]:
    """``func(path)`` for each path, in threads (I/O bound); collects Arrow and OS errors.

    Other exceptions (e.g. :class:`RunDirError` for a foreign schema) propagate.
    """

    def call(path: Path) -> tuple[Any, Exception | None]:
        try:
            return func(path), None
        except (pa.ArrowException, OSError) as exc:
            return None, exc

    if not paths:
        return []
    with ThreadPoolExecutor(max_workers=min(_MAX_READ_THREADS, len(paths))) as pool:
        return list(pool.map(call, paths))


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
    out_dir = Path(out_dir)
    _list_shard_files(out_dir / PREDICTIONS_DIR, clean_tmp=True)
    files = _list_shard_files(out_dir / RESULTS_DIR, clean_tmp=True)
    done: set[tuple[PointKey, int]] = set()
    for (key, path), (_, exc) in zip(
        files.items(), _map_files(_probe_results_file, [*files.values()])
    ):
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


def _read_all(files: Mapping[tuple[PointKey, int], Path], schema: pa.Schema) -> pa.Table:
    """Read and concatenate shard files, checking that each holds the shard its name says."""
    tables = []
    for (key, path), (table, exc) in zip(
        files.items(), _map_files(lambda p: read_table(p, schema), [*files.values()])
    ):
        if exc is not None:
            raise RunDirError(
                f"cannot read {path} ({exc}); run the evaluation again to redo that shard"
            ) from exc
        point, shard_id = key
        expected = point.as_dict()
        expected["shard_id"] = shard_id
        for name, value in expected.items():
            found = table.column(name).unique().to_pylist()
            if found != [value]:
                raise RunDirError(
                    f"{path} holds {name} {found}, but its name says {value!r}; the folder was "
                    f"modified by hand: remove the file or choose another output folder"
                )
        tables.append(table)
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables).replace_schema_metadata(schema.metadata)


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
    table = _read_all(_list_shard_files(Path(out_dir) / RESULTS_DIR), SHARD_SCHEMA)
    return table.sort_by([(name, "ascending") for name in ROW_KEY_FIELDS])


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
    out_dir = Path(out_dir)
    done = _list_shard_files(out_dir / RESULTS_DIR)
    preds = _list_shard_files(out_dir / PREDICTIONS_DIR)
    files = {k: path for k, path in preds.items() if k in done}
    n_classes = 0  # no file: an empty table
    if files:
        path = next(iter(files.values()))
        try:
            n_classes = pq.read_schema(path).field("output").type.list_size
        except (pa.ArrowException, OSError, KeyError, AttributeError) as exc:
            raise RunDirError(
                f"cannot read {path} ({exc}); run the evaluation again to redo that shard"
            ) from exc
    table = _read_all(files, prediction_schema(n_classes))
    return table.sort_by([(name, "ascending") for name in (*POINT_FIELDS, "image_index")])


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
