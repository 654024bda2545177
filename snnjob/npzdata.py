"""Data sets in a ``.npz`` file (``npz:PATH``): read without pickle, checked, cached.

The file holds plain arrays (``np.savez`` or ``np.savez_compressed``):

- ``x_train``, ``x_test``: images, shape (N, H, W, C) or (N, H, W) (C = 1), dtype uint8
  (0..255, scaled by 1/255) or floating point (finite, within [0, 1]); the same H, W, C
  in both; N >= 1;
- ``y_train``, ``y_test``: labels, 1-D integer arrays, one per image, values 0..K-1;
- ``class_names`` (optional): a 1-D array of K distinct non-empty strings. Without it,
  K is the largest label + 1 and the classes are named "0".."K-1". K >= 2.

Other arrays are ignored. The file is opened with ``allow_pickle=False``: object arrays
(which need pickle) are refused, never loaded. Every problem is a
:class:`~snnjob.errors.DataError` naming the file, the array, what is wrong and the fix;
the problems found are gathered into one message.

:func:`check_npz` reads the array headers, the labels and the minimum and maximum of
float images (uint8 images are not read); :func:`load_npz` converts the images to
float32 and caches the result per (resolved path, size, modification time).
"""

from __future__ import annotations

import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnjob.errors import DataError

__all__ = ["IMAGES", "LABELS", "NpzArrays", "check_npz", "clear_npz_cache", "load_npz"]

IMAGES = ("x_train", "x_test")
LABELS = ("y_train", "y_test")
CLASS_NAMES = "class_names"
#: Labels beyond this many classes (without class_names) are taken for a mistake.
MAX_CLASSES = 10_000
_FORMAT = (
    "An npz data set holds x_train and x_test (images: N x H x W [x C], uint8 or floats in "
    "[0, 1]), y_train and y_test (integer labels 0..K-1), and optionally class_names; "
    "write it with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)."
)


@dataclass(frozen=True, eq=False)
class NpzArrays:
    """What :func:`load_npz` returns: the checked arrays and what they are."""

    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


@dataclass(frozen=True)
class NpzSummary:
    """What :func:`check_npz` returns."""

    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    n_train: int
    n_test: int


class _Problems(list):
    def add(self, array: str, text: str) -> None:
        self.append(f"{array}: {text}")


def _fail(path: Path, problems: list[str]) -> DataError:
    if len(problems) == 1:
        return DataError(f"npz data set {path}: {problems[0]}. {_FORMAT}")
    listed = "\n".join(f"  - {p}" for p in problems)
    return DataError(f"npz data set {path} has {len(problems)} problems:\n{listed}\n{_FORMAT}")


