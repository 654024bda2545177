"""Arrow types and schemas from the column descriptions of :mod:`snnjob.results.schema`, and
the one schema check every Parquet reader of :mod:`snnjob.results` uses.

A column type string is ``"string"``, ``"int64"``, ``"int8"``, ``"float32"``, ``"float64"``,
``"timestamp[ms, UTC]"`` or ``"list<float32, N>"`` (a fixed-size list; ``N`` may be ``K``, the
dataset's number of classes, fixed per run and given when the schema is built).
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from snnjob.errors import RunDirError
from snnjob.results.schema import SCHEMA_METADATA_KEY, Column

__all__ = ["arrow_schema", "check_schema", "read_table"]

_SIMPLE_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "int8": pa.int8(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "timestamp[ms, UTC]": pa.timestamp("ms", tz="UTC"),
}
_LIST_TYPE_RE = re.compile(r"list<(?P<value>\w+), (?P<size>\d+|K)>")


def _arrow_type(spec: str, n_classes: int | None = None) -> pa.DataType:
    """The Arrow type of a :attr:`Column.type <snnjob.results.schema.Column.type>` string
    (``K`` in a list size: ``n_classes``)."""
    if spec in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[spec]
    match = _LIST_TYPE_RE.fullmatch(spec)
    if match is None or match["value"] not in _SIMPLE_TYPES:
        raise ValueError(f"unknown column type {spec!r}")
    size = match["size"]
    if size == "K" and n_classes is None:
        raise ValueError(f"column type {spec!r} needs the number of classes")
    element = pa.field("element", _SIMPLE_TYPES[match["value"]], nullable=False)
    return pa.list_(element, int(n_classes if size == "K" else size))


def arrow_schema(
    columns: tuple[Column, ...], version: str, n_classes: int | None = None
) -> pa.Schema:
    """Build the (non-nullable) Arrow schema of ``columns``, tagged with ``version``."""
    return pa.schema(
        [
            pa.field(
                c.name,
                _arrow_type(c.type, n_classes),
                nullable=False,
                metadata={"description": c.description},
            )
            for c in columns
        ],
        metadata={SCHEMA_METADATA_KEY: version},
    )


_VERSION_KEY = SCHEMA_METADATA_KEY.encode()


def check_schema(actual: pa.Schema, schema: pa.Schema, path: Path) -> None:
    """Raise :class:`RunDirError` unless ``actual`` is ``schema`` (columns and version)."""
    version = (actual.metadata or {}).get(_VERSION_KEY, b"none")
    if not actual.equals(schema, check_metadata=False) or version != schema.metadata[_VERSION_KEY]:
        raise RunDirError(
            f"{path} has schema {version.decode()!r}, not the expected "
            f"{schema.metadata[_VERSION_KEY].decode()!r}: the folder holds a different "
            f"(or older) run; choose another output folder"
        )


def read_table(path: Path, schema: pa.Schema) -> pa.Table:
    """Read one Parquet file and check its schema (raises ``pa.ArrowException``/``OSError``)."""
    table = pq.read_table(path)
    check_schema(table.schema, schema, path)
    return pa.Table.from_arrays(table.columns, schema=schema)
