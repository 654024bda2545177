"""The one Parquet layer under a run's five data sets (``results``, ``predictions``,
``curves``, ``anytime``, ``spikes``): Arrow schemas, atomic writes, listing, reading.

:mod:`~snnjob.results.store`, :mod:`~snnjob.results.curvestore` and
:mod:`~snnjob.results.spikestore` keep only what is their own (columns, key columns,
validation, sort order) and go through these functions:

- :func:`arrow_schema`: the (non-nullable) schema of a tuple of
  :class:`~snnjob.results.schema.Column`, tagged ``{"snnjob.schema": <version>}``;
- :func:`write_file`: one table, written atomically (:func:`snnjob.atomic.write_atomic`) as
  ``OUT/<folder>/<name>``, its name made from the table's key columns
  (:data:`snnjob.results.keys.FILE_KEYS`), which must each hold one value;
- :func:`list_files`: a folder's files and the key columns their names say; hidden files are
  skipped (leftover temporary files deleted on request), any other ``*.parquet`` name refused;
- :func:`read_files` (then :func:`concat`): each file read in threads, its schema checked
  (one of the given versions) and its key columns checked against its name;
  :func:`read_footer`/:func:`read_schema`: the footer only.

The folders are flat (the key columns live in the files, not in ``key=value`` folder names):
``pandas.read_parquet("OUT/results")`` and ``pyarrow.dataset.dataset("OUT/results")`` read
them as they are (docs/results-format.md; measured against hive-style folders, which broke
those readers or changed the column types).

Every problem is a :class:`~snnjob.errors.RunDirError` naming the file: an unreadable file
(truncated, not Parquet) an :class:`UnreadableFileError` (``cannot read PATH (why); remove it
and run the evaluation again``); another schema, a file whose columns contradict its name or a
foreign file name, a plain ``RunDirError`` saying the folder holds something else.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from snnjob.atomic import is_tmp_name, write_atomic
from snnjob.errors import RunDirError
from snnjob.results.keys import FILE_KEYS, file_name, parse_file_name
from snnjob.results.schema import SCHEMA_METADATA_KEY, Column

__all__ = [
    "UnreadableFileError",
    "arrow_schema",
    "check_schema",
    "concat",
    "list_files",
    "map_files",
    "read_files",
    "read_footer",
    "read_schema",
    "read_table",
    "write_file",
]

_MAX_READ_THREADS = 16
_VERSION_KEY = SCHEMA_METADATA_KEY.encode()
_SIMPLE_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "int8": pa.int8(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "timestamp[ms, UTC]": pa.timestamp("ms", tz="UTC"),
}
_LIST_TYPE_RE = re.compile(r"list<(?P<value>\w+), (?P<size>\d+|K)>")

Schemas = pa.Schema | Sequence[pa.Schema]
"""One schema, or several versions of it (the first is the current one)."""


class UnreadableFileError(RunDirError):
    """A file that is not readable Parquet (truncated, garbage); :attr:`path` names it."""

    def __init__(self, path: str | os.PathLike, why: Exception) -> None:
        self.path = Path(path)
        super().__init__(f"cannot read {path} ({why}); remove it and run the evaluation again")


# --------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------


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
    """Build the (non-nullable) Arrow schema of ``columns``, tagged with ``version``
    (``n_classes``: the ``K`` of a ``list<float32, K>`` column)."""
    fields = [
        pa.field(c.name, _arrow_type(c.type, n_classes), nullable=False,
                 metadata={"description": c.description})
        for c in columns
    ]  # fmt: skip
    return pa.schema(fields, metadata={SCHEMA_METADATA_KEY: version})


def _fits(actual: pa.Schema, schema: pa.Schema) -> bool:
    version = (actual.metadata or {}).get(_VERSION_KEY)
    return actual.equals(schema, check_metadata=False) and version == schema.metadata[_VERSION_KEY]


def check_schema(actual: pa.Schema, schema: pa.Schema, path: Path) -> None:
    """Raise :class:`RunDirError` unless ``actual`` is ``schema`` (columns and version)."""
    if not _fits(actual, schema):
        version = (actual.metadata or {}).get(_VERSION_KEY, b"none")
        raise RunDirError(
            f"{path} has schema {version.decode()!r}, not the expected "
            f"{schema.metadata[_VERSION_KEY].decode()!r}: the folder holds a different "
            f"(or older) run; choose another output folder"
        )


# --------------------------------------------------------------------------------------------
# Writing and listing
# --------------------------------------------------------------------------------------------


def write_file(out_dir: str | os.PathLike, folder: str, table: pa.Table) -> Path:
    """Write ``table`` atomically as ``out_dir/folder/<name>`` and return the path; the name
    is made from its key columns (:data:`~snnjob.results.keys.FILE_KEYS` ``[folder]``), which
    must each hold one value (``ValueError`` otherwise; ``RunDirError`` if it cannot be
    written)."""
    keys = {}
    for name in FILE_KEYS[folder]:
        values = table.column(name).unique().to_pylist()
        if len(values) != 1:
            raise ValueError(f"the rows of one {folder}/ file must share one {name}, got {values}")
        keys[name] = values[0]
    return write_atomic(Path(out_dir) / folder / file_name(keys),
                        lambda fh: pq.write_table(table, fh))  # fmt: skip


def list_files(
    out_dir: str | os.PathLike, folder: str, *, clean_tmp: bool = False
) -> dict[Path, dict[str, Any]]:
    """The files of ``out_dir/folder`` (sorted by name; empty if it does not exist), each
    with the key columns its name says.

    Hidden files are skipped (leftover temporary files deleted when ``clean_tmp``: only while
    nothing writes there), other files than ``*.parquet`` ignored; a ``*.parquet`` name not
    written by snnjob is a :class:`RunDirError`.
    """
    path = Path(out_dir) / folder
    if not path.exists():
        return {}
    if not path.is_dir():
        raise RunDirError(f"{path} is not a folder; choose another output folder")
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as exc:
        raise RunDirError(f"cannot list {path}: {exc}") from exc
    found: dict[Path, dict[str, Any]] = {}
    for entry in entries:
        if entry.name.startswith("."):
            if clean_tmp and is_tmp_name(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
            continue
        if not entry.name.endswith(".parquet"):
            continue
        keys = parse_file_name(entry.name, FILE_KEYS[folder])
        if keys is None:
            raise RunDirError(
                f"unexpected file {entry.path}: not a {folder}/ file written by snnjob; remove "
                f"it or choose another output folder"
            )
        found[Path(entry.path)] = keys
    return found


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def map_files(func: Callable[[Path], Any], paths: Iterable[Path]) -> list[tuple[Any, Any]]:
    """``(func(path), None)`` for each path, in threads (I/O bound), or ``(None, error)``
    where it raised :class:`UnreadableFileError`; other errors propagate."""

    def call(path: Path) -> tuple[Any, Any]:
        try:
            return func(path), None
        except UnreadableFileError as exc:
            return None, exc

    paths = list(paths)
    if not paths:
        return []
    with ThreadPoolExecutor(max_workers=min(_MAX_READ_THREADS, len(paths))) as pool:
        return list(pool.map(call, paths))


def read_schema(path: Path) -> pa.Schema:
    """The Arrow schema in a file's footer (unchecked)."""
    try:
        return pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFileError(path, exc) from exc


