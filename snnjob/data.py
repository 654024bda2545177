"""MNIST data: find it, download it with checksum verification, parse it and cache it.

The four MNIST files are read in their original IDX format, either gzip-compressed
(``<name>.gz``, as published) or decompressed (``<name>``). When a folder holds both
forms of a file, the decompressed one is used (it needs no decompression); its
content is checked exactly like the ``.gz``'s would be.

Where the data is looked for (:func:`resolve_data_dir`):

1. the ``data_dir`` argument, if given;
2. the environment variable ``SNNJOB_DATA_DIR``, if set;
3. the cache folder :func:`cache_dir` (``$XDG_CACHE_HOME/snnjob/mnist``, else
   ``~/.cache/snnjob/mnist``), which :func:`fetch` fills from public mirrors.

A folder named by 1. or 2. must hold all four files; it is never silently skipped.

Integrity is checked against the SHA-256 of the *decompressed* files (:data:`FILES`),
which does not depend on how a ``.gz`` was compressed. Downloads are also accepted when
the ``.gz`` itself matches the hash published for the mirrors.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import socket
import struct
import tempfile
import threading
import types
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from snnjob import __version__
from snnjob.errors import DataError

__all__ = [
    "DATA_DIR_ENV",
    "FILES",
    "IMAGE_MAGIC",
    "LABEL_MAGIC",
    "MIRRORS",
    "MNIST",
    "FileHashes",
    "cache_dir",
    "clear_cache",
    "fetch",
    "load_mnist",
    "resolve_data_dir",
    "shard_bounds",
    "verify",
]


class FileHashes(NamedTuple):
    """Known SHA-256 digests (lowercase hex) of one MNIST file."""

    sha256: str
    """Digest of the decompressed IDX file (independent of gzip settings)."""
    gz_sha256: str
    """Digest of the ``.gz`` file as published on the public mirrors."""


#: The four MNIST files (names without ``.gz``) and their known SHA-256 digests.
FILES: Mapping[str, FileHashes] = types.MappingProxyType(
    {
        "train-images-idx3-ubyte": FileHashes(
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        "train-labels-idx1-ubyte": FileHashes(
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        "t10k-images-idx3-ubyte": FileHashes(
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        "t10k-labels-idx1-ubyte": FileHashes(
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    }
)

#: Public mirrors serving ``<name>.gz``, tried in this order. Plain HTTP is safe here
#: because every download is checked against :data:`FILES`.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: Environment variable naming a folder that holds the four MNIST files.
DATA_DIR_ENV = "SNNJOB_DATA_DIR"
#: IDX magic number of an unsigned-byte 3-d array (images).
IMAGE_MAGIC = 2051
#: IDX magic number of an unsigned-byte 1-d array (labels).
LABEL_MAGIC = 2049

IMAGE_SHAPE = (28, 28)
N_TRAIN = 60_000
N_TEST = 10_000
N_CLASSES = 10

#: ``progress(file_name, bytes_done, bytes_total_or_None)``, called while downloading.
ProgressCallback = Callable[[str, int, int | None], None]

_CHUNK = 1 << 16
_FIX = f"Delete it and run `snnjob data fetch` (or point {DATA_DIR_ENV} at a good copy)."
_NAMES = ", ".join(FILES)


@dataclass(frozen=True, eq=False)
class MNIST:
    """The MNIST data set, as read-only arrays.

    Attributes
    ----------
    train_images : numpy.ndarray
        float32, shape (60000, 784), pixel values scaled to [0, 1] (row-major 28x28).
    train_labels : numpy.ndarray
        int64, shape (60000,), digits 0..9.
    test_images : numpy.ndarray
        float32, shape (10000, 784), scaled to [0, 1].
    test_labels : numpy.ndarray
        int64, shape (10000,), digits 0..9.

    Notes
    -----
    Instances returned by :func:`load_mnist` are shared through an in-process cache,
    so their arrays are read-only; use ``array.copy()`` to get a writable one.
    Equality is identity (comparing arrays element-wise has no single truth value).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def __repr__(self) -> str:
        return f"MNIST(train={len(self.train_labels)}, test={len(self.test_labels)})"


class _FileProblem(Exception):
    """Internal: what is wrong with one file (public callers turn it into DataError)."""


