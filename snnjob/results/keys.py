"""What identifies a row and a file of a run's Parquet data sets, in plain Python.

:class:`PointKey` (a sweep point), the key columns each folder's files are named after
(:data:`FILE_KEYS`) and the one canonical file-name scheme of all five folders::

    p-<params id>_t-<train seed>[_n-<n_steps>]_s-<eval seed>[_shard-NNNNN].parquet

``results/`` and ``predictions/``: one file per (point, shard); ``curves/`` and ``anytime/``:
per (parameter set, seeds, shard), without ``n_-``; ``spikes/``: per (parameter set, seeds),
without ``_shard-``. Every file holds its key columns too, with the values its name says
(:mod:`snnjob.results.parquet` checks it on reading). :mod:`snnjob.results.schema` re-exports
the names its users know it by (``PointKey``, ``shard_file_name``, ...).
"""

from __future__ import annotations

import functools
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snnjob.rundir import ANYTIME, CURVES, PREDICTIONS, RESULTS, SPIKES

__all__ = [
    "CURVE_FIELDS",
    "FILE_KEYS",
    "POINT_FIELDS",
    "PointKey",
    "as_int",
    "curve_file_name",
    "file_name",
    "parse_file_name",
    "parse_shard_file_name",
    "shard_file_name",
]

POINT_FIELDS = ("params_id", "train_seed", "n_steps", "eval_seed")
"""Columns that identify a sweep point (the fields of :class:`PointKey`)."""
CURVE_FIELDS = ("params_id", "train_seed", "eval_seed")
"""Columns that identify one simulation of the test set (a curve): a point without n_steps."""
FILE_KEYS: dict[str, tuple[str, ...]] = {
    RESULTS: (*POINT_FIELDS, "shard_id"),
    PREDICTIONS: (*POINT_FIELDS, "shard_id"),
    CURVES: (*CURVE_FIELDS, "shard_id"),
    ANYTIME: (*CURVE_FIELDS, "shard_id"),
    SPIKES: CURVE_FIELDS,
}
"""Per folder, the key columns its files are named after (and hold one value of each)."""

_TAGS = {"params_id": "p", "train_seed": "t", "n_steps": "n", "eval_seed": "s", "shard_id": "shard"}
_PARAMS_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def as_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as a Python int, refusing bools, floats and strings.

    Integer-like numpy scalars (registered as :class:`numbers.Integral`) are accepted.
    Shared by the submodules of :mod:`snnjob.results`; raises ``TypeError`` for a wrong
    type and ``ValueError`` for a value below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
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
    TypeError
        If an integer field is not an integer (bools and floats are refused).
    ValueError
        If ``params_id`` is not filesystem-safe or an integer is out of range.

    Integer-like numpy scalars are converted to Python ints, so keys built from arrays and
    from Python values compare equal.
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
        object.__setattr__(self, "train_seed", as_int(self.train_seed, "train_seed", minimum=0))
        object.__setattr__(self, "n_steps", as_int(self.n_steps, "n_steps", minimum=1))
        object.__setattr__(self, "eval_seed", as_int(self.eval_seed, "eval_seed", minimum=0))

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
            For example one shard row of :func:`snnjob.results.store.read_shard_rows`.

        Returns
        -------
        PointKey
        """
        return cls(**{name: row[name] for name in POINT_FIELDS})

    def as_dict(self) -> dict[str, Any]:
        """The :data:`POINT_FIELDS` as a dict (also how the key is written to JSON)."""
        return {name: getattr(self, name) for name in POINT_FIELDS}


def file_name(keys: Mapping[str, Any]) -> str:
    """The canonical file name of the key columns in ``keys`` (see the module docstring).

    ``keys`` holds ``params_id``, ``train_seed`` and ``eval_seed``, optionally ``n_steps`` and
    ``shard_id`` (zero-padded to 5 digits), and nothing else; the values are validated as in
    :class:`PointKey` (``TypeError``/``ValueError``).
    """
    unknown = sorted(set(keys) - set(_TAGS))
    if unknown:
        raise ValueError(f"not key columns of a file name: {unknown}")
    point = PointKey(keys["params_id"], keys["train_seed"], keys.get("n_steps", 1),
                     keys["eval_seed"])  # fmt: skip
    parts = [f"{_TAGS[name]}-{getattr(point, name)}" for name in POINT_FIELDS if name in keys]
    if "shard_id" in keys:
        parts.append(f"shard-{as_int(keys['shard_id'], 'shard_id', minimum=0):05d}")
    return "_".join(parts) + ".parquet"


@functools.cache
def _name_re(fields: tuple[str, ...]) -> re.Pattern[str]:
    values = {name: r"\d+" for name in _TAGS} | {"params_id": ".+"}
    parts = [f"{tag}-(?P<{name}>{values[name]})" for name, tag in _TAGS.items() if name in fields]
    return re.compile("_".join(parts) + r"\.parquet")


def parse_file_name(name: str, fields: tuple[str, ...]) -> dict[str, Any] | None:
    """Inverse of :func:`file_name` for files named after ``fields`` (e.g. a
    :data:`FILE_KEYS` entry): the key columns, or ``None`` if ``name`` is not such a file's
    canonical name (leading zeros, a bad params id, another folder's scheme)."""
    match = _name_re(tuple(fields)).fullmatch(name)
    if match is None:
        return None
    keys = {f: match[f] if f == "params_id" else int(match[f]) for f in fields}
    try:
        canonical = file_name(keys)
    except (TypeError, ValueError):
        return None
    return keys if canonical == name else None


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
    return file_name({**point.as_dict(), "shard_id": shard_id})


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
    keys = parse_file_name(name, FILE_KEYS[RESULTS])
    return None if keys is None else (PointKey.from_mapping(keys), keys["shard_id"])


def curve_file_name(params_id: str, train_seed: int, eval_seed: int, shard_id: int) -> str:
    """File name of one shard's curve: ``p-<id>_t-<train seed>_s-<eval seed>_shard-NNNNN``."""
    return file_name({"params_id": params_id, "train_seed": train_seed,
                      "eval_seed": eval_seed, "shard_id": shard_id})  # fmt: skip
