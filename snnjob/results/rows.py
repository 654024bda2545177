"""Validation of what :func:`snnjob.results.store.write_shard` is given, in plain Python.

No :mod:`pyarrow` here (only numpy and the standard library): :func:`normalize_row` checks one
shard row against :data:`~snnjob.results.schema.SHARD_COLUMNS` and returns it complete, with
Python values, in column order; :func:`check_predictions` checks a shard's per-image
predictions against that row and returns them as numpy arrays of the column types.
:mod:`snnjob.results.store` turns both into Arrow tables. Both raise ``TypeError`` or
``ValueError`` naming the missing or unexpected keys or the bad value.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from snnjob.results.schema import POINT_FIELDS, SHARD_COLUMNS, PointKey, as_int

__all__ = ["PREDICTION_KEYS", "ROW_KEY_FIELDS", "check_predictions", "normalize_row"]

ROW_KEY_FIELDS = (*POINT_FIELDS, "shard_id")
"""Columns that identify a shard row: the :data:`~snnjob.results.schema.POINT_FIELDS` and
``shard_id``."""
PREDICTION_KEYS = ("image_index", "label", "prediction", "output")
"""Keys of the per-image predictions given to :func:`check_predictions`."""

_SHARD_NAMES = tuple(c.name for c in SHARD_COLUMNS)
_ROW_FIELDS = tuple(name for name in _SHARD_NAMES if name not in ROW_KEY_FIELDS)


def _check_keys(
    name: str, what: str, mapping: Any, required: tuple, allowed: tuple, expected: str
) -> None:
    """``mapping`` must be a mapping holding every ``required`` key and only ``allowed`` ones;
    the errors name it (``name`` in the type error, ``what`` in the key error)."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{name} must be a mapping, got {type(mapping).__name__}")
    missing = [key for key in required if key not in mapping]
    extra = sorted(str(key) for key in mapping if key not in allowed)
    if missing or extra:
        raise ValueError(
            f"bad {what}: missing keys {missing}, unexpected keys {extra} ({expected})"
        )


def _check_row_keys(row: Mapping[str, Any]) -> None:
    _check_keys(
        "row", "shard row", row, _ROW_FIELDS, _SHARD_NAMES,
        f"expected exactly {list(_ROW_FIELDS)}, optionally with {list(ROW_KEY_FIELDS)}",
    )  # fmt: skip


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


def _as_wall_time(wall: Any) -> float:
    if isinstance(wall, bool) or not isinstance(wall, int | float | np.integer | np.floating):
        raise TypeError(f"wall_time_s must be a number, got {wall!r}")
    if not math.isfinite(float(wall)) or float(wall) < 0:
        raise ValueError(f"wall_time_s must be finite and >= 0, got {wall!r}")
    return float(wall)


def normalize_row(point: PointKey, shard_id: int, row: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a shard row and return it complete, with Python values, in schema order.

    See the ``row`` parameter of :func:`snnjob.results.store.write_shard` for what is checked.
    """
    _check_row_keys(row)
    keys = point.as_dict()
    keys["shard_id"] = shard_id
    for name, expected in keys.items():
        if name in row and row[name] != expected:
            raise ValueError(f"row[{name!r}] = {row[name]!r} contradicts the given {expected!r}")
    out: dict[str, Any] = dict(keys)
    out["params_sha256"] = _as_str(row["params_sha256"], "params_sha256")
    out["worker_node"] = _as_str(row["worker_node"], "worker_node")
    out["minibatch_size"] = as_int(row["minibatch_size"], "minibatch_size", minimum=1)
    out["first_index"] = as_int(row["first_index"], "first_index", minimum=0)
    out["last_index"] = as_int(row["last_index"], "last_index", minimum=out["first_index"])
    out["n_images"] = as_int(row["n_images"], "n_images", minimum=1)
    if out["n_images"] != out["last_index"] - out["first_index"] + 1:
        raise ValueError(
            f"n_images = {out['n_images']} but first_index..last_index = "
            f"{out['first_index']}..{out['last_index']} holds "
            f"{out['last_index'] - out['first_index'] + 1} images"
        )
    out["n_errors"] = as_int(row["n_errors"], "n_errors", minimum=0)
    if out["n_errors"] > out["n_images"]:
        raise ValueError(f"n_errors = {out['n_errors']} exceeds n_images = {out['n_images']}")
    out["wall_time_s"] = _as_wall_time(row["wall_time_s"])
    out["worker_pid"] = as_int(row["worker_pid"], "worker_pid", minimum=0)
    out["finished_at"] = _as_utc(row["finished_at"])
    return {name: out[name] for name in _SHARD_NAMES}


def _class_array(values: np.ndarray, name: str, n_classes: int) -> np.ndarray:
    if values.dtype.kind not in "iu":
        raise TypeError(f"predictions[{name!r}] must hold integers, got dtype {values.dtype}")
    if values.size and (values.min() < 0 or values.max() >= n_classes):
        raise ValueError(f"predictions[{name!r}] must lie in 0..{n_classes - 1}")
    return values.astype(np.int8)


def check_predictions(row: Mapping[str, Any], predictions: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the per-image predictions of a shard against its (normalized) row.

    Parameters
    ----------
    row : Mapping[str, Any]
        The shard row as returned by :func:`normalize_row`.
    predictions : Mapping[str, Any]
        See the ``predictions`` parameter of :func:`snnjob.results.store.write_shard`.

    Returns
    -------
    dict[str, numpy.ndarray]
        The :data:`PREDICTION_KEYS`: ``image_index`` as int64, ``label`` and ``prediction``
        as int8, ``output`` as a C-contiguous float32 array of shape ``(n_images, K)``: one
        column per class (K >= 2 and at most 127, the int8 labels' range).
    """
    _check_keys(
        "predictions", "predictions", predictions, PREDICTION_KEYS, PREDICTION_KEYS,
        f"expected exactly {list(PREDICTION_KEYS)}",
    )  # fmt: skip
    n = row["n_images"]
    arrays = {k: np.asarray(predictions[k]) for k in PREDICTION_KEYS}
    for key in ("image_index", "label", "prediction"):
        if arrays[key].shape != (n,):
            raise ValueError(
                f"predictions[{key!r}] must have shape ({n},), got {arrays[key].shape}"
            )
    output = arrays["output"]
    if output.ndim != 2 or output.shape[0] != n or not 2 <= output.shape[1] <= 127:
        raise ValueError(
            f"predictions['output'] must have shape ({n}, K) with 2 <= K <= 127 classes, got "
            f"{output.shape}"
        )
    n_classes = output.shape[1]
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
    label = _class_array(arrays["label"], "label", n_classes)
    prediction = _class_array(arrays["prediction"], "prediction", n_classes)
    wrong = int(np.count_nonzero(label != prediction))
    if wrong != row["n_errors"]:
        raise ValueError(f"row says n_errors = {row['n_errors']} but predictions hold {wrong}")
    return {
        "image_index": index.astype(np.int64),
        "label": label,
        "prediction": prediction,
        "output": np.ascontiguousarray(arrays["output"], dtype=np.float32),
    }
