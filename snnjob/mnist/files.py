"""Where the MNIST files are: their names and hashes, the mirrors, the folder lookup.

Where the data is looked for (:func:`resolve_data_dir`):

1. the ``data_dir`` argument, if given;
2. the environment variable ``SNNJOB_DATA_DIR``, if set;
3. the cache folder :func:`cache_dir`, which :func:`snnjob.mnist.fetch` fills.

A folder named by 1. or 2. must hold all four files; it is never silently skipped. In a
folder, each file is ``<name>`` (decompressed) or ``<name>.gz``; the decompressed one
wins when both exist (:func:`find_file`).
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import platformdirs

from snnjob.errors import DataError

__all__ = ["DATA_DIR_ENV", "FILES", "MIRRORS", "FileHashes", "cache_dir", "resolve_data_dir"]


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
#: because every download is checked against :data:`FILES`. :func:`snnjob.mnist.fetch`
#: reads this attribute of *this* module at call time, so it can be overridden here.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: Environment variable naming a folder that holds the four MNIST files.
DATA_DIR_ENV = "SNNJOB_DATA_DIR"


def cache_dir() -> Path:
    """Return the folder where downloaded MNIST files are kept.

    Returns
    -------
    pathlib.Path
        ``platformdirs.user_cache_path("snnjob") / "mnist"``: on Linux
        ``$XDG_CACHE_HOME/snnjob/mnist`` if ``XDG_CACHE_HOME`` is an absolute path, else
        ``~/.cache/snnjob/mnist``. The folder is not created.
    """
    return platformdirs.user_cache_path("snnjob") / "mnist"


def find_file(directory: Path, name: str) -> Path | None:
    """Return ``directory/name`` if it is a file, else ``directory/name.gz``, else None."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def missing_files(directory: Path) -> list[str]:
    """Names in :data:`FILES` that ``directory`` holds in neither form."""
    return [name for name in FILES if find_file(directory, name) is None]


def require_files(directory: Path) -> dict[str, Path]:
    """The path of every file in ``directory`` (:class:`DataError` if one has vanished)."""
    paths = {name: find_file(directory, name) for name in FILES}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        raise DataError(
            f"{directory} lacks {', '.join(missing)} (removed while loading?). Run "
            f"`snnjob data fetch`, or point {DATA_DIR_ENV} at a folder holding all four files."
        )
    return paths


def _require_complete(directory: Path, source: str) -> Path:
    directory = directory.expanduser()
    unset_hint = (
        f"Point it at a folder holding the four MNIST files ({', '.join(FILES)}; each raw or "
        f".gz), or leave it unset to use the cache folder {cache_dir()} (fill it with "
        "`snnjob data fetch`)."
    )
    if not directory.is_dir():
        raise DataError(f"{source} is {directory}, which is not an existing folder. {unset_hint}")
    missing = missing_files(directory)
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
    if cache.is_dir() and not missing_files(cache):
        return cache.resolve()
    return None
