"""Read and check MNIST files: IDX header and payload, gzip or raw content, SHA-256.

Integrity is checked against the SHA-256 of the *decompressed* files
(:data:`~snnjob.mnist.files.FILES`), which does not depend on how a ``.gz`` was
compressed. The functions other than :func:`verify` are helpers of this package; they
report a bad file by raising :class:`FileProblem`, which callers turn into
:class:`~snnjob.errors.DataError`.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from snnjob.architecture import IMAGE_SHAPE, N_CLASSES
from snnjob.errors import DataError
from snnjob.mnist.files import DATA_DIR_ENV, FILES, find_file

__all__ = ["IMAGE_MAGIC", "LABEL_MAGIC", "verify"]

#: IDX magic number of an unsigned-byte 3-d array (images).
IMAGE_MAGIC = 2051
#: IDX magic number of an unsigned-byte 1-d array (labels).
LABEL_MAGIC = 2049

N_TRAIN = 60_000
N_TEST = 10_000


class FileProblem(Exception):
    """What is wrong with one file (public callers turn it into DataError)."""


def layout(name: str) -> tuple[int, tuple[int, ...]]:
    """Return the expected IDX magic number and dimensions of file ``name``."""
    n_items = N_TRAIN if name.startswith("train") else N_TEST
    if "images" in name:
        return IMAGE_MAGIC, (n_items, *IMAGE_SHAPE[:2])
    return LABEL_MAGIC, (n_items,)


def read_content(path: Path) -> bytes:
    """Return the decompressed bytes of ``path`` (``.gz`` or raw)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileProblem(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileProblem(
            f"{path}: is not a valid gzip file ({exc}); it is corrupt or truncated."
        ) from exc


def check_header(head: bytes, n_bytes: int, name: str, path: Path) -> int:
    """Check the IDX header (``head``: the content's first bytes) and the content length
    ``n_bytes`` of MNIST file ``name``; return the header length."""
    magic, dims = layout(name)
    kind = "image" if magic == IMAGE_MAGIC else "label"
    header = 4 * (1 + len(dims))
    if len(head) < header:
        raise FileProblem(
            f"{path}: is truncated ({len(head)} bytes, shorter than the {header}-byte IDX header)."
        )
    found = int.from_bytes(head[:4], "big")
    if found != magic:
        raise FileProblem(
            f"{path}: has magic number {found}, expected {magic} (IDX {kind} file); it is "
            f"corrupt or not an MNIST {kind} file."
        )
    found_dims = struct.unpack(f">{len(dims)}I", head[4:header])
    if found_dims != dims:
        what = "images" if kind == "image" else "labels"
        raise FileProblem(
            f"{path}: header gives shape {found_dims}, expected {dims}"
            + (
                f" (it holds {found_dims[0]} {what}, MNIST has {dims[0]})"
                if found_dims[0] != dims[0]
                else ""
            )
            + "."
        )
    have, want = n_bytes - header, math.prod(dims)
    if have != want:
        what = "is truncated" if have < want else "has trailing bytes"
        raise FileProblem(f"{path}: {what} ({have} data bytes after the header, expected {want}).")
    return header


def check_structure(path: Path, name: str) -> None:
    """:func:`check_header` without reading the payload: a raw file's size, or a ``.gz``'s
    first bytes and the content length its gzip trailer records (milliseconds per file)."""
    _, dims = layout(name)
    want = 4 * (1 + len(dims)) + math.prod(dims)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                head = stream.read(16)
            with open(path, "rb") as raw:
                if raw.seek(0, os.SEEK_END) < 18:  # the smallest gzip file
                    raise EOFError("shorter than a gzip header and trailer")
                raw.seek(-4, os.SEEK_END)
                n_bytes = int.from_bytes(raw.read(4), "little")  # ISIZE: length mod 2**32
        else:
            with open(path, "rb") as raw:
                head = raw.read(16)
            n_bytes = path.stat().st_size
    except (OSError, EOFError, zlib.error) as exc:
        raise FileProblem(f"{path}: cannot be read or decompressed ({exc}).") from exc
    if path.suffix == ".gz":
        check_header(head, want, name, path)  # the header first: its message is the clearest
        if n_bytes != want % 2**32:
            raise FileProblem(
                f"{path}: is truncated or corrupt (its gzip trailer records {n_bytes} bytes "
                f"of content, expected {want})."
            )
    else:
        check_header(head, n_bytes, name, path)


def parse_idx(data: bytes, name: str, path: Path) -> np.ndarray:
    """Check the IDX header and payload of MNIST file ``name``; return a uint8 view."""
    magic, dims = layout(name)
    kind = "image" if magic == IMAGE_MAGIC else "label"
    header = check_header(data[:16], len(data), name, path)
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    if kind == "label" and int(array.max()) >= N_CLASSES:
        raise FileProblem(
            f"{path}: holds label {int(array.max())}, expected digits 0..{N_CLASSES - 1}."
        )
    return array


def hash_problem(path: Path, name: str, digest: str) -> str | None:
    """Why ``digest`` (of the decompressed data) is not file ``name``'s, or None if it is."""
    expected = FILES[name].sha256
    if digest == expected:
        return None
    return (
        f"{path}: SHA-256 of the decompressed data is {digest}, expected {expected}; "
        "the file is corrupt or not the original MNIST file."
    )


def load_file(path: Path, name: str, *, check_hash: bool) -> np.ndarray:
    """Read, parse and optionally hash-check one file; return its uint8 array."""
    data = read_content(path)
    array = parse_idx(data, name, path)
    if check_hash:
        problem = hash_problem(path, name, hashlib.sha256(data).hexdigest())
        if problem:
            raise FileProblem(problem)
    return array


def content_sha256(path: Path, *, gz: bool) -> str:
    """SHA-256 of the (decompressed) content of ``path``, streamed."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileProblem(f"{path}: cannot be read or decompressed ({exc}).") from exc
    return digest.hexdigest()


def is_valid(directory: Path, name: str) -> bool:
    """Whether ``directory`` holds file ``name`` (either form) with the right content hash."""
    path = find_file(directory, name)
    if path is None:
        return False
    try:
        return hash_problem(path, name, content_sha256(path, gz=path.suffix == ".gz")) is None
    except FileProblem:
        return False


def verify(directory: str | os.PathLike[str]) -> list[dict]:
    """Check the four MNIST files in ``directory``: IDX structure and SHA-256.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder holding the files (each decompressed or ``.gz``; the decompressed one
        is checked if both exist).

    Returns
    -------
    list of dict
        One dict per file, in :data:`FILES` order, with keys ``name`` (str), ``path``
        (pathlib.Path), ``sha256`` (str, of the decompressed data), ``ok`` (True) and
        ``n_items`` (int, images or labels in the file).

    Raises
    ------
    DataError
        If the folder does not exist or any file is missing, unreadable, malformed or
        has the wrong checksum. The message lists every problem found.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataError(f"{directory} is not an existing folder; cannot verify MNIST files there.")
    results: list[dict] = []
    problems: list[str] = []
    for name in FILES:
        path = find_file(directory, name)
        entry = {"name": name, "path": path, "sha256": None, "ok": False, "n_items": None}
        results.append(entry)
        if path is None:
            problems.append(f"{name}: missing (neither {name} nor {name}.gz is in {directory}).")
            continue
        try:
            data = read_content(path)
            entry["n_items"] = len(parse_idx(data, name, path))
        except FileProblem as exc:
            problems.append(str(exc))
            continue
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        problem = hash_problem(path, name, entry["sha256"])
        if problem:
            problems.append(problem)
        else:
            entry["ok"] = True
    if problems:
        raise DataError(
            f"MNIST files in {directory} failed verification:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + f"\nDelete the bad files and run `snnjob data fetch` (or point {DATA_DIR_ENV} "
            "at a good copy)."
        )
    return results
