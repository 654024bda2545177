"""Load MNIST as read-only arrays, downloading it if needed, with an in-process cache."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnjob.architecture import N_PIXELS
from snnjob.errors import DataError
from snnjob.mnist.download import fetch
from snnjob.mnist.files import DATA_DIR_ENV, cache_dir, require_files, resolve_data_dir
from snnjob.mnist.idx import FileProblem, check_structure, load_file

__all__ = ["MNIST", "check_files", "clear_cache", "load_mnist"]

_FIX = f"Delete it and run `snnjob data fetch` (or point {DATA_DIR_ENV} at a good copy)."


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


#: resolved folder -> (files' (path, size, mtime) signature, hashes checked, data)
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
    images = raw.reshape(len(raw), N_PIXELS).astype(np.float32)
    images /= np.float32(255.0)
    return _read_only(images)


def _parse_dir(paths: dict[str, Path], *, check_hash: bool) -> MNIST:
    raw: dict[str, np.ndarray] = {}
    for name, path in paths.items():
        try:
            raw[name] = load_file(path, name, check_hash=check_hash)
        except FileProblem as exc:
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
        return fetch(target)  # from snnjob.mnist.files.MIRRORS, read at call time
    except DataError as exc:
        raise DataError(
            f"MNIST data not found ({DATA_DIR_ENV} is not set and the cache folder {target} "
            f"is incomplete), and downloading it failed:\n{exc}\n"
            f"Fix: set {DATA_DIR_ENV} to a folder holding the four MNIST files, or run "
            "`snnjob data fetch` on a machine with internet access."
        ) from exc


def _locate(data_dir: str | os.PathLike[str] | None, *, download: bool) -> Path | None:
    directory = resolve_data_dir(data_dir)
    if directory is None and not download:
        raise DataError(
            f"MNIST data not found: {DATA_DIR_ENV} is not set and the cache folder "
            f"{cache_dir()} is incomplete (data.download is false). Set {DATA_DIR_ENV} to a "
            "folder holding the four MNIST files, or run `snnjob data fetch`."
        )
    return directory


def check_files(
    data_dir: str | os.PathLike[str] | None = None, *, download: bool = True
) -> Path | None:
    """What :func:`load_mnist` would find, checked in milliseconds: the folder, its four
    files, each one's IDX header and length (not the SHA-256, which needs all the data).

    Returns the folder, or None if none holds the files and ``download`` allows fetching
    them. Raises :class:`DataError` like :func:`load_mnist`.
    """
    directory = _locate(data_dir, download=download)
    if directory is None:
        return None
    problems = []
    for name, path in require_files(directory).items():
        try:
            check_structure(path, name)
        except FileProblem as exc:
            problems.append(str(exc))
    if len(problems) == 1:
        raise DataError(f"{problems[0]} {_FIX}")
    if problems:
        raise DataError(
            "\n  ".join(["MNIST files are damaged:", *problems])
            + f"\nDelete them and run `snnjob data fetch` (or point {DATA_DIR_ENV} at a good copy)."
        )
    return directory


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
    directory = _locate(data_dir, download=download)
    if directory is None:
        directory = _fetch_into_cache()
    paths = require_files(directory)
    with _CACHE_LOCK:
        signature = _signature(paths)
        cached = _CACHE.get(directory)
        if cached is not None and cached[0] == signature and (cached[1] or not verify):
            return cached[2]
        mnist = _parse_dir(paths, check_hash=verify)
        _CACHE[directory] = (signature, verify, mnist)
    return mnist
