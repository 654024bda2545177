"""Per-shard evaluation results: Parquet schemas, atomic writing, reading back and summaries.

An evaluation sweep is a set of *points* (:class:`PointKey`: params id, training seed,
``n_steps``, evaluation seed). Each point's test set is split into *shards* of consecutive test
images, and each evaluated shard is written as its own small Parquet file::

    <out_dir>/results/<slug>_shard-00007.parquet       one row, :data:`SHARD_SCHEMA`
    <out_dir>/predictions/<slug>_shard-00007.parquet   one row per image, :data:`PREDICTION_SCHEMA`

Every file is first written to a hidden temporary file (its name starts with ``"."``, so Parquet
dataset readers ignore it) in the same folder and then moved into place with :func:`os.replace`,
so a file under its final name is always complete. The predictions file of a shard is written
*before* its results file: a results file therefore implies that its predictions (if any were
requested) exist. A shard is *done* exactly when its results file exists, which makes resuming an
interrupted sweep a matter of skipping :func:`completed_shards`.

Rates are always computed from summed counts (:func:`summarize`), never by averaging per-shard
rates, because shards may hold different numbers of images.

This is the only module of the package that imports :mod:`pyarrow`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snnjob.atomic import is_tmp_name, write_atomic, write_text_atomic
from snnjob.atomic import write_json_atomic as _write_json_atomic
from snnjob.errors import RunDirError

__all__ = [
    "N_CLASSES",
    "POINT_FIELDS",
    "PREDICTION_SCHEMA",
    "SHARD_SCHEMA",
    "PointKey",
    "check_coverage",
    "completed_shards",
    "parse_shard_file_name",
    "read_predictions",
    "read_results",
    "shard_file_name",
    "summarize",
    "summary_markdown",
    "wilson_interval",
    "write_json_atomic",
    "write_shard",
    "write_text_atomic",
]

N_CLASSES = 10
"""Number of output classes (MNIST digits)."""

POINT_FIELDS = ("params_id", "train_seed", "n_steps", "eval_seed")
"""Columns that identify a sweep point (the fields of :class:`PointKey`)."""

RESULTS_DIR = "results"
PREDICTIONS_DIR = "predictions"
_MAX_READ_THREADS = 16


def _field(name: str, type_: pa.DataType, description: str) -> pa.Field:
    return pa.field(name, type_, nullable=False, metadata={"description": description})


SHARD_SCHEMA = pa.schema(
    [
        _field("params_id", pa.string(), "id of the trained parameter set (network + training)"),
        _field("params_sha256", pa.string(), "SHA-256 hex digest of the parameter file used"),
        _field("train_seed", pa.int64(), "seed of the training run that produced the parameters"),
        _field("n_steps", pa.int64(), "simulation timesteps each test image is presented for"),
        _field("eval_seed", pa.int64(), "seed of the spiking evaluation (simulator seed)"),
        _field("minibatch_size", pa.int64(), "simulator minibatch size used for this shard"),
        _field("shard_id", pa.int64(), "index of the shard within the point's test set"),
        _field("first_index", pa.int64(), "first test-image index of the shard (inclusive)"),
        _field("last_index", pa.int64(), "last test-image index of the shard (inclusive)"),
        _field("n_images", pa.int64(), "images evaluated: last_index - first_index + 1"),
        _field("n_errors", pa.int64(), "images whose prediction differs from the label"),
        _field("wall_time_s", pa.float64(), "wall-clock seconds spent evaluating the shard"),
        _field("worker_node", pa.string(), "Ray node (IP address or node id) that ran the shard"),
        _field("worker_pid", pa.int64(), "process id of the worker that ran the shard"),
        _field("finished_at", pa.timestamp("ms", tz="UTC"), "time the shard finished (UTC, ms)"),
    ],
    metadata={"snnjob.schema": "shard-v1"},
)
"""Schema of ``results/*.parquet``: one row per evaluated (point, shard).

Columns (none nullable): ``params_id`` (string), ``params_sha256`` (string, hex digest of the
parameter file), ``train_seed``, ``n_steps``, ``eval_seed``, ``minibatch_size``, ``shard_id``,
``first_index`` and ``last_index`` (inclusive test-image range), ``n_images``
(``last_index - first_index + 1``), ``n_errors``, ``worker_pid`` (all int64), ``wall_time_s``
(float64), ``worker_node`` (string, Ray node IP or id) and ``finished_at`` (timestamp[ms, UTC]).
Each field carries a ``description`` in its field metadata; the schema metadata is
``{"snnjob.schema": "shard-v1"}``.
"""

PREDICTION_SCHEMA = pa.schema(
    [
        _field("params_id", pa.string(), "id of the trained parameter set"),
        _field("train_seed", pa.int64(), "seed of the training run"),
        _field("n_steps", pa.int64(), "simulation timesteps per test image"),
        _field("eval_seed", pa.int64(), "seed of the spiking evaluation"),
        _field("shard_id", pa.int64(), "index of the shard within the point's test set"),
        _field("image_index", pa.int64(), "index of the image in the test set"),
        _field("label", pa.int8(), "true digit"),
        _field("prediction", pa.int8(), "predicted digit (argmax of output)"),
        _field(
            "output",
            pa.list_(pa.field("element", pa.float32(), nullable=False), N_CLASSES),
            "filtered network output of each class at the last timestep",
        ),
    ],
    metadata={"snnjob.schema": "pred-v1"},
)
"""Schema of ``predictions/*.parquet``: one row per evaluated test image.

Columns (none nullable): ``params_id`` (string), ``train_seed``, ``n_steps``, ``eval_seed``,
``shard_id``, ``image_index`` (int64), ``label`` and ``prediction`` (int8) and ``output``
(fixed_size_list<float32, 10>: the filtered output of each class at the last timestep).
The schema metadata is ``{"snnjob.schema": "pred-v1"}``.
"""

_PARAMS_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHARD_NAME_RE = re.compile(
    r"p-(?P<params_id>.+)_t-(?P<train_seed>\d+)_n-(?P<n_steps>\d+)_s-(?P<eval_seed>\d+)"
    r"_shard-(?P<shard_id>\d+)\.parquet"
)
_ROW_KEY_FIELDS = (*POINT_FIELDS, "shard_id")
_ROW_FIELDS = tuple(name for name in SHARD_SCHEMA.names if name not in _ROW_KEY_FIELDS)
_PREDICTION_KEYS = ("image_index", "label", "prediction", "output")


# --------------------------------------------------------------------------------------------
# Keys and file names
# --------------------------------------------------------------------------------------------


def _as_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as a Python int, refusing bools, floats and strings."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class PointKey:
    """Identity of one evaluation point of a sweep.

    Parameters
    ----------
    params_id : str
        Id of the trained parameter set. Must be filesystem-safe: 1-128 characters from
        ``A-Z a-z 0-9 . _ -``, starting with a letter or digit.
    train_seed : int
        Seed of the training run (>= 0).
    n_steps : int
        Simulation timesteps per test image (>= 1).
    eval_seed : int
        Seed of the spiking evaluation (>= 0).

    Raises
    ------
    TypeError, ValueError
        If a field has the wrong type or value. Integer-like numpy scalars are converted to
        Python ints, so keys built from arrays and from Python values compare equal.
    """

    params_id: str
    train_seed: int
    n_steps: int
    eval_seed: int

    def __post_init__(self) -> None:
        if not isinstance(self.params_id, str) or not _PARAMS_ID_RE.fullmatch(self.params_id):
            raise ValueError(
                f"params_id must be 1-128 characters from A-Z a-z 0-9 . _ - starting with a "
                f"letter or digit, got {self.params_id!r}"
            )
        object.__setattr__(self, "train_seed", _as_int(self.train_seed, "train_seed", minimum=0))
        object.__setattr__(self, "n_steps", _as_int(self.n_steps, "n_steps", minimum=1))
        object.__setattr__(self, "eval_seed", _as_int(self.eval_seed, "eval_seed", minimum=0))

    @property
    def slug(self) -> str:
        """str: Deterministic filesystem-safe name of the point.

        ``p-<params_id>_t-<train_seed>_n-<n_steps>_s-<eval_seed>``, e.g. ``p-base_t-0_n-50_s-3``.
        """
        return f"p-{self.params_id}_t-{self.train_seed}_n-{self.n_steps}_s-{self.eval_seed}"

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> PointKey:
        """Build the key from a mapping holding (at least) the :data:`POINT_FIELDS`.

        Parameters
        ----------
        row : Mapping[str, Any]
            For example one element of ``table.to_pylist()``.

        Returns
        -------
        PointKey
        """
        return cls(**{name: row[name] for name in POINT_FIELDS})


def shard_file_name(point: PointKey, shard_id: int) -> str:
    """Return the file name of one shard (same in ``results/`` and ``predictions/``).

    Parameters
    ----------
    point : PointKey
        The sweep point.
    shard_id : int
        Shard index (>= 0).

    Returns
    -------
    str
        ``"<point.slug>_shard-<shard_id zero-padded to 5 digits>.parquet"``.
    """
    if not isinstance(point, PointKey):
        raise TypeError(f"point must be a PointKey, got {type(point).__name__}")
    shard_id = _as_int(shard_id, "shard_id", minimum=0)
    return f"{point.slug}_shard-{shard_id:05d}.parquet"


def parse_shard_file_name(name: str) -> tuple[PointKey, int] | None:
    """Inverse of :func:`shard_file_name`.

    Parameters
    ----------
    name : str
        A file name (not a path).

    Returns
    -------
    tuple[PointKey, int] or None
        The point and shard id, or ``None`` if ``name`` is not a canonical shard file name.
    """
    match = _SHARD_NAME_RE.fullmatch(name)
    if match is None:
        return None
    try:
        point = PointKey(
            params_id=match["params_id"],
            train_seed=int(match["train_seed"]),
            n_steps=int(match["n_steps"]),
            eval_seed=int(match["eval_seed"]),
        )
        shard_id = int(match["shard_id"])
    except (TypeError, ValueError):
        return None
    if shard_file_name(point, shard_id) != name:  # e.g. leading zeros: not canonical
        return None
    return point, shard_id


# --------------------------------------------------------------------------------------------
# Atomic writing
# --------------------------------------------------------------------------------------------


def _point_json(obj: Any) -> Any:
    if isinstance(obj, PointKey):
        return {name: getattr(obj, name) for name in POINT_FIELDS}
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as strict JSON atomically (:func:`snnjob.atomic.write_json_atomic`);
    :class:`PointKey` values are written as mappings."""
    return _write_json_atomic(path, obj, default=_point_json)


def _write_parquet_atomic(path: Path, table: pa.Table) -> Path:
    return write_atomic(path, lambda fh: pq.write_table(table, fh))


# --------------------------------------------------------------------------------------------
# Writing shards
# --------------------------------------------------------------------------------------------


def _check_row_keys(row: Mapping[str, Any]) -> None:
    if not isinstance(row, Mapping):
        raise TypeError(f"row must be a mapping, got {type(row).__name__}")
    missing = [name for name in _ROW_FIELDS if name not in row]
    extra = sorted(str(name) for name in row if name not in SHARD_SCHEMA.names)
    if missing or extra:
        raise ValueError(
            f"bad shard row: missing keys {missing}, unexpected keys {extra} "
            f"(expected exactly {list(_ROW_FIELDS)}, optionally with {list(_ROW_KEY_FIELDS)})"
        )


def _as_utc(value: Any) -> _dt.datetime:
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"finished_at must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "finished_at must be timezone-aware, e.g. datetime.now(timezone.utc); got a naive "
            "datetime"
        )
    return value.astimezone(_dt.UTC)


def _as_str(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _normalize_row(point: PointKey, shard_id: int, row: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a shard row and return it complete, with Python values, in schema order."""
    _check_row_keys(row)
    keys = {name: getattr(point, name) for name in POINT_FIELDS}
    keys["shard_id"] = shard_id
    for name, expected in keys.items():
        if name in row and row[name] != expected:
            raise ValueError(f"row[{name!r}] = {row[name]!r} contradicts the given {expected!r}")
    out: dict[str, Any] = dict(keys)
    out["params_sha256"] = _as_str(row["params_sha256"], "params_sha256")
    out["worker_node"] = _as_str(row["worker_node"], "worker_node")
    out["minibatch_size"] = _as_int(row["minibatch_size"], "minibatch_size", minimum=1)
    out["first_index"] = _as_int(row["first_index"], "first_index", minimum=0)
    out["last_index"] = _as_int(row["last_index"], "last_index", minimum=out["first_index"])
    out["n_images"] = _as_int(row["n_images"], "n_images", minimum=1)
    if out["n_images"] != out["last_index"] - out["first_index"] + 1:
        raise ValueError(
            f"n_images = {out['n_images']} but first_index..last_index = "
            f"{out['first_index']}..{out['last_index']} holds "
            f"{out['last_index'] - out['first_index'] + 1} images"
        )
    out["n_errors"] = _as_int(row["n_errors"], "n_errors", minimum=0)
    if out["n_errors"] > out["n_images"]:
        raise ValueError(f"n_errors = {out['n_errors']} exceeds n_images = {out['n_images']}")
    wall = row["wall_time_s"]
    if isinstance(wall, bool) or not isinstance(wall, int | float | np.integer | np.floating):
        raise TypeError(f"wall_time_s must be a number, got {wall!r}")
    if not math.isfinite(float(wall)) or float(wall) < 0:
        raise ValueError(f"wall_time_s must be finite and >= 0, got {wall!r}")
    out["wall_time_s"] = float(wall)
    out["worker_pid"] = _as_int(row["worker_pid"], "worker_pid", minimum=0)
    out["finished_at"] = _as_utc(row["finished_at"])
    return {name: out[name] for name in SHARD_SCHEMA.names}


def _class_array(values: np.ndarray, name: str) -> np.ndarray:
    if values.dtype.kind not in "iu":
        raise TypeError(f"predictions[{name!r}] must hold integers, got dtype {values.dtype}")
    if values.size and (values.min() < 0 or values.max() >= N_CLASSES):
        raise ValueError(f"predictions[{name!r}] must lie in 0..{N_CLASSES - 1}")
    return values.astype(np.int8)


def _predictions_table(
    point: PointKey, shard_id: int, row: Mapping[str, Any], predictions: Mapping[str, Any]
) -> pa.Table:
    """Validate the per-image predictions of a shard against its row; return the table."""
    if not isinstance(predictions, Mapping):
        raise TypeError(f"predictions must be a mapping, got {type(predictions).__name__}")
    missing = [k for k in _PREDICTION_KEYS if k not in predictions]
    extra = sorted(str(k) for k in predictions if k not in _PREDICTION_KEYS)
    if missing or extra:
        raise ValueError(
            f"bad predictions: missing keys {missing}, unexpected keys {extra} "
            f"(expected exactly {list(_PREDICTION_KEYS)})"
        )
    n = row["n_images"]
    arrays = {k: np.asarray(predictions[k]) for k in _PREDICTION_KEYS}
    for key in ("image_index", "label", "prediction"):
        if arrays[key].shape != (n,):
            raise ValueError(
                f"predictions[{key!r}] must have shape ({n},), got {arrays[key].shape}"
            )
    if arrays["output"].shape != (n, N_CLASSES):
        raise ValueError(
            f"predictions['output'] must have shape ({n}, {N_CLASSES}), got "
            f"{arrays['output'].shape}"
        )
    if arrays["output"].dtype.kind != "f":
        raise TypeError(
            f"predictions['output'] must be floating point, got {arrays['output'].dtype}"
        )
    index = arrays["image_index"]
    if index.dtype.kind not in "iu":
        raise TypeError(f"predictions['image_index'] must hold integers, got dtype {index.dtype}")
    expected = np.arange(row["first_index"], row["last_index"] + 1)
    if not np.array_equal(np.sort(index), expected):
        raise ValueError(
            f"predictions['image_index'] must hold each of {row['first_index']}.."
            f"{row['last_index']} exactly once"
        )
    label = _class_array(arrays["label"], "label")
    prediction = _class_array(arrays["prediction"], "prediction")
    wrong = int(np.count_nonzero(label != prediction))
    if wrong != row["n_errors"]:
        raise ValueError(f"row says n_errors = {row['n_errors']} but predictions hold {wrong}")
    output = np.ascontiguousarray(arrays["output"], dtype=np.float32)
    output_type = PREDICTION_SCHEMA.field("output").type
    columns = {
        "params_id": pa.array([point.params_id] * n, pa.string()),
        "train_seed": pa.array(np.full(n, point.train_seed, np.int64)),
        "n_steps": pa.array(np.full(n, point.n_steps, np.int64)),
        "eval_seed": pa.array(np.full(n, point.eval_seed, np.int64)),
        "shard_id": pa.array(np.full(n, shard_id, np.int64)),
        "image_index": pa.array(index.astype(np.int64)),
        "label": pa.array(label),
        "prediction": pa.array(prediction),
        "output": pa.FixedSizeListArray.from_arrays(pa.array(output.ravel()), type=output_type),
    }
    return pa.table(columns, schema=PREDICTION_SCHEMA)


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
        Exactly the non-key columns of :data:`SHARD_SCHEMA`: ``params_sha256``,
        ``minibatch_size``, ``first_index``, ``last_index``, ``n_images``, ``n_errors``,
        ``wall_time_s``, ``worker_node``, ``worker_pid`` and ``finished_at`` (timezone-aware
        :class:`datetime.datetime`). The key columns (``params_id``, ``train_seed``,
        ``n_steps``, ``eval_seed``, ``shard_id``) may be included too and must then agree
        with ``point`` and ``shard_id``. Checked: ``0 <= first_index <= last_index``,
        ``n_images == last_index - first_index + 1``, ``0 <= n_errors <= n_images``,
        ``wall_time_s`` finite and >= 0, non-empty strings.
    predictions : Mapping[str, numpy.ndarray] or None
        Per-image results with exactly the keys ``image_index`` (ints, each of
        ``first_index..last_index`` once), ``label`` and ``prediction`` (ints in 0..9) and
        ``output`` (shape ``(n_images, 10)``, floating point, stored as float32). The number of
        ``label != prediction`` must equal ``row["n_errors"]``. ``None`` writes no predictions.

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
    full_row = _normalize_row(point, int(shard_id), row)
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


def _check_schema(actual: pa.Schema, schema: pa.Schema, path: Path) -> None:
    version = (actual.metadata or {}).get(b"snnjob.schema", b"none")
    if (
        not actual.equals(schema, check_metadata=False)
        or version != schema.metadata[b"snnjob.schema"]
    ):
        raise RunDirError(
            f"{path} has schema {version.decode()!r}, not the expected "
            f"{schema.metadata[b'snnjob.schema'].decode()!r}: the folder holds a different "
            f"(or older) run; choose another output folder"
        )


def _read_table(path: Path, schema: pa.Schema) -> pa.Table:
    """Read one Parquet file and check its schema (raises ``pa.ArrowException``/``OSError``)."""
    table = pq.read_table(path)
    _check_schema(table.schema, schema, path)
    return pa.Table.from_arrays(table.columns, schema=schema)


def _probe_results_file(path: Path) -> None:
    """Check a results file's Parquet footer: readable, SHARD_SCHEMA and exactly one row."""
    metadata = pq.read_metadata(path)
    _check_schema(metadata.schema.to_arrow_schema(), SHARD_SCHEMA, path)
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
        files.items(), _map_files(lambda p: _read_table(p, schema), [*files.values()])
    ):
        if exc is not None:
            raise RunDirError(
                f"cannot read {path} ({exc}); run the evaluation again to redo that shard"
            ) from exc
        point, shard_id = key
        expected = {name: getattr(point, name) for name in POINT_FIELDS}
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
    return table.sort_by([(name, "ascending") for name in _ROW_KEY_FIELDS])


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
        Table with :data:`PREDICTION_SCHEMA` (empty if none), sorted by
        ``params_id, train_seed, n_steps, eval_seed, image_index``.

    Raises
    ------
    RunDirError
        If a file cannot be read or holds a different schema.
    """
    out_dir = Path(out_dir)
    done = _list_shard_files(out_dir / RESULTS_DIR)
    preds = _list_shard_files(out_dir / PREDICTIONS_DIR)
    table = _read_all({k: path for k, path in preds.items() if k in done}, PREDICTION_SCHEMA)
    return table.sort_by([(name, "ascending") for name in (*POINT_FIELDS, "image_index")])


# --------------------------------------------------------------------------------------------
# Checking and summarizing
# --------------------------------------------------------------------------------------------


def _require_columns(table: pa.Table, names: Iterable[str]) -> None:
    if not isinstance(table, pa.Table):
        raise TypeError(f"table must be a pyarrow.Table, got {type(table).__name__}")
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise ValueError(f"table lacks the columns {missing}; expected SHARD_SCHEMA columns")


def _rows_by_point(table: pa.Table, names: Iterable[str]) -> dict[PointKey, list[dict]]:
    names = list(dict.fromkeys([*POINT_FIELDS, *names]))
    _require_columns(table, names)
    columns = {name: table.column(name).to_pylist() for name in names}
    groups: dict[PointKey, list[dict]] = defaultdict(list)
    for i in range(table.num_rows):
        row = {name: columns[name][i] for name in names}
        groups[PointKey.from_mapping(row)].append(row)
    return groups


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
    counts = defaultdict(int)
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
    table: pa.Table, n_images: int, *, expected: Iterable[PointKey] | None = None
) -> dict[PointKey, list[str]]:
    """Check that each point's shards cover its test set exactly once.

    Parameters
    ----------
    table : pyarrow.Table
        Shard rows (:data:`SHARD_SCHEMA` columns), e.g. from :func:`read_results`.
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
    """
    n_images = _as_int(n_images, "n_images", minimum=1)
    fields = ("shard_id", "first_index", "last_index", "n_images", "params_sha256")
    groups = _rows_by_point(table, fields)
    problems: dict[PointKey, list[str]] = {}
    for point, rows in groups.items():
        found = _point_problems(rows, n_images)
        if found:
            problems[point] = found
    for point in expected or ():
        if point not in groups:
            problems[point] = ["no shards were evaluated"]
    return problems


def wilson_interval(n_errors: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``n_errors / n``.

    Parameters
    ----------
    n_errors : int
        Number of "successes" (here: misclassified images), ``0 <= n_errors <= n``.
    n : int
        Number of trials (images).
    z : float
        Standard-normal quantile; the default gives a 95% interval.

    Returns
    -------
    tuple[float, float]
        ``(low, high)`` with ``0 <= low <= n_errors / n <= high <= 1``; ``(0.0, 1.0)`` if
        ``n == 0``.
    """
    n = _as_int(n, "n", minimum=0)
    n_errors = _as_int(n_errors, "n_errors", minimum=0)
    if n_errors > n:
        raise ValueError(f"n_errors = {n_errors} exceeds n = {n}")
    if not (isinstance(z, int | float | np.floating) and math.isfinite(z) and z > 0):
        raise ValueError(f"z must be a positive number, got {z!r}")
    if n == 0:
        return 0.0, 1.0
    p = n_errors / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if n_errors == 0 else max(0.0, min(p, center - half))
    high = 1.0 if n_errors == n else min(1.0, max(p, center + half))
    return low, high


def _point_summary(point: PointKey, rows: list[dict]) -> dict[str, Any]:
    hashes = sorted({r["params_sha256"] for r in rows})
    if len(hashes) != 1:
        raise RunDirError(
            f"point {point.slug} mixes shards from different parameter files {hashes}: the "
            f"folder holds more than one run; use a fresh output folder"
        )
    n_images = sum(r["n_images"] for r in rows)
    n_errors = sum(r["n_errors"] for r in rows)
    low, high = wilson_interval(n_errors, n_images)
    return {
        "params_id": point.params_id,
        "params_sha256": hashes[0],
        "train_seed": point.train_seed,
        "n_steps": point.n_steps,
        "seed": point.eval_seed,
        "n_images": n_images,
        "n_errors": n_errors,
        "error": n_errors / n_images if n_images else 0.0,
        "ci95_low": low,
        "ci95_high": high,
        "n_shards": len(rows),
        "eval_wall_time_s": float(sum(r["wall_time_s"] for r in rows)),
    }


def _by_n_steps(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    errors: dict[int, list[float]] = defaultdict(list)
    for p in points:
        errors[p["n_steps"]].append(p["error"])
    out = []
    for n_steps in sorted(errors):
        values = np.asarray(errors[n_steps], dtype=np.float64)
        out.append(
            {
                "n_steps": n_steps,
                "n_points": int(values.size),
                "mean_error": float(values.mean()),
                "std_error": float(values.std(ddof=1)) if values.size > 1 else 0.0,
                "min_error": float(values.min()),
                "max_error": float(values.max()),
            }
        )
    return out


def summarize(table: pa.Table, *, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Summarize shard rows per point and per ``n_steps``.

    Counts are summed over a point's shards and the error rate is ``sum(n_errors) /
    sum(n_images)`` (never a mean of per-shard rates). Run :func:`check_coverage` first: this
    function does not detect missing or duplicated shards.

    Parameters
    ----------
    table : pyarrow.Table
        Shard rows (:data:`SHARD_SCHEMA` columns), e.g. from :func:`read_results`.
    extra : Mapping[str, Any] or None
        Further top-level entries to include (e.g. config, timings); must not use the keys
        ``"points"`` or ``"by_n_steps"``.

    Returns
    -------
    dict
        ``{"points": [...], "by_n_steps": [...], **extra}``. Each point is a dict with
        ``params_id``, ``params_sha256``, ``train_seed``, ``n_steps``, ``seed`` (the eval seed),
        ``n_images``, ``n_errors``, ``error`` (fraction), ``ci95_low``, ``ci95_high`` (Wilson
        95% interval), ``n_shards`` and ``eval_wall_time_s`` (sum over shards); points are
        sorted by ``(train_seed, n_steps, seed, params_id)``. Each ``by_n_steps`` entry has
        ``n_steps``, ``n_points``, ``mean_error``, ``std_error`` (sample standard deviation of
        the point errors across eval and training seeds; 0.0 for a single point),
        ``min_error`` and ``max_error``, sorted by ``n_steps``.

    Raises
    ------
    RunDirError
        If one point mixes shards evaluated with different parameter files.
    """
    extra = dict(extra or {})
    clash = sorted({"points", "by_n_steps"} & extra.keys())
    if clash:
        raise ValueError(f"extra must not contain the keys {clash}")
    groups = _rows_by_point(table, ("params_sha256", "n_images", "n_errors", "wall_time_s"))
    points = [_point_summary(point, rows) for point, rows in groups.items()]
    points.sort(key=lambda p: (p["train_seed"], p["n_steps"], p["seed"], p["params_id"]))
    return {"points": points, "by_n_steps": _by_n_steps(points), **extra}


def _pct(value: float) -> str:
    return f"{100.0 * value:.2f}"


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """Render a :func:`summarize` result as Markdown tables (points, per n_steps, rate mode).

    Parameters
    ----------
    summary : Mapping[str, Any]
        Output of :func:`summarize` (or the same structure loaded back from JSON).

    Returns
    -------
    str
        Markdown text ending with a newline. A ``params_id`` column is added when the summary
        holds more than one parameter set.
    """
    points = summary["points"]
    multi = len({p["params_id"] for p in points}) > 1
    header = ["n_steps", "seed", "train_seed", "n_images", "n_errors", "error %", "95% CI %"]
    rows = []
    for p in points:
        row = [
            str(p["n_steps"]),
            str(p["seed"]),
            str(p["train_seed"]),
            str(p["n_images"]),
            str(p["n_errors"]),
            _pct(p["error"]),
            f"{_pct(p['ci95_low'])} – {_pct(p['ci95_high'])}",
        ]
        rows.append(([p["params_id"]] if multi else []) + row)
    parts = [
        "**Error per point** (errors summed over shards; 95% Wilson interval)",
        "",
        _markdown_table((["params_id"] if multi else []) + header, rows),
        "",
        "**Error per n_steps** (across training and evaluation seeds)",
        "",
        _markdown_table(
            ["n_steps", "points", "mean error %", "std %", "min %", "max %"],
            [
                [
                    str(b["n_steps"]),
                    str(b["n_points"]),
                    _pct(b["mean_error"]),
                    _pct(b["std_error"]),
                    _pct(b["min_error"]),
                    _pct(b["max_error"]),
                ]
                for b in summary["by_n_steps"]
            ],
        ),
    ]
    if summary.get("rate_mode"):
        parts += [
            "",
            "**Rate-mode error** (same weights, LIFRate neurons, 1 step: before spiking)",
            "",
            _markdown_table(
                ["train_seed", "n_images", "n_errors", "error %", "95% CI %"],
                [
                    [
                        str(r["train_seed"]),
                        str(r["n_images"]),
                        str(r["n_errors"]),
                        _pct(r["error"]),
                        f"{_pct(r['ci95_low'])} – {_pct(r['ci95_high'])}",
                    ]
                    for r in summary["rate_mode"]
                ],
            ),
        ]
    return "\n".join(parts) + "\n"
