"""Read and check IDX files: header and payload, gzip or raw content, SHA-256.

Integrity is checked against the SHA-256 of the *decompressed* file where it is known
(MNIST: :data:`~snnjob.mnist.files.FILES`; it does not depend on how a ``.gz`` was
compressed), else against that of the ``.gz`` file (Fashion-MNIST publishes only those).
A decompressed Fashion-MNIST file can be checked for its structure only (and that it is
not another data set's file); :func:`verify` says which check each file got. The
functions other than :func:`verify` are helpers of this package; they report a bad file
by raising :class:`FileProblem`, which callers turn into :class:`~snnjob.errors.DataError`.
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

from snnjob.errors import DataError
from snnjob.mnist.files import MNIST_SOURCE, IdxSource, find_file, known_elsewhere

__all__ = ["CONTENT", "GZ", "IMAGE_MAGIC", "LABEL_MAGIC", "verify"]

#: IDX magic number of an unsigned-byte 3-d array (images).
IMAGE_MAGIC = 2051
#: IDX magic number of an unsigned-byte 1-d array (labels).
LABEL_MAGIC = 2049

#: :func:`hash_mode`: the SHA-256 of the decompressed content is checked.
CONTENT = "sha256"
#: :func:`hash_mode`: the SHA-256 of the ``.gz`` file is checked.
GZ = "gz_sha256"


class FileProblem(Exception):
    """What is wrong with one file (public callers turn it into DataError)."""


def layout(name: str, source: IdxSource = MNIST_SOURCE) -> tuple[int, tuple[int, ...]]:
    """Return the expected IDX magic number and dimensions of file ``name``."""
    n_items = source.n_train if name.startswith("train") else source.n_test
    if "images" in name:
        return IMAGE_MAGIC, (n_items, *source.image_shape[:2])
    return LABEL_MAGIC, (n_items,)


def read_file(path: Path) -> tuple[bytes, bytes]:
    """Return the bytes of ``path`` and its decompressed content (the same for a raw file)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileProblem(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    if path.suffix != ".gz":
        return data, data
    try:
        return data, gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileProblem(
            f"{path}: is not a valid gzip file ({exc}); it is corrupt or truncated."
        ) from exc


def read_content(path: Path) -> bytes:
    """Return the decompressed bytes of ``path`` (``.gz`` or raw)."""
    return read_file(path)[1]


def check_header(
    head: bytes, n_bytes: int, name: str, path: Path, source: IdxSource = MNIST_SOURCE
) -> int:
    """Check the IDX header (``head``: the content's first bytes) and the content length
    ``n_bytes`` of file ``name``; return the header length."""
    magic, dims = layout(name, source)
    kind = "image" if magic == IMAGE_MAGIC else "label"
    header = 4 * (1 + len(dims))
    if len(head) < header:
        raise FileProblem(
            f"{path}: is truncated ({len(head)} bytes, shorter than the {header}-byte IDX header)."
        )
    found = int.from_bytes(head[:4], "big")
    if found != magic:
        article = "an" if source.title.startswith(("MNIST", "A", "E", "I", "O", "U")) else "a"
        raise FileProblem(
            f"{path}: has magic number {found}, expected {magic} (IDX {kind} file); it is "
            f"corrupt or not {article} {source.title} {kind} file."
        )
    found_dims = struct.unpack(f">{len(dims)}I", head[4:header])
    if found_dims != dims:
        what = "images" if kind == "image" else "labels"
        raise FileProblem(
            f"{path}: header gives shape {found_dims}, expected {dims}"
            + (
                f" (it holds {found_dims[0]} {what}, {source.title} has {dims[0]})"
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


def check_structure(path: Path, name: str, source: IdxSource = MNIST_SOURCE) -> None:
    """:func:`check_header` without reading the payload: a raw file's size, or a ``.gz``'s
    first bytes and the content length its gzip trailer records (milliseconds per file)."""
    _, dims = layout(name, source)
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
        check_header(head, want, name, path, source)  # the header first: clearest message
        if n_bytes != want % 2**32:
            raise FileProblem(
                f"{path}: is truncated or corrupt (its gzip trailer records {n_bytes} bytes "
                f"of content, expected {want})."
            )
    else:
        check_header(head, n_bytes, name, path, source)


def parse_idx(data: bytes, name: str, path: Path, source: IdxSource = MNIST_SOURCE) -> np.ndarray:
    """Check the IDX header and payload of file ``name``; return a uint8 view."""
    magic, dims = layout(name, source)
    header = check_header(data[:16], len(data), name, path, source)
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    if magic == LABEL_MAGIC and len(array) and int(array.max()) >= source.n_classes:
        raise FileProblem(
            f"{path}: holds label {int(array.max())}, expected {source.label_word} "
            f"0..{source.n_classes - 1}."
        )
    return array


def hash_mode(path: Path, name: str, source: IdxSource = MNIST_SOURCE) -> str | None:
    """Which SHA-256 of ``path`` can be checked: :data:`CONTENT`, :data:`GZ` or None
    (a decompressed file whose digest is not known: structure only)."""
    hashes = source.files[name]
    if hashes.sha256:
        return CONTENT
    return GZ if path.suffix == ".gz" else None


def hash_problem(
    path: Path, name: str, digest: str, source: IdxSource = MNIST_SOURCE, mode: str = CONTENT
) -> str | None:
    """Why ``digest`` (of the decompressed data for :data:`CONTENT`, of the ``.gz`` file
    for :data:`GZ`) is not file ``name``'s, or None if it is."""
    expected = getattr(source.files[name], mode)
    if digest == expected:
        return None
    other = known_elsewhere(source, name, digest, gz=mode == GZ)
    what = "the decompressed data" if mode == CONTENT else "the .gz file"
    return f"{path}: SHA-256 of {what} is {digest}, expected {expected}; " + (
        f"it is {other.title}'s {name}, not {source.title}'s."
        if other
        else f"the file is corrupt or not the original {source.title} file."
        if mode == CONTENT
        else f"the file is corrupt, re-compressed or not the original {source.title} .gz file."
    )


def foreign_problem(
    path: Path, name: str, source: IdxSource, file_digest: str, content_digest: str
) -> str | None:
    """Why a file whose digest is not known is another registered data set's file, or None."""
    other = known_elsewhere(source, name, content_digest, gz=False)
    if other is None and path.suffix == ".gz":
        other = known_elsewhere(source, name, file_digest, gz=True)
    if other is None:
        return None
    return f"{path}: is {other.title}'s {name}, not {source.title}'s (same name, other data)."


def identity_problem(
    path: Path, name: str, source: IdxSource, data: bytes, content: bytes
) -> str | None:
    """Why ``path`` (its bytes ``data``, decompressed ``content``) is not the original file
    ``name`` of ``source``, or None: the checks :func:`hash_mode` allows, and without a
    known digest that it is no other data set's file."""
    mode = hash_mode(path, name, source)
    if mode == CONTENT:
        return hash_problem(path, name, hashlib.sha256(content).hexdigest(), source)
    file_digest = hashlib.sha256(data).hexdigest()
    problem = hash_problem(path, name, file_digest, source, GZ) if mode == GZ else None
    if mode == GZ and problem is None:
        return None
    # a mismatch, or no digest to compare: is it another data set's file (a re-compressed
    # copy has another .gz digest, but the same content)?
    content_digest = hashlib.sha256(content).hexdigest()
    return foreign_problem(path, name, source, file_digest, content_digest) or problem


def load_file(
    path: Path, name: str, *, check_hash: bool, source: IdxSource = MNIST_SOURCE
) -> np.ndarray:
    """Read, parse and optionally hash-check one file; return its uint8 array."""
    data, content = read_file(path)
    array = parse_idx(content, name, path, source)
    if check_hash:
        problem = identity_problem(path, name, source, data, content)
        if problem:
            raise FileProblem(problem)
    return array


def file_sha256(path: Path, *, gz: bool) -> str:
    """SHA-256 of the content of ``path`` (decompressed if ``gz``), streamed."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileProblem(f"{path}: cannot be read or decompressed ({exc}).") from exc
    return digest.hexdigest()


content_sha256 = file_sha256  # its name in earlier versions


def is_valid(directory: Path, name: str, source: IdxSource = MNIST_SOURCE) -> bool:
    """Whether ``directory`` holds file ``name`` (either form) with the right SHA-256 (a
    file without a known digest: the right structure, and no other data set's file)."""
    path = find_file(directory, name)
    if path is None:
        return False
    try:
        mode = hash_mode(path, name, source)
        if mode is not None:
            digest = file_sha256(path, gz=mode == CONTENT and path.suffix == ".gz")
            return hash_problem(path, name, digest, source, mode) is None
        data, content = read_file(path)
        parse_idx(content, name, path, source)
        return identity_problem(path, name, source, data, content) is None
    except FileProblem:
        return False


def verify(directory: str | os.PathLike[str], source: IdxSource = MNIST_SOURCE) -> list[dict]:
    """Check the four files of ``source`` (default MNIST) in ``directory``: IDX structure
    and SHA-256 where one is known.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder holding the files (each decompressed or ``.gz``; the decompressed one
        is checked if both exist).
    source : IdxSource, optional
        The data set (:data:`~snnjob.mnist.files.MNIST_SOURCE` by default).

    Returns
    -------
    list of dict
        One dict per file, in the order of ``source.files``, with keys ``name`` (str),
        ``path`` (pathlib.Path), ``sha256`` (str, of the decompressed data), ``gz_sha256``
        (str, of the ``.gz`` file, or None for a decompressed file), ``checked`` (which
        digest was compared with a published one: :data:`CONTENT`, :data:`GZ`, or None
        for a decompressed file whose digest is not published: structure only),
        ``ok`` (True) and ``n_items`` (int, images or labels in the file).

    Raises
    ------
    DataError
        If the folder does not exist or any file is missing, unreadable, malformed or
        has the wrong checksum. The message lists every problem found.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataError(
            f"{directory} is not an existing folder; cannot verify {source.title} files there."
        )
    results: list[dict] = []
    problems: list[str] = []
    for name in source.files:
        path = find_file(directory, name)
        entry = {"name": name, "path": path, "sha256": None, "gz_sha256": None,
                 "checked": None, "ok": False, "n_items": None}  # fmt: skip
        results.append(entry)
        if path is None:
            problems.append(f"{name}: missing (neither {name} nor {name}.gz is in {directory}).")
            continue
        try:
            data, content = read_file(path)
            entry["n_items"] = len(parse_idx(content, name, path, source))
        except FileProblem as exc:
            problems.append(str(exc))
            continue
        entry["sha256"] = hashlib.sha256(content).hexdigest()
        if path.suffix == ".gz":
            entry["gz_sha256"] = hashlib.sha256(data).hexdigest()
        entry["checked"] = hash_mode(path, name, source)
        problem = identity_problem(path, name, source, data, content)
        if problem:
            problems.append(problem)
        else:
            entry["ok"] = True
    if problems:
        raise DataError(
            f"{source.title} files in {directory} failed verification:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + f"\nDelete the bad files and run `{source.fetch_command}` (or "
            f"{source.env_fix('a good copy')})."
        )
    return results