def read_footer(path: Path, schema: pa.Schema) -> pq.FileMetaData:
    """A file's footer (``num_rows``, ...), its schema checked: the data are not read."""
    try:
        metadata = pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFileError(path, exc) from exc
    check_schema(metadata.schema.to_arrow_schema(), schema, path)
    return metadata


def read_table(path: Path, schemas: Schemas) -> pa.Table:
    """Read one file, with the first of ``schemas`` it fits (the error names the first)."""
    schemas = [schemas] if isinstance(schemas, pa.Schema) else list(schemas)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFileError(path, exc) from exc
    schema = next((s for s in schemas if _fits(table.schema, s)), schemas[0])
    check_schema(table.schema, schema, path)
    return pa.Table.from_arrays(table.columns, schema=schema)


def read_files(files: Mapping[Path, Mapping[str, Any]], schemas: Schemas) -> list[pa.Table]:
    """Read the files of :func:`list_files` (in threads; see :func:`read_table`) and check that
    each holds, in every row, the key columns its name says."""
    tables = []
    read = map_files(lambda p: read_table(p, schemas), files)
    for (path, keys), (table, exc) in zip(files.items(), read):
        if exc is not None:
            raise exc
        for name, value in keys.items():
            found = table.column(name).unique().to_pylist()
            if found != [value]:
                raise RunDirError(
                    f"{path} holds {name} {found}, but its name says {value!r}; the folder was "
                    f"modified by hand: remove the file or choose another output folder"
                )
        tables.append(table)
    return tables


def concat(tables: Sequence[pa.Table], schema: pa.Schema, sort_by: Sequence[str] = ()) -> pa.Table:
    """One table of ``schema`` (empty if there is none), sorted by the ``sort_by`` columns."""
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    table = table.replace_schema_metadata(schema.metadata)
    return table.sort_by([(name, "ascending") for name in sort_by]) if sort_by else table
