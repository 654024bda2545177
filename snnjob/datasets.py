"""The data sets a job can use, behind one interface: names, what each holds, checks, loading.

Three kinds of ``dataset`` name:

- ``mnist`` -- handwritten digits (28x28x1, 10 classes "0".."9"; 60000 + 10000 images);
- ``fashion_mnist`` -- Zalando's article images (28x28x1, 10 classes, "T-shirt/top" ..
  "Ankle boot"; 60000 + 10000), the same IDX files and code path as MNIST;
- ``npz:PATH`` -- a ``.npz`` file of your own (:mod:`snnjob.npzdata` gives the format).

Where MNIST and Fashion-MNIST are looked for, verified and downloaded:
:mod:`snnjob.mnist` (``data_dir``, then ``$SNNJOB_DATA_DIR`` -- for Fashion-MNIST its
sub-folder ``fashion_mnist`` --, then the user cache). ``data_dir`` and ``download``
apply to those two only; an npz file is named by its path.

:func:`check_dataset` is the fast check run before Ray starts (nothing is written);
:func:`load_dataset` returns a :class:`Dataset`: float32 images in [0, 1], one row per
image flattened row-major from (H, W, C), int64 labels, all read-only and cached
in-process.
"""

from __future__ import annotations

import difflib
import os
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from snnjob.errors import ConfigError
from snnjob.mnist import files as idx_files
from snnjob.mnist.load import MNIST, check_files, load_idx
from snnjob.npzdata import NpzArrays, NpzSummary, check_npz, load_npz

__all__ = [
    "DATASETS",
    "NPZ_PREFIX",
    "Dataset",
    "DatasetInfo",
    "check_dataset",
    "check_dataset_name",
    "load_dataset",
    "registered_info",
]

#: The registered data sets; ``npz:PATH`` names a file besides.
DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist")
NPZ_PREFIX = "npz:"