class _MirrorFailed(Exception):
    """Internal: one download attempt from one mirror failed."""


# --------------------------------------------------------------------------- locating


def cache_dir() -> Path:
    """Return the folder where downloaded MNIST files are kept.

    Returns
    -------
    pathlib.Path
        ``$XDG_CACHE_HOME/snnjob/mnist`` if ``XDG_CACHE_HOME`` is set to an absolute
        path, else ``~/.cache/snnjob/mnist``. The folder may not exist yet.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "snnjob" / "mnist"


def _find_file(directory: Path, name: str) -> Path | None:
    """Return the decompressed file if present, else the ``.gz``, else None."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing(directory: Path) -> list[str]:
    return [name for name in FILES if _find_file(directory, name) is None]


def _require_complete(directory: Path, source: str) -> Path:
    directory = directory.expanduser()
    unset_hint = (
        f"Point it at a folder holding the four MNIST files ({_NAMES}; each raw or .gz), "
        f"or leave it unset to use the cache folder {cache_dir()} (fill it with "
        "`snnjob data fetch`)."
    )
    if not directory.is_dir():
        raise DataError(f"{source} is {directory}, which is not an existing folder. {unset_hint}")
    missing = _missing(directory)
    if missing:
        raise DataError(
            f"{source} is {directory}, but it lacks {', '.join(missing)} (looked for each "
            f"name and name.gz). {unset_hint}"
        )
    return directory.resolve()


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Find the folder holding the MNIST files.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Folder to use. If None, ``$SNNJOB_DATA_DIR`` is used if set, else the cache folder.

    Returns
    -------
    pathlib.Path or None
        The resolved folder holding all four files (each decompressed or ``.gz``), or
        None if neither ``data_dir`` nor ``SNNJOB_DATA_DIR`` is given and the cache
        folder does not hold them all.

    Raises
    ------
    DataError
        If ``data_dir`` (or ``SNNJOB_DATA_DIR``) is given but is not a folder or lacks
        files; the message lists the missing ones. There is no fall-through to the
        next place in that case.
    """
    if data_dir is not None:
        return _require_complete(Path(data_dir), "data_dir")
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return _require_complete(Path(env), f"${DATA_DIR_ENV}")
    cache = cache_dir()
    if cache.is_dir() and not _missing(cache):
        return cache.resolve()
    return None


# --------------------------------------------------------------------------- parsing


def _layout(name: str) -> tuple[int, tuple[int, ...]]:
    """Return the expected IDX magic number and dimensions of file ``name``."""
    n_items = N_TRAIN if name.startswith("train") else N_TEST
    if "images" in name:
        return IMAGE_MAGIC, (n_items, *IMAGE_SHAPE)
    return LABEL_MAGIC, (n_items,)


def _read_content(path: Path) -> bytes:
    """Return the decompressed bytes of ``path`` (``.gz`` or raw)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _FileProblem(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise _FileProblem(
            f"{path}: is not a valid gzip file ({exc}); it is corrupt or truncated."
        ) from exc


def _parse_idx(data: bytes, name: str, path: Path) -> np.ndarray:
    """Check the IDX header and payload of MNIST file ``name``; return a uint8 view."""
    magic, dims = _layout(name)
    kind = "image" if magic == IMAGE_MAGIC else "label"
    header = 4 * (1 + len(dims))
    if len(data) < header:
        raise _FileProblem(
            f"{path}: is truncated ({len(data)} bytes, shorter than the {header}-byte IDX header)."
        )
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise _FileProblem(
            f"{path}: has magic number {found}, expected {magic} (IDX {kind} file); it is "
            f"corrupt or not an MNIST {kind} file."
        )
    found_dims = struct.unpack(f">{len(dims)}I", data[4:header])
    if found_dims != dims:
        raise _FileProblem(f"{path}: header gives shape {found_dims}, expected {dims}.")
    have, want = len(data) - header, math.prod(dims)
    if have != want:
        what = "is truncated" if have < want else "has trailing bytes"
        raise _FileProblem(f"{path}: {what} ({have} data bytes after the header, expected {want}).")
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    if kind == "label" and int(array.max()) >= N_CLASSES:
        raise _FileProblem(f"{path}: holds label {int(array.max())}, expected digits 0..9.")
    return array


def _hash_problem(path: Path, name: str, digest: str) -> str | None:
    expected = FILES[name].sha256
    if digest == expected:
        return None
    return (
        f"{path}: SHA-256 of the decompressed data is {digest}, expected {expected}; "
        "the file is corrupt or not the original MNIST file."
    )


def _load_file(path: Path, name: str, *, check_hash: bool) -> tuple[np.ndarray, str | None]:
    """Read, parse and optionally hash-check one file; return (uint8 array, sha256)."""
    data = _read_content(path)
    array = _parse_idx(data, name, path)
    if not check_hash:
        return array, None
    digest = hashlib.sha256(data).hexdigest()
    problem = _hash_problem(path, name, digest)
    if problem:
        raise _FileProblem(problem)
    return array, digest


def _content_sha256(path: Path, *, gz: bool) -> str:
    """SHA-256 of the (decompressed) content of ``path``, streamed."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise _FileProblem(f"{path}: cannot be read or decompressed ({exc}).") from exc
    return digest.hexdigest()


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
        path = _find_file(directory, name)
        entry = {"name": name, "path": path, "sha256": None, "ok": False, "n_items": None}
        results.append(entry)
        if path is None:
            problems.append(f"{name}: missing (neither {name} nor {name}.gz is in {directory}).")
            continue
        try:
            data = _read_content(path)
            entry["n_items"] = len(_parse_idx(data, name, path))
        except _FileProblem as exc:
            problems.append(str(exc))
            continue
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        problem = _hash_problem(path, name, entry["sha256"])
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


# --------------------------------------------------------------------------- downloading


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror or exc})"
    return f"{type(exc).__name__}: {exc}"


def _write(out: BinaryIO, chunk: bytes, path: Path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:  # local disk problem: no other mirror can help
        raise DataError(f"cannot write {path}: {exc.strerror or exc}.") from exc


def _stream(url: str, out: BinaryIO, tmp: Path, *, timeout: float, report: ProgressCallback) -> str:
    """Download ``url`` into ``out``; return the SHA-256 of the bytes received."""
    request = urllib.request.Request(url, headers={"User-Agent": f"snnjob/{__version__}"})
    digest = hashlib.sha256()
    label = url.rsplit("/", 1)[-1]
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            done = 0
            report(label, 0, total)
            while chunk := response.read(_CHUNK):
                _write(out, chunk, tmp)
                digest.update(chunk)
                done += len(chunk)
                report(label, done, total)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise _MirrorFailed(_describe(exc, timeout)) from exc
    if total is not None and done < total:
        raise _MirrorFailed(f"transfer interrupted after {done} of {total} bytes")
    return digest.hexdigest()


def _download_problem(tmp: Path, name: str, gz_digest: str) -> str | None:
    """Why the downloaded ``.gz`` at ``tmp`` is not the right file, or None if it is."""
    spec = FILES[name]
    if gz_digest == spec.gz_sha256:
        return None
    try:
        content = _content_sha256(tmp, gz=True)
    except _FileProblem as exc:
        return f"corrupt download: not a valid gzip file ({exc.__cause__})"
    if content != spec.sha256:
        return (
            f"corrupt download: checksum mismatch (SHA-256 of the .gz {gz_digest}, expected "
            f"{spec.gz_sha256}; of its content {content}, expected {spec.sha256})"
        )
    return None


def _download(url: str, dest: Path, name: str, *, timeout: float, report: ProgressCallback) -> None:
    """Download, verify and install ``dest/<name>.gz``; the temp file never survives."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.gz.", suffix=".part", dir=dest)
    except OSError as exc:
        raise DataError(f"cannot create a file in {dest}: {exc.strerror or exc}.") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            gz_digest = _stream(url, out, tmp, timeout=timeout, report=report)
            out.flush()
            os.fsync(out.fileno())
        problem = _download_problem(tmp, name, gz_digest)
        if problem:
            raise _MirrorFailed(problem)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest / f"{name}.gz")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fetch_one(
    dest: Path, name: str, mirrors: tuple[str, ...], timeout: float, report: ProgressCallback
) -> None:
    failures = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{name}.gz"
        try:
            _download(url, dest, name, timeout=timeout, report=report)
        except _MirrorFailed as exc:
            failures.append(f"{url}: {exc}")
            continue
        stale = dest / name  # an invalid decompressed copy would shadow the new .gz
        if stale.is_file():
            stale.unlink()
        return
    raise DataError(
        f"Could not download {name}.gz into {dest}; every mirror failed:\n"
        + "\n".join(f"  - {f}" for f in failures)
        + "\nCheck your network connection (and proxy settings such as HTTPS_PROXY), then "
        "run `snnjob data fetch` again; or download the four files "
        f"({', '.join(n + '.gz' for n in FILES)}) by hand from one of the mirrors above "
        f"into one folder and set {DATA_DIR_ENV} to that folder."
    )


