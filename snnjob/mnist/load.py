"""Load an IDX data set as read-only arrays, downloading it if needed, with an in-process
cache: :func:`load_mnist` for MNIST, :func:`load_idx` for any :class:`IdxSource`."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnjob.errors import DataError
from snnjob.mnist.download import fetch
from snnjob.mnist.files import (
    DATA_DIR_ENV,
    MNIST_SOURCE,
    IdxSource,
    cache_dir,
    require_files,
    resolve_data_dir,
)
from snnjob.mnist.idx import FileProblem, check_structure, foreign_problem, load_file, read_file

__all__ = ["MNIST", "check_files", "clear_cache", "load_idx", "load_mnist"]

LABEL_FILES = ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte")


def _fix(source: IdxSource, what: str = "it") -> str:
    return f"Delete {what} and run `{source.fetch_command}` (or {source.env_fix('a good copy')})."


@dataclass(frozen=True, eq=False)
class MNIST:
    """The MNIST data set (or another IDX data set: :func:`load_idx`), as read-only arrays.

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


#: (source name, resolved folder) -> (source, files' (path, size, mtime) signature,
#: hashes checked, data)
_CACHE: dict[tuple[str, Path], tuple[IdxSource, tuple, bool, MNIST]] = {}
_CACHE_LOCK = threading.Lock()


def clear_cache(directory: str | os.PathLike[str] | None = None) -> None:
    """Forget data parsed by :func:`load_mnist` (and :func:`load_idx`).

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Forget only the data loaded from this folder. Default: forget everything.
    """
    with _CACHE_LOCK:
        if directory is None:
            _CACHE.clear()
            return
        folder = Path(directory).expanduser().resolve()
        for key in [key for key in _CACHE if key[1] == folder]:
            del _CACHE[key]


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


def _parse_dir(paths: dict[str, Path], source: IdxSource, *, check_hash: bool) -> MNIST:
    raw: dict[str, np.ndarray] = {}
    for name, path in paths.items():
        try:
            raw[name] = load_file(path, name, check_hash=check_hash, source=source)
        except FileProblem as exc:
            raise DataError(f"{exc} {_fix(source)}") from exc
    for split in ("train", "t10k"):
        images, labels = raw[f"{split}-images-idx3-ubyte"], raw[f"{split}-labels-idx1-ubyte"]
        if len(images) != len(labels):
            raise DataError(
                f"{paths[f'{split}-images-idx3-ubyte']} holds {len(images)} images but "
                f"{paths[f'{split}-labels-idx1-ubyte']} holds {len(labels)} labels. "
                f"{_fix(source)}"
            )
    return MNIST(
        train_images=_images(raw["train-images-idx3-ubyte"]),
        train_labels=_read_only(raw["train-labels-idx1-ubyte"].astype(np.int64)),
        test_images=_images(raw["t10k-images-idx3-ubyte"]),
        test_labels=_read_only(raw["t10k-labels-idx1-ubyte"].astype(np.int64)),
    )


def _not_found(source: IdxSource) -> str:
    """Why the lookup found nothing: the variable is unset and the cache is incomplete."""
    return f"{DATA_DIR_ENV} is not set and the cache folder {cache_dir(source)} is incomplete"


def _fetch_into_cache(source: IdxSource) -> Path:
    try:
        return fetch(source=source)  # into cache_dir(source), from mirrors_of(source)
    except DataError as exc:
        raise DataError(
            f"{source.title} data not found ({_not_found(source)}), and downloading it "
            f"failed:\n{exc}\nFix: "
            + (
                f"set {DATA_DIR_ENV} to a folder holding the four {source.title} files"
                if source.env_subdir is None
                else f"put the four {source.title} files in {source.env_text}"
            )
            + f", or run `{source.fetch_command}` on a machine with internet access."
        ) from exc


def _locate(
    data_dir: str | os.PathLike[str] | None, source: IdxSource, *, download: bool
) -> Path | None:
    directory = resolve_data_dir(data_dir, source=source)
    if directory is None and not download:
        raise DataError(
            f"{source.title} data not found: {_not_found(source)} (data.download is false). "
            + (
                f"Set {DATA_DIR_ENV} to a folder holding the four {source.title} files"
                if source.env_subdir is None
                else f"Put the four {source.title} files in {source.env_text}"
            )
            + f", or run `{source.fetch_command}`."
        )
    return directory


def check_files(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    source: IdxSource = MNIST_SOURCE,
) -> Path | None:
    """What :func:`load_mnist` (:func:`load_idx`) would find, checked in milliseconds: the
    folder, its four files, each one's IDX header and length (not the SHA-256, which needs
    all the data), and that the small label files are not another data set's.

    Returns the folder, or None if none holds the files and ``download`` allows fetching
    them. Raises :class:`DataError` like :func:`load_mnist`.
    """
    directory = _locate(data_dir, source, download=download)
    if directory is None:
        return None
    problems = []
    for name, path in require_files(directory, source).items():
        try:
            check_structure(path, name, source)
            if name in LABEL_FILES and source.files[name].sha256 is None:
                # another data set's files under the same names (labels: 60 kB at most)
                data, content = read_file(path)
                digests = (hashlib.sha256(data).hexdigest(), hashlib.sha256(content).hexdigest())
                problem = foreign_problem(path, name, source, *digests)
                if problem:
                    raise FileProblem(problem)
        except FileProblem as exc:
            problems.append(str(exc))
    if len(problems) == 1:
        raise DataError(f"{problems[0]} {_fix(source)}")
    if problems:
        raise DataError(
            "\n  ".join([f"{source.title} files are damaged:", *problems])
            + f"\n{_fix(source, 'them')}"
        )
    return directory


def load_idx(
    source: IdxSource,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    verify: bool = True,
) -> MNIST:
    """Load the IDX data set ``source``, as :func:`load_mnist` loads MNIST.

    Returns its four arrays (as an :class:`MNIST` instance: images float32 in [0, 1],
    flattened row-major; labels int64), cached in-process per source and folder.
    """
    directory = _locate(data_dir, source, download=download)
    if directory is None:
        directory = _fetch_into_cache(source)
    paths = require_files(directory, source)
    key = (source.name, directory)
    with _CACHE_LOCK:
        signature = _signature(paths)
        cached = _CACHE.get(key)
        if (
            cached is not None
            and cached[0] is source
            and cached[1] == signature
            and (cached[2] or not verify)
        ):
            return cached[3]
        data = _parse_dir(paths, source, check_hash=verify)
        _CACHE[key] = (source, signature, verify, data)
    return data


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
        Folder holding the four files; see :func:`~snnjob.mnist.files.resolve_data_dir`
        for the lookup order.
    download : bool, optional
        If no folder is found, download the files into
        :func:`~snnjob.mnist.files.cache_dir` first.
    verify : bool, optional
        Check each file's SHA-256 against :data:`~snnjob.mnist.files.FILES` (the IDX
        structure is always checked).

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
    return load_idx(MNIST_SOURCE, data_dir, download=download, verify=verify)