def check_dataset_name(value: str) -> None:
    """Refuse a dataset name that is neither registered nor ``npz:`` + a path (no I/O).

    Raises
    ------
    ConfigError
        Naming the choices (and the nearest one, for a misspelt name).
    """
    choices = f"choose {', '.join(DATASETS)} or npz:PATH (a .npz file of your own)"
    if not isinstance(value, str):
        raise ConfigError(f"the dataset must be a name, got {value!r}; {choices}")
    if value in DATASETS:
        return
    if value.startswith(NPZ_PREFIX):
        if value[len(NPZ_PREFIX) :].strip():
            return
        raise ConfigError(
            f"dataset {value!r} names no file; write the path after the colon, e.g. "
            "npz:data/my_images.npz"
        )
    near = difflib.get_close_matches(value.lower(), [*DATASETS, "npz:"], n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise ConfigError(f"unknown dataset {value!r}{hint}; {choices}")


@dataclass(frozen=True)
class DatasetInfo:
    """What a data set holds: shapes, classes and counts (JSON-ready with :meth:`to_dict`)."""

    name: str
    """``mnist``, ``fashion_mnist`` or ``npz:<path as given>``."""
    image_shape: tuple[int, int, int]
    """(height, width, channels)."""
    n_classes: int
    class_names: tuple[str, ...]
    """One name per class (label k is ``class_names[k]``)."""
    n_train: int
    n_test: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_shape", tuple(int(n) for n in self.image_shape))
        object.__setattr__(self, "class_names", tuple(str(n) for n in self.class_names))
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be 3 positive sizes, got {self.image_shape}")
        if len(self.class_names) != self.n_classes or self.n_classes < 2:
            raise ValueError(
                f"class_names must name n_classes >= 2 classes, got {self.n_classes} and "
                f"{len(self.class_names)} names"
            )

    @property
    def n_pixels(self) -> int:
        """Values per image: height x width x channels."""
        height, width, channels = self.image_shape
        return height * width * channels

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image_shape": list(self.image_shape),
            "n_classes": self.n_classes,
            "class_names": list(self.class_names),
            "n_train": self.n_train,
            "n_test": self.n_test,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetInfo:
        """The inverse of :meth:`to_dict` (ValueError if a key is missing or a value bad)."""
        try:
            return cls(
                name=str(data["name"]),
                image_shape=tuple(data["image_shape"]),
                n_classes=int(data["n_classes"]),
                class_names=tuple(data["class_names"]),
                n_train=int(data["n_train"]),
                n_test=int(data["n_test"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a dataset description ({exc!r}): {data!r}") from None


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded data set: read-only arrays (``array.copy()`` for a writable one).

    Images are float32 of shape (n, ``info.n_pixels``) in [0, 1], each row flattened
    row-major from (H, W, C); labels int64 of shape (n,) in 0..n_classes-1. Equality is
    identity.
    """

    info: DatasetInfo
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def __repr__(self) -> str:
        return f"Dataset({self.info.name!r}, train={self.info.n_train}, test={self.info.n_test})"


def _source(dataset: str) -> idx_files.IdxSource:
    return idx_files.SOURCES[dataset]  # read at call time


def registered_info(dataset: str) -> DatasetInfo:
    """What the registered data set ``dataset`` holds, known without its files (no I/O).

    Raises
    ------
    ConfigError
        If ``dataset`` is not a registered name (an ``npz:PATH`` is known only once its
        file is read: :func:`check_dataset`).
    """
    check_dataset_name(dataset)
    if dataset not in DATASETS:
        raise ConfigError(
            f"{dataset!r} is not a registered dataset ({', '.join(DATASETS)}): what an npz "
            "file holds is known once it is read (check_dataset)"
        )
    source = _source(dataset)
    return DatasetInfo(
        name=dataset,
        image_shape=source.image_shape,
        n_classes=source.n_classes,
        class_names=source.class_names,
        n_train=source.n_train,
        n_test=source.n_test,
    )


def _npz_info(dataset: str, summary: NpzSummary) -> DatasetInfo:
    return DatasetInfo(
        name=dataset,
        image_shape=summary.image_shape,
        n_classes=len(summary.class_names),
        class_names=summary.class_names,
        n_train=summary.n_train,
        n_test=summary.n_test,
    )


def check_dataset(
    dataset: str, data_dir: str | os.PathLike[str] | None = None, *, download: bool = True
) -> DatasetInfo:
    """Fast checks of what :func:`load_dataset` would load (milliseconds to about a
    second; nothing is written), run before Ray starts.

    - ``mnist`` / ``fashion_mnist``: :func:`snnjob.mnist.check_files` -- the folder, its
      four files and their IDX headers (not the SHA-256s: :func:`load_dataset` checks
      them). If no folder holds the files and ``download`` allows fetching them, that
      is fine here: the info of a registered data set is known without its files, so it
      is returned in every case (never None).
    - ``npz:PATH``: opens the file and checks its arrays' names, shapes, dtypes, labels
      and the range of float images (uint8 images are not read).

    Returns
    -------
    DatasetInfo

    Raises
    ------
    ConfigError
        If ``dataset`` is not a dataset name (:func:`check_dataset_name`).
    DataError
        On any problem with the data, saying what is wrong and the fix.
    """
    check_dataset_name(dataset)
    if dataset.startswith(NPZ_PREFIX):
        return _npz_info(dataset, check_npz(dataset[len(NPZ_PREFIX) :].strip()))
    check_files(data_dir, download=download, source=_source(dataset))
    return registered_info(dataset)


#: the registry's arrays -> their Dataset, so repeated loads return the same object
_WRAPPED: weakref.WeakKeyDictionary[MNIST, Dataset] = weakref.WeakKeyDictionary()
#: (dataset name, npz arrays) -> their Dataset
_NPZ_WRAPPED: weakref.WeakKeyDictionary[NpzArrays, dict[str, Dataset]] = weakref.WeakKeyDictionary()


def load_dataset(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    verify: bool = True,
) -> Dataset:
    """Load a data set, checked; cached in-process (repeated calls return the same object
    until a file changes).

    Parameters
    ----------
    dataset : str
        ``mnist``, ``fashion_mnist`` or ``npz:PATH``.
    data_dir : str or os.PathLike, optional
        Folder of the IDX files (``mnist``, ``fashion_mnist``); see
        :func:`snnjob.mnist.resolve_data_dir`. Ignored for ``npz:PATH``.
    download : bool, optional
        Download a registered data set into the user cache if no folder holds it.
    verify : bool, optional
        Check the IDX files' SHA-256s where published (their structure is always
        checked). An npz file is always checked in full.

    Raises
    ------
    ConfigError
        If ``dataset`` is not a dataset name (:func:`check_dataset_name`).
    DataError
        If the data is missing, cannot be downloaded, or is bad.
    """
    check_dataset_name(dataset)
    if dataset.startswith(NPZ_PREFIX):
        arrays = load_npz(dataset[len(NPZ_PREFIX) :].strip())
        by_name = _NPZ_WRAPPED.setdefault(arrays, {})
        if dataset not in by_name:
            info = DatasetInfo(
                name=dataset,
                image_shape=arrays.image_shape,
                n_classes=len(arrays.class_names),
                class_names=arrays.class_names,
                n_train=len(arrays.train_labels),
                n_test=len(arrays.test_labels),
            )
            by_name[dataset] = Dataset(info, arrays.train_images, arrays.train_labels,
                                       arrays.test_images, arrays.test_labels)  # fmt: skip
        return by_name[dataset]
    data = load_idx(_source(dataset), data_dir, download=download, verify=verify)
    wrapped = _WRAPPED.get(data)
    if wrapped is None or wrapped.info.name != dataset:
        wrapped = Dataset(registered_info(dataset), data.train_images, data.train_labels,
                          data.test_images, data.test_labels)  # fmt: skip
        _WRAPPED[data] = wrapped
    return wrapped