def _is_valid(directory: Path, name: str) -> bool:
    path = _find_file(directory, name)
    if path is None:
        return False
    try:
        return _hash_problem(path, name, _content_sha256(path, gz=path.suffix == ".gz")) is None
    except _FileProblem:
        return False


def _no_progress(name: str, done: int, total: int | None) -> None:
    """Default progress callback: do nothing."""


def fetch(
    dest: str | os.PathLike[str] | None = None,
    *,
    mirrors: Iterable[str] = MIRRORS,
    timeout: float = 30.0,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download the MNIST files that are missing or invalid in ``dest``.

    Each ``<name>.gz`` is tried from the mirrors in order. A download goes to a
    temporary file in ``dest``, is verified (the ``.gz``'s SHA-256 must equal the
    published one, or the SHA-256 of its decompressed content must equal :data:`FILES`'),
    and only then is moved into place with :func:`os.replace`. A failed, interrupted or
    corrupt download leaves nothing under the final name and its temporary file is
    removed. Files already present and valid are skipped; an invalid decompressed
    copy is deleted once its ``.gz`` has been downloaded (it would shadow it).

    Parameters
    ----------
    dest : str or os.PathLike, optional
        Target folder, created if needed. Default: :func:`cache_dir`.
    mirrors : iterable of str, optional
        Base URLs serving ``<name>.gz``, tried in order. Default: :data:`MIRRORS`.
    timeout : float, optional
        Socket timeout in seconds for each connection and read.
    progress : callable, optional
        Called as ``progress(file_name, bytes_done, bytes_total)`` when a download
        starts and after each chunk; ``bytes_total`` is None if the server sends no
        length.

    Returns
    -------
    pathlib.Path
        The resolved ``dest`` folder, now holding all four valid files.

    Raises
    ------
    DataError
        If ``dest`` cannot be created or written, or every mirror fails for a file (the
        message lists each mirror's failure and how to fix it).
    ValueError
        If ``mirrors`` is empty or ``timeout`` is not positive.
    """
    mirror_list = (mirrors,) if isinstance(mirrors, str) else tuple(mirrors)
    if not mirror_list:
        raise ValueError("mirrors must name at least one base URL")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    target = (Path(dest) if dest is not None else cache_dir()).expanduser()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the MNIST folder {target}: {exc.strerror or exc}. Choose a "
            f"writable folder, or set {DATA_DIR_ENV} to a folder that already holds the files."
        ) from exc
    report = progress or _no_progress
    for name in FILES:
        if not _is_valid(target, name):
            _fetch_one(target, name, mirror_list, timeout, report)
    return target.resolve()


# --------------------------------------------------------------------------- loading

_CACHE: dict[Path, tuple[tuple, bool, MNIST]] = {}
_CACHE_LOCK = threading.Lock()


def clear_cache(directory: str | os.PathLike[str] | None = None) -> None:
    """Forget data parsed by :func:`load_mnist`.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Forget only the data loaded from this folder. Default: forget everything.
    """
    with _CACHE_LOCK:
        if directory is None:
            _CACHE.clear()
        else:
            _CACHE.pop(Path(directory).expanduser().resolve(), None)


def _files_of(directory: Path) -> dict[str, Path]:
    paths = {name: _find_file(directory, name) for name in FILES}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        raise DataError(
            f"{directory} lacks {', '.join(missing)} (removed while loading?). Run "
            f"`snnjob data fetch`, or point {DATA_DIR_ENV} at a folder holding all four files."
        )
    return paths


def _signature(paths: dict[str, Path]) -> tuple:
    """What identifies the files' current content cheaply (path, size, mtime)."""
    stats = []
    for path in paths.values():
        st = path.stat()
        stats.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(stats)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _images(raw: np.ndarray) -> np.ndarray:
    images = raw.reshape(len(raw), -1).astype(np.float32)
    images /= np.float32(255.0)
    return _read_only(images)


def _parse_dir(paths: dict[str, Path], *, check_hash: bool) -> MNIST:
    raw: dict[str, np.ndarray] = {}
    for name, path in paths.items():
        try:
            raw[name], _ = _load_file(path, name, check_hash=check_hash)
        except _FileProblem as exc:
            raise DataError(f"{exc} {_FIX}") from exc
    for split in ("train", "t10k"):
        images, labels = raw[f"{split}-images-idx3-ubyte"], raw[f"{split}-labels-idx1-ubyte"]
        if len(images) != len(labels):
            raise DataError(
                f"{paths[f'{split}-images-idx3-ubyte']} holds {len(images)} images but "
                f"{paths[f'{split}-labels-idx1-ubyte']} holds {len(labels)} labels. {_FIX}"
            )
    return MNIST(
        train_images=_images(raw["train-images-idx3-ubyte"]),
        train_labels=_read_only(raw["train-labels-idx1-ubyte"].astype(np.int64)),
        test_images=_images(raw["t10k-images-idx3-ubyte"]),
        test_labels=_read_only(raw["t10k-labels-idx1-ubyte"].astype(np.int64)),
    )


def _fetch_into_cache() -> Path:
    target = cache_dir()
    try:
        # MIRRORS is looked up at call time, so it can be overridden on the module.
        return fetch(target, mirrors=MIRRORS)
    except DataError as exc:
        raise DataError(
            f"MNIST data not found ({DATA_DIR_ENV} is not set and the cache folder {target} "
            f"is incomplete), and downloading it failed:\n{exc}\n"
            f"Fix: set {DATA_DIR_ENV} to a folder holding the four MNIST files, or run "
            "`snnjob data fetch` on a machine with internet access."
        ) from exc


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    verify: bool = True,
) -> MNIST:
    """Load MNIST, downloading it into the cache folder if it is nowhere to be found.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Folder holding the four files; see :func:`resolve_data_dir` for the lookup order.
    download : bool, optional
        If no folder is found, download the files into :func:`cache_dir` first.
    verify : bool, optional
        Check each file's SHA-256 against :data:`FILES` (the IDX structure is always
        checked).

    Returns
    -------
    MNIST
        Read-only arrays. Results are cached in-process per resolved folder (and
        re-parsed if a file's size or modification time changes), so repeated calls
        return the same object.

    Raises
    ------
    DataError
        If the data is missing (message names ``SNNJOB_DATA_DIR`` and
        ``snnjob data fetch``), cannot be downloaded, or is corrupt.
    """
    directory = resolve_data_dir(data_dir)
    if directory is None:
        if not download:
            raise DataError(
                f"MNIST data not found: {DATA_DIR_ENV} is not set and the cache folder "
                f"{cache_dir()} is incomplete. Set {DATA_DIR_ENV} to a folder holding the "
                "four MNIST files, or run `snnjob data fetch`."
            )
        directory = _fetch_into_cache()
    paths = _files_of(directory)
    with _CACHE_LOCK:
        signature = _signature(paths)
        cached = _CACHE.get(directory)
        if cached is not None and cached[0] == signature and (cached[1] or not verify):
            return cached[2]
        mnist = _parse_dir(paths, check_hash=verify)
        _CACHE[directory] = (signature, verify, mnist)
    return mnist


# --------------------------------------------------------------------------- sharding


def shard_bounds(n_items: int, shard_size: int) -> list[tuple[int, int]]:
    """Split ``range(n_items)`` into consecutive shards.

    Parameters
    ----------
    n_items : int
        Number of items, > 0.
    shard_size : int
        Items per shard, > 0; the last shard may be shorter.

    Returns
    -------
    list of tuple of int
        ``(start, stop)`` pairs covering every index in ``range(n_items)`` exactly once.

    Raises
    ------
    ValueError
        If either size is not a positive integer.
    """
    for label, value in (("n_items", n_items), ("shard_size", shard_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    n_items, shard_size = int(n_items), int(shard_size)
    return [(start, min(start + shard_size, n_items)) for start in range(0, n_items, shard_size)]