def _open(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in the file, read from the headers only."""
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(
            f"npz data set {path} {what}; give the path of a .npz file after 'npz:' "
            f"(relative to the current folder). {_FORMAT}"
        )
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as stream:
            npy = stream.read(6) == b"\x93NUMPY"
        kind = "a single .npy array" if npy else "not a zip archive of arrays"
        raise DataError(f"npz data set {path} is not a .npz file ({kind}). {_FORMAT}")
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if not member.filename.endswith(".npy"):
                    continue
                with archive.open(member) as stream:
                    version = np.lib.format.read_magic(stream)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read(stream)
                headers[member.filename[: -len(".npy")]] = (shape, dtype)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"cannot read npz data set {path} as a plain .npz file ({exc}). {_FORMAT}"
        ) from None
    return headers


def _array(path: Path, name: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as data:
            return data[name]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read array {name} of npz data set {path} ({exc}).") from None


def _check_headers(headers: dict, problems: _Problems) -> tuple[int, int, int] | None:
    """Check what the headers tell; return the image shape (H, W, C) if the images are fine."""
    held = ", ".join(sorted(headers)) or "no arrays"
    for name in (*IMAGES, *LABELS):
        if name not in headers:
            problems.add(name, f"missing (the file holds {held}); save it under that name")
    for name, (_, dtype) in headers.items():
        if dtype.hasobject and name in (*IMAGES, *LABELS, CLASS_NAMES):
            problems.add(
                name,
                "is an object array, which needs pickle to load; snnjob never unpickles: "
                "save a plain numeric (or, for class_names, string) array instead",
            )
    shapes = {}
    for name in IMAGES:
        if name not in headers or headers[name][1].hasobject:
            continue
        shape, dtype = headers[name]
        if len(shape) not in (3, 4):
            problems.add(
                name,
                f"has shape {shape} ({len(shape)}-D); expected images (N, H, W) or "
                "(N, H, W, C), e.g. x.reshape(len(x), 28, 28)",
            )
        elif min(shape) < 1:
            problems.add(name, f"has shape {shape}: it holds no images or empty images")
        else:
            shapes[name] = (*shape[1:3], shape[3] if len(shape) == 4 else 1)
        if dtype != np.uint8 and dtype.kind != "f":
            problems.add(
                name,
                f"has dtype {dtype}; expected uint8 (0..255) or floats in [0, 1], e.g. "
                "x.astype(np.uint8) or x / 255.0",
            )
    if len(shapes) == 2 and shapes["x_train"] != shapes["x_test"]:
        problems.add(
            "x_test",
            f"has shape {headers['x_test'][0]} but x_train images are "
            f"{'x'.join(map(str, shapes['x_train']))} (H x W x C); train and test images "
            "must have the same size",
        )
    _check_label_headers(headers, problems)
    if problems or len(shapes) != 2:
        return None
    return shapes["x_train"]


def _check_label_headers(headers: dict, problems: _Problems) -> None:
    for name, images in zip(LABELS, IMAGES, strict=True):
        if name not in headers or headers[name][1].hasobject:
            continue
        shape, dtype = headers[name]
        if len(shape) != 1:
            problems.add(name, f"has shape {shape}; expected 1-D labels (N,), e.g. y.ravel()")
        elif images in headers and headers[images][0][:1] != shape:
            n_images = headers[images][0][0] if headers[images][0] else 0
            problems.add(
                name,
                f"holds {shape[0]} labels but {images} holds {n_images} images; give one "
                "label per image",
            )
        if dtype.kind not in "iu":
            problems.add(
                name, f"has dtype {dtype}; expected integer labels, e.g. y.astype(np.int64)"
            )


def _check_class_names(path: Path, headers: dict, problems: _Problems) -> tuple[str, ...] | None:
    if CLASS_NAMES not in headers or headers[CLASS_NAMES][1].hasobject:
        return None
    shape, dtype = headers[CLASS_NAMES]
    if len(shape) != 1 or dtype.kind != "U":
        problems.add(
            CLASS_NAMES,
            f"has shape {shape} and dtype {dtype}; expected a 1-D array of strings, e.g. "
            "np.array(['cat', 'dog'])",
        )
        return None
    names = tuple(str(n) for n in _array(path, CLASS_NAMES))
    if any(not n.strip() for n in names) or len(set(names)) != len(names):
        problems.add(CLASS_NAMES, f"is {list(names)}; names must be non-empty and distinct")
    return names


def _check_labels(
    path: Path, names: tuple[str, ...] | None, problems: _Problems
) -> tuple[dict[str, np.ndarray], int]:
    """The labels and the number of classes K."""
    labels = {name: _array(path, name) for name in LABELS}
    for name, y in labels.items():
        low = int(y.min())
        if low < 0:
            problems.add(name, f"holds negative label {low}; labels must be 0..K-1")
    n_classes = len(names) if names is not None else max(int(y.max()) for y in labels.values()) + 1
    if names is not None:
        for name, y in labels.items():
            high = int(y.max())
            if high >= n_classes:
                problems.add(
                    name,
                    f"holds label {high} but class_names lists {n_classes} classes (labels "
                    f"must be 0..{n_classes - 1}); add the missing names to class_names",
                )
    if names is None and n_classes > MAX_CLASSES:
        problems.add(
            "y_train" if int(labels["y_train"].max()) + 1 == n_classes else "y_test",
            f"holds label {n_classes - 1}, so {n_classes} classes 0..{n_classes - 1}; more "
            f"than {MAX_CLASSES} is not a class count: renumber the labels 0..K-1",
        )
        n_classes = 0  # no class names are made up
    if names is not None and n_classes < 2:
        problems.add(CLASS_NAMES, f"lists {n_classes} class; a classifier needs at least 2")
    elif 0 < n_classes < 2:
        problems.add(
            "y_train",
            "the labels (of y_train and y_test) hold only 1 class, 0; a classifier needs at "
            "least 2",
        )
    return labels, n_classes


def _check_float_images(path: Path, headers: dict, problems: _Problems) -> None:
    for name in IMAGES:
        if headers[name][1].kind != "f":
            continue
        x = _array(path, name)
        finite = np.isfinite(x)
        if not finite.all():
            n_nan = int(np.isnan(x).sum())
            problems.add(
                name,
                f"holds {n_nan} NaN and {int(x.size - finite.sum()) - n_nan} infinite "
                "values; images must be finite",
            )
            continue
        low, high = float(x.min()), float(x.max())
        if low < 0 or high > 1:
            problems.add(
                name,
                f"values span [{low:g}, {high:g}]; float images must lie in [0, 1] (divide "
                "0..255 pixels by 255, or save them as uint8)",
            )


def _check(path: Path) -> tuple[NpzSummary, dict[str, np.ndarray]]:
    problems = _Problems()
    headers = _open(path)
    image_shape = _check_headers(headers, problems)
    names = _check_class_names(path, headers, problems)
    if image_shape is None:
        raise _fail(path, problems)
    labels, n_classes = _check_labels(path, names, problems)
    _check_float_images(path, headers, problems)
    if problems:
        raise _fail(path, problems)
    summary = NpzSummary(
        image_shape=image_shape,
        class_names=names if names is not None else tuple(str(k) for k in range(n_classes)),
        n_train=int(headers["x_train"][0][0]),
        n_test=int(headers["x_test"][0][0]),
    )
    return summary, labels


def check_npz(path: str | Path) -> NpzSummary:
    """Check the npz data set ``path`` without converting its images; return what it holds.

    Raises :class:`~snnjob.errors.DataError` naming every problem found.
    """
    return _check(Path(path).expanduser())[0]


#: resolved path -> ((size, mtime), data)
_CACHE: dict[Path, tuple[tuple[int, int], NpzArrays]] = {}
_CACHE_LOCK = threading.Lock()


def clear_npz_cache() -> None:
    """Forget every npz data set :func:`load_npz` has loaded."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _images(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(len(x), -1)  # row-major over (H, W, C)
    if x.dtype == np.uint8:
        images = flat.astype(np.float32)
        images /= np.float32(255.0)
    else:
        images = np.array(flat, dtype=np.float32)  # a copy, also for float32
    return _read_only(images)


def load_npz(path: str | Path) -> NpzArrays:
    """Load and check the npz data set ``path``: images float32 (N, H*W*C) in [0, 1],
    labels int64, all read-only; cached per (resolved path, size, modification time).

    Raises :class:`~snnjob.errors.DataError` naming every problem found.
    """
    path = Path(path).expanduser()
    try:
        resolved = path.resolve()
        stat = resolved.stat()
        signature = (stat.st_size, stat.st_mtime_ns)
    except OSError:
        resolved, signature = None, None  # _check says what is wrong
    with _CACHE_LOCK:
        cached = _CACHE.get(resolved) if resolved is not None else None
        if cached is not None and cached[0] == signature:
            return cached[1]
        summary, labels = _check(path)
        data = NpzArrays(
            image_shape=summary.image_shape,
            class_names=summary.class_names,
            train_images=_images(_array(path, "x_train")),
            train_labels=_read_only(labels["y_train"].astype(np.int64)),
            test_images=_images(_array(path, "x_test")),
            test_labels=_read_only(labels["y_test"].astype(np.int64)),
        )
        if resolved is not None:
            _CACHE[resolved] = (signature, data)
    return data
