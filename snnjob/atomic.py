"""Atomic file writes: write to a hidden temporary name in the same folder, then rename.

A reader never sees a half-written file under its final name; a crash leaves only a
hidden ``.<name>.<pid>.<random>.tmp`` file, which readers ignore and the results reader
removes. Data are fsynced before the rename, and the folder after it (best effort).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from snnjob.errors import RunDirError

TMP_SUFFIX = ".tmp"


def tmp_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}")


def is_tmp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise RunDirError(
            f"cannot create folder {folder}: a file is in the way ({exc}); choose another "
            f"output folder"
        ) from exc
    except OSError as exc:
        raise RunDirError(f"cannot create folder {folder}: {exc}") from exc


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(binary_file)`` on a hidden temp file beside ``path``, then move it there."""
    path = Path(path)
    make_dir(path.parent)
    tmp = tmp_path_for(path)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise RunDirError(f"cannot write {path}: {exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically (missing parent folders are created)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    data = text.encode("utf-8")
    return write_atomic(path, lambda fh: fh.write(data))


def write_json_atomic(
    path: str | os.PathLike, obj: Any, *, default: Callable[[Any], Any] | None = None
) -> Path:
    """Write ``obj`` as indented, strict JSON (NaN/inf refused) to ``path`` atomically.

    numpy scalars and arrays, paths, datetimes, tuples and sets are converted; ``default``
    may convert further types (it is tried first).
    """

    def convert(o: Any) -> Any:
        if default is not None:
            with contextlib.suppress(TypeError):
                return default(o)
        return json_default(o)

    text = json.dumps(obj, indent=2, allow_nan=False, default=convert) + "\n"
    return write_text_atomic(path, text)


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, _dt.datetime | _dt.date):
        return obj.isoformat()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def _fsync_dir(folder: Path) -> None:
    """Best effort: make a rename in ``folder`` durable (not supported everywhere)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
