"""What an IDX data set is (:class:`IdxSource`) and where its files are: names and hashes,
mirrors, the folder lookup.

Two sources are registered in :data:`SOURCES`: :data:`MNIST_SOURCE` and
:data:`FASHION_MNIST_SOURCE`. Both have the same four file names, so each looks in its
own folders (:func:`resolve_data_dir`):

1. the ``data_dir`` argument, if given;
2. MNIST: the folder ``$SNNJOB_DATA_DIR``, if set; Fashion-MNIST: its sub-folder
   ``$SNNJOB_DATA_DIR/fashion_mnist`` (never ``$SNNJOB_DATA_DIR`` itself, where MNIST is);
3. the cache folder :func:`cache_dir`: ``<user cache>/snnjob/mnist`` or
   ``<user cache>/snnjob/fashion_mnist``, which :func:`snnjob.mnist.fetch` fills.

A folder named by 1. or 2. must hold all four files; it is never silently skipped. In a
folder, each file is ``<name>`` (decompressed) or ``<name>.gz``; the decompressed one
wins when both exist (:func:`find_file`).
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import platformdirs

from snnjob.errors import DataError

__all__ = [
    "DATA_DIR_ENV",
    "FASHION_FILES",
    "FASHION_MIRRORS",
    "FASHION_MNIST_SOURCE",
    "FILES",
    "MIRRORS",
    "MNIST_SOURCE",
    "SOURCES",
    "FileHashes",
    "IdxSource",
    "cache_dir",
    "resolve_data_dir",
]


class FileHashes(NamedTuple):
    """Known SHA-256 digests (lowercase hex) of one IDX file."""

    sha256: str | None
    """Digest of the decompressed IDX file (independent of gzip settings); None where
    it is not published (Fashion-MNIST)."""
    gz_sha256: str
    """Digest of the ``.gz`` file as published on the public mirrors."""


#: Environment variable naming a folder that holds the four MNIST files (and, in its
#: sub-folder ``fashion_mnist``, the four Fashion-MNIST files).
DATA_DIR_ENV = "SNNJOB_DATA_DIR"


@dataclass(frozen=True, eq=False)
class IdxSource:
    """One data set of four IDX files: everything files, idx, download and load need.

    The file names are the keys of ``files``: ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``
    (``train``/``t10k`` and ``images``/``labels`` in a name say what it holds).
    """

    name: str
    """Dataset name (``mnist``, ``fashion_mnist``)."""
    title: str
    """Name in messages (``MNIST``, ``Fashion-MNIST``)."""
    files: Mapping[str, FileHashes]
    mirrors: tuple[str, ...]
    """Base URLs serving ``<name>.gz``, tried in order (see :func:`mirrors_of`)."""
    cache_subdir: str
    """Sub-folder of ``platformdirs.user_cache_path("snnjob")`` of the downloads."""
    env_subdir: str | None
    """None: ``$SNNJOB_DATA_DIR`` itself holds the files; else this sub-folder of it."""
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int] = (28, 28, 1)
    n_train: int = 60_000
    n_test: int = 10_000
    label_word: str = "classes"
    """What labels are called in messages (``digits`` for MNIST)."""

    def __post_init__(self) -> None:
        if self.image_shape[2] != 1:
            raise ValueError("IDX image files hold one channel")
        if not self.files or any(not h.gz_sha256 for h in self.files.values()):
            raise ValueError("every IDX file needs the SHA-256 of its .gz (to accept downloads)")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def fetch_command(self) -> str:
        """The command that downloads this data set into its cache folder."""
        return "snnjob data fetch" + ("" if self.name == "mnist" else f" --dataset {self.name}")

    @property
    def env_text(self) -> str:
        """The folder of step 2 of the lookup, as messages name it."""
        if self.env_subdir is None:
            return DATA_DIR_ENV
        return f"${DATA_DIR_ENV}/{self.env_subdir}"

    def env_fix(self, what: str) -> str:
        """How to point step 2 of the lookup at ``what`` (a folder's description)."""
        if self.env_subdir is None:
            return f"point {DATA_DIR_ENV} at {what}"
        return f"put {what.removeprefix('a folder holding ')} in {self.env_text}"


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

#: The four Fashion-MNIST files: only the digests of the ``.gz`` files are published
#: (by Zalando, as torchvision and TFDS check them); a decompressed copy is checked for
#: its structure only.
FASHION_FILES: Mapping[str, FileHashes] = types.MappingProxyType(
    {
        "train-images-idx3-ubyte": FileHashes(
            None, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte": FileHashes(
            None, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte": FileHashes(
            None, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte": FileHashes(
            None, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
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

#: Fashion-MNIST's mirrors, read at call time like :data:`MIRRORS`.
FASHION_MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

MNIST_SOURCE = IdxSource(
    name="mnist",
    title="MNIST",
    files=FILES,
    mirrors=MIRRORS,
    cache_subdir="mnist",
    env_subdir=None,
    class_names=tuple(str(digit) for digit in range(10)),
    label_word="digits",
)

#: Fashion-MNIST's classes, label 0 to 9.
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")  # fmt: skip

FASHION_MNIST_SOURCE = IdxSource(
    name="fashion_mnist",
    title="Fashion-MNIST",
    files=FASHION_FILES,
    mirrors=FASHION_MIRRORS,
    cache_subdir="fashion_mnist",
    env_subdir="fashion_mnist",
    class_names=FASHION_CLASSES,
)

#: The registered IDX sources by dataset name. :mod:`snnjob.datasets` reads it at call
#: time (a test may put a source of its own under a name).
SOURCES: dict[str, IdxSource] = {s.name: s for s in (MNIST_SOURCE, FASHION_MNIST_SOURCE)}


def mirrors_of(source: IdxSource) -> tuple[str, ...]:
    """The mirrors of ``source``: for the two registered sources, :data:`MIRRORS` and
    :data:`FASHION_MIRRORS` as they are now (so that overriding them here works)."""
    if source is MNIST_SOURCE:
        return MIRRORS
    if source is FASHION_MNIST_SOURCE:
        return FASHION_MIRRORS
    return source.mirrors


def known_elsewhere(source: IdxSource, name: str, digest: str, *, gz: bool) -> IdxSource | None:
    """The other registered source whose file ``name`` has this SHA-256 (of the ``.gz``
    if ``gz``, else of the decompressed content), if any."""
    for other in SOURCES.values():
        if other.name != source.name and name in other.files:
            hashes = other.files[name]
            if digest == (hashes.gz_sha256 if gz else hashes.sha256):
                return other
    return None


def cache_dir(source: IdxSource = MNIST_SOURCE) -> Path:
    """Return the folder where downloaded files of ``source`` are kept.

    Returns
    -------
    pathlib.Path
        ``platformdirs.user_cache_path("snnjob") / "mnist"`` (``"fashion_mnist"`` for
        Fashion-MNIST): on Linux ``$XDG_CACHE_HOME/snnjob/mnist`` if ``XDG_CACHE_HOME`` is
        an absolute path, else ``~/.cache/snnjob/mnist``. The folder is not created.
    """
    return platformdirs.user_cache_path("snnjob") / source.cache_subdir


def find_file(directory: Path, name: str) -> Path | None:
    """Return ``directory/name`` if it is a file, else ``directory/name.gz``, else None."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def missing_files(directory: Path, source: IdxSource = MNIST_SOURCE) -> list[str]:
    """Names of ``source``'s files that ``directory`` holds in neither form."""
    return [name for name in source.files if find_file(directory, name) is None]


def require_files(directory: Path, source: IdxSource = MNIST_SOURCE) -> dict[str, Path]:
    """The path of every file in ``directory`` (:class:`DataError` if one has vanished)."""
    paths = {name: find_file(directory, name) for name in source.files}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        raise DataError(
            f"{directory} lacks {', '.join(missing)} (removed while loading?). Run "
            f"`{source.fetch_command}`, or {source.env_fix('a folder holding all four files')}."
        )
    return paths


def _require_complete(directory: Path, where: str, source: IdxSource) -> Path:
    directory = directory.expanduser()
    names = f"{', '.join(source.files)}; each raw or .gz"
    cache = f"the cache folder {cache_dir(source)} (fill it with `{source.fetch_command}`)"
    if where == f"${DATA_DIR_ENV}" or source.env_subdir is None:
        hint = (
            f"Point it at a folder holding the four {source.title} files ({names}), or leave "
            f"it unset to use {cache}."
        )
    elif where == "data_dir":
        hint = (
            f"Point it at a folder holding the four {source.title} files ({names}), or leave "
            f"it unset to use {source.env_text} or {cache}."
        )
    else:
        hint = (
            f"Put the four {source.title} files there ({names}; `{source.fetch_command} "
            f"{directory}` downloads them), or unset {DATA_DIR_ENV} to use {cache}."
        )
    if not directory.is_dir():
        raise DataError(f"{where} is {directory}, which is not an existing folder. {hint}")
    missing = missing_files(directory, source)
    if missing:
        raise DataError(
            f"{where} is {directory}, but it lacks {', '.join(missing)} (looked for each "
            f"name and name.gz). {hint}"
        )
    return directory.resolve()


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None = None, *, source: IdxSource = MNIST_SOURCE
) -> Path | None:
    """Find the folder holding the files of ``source`` (default MNIST).

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Folder to use. If None: for MNIST ``$SNNJOB_DATA_DIR`` if set, for Fashion-MNIST
        ``$SNNJOB_DATA_DIR/fashion_mnist`` if the variable is set; else the cache folder.
    source : IdxSource, optional
        The data set (:data:`MNIST_SOURCE` or :data:`FASHION_MNIST_SOURCE`).

    Returns
    -------
    pathlib.Path or None
        The resolved folder holding all four files (each decompressed or ``.gz``), or
        None if neither ``data_dir`` nor ``SNNJOB_DATA_DIR`` is given and the cache
        folder does not hold them all.

    Raises
    ------
    DataError
        If ``data_dir`` (or the folder ``SNNJOB_DATA_DIR`` names) is given but is not a
        folder or lacks files; the message lists the missing ones. There is no
        fall-through to the next place in that case.
    """
    if data_dir is not None:
        return _require_complete(Path(data_dir), "data_dir", source)
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        folder = Path(env) if source.env_subdir is None else Path(env) / source.env_subdir
        where = f"${DATA_DIR_ENV}" if source.env_subdir is None else source.env_text
        return _require_complete(folder, where, source)
    cache = cache_dir(source)
    if cache.is_dir() and not missing_files(cache, source):
        return cache.resolve()
    return None
