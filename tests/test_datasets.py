"""Tests for snnjob.datasets: the registry, npz files, Fashion-MNIST (synthetic files on a
real local HTTP mirror), MNIST through the one interface, and ``snnjob data`` for both."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
from test_data import _Handler, _link_real, _raw_bytes

from snnjob import cli, npzdata
from snnjob.datasets import (
    DATASETS,
    Dataset,
    DatasetInfo,
    check_dataset,
    check_dataset_name,
    load_dataset,
    registered_info,
)
from snnjob.errors import ConfigError, DataError
from snnjob.mnist import (
    DATA_DIR_ENV,
    FASHION_MNIST_SOURCE,
    FileHashes,
    cache_dir,
    clear_cache,
    fetch,
    load_mnist,
    resolve_data_dir,
    verify,
)
from snnjob.mnist import files as mnist_files

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No SNNJOB_DATA_DIR; the user cache lives under tmp_path; returns its snnjob folder."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "snnjob"


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name", ["mnist", "fashion_mnist", "npz:data.npz", "npz:/abs/path/x.npz", "npz:~/d.npz"]
)
def test_valid_dataset_names(name):
    check_dataset_name(name)


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("MNIST", ("unknown dataset 'MNIST'", "did you mean 'mnist'")),
        ("fashion", ("did you mean 'fashion_mnist'",)),
        ("cifar10", ("unknown dataset 'cifar10'",)),
        ("", ("unknown dataset ''",)),
        ("npz:", ("names no file", "npz:data/")),
        ("npz:   ", ("names no file",)),
        (None, ("must be a name, got None",)),
        (3, ("must be a name, got 3",)),
    ],
)
def test_invalid_dataset_names(name, fragments):
    with pytest.raises(ConfigError) as info:
        check_dataset_name(name)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    if "names no file" not in message:
        assert "mnist, fashion_mnist or npz:PATH" in message


def test_registry_names():
    assert DATASETS == ("mnist", "fashion_mnist")
    with pytest.raises(ConfigError, match="unknown dataset"):
        check_dataset("cifar10")
    assert registered_info("fashion_mnist").class_names == FASHION_NAMES
    assert registered_info("mnist").image_shape == (28, 28, 1)
    with pytest.raises(ConfigError, match="known once it is read"):
        registered_info("npz:x.npz")


def test_info_round_trips_through_json():
    info = DatasetInfo("npz:x.npz", (16, 16, 3), 5, ("a", "b", "c", "d", "e"), 10, 4)
    assert info.n_pixels == 768
    data = json.loads(json.dumps(info.to_dict()))
    assert data["image_shape"] == [16, 16, 3]
    assert data["class_names"] == ["a", "b", "c", "d", "e"]
    assert DatasetInfo.from_dict(data) == info
    with pytest.raises(ValueError, match="class_names"):
        DatasetInfo("x", (2, 2, 1), 3, ("a", "b"), 1, 1)
    with pytest.raises(ValueError, match="not a dataset description"):
        DatasetInfo.from_dict({"name": "x"})


# --------------------------------------------------------------------------- MNIST


def test_mnist_through_the_registry(mnist_dir):
    mnist = load_mnist(mnist_dir, download=False)
    data = load_dataset("mnist", mnist_dir, download=False)
    assert isinstance(data, Dataset)
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        assert getattr(data, field) is getattr(mnist, field)
    assert data.info == DatasetInfo("mnist", (28, 28, 1), 10, tuple("0123456789"), 60000, 10000)
    assert data.info.n_pixels == data.train_images.shape[1] == 784
    assert load_dataset("mnist", mnist_dir, download=False) is data
    assert check_dataset("mnist", mnist_dir, download=False) == data.info


def test_registry_info_is_returned_before_a_download(clean_env):
    info = check_dataset("mnist")  # nothing anywhere, but download allowed
    assert (info.image_shape, info.n_classes, info.n_train) == ((28, 28, 1), 10, 60000)
    fashion = check_dataset("fashion_mnist")
    assert fashion.class_names == FASHION_NAMES
    assert not clean_env.exists()  # nothing written
    with pytest.raises(DataError, match="snnjob data fetch --dataset fashion_mnist"):
        check_dataset("fashion_mnist", download=False)


# --------------------------------------------------------------------------- npz files


N_TRAIN, N_TEST, SHAPE, CLASSES = 10, 4, (16, 16, 3), ("a", "b", "c", "d", "e")


def _arrays(dtype="uint8", **changes) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    if dtype == "uint8":
        x_train = rng.integers(0, 256, (N_TRAIN, *SHAPE), dtype=np.uint8)
        x_test = rng.integers(0, 256, (N_TEST, *SHAPE), dtype=np.uint8)
    else:
        x_train = rng.random((N_TRAIN, *SHAPE)).astype(dtype)
        x_test = rng.random((N_TEST, *SHAPE)).astype(dtype)
        x_train[1, 0, 0, :2] = x_test[1, 0, 0, :2] = (0.0, 1.0)  # the bounds are allowed
    arrays = {
        "x_train": x_train,
        "y_train": np.arange(N_TRAIN) % 5,
        "x_test": x_test,
        "y_test": np.array([4, 3, 2, 1], dtype=np.uint8),
        "class_names": np.array(CLASSES),
    }
    for name, value in changes.items():
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value
    return arrays


def _npz(tmp_path: Path, arrays: dict, name: str = "data.npz") -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
def test_a_valid_npz_loads(tmp_path, dtype):
    arrays = _arrays(dtype)
    path = _npz(tmp_path, arrays)
    name = f"npz:{path}"
    info = check_dataset(name)
    assert info == DatasetInfo(name, SHAPE, 5, CLASSES, N_TRAIN, N_TEST)
    data = load_dataset(name)
    assert data.info == info
    scale = 255.0 if dtype == "uint8" else 1.0
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        images, labels = getattr(data, f"{split}_images"), getattr(data, f"{split}_labels")
        assert images.shape == (n, 16 * 16 * 3) and images.dtype == np.float32
        assert labels.shape == (n,) and labels.dtype == np.int64
        expected = (arrays[f"x_{split}"].astype(np.float64) / scale).reshape(n, -1)
        np.testing.assert_allclose(images, expected, rtol=1e-6)
        np.testing.assert_array_equal(labels, arrays[f"y_{split}"])
        assert not images.flags.writeable and not labels.flags.writeable
    # row-major over (H, W, C): pixel (1, 2), channel 1 of image 3
    assert data.train_images[3, (1 * 16 + 2) * 3 + 1] == np.float32(
        arrays["x_train"][3, 1, 2, 1] / scale
    )
    assert load_dataset(name) is data  # cached


def test_npz_without_channels_or_class_names(tmp_path):
    arrays = _arrays(x_train=_arrays()["x_train"][..., 0], x_test=_arrays()["x_test"][..., 0])
    arrays.pop("class_names")
    arrays["y_test"] = np.array([6, 0, 0, 0])  # the largest label sets the classes: 0..6
    path = _npz(tmp_path, arrays)
    info = check_dataset(f"npz:{path}")
    assert info.image_shape == (16, 16, 1)
    assert info.class_names == ("0", "1", "2", "3", "4", "5", "6")
    assert load_dataset(f"npz:{path}").train_images.shape == (N_TRAIN, 256)


def test_npz_cache_follows_the_file(tmp_path):
    path = _npz(tmp_path, _arrays())
    first = load_dataset(f"npz:{path}")
    arrays = _arrays()
    arrays["y_train"] = arrays["y_train"][::-1].copy()
    _npz(tmp_path, arrays)
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock
    second = load_dataset(f"npz:{path}")
    assert second is not first
    np.testing.assert_array_equal(second.train_labels, arrays["y_train"])


def test_npz_check_reads_no_uint8_images(tmp_path, monkeypatch):
    read = []
    real = npzdata._array
    monkeypatch.setattr(npzdata, "_array", lambda path, name: read.append(name) or real(path, name))
    check_dataset(f"npz:{_npz(tmp_path, _arrays())}")
    assert sorted(read) == ["class_names", "y_test", "y_train"]
    read.clear()
    check_dataset(f"npz:{_npz(tmp_path, _arrays('float32'), 'f.npz')}")
    assert {"x_train", "x_test"} <= set(read)  # float images: their range is checked


TRAPPED: list[str] = []


def _trap_hit():
    TRAPPED.append("unpickled")
    return 0


class _Trap:
    """Unpickling it records that something was unpickled."""

    def __reduce__(self):
        return (_trap_hit, ())


def _float(values):
    x = _arrays("float32")["x_train"]
    x[0, 0, 0, :2] = values
    return x


def _objects():
    labels = np.empty(N_TRAIN, dtype=object)
    labels[:] = [_Trap() for _ in range(N_TRAIN)]
    return labels


BAD_NPZ = [
    ("missing-array", {"y_test": None}, ("y_test: missing (the file holds class_names, x_test, "
                                         "x_train, y_train)",)),
    ("wrong-ndim", {"x_train": np.zeros((N_TRAIN, 768), np.uint8)},
     ("x_train: has shape (10, 768) (2-D); expected images (N, H, W) or (N, H, W, C)",)),
    ("train-test-shape-mismatch", {"x_test": np.zeros((5, 16, 16), np.uint8)},
     ("x_test: has shape (5, 16, 16) but x_train images are 16x16x3",)),
    ("float-above-one", {"x_train": _float([0.5, 2.0])},
     ("x_train: values span [0, 2]; float images must lie in [0, 1]",)),
    ("float-below-zero", {"x_train": _float([-0.25, 0.0])}, ("x_train: values span [-0.25, 1]",)),
    ("nan", {"x_train": _float([np.nan, 0.5])}, ("x_train: holds 1 NaN and 0 infinite values",)),
    ("inf", {"x_train": _float([np.inf, -np.inf])}, ("x_train: holds 0 NaN and 2 infinite",)),
    ("label-out-of-range", {"y_test": np.array([0, 1, 7, 2])},
     ("y_test: holds label 7 but class_names lists 5 classes (labels must be 0..4)",)),
    ("negative-label", {"y_train": np.arange(N_TRAIN) % 5 - 1},
     ("y_train: holds negative label -1",)),
    ("labels-not-integer", {"y_train": (np.arange(N_TRAIN) % 5).astype(np.float32)},
     ("y_train: has dtype float32; expected integer labels",)),
    ("labels-not-1d", {"y_train": (np.arange(N_TRAIN) % 5)[:, None]},
     ("y_train: has shape (10, 1); expected 1-D labels",)),
    ("length-mismatch", {"y_train": np.arange(N_TRAIN - 1) % 5},
     ("y_train: holds 9 labels but x_train holds 10 images",)),
    ("one-class-only", {"y_train": np.zeros(N_TRAIN, int), "y_test": np.zeros(N_TEST, int),
                        "class_names": None},
     ("y_train: the labels (of y_train and y_test) hold only 1 class, 0; a classifier needs "
      "at least 2",)),
    ("huge-label", {"y_test": np.array([0, 1, 2, 10**9]), "class_names": None},
     ("y_test: holds label 1000000000, so 1000000001 classes", "renumber the labels")),
    ("one-class-name", {"y_train": np.zeros(N_TRAIN, int), "y_test": np.zeros(N_TEST, int),
                        "class_names": np.array(["only"])},
     ("class_names: lists 1 class; a classifier needs at least 2",)),
    ("class-names-too-few", {"class_names": np.array(["a", "b", "c"])},
     ("y_train: holds label 4 but class_names lists 3 classes",
      "add the missing names to class_names")),
    ("class-names-not-strings", {"class_names": np.arange(5)},
     ("class_names: has shape (5,) and dtype int64; expected a 1-D array of strings",)),
    ("class-names-repeated", {"class_names": np.array(["a", "b", "a", "d", "e"])},
     ("class_names: is ['a', 'b', 'a', 'd', 'e']; names must be non-empty and distinct",)),
    ("images-int64", {"x_train": np.zeros((N_TRAIN, *SHAPE), np.int64)},
     ("x_train: has dtype int64; expected uint8 (0..255) or floats in [0, 1]",)),
    ("no-images", {"x_train": np.zeros((0, *SHAPE), np.uint8), "y_train": np.zeros(0, int)},
     ("x_train: has shape (0, 16, 16, 3): it holds no images",)),
    ("object-array-pickle", {"y_train": _objects()},
     ("y_train: is an object array, which needs pickle to load; snnjob never unpickles",)),
    ("several-problems", {"y_test": None, "x_train": np.zeros((N_TRAIN, 768), np.uint8)},
     ("has 2 problems", "  - y_test: missing", "  - x_train: has shape (10, 768)")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "fragments"), [c[1:] for c in BAD_NPZ], ids=[c[0] for c in BAD_NPZ]
)
def test_a_bad_npz_is_refused(tmp_path, changes, fragments):
    path = _npz(tmp_path, _arrays(**changes))
    for call in (check_dataset, load_dataset):
        with pytest.raises(DataError) as info:
            call(f"npz:{path}")
        message = str(info.value)
        assert f"npz data set {path}" in message
        for fragment in fragments:
            assert fragment in message
        assert "np.savez(path, x_train=" in message  # how to write a good one
    assert TRAPPED == []  # nothing was ever unpickled


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("write", "fragment"),
    [
        (lambda p: p.write_bytes(b"not a zip at all"), "is not a .npz file (not a zip archive"),
        (lambda p: p.write_bytes(_npy(np.zeros(3))), "is not a .npz file (a single .npy array)"),
        (lambda p: p.mkdir(), "is a folder, not a file"),
        (lambda p: None, "does not exist"),
    ],
    ids=["not-a-zip", "npy-file", "folder", "missing-file"],
)
def test_an_unreadable_npz_is_refused(tmp_path, write, fragment):
    path = tmp_path / "data.npz"
    write(path)
    for call in (check_dataset, load_dataset):
        with pytest.raises(DataError) as info:
            call(f"npz:{path}")
        assert fragment in str(info.value)
        assert str(path) in str(info.value)


# --------------------------------------------------------------------------- Fashion-MNIST

FAKE_TRAIN, FAKE_TEST = 30, 10


def _idx(magic: int, array: np.ndarray) -> bytes:
    head = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return head + array.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def fake_fashion():
    """Synthetic IDX files (30 + 10 images) with a source whose digests are theirs."""
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (FAKE_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, FAKE_TRAIN, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (FAKE_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, FAKE_TEST, dtype=np.uint8),
    }
    raw = {n: _idx(2051 if a.ndim == 3 else 2049, a) for n, a in arrays.items()}
    gz = {n: gzip.compress(content, mtime=0) for n, content in raw.items()}
    hashes = {n: FileHashes(None, hashlib.sha256(gz[n]).hexdigest()) for n in raw}
    source = dataclasses.replace(
        FASHION_MNIST_SOURCE,
        files=types.MappingProxyType(hashes),
        mirrors=("http://127.0.0.1:9/unused/",),  # replaced per test
        n_train=FAKE_TRAIN,
        n_test=FAKE_TEST,
    )
    return types.SimpleNamespace(arrays=arrays, raw=raw, gz=gz, source=source)


@pytest.fixture(scope="module")
def fashion_server(fake_fashion):
    """A real HTTP server on 127.0.0.1 serving the synthetic .gz files (test_data's handler)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.payloads = {f"{name}.gz": content for name, content in fake_fashion.gz.items()}
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _url(server, mode: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{mode}/"


@pytest.fixture
def fashion(monkeypatch, fake_fashion, fashion_server):
    """Register the synthetic source as ``fashion_mnist``, served by the local mirror;
    returns a setter of its mirrors."""
    clear_cache()

    def use(*modes: str):
        source = dataclasses.replace(
            fake_fashion.source, mirrors=tuple(_url(fashion_server, m) for m in modes)
        )
        monkeypatch.setitem(mnist_files.SOURCES, "fashion_mnist", source)
        return source

    use("good")
    yield use
    clear_cache()


def test_fashion_downloads_into_its_own_cache(clean_env, fashion, fake_fashion, capsys):
    source = fashion("missing", "good")
    assert cache_dir(source) == clean_env / "fashion_mnist"
    data = load_dataset("fashion_mnist")
    folder = clean_env / "fashion_mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.gz" for n in source.files)
    assert not (clean_env / "mnist").exists()
    assert data.info == DatasetInfo(
        "fashion_mnist", (28, 28, 1), 10, FASHION_NAMES, FAKE_TRAIN, FAKE_TEST
    )
    expected = fake_fashion.arrays["t10k-images-idx3-ubyte"].reshape(FAKE_TEST, -1) / 255.0
    np.testing.assert_allclose(data.test_images, expected, rtol=1e-6)
    np.testing.assert_array_equal(data.train_labels, fake_fashion.arrays[TRAIN_LABELS])
    assert load_dataset("fashion_mnist") is data
    assert check_dataset("fashion_mnist", download=False) == data.info
    rows = verify(folder, source=source)
    assert [r["checked"] for r in rows] == ["gz_sha256"] * 4
    assert [r["gz_sha256"] for r in rows] == [h.gz_sha256 for h in source.files.values()]
    # `snnjob data verify` names the digest it checked
    assert cli.main(["data", "verify", "--dataset", "fashion_mnist"]) == 0
    out = capsys.readouterr().out
    assert f"sha256 of the .gz {source.files[TRAIN_LABELS].gz_sha256}" in out
    assert f"Fashion-MNIST in {folder.resolve()} verified" in out


def test_fashion_fetch_by_the_cli(tmp_path, monkeypatch, fashion, capsys):
    fashion("good")
    dest = tmp_path / "dest"
    assert cli.main(["data", "fetch", "--dataset", "fashion_mnist", str(dest)]) == 0
    assert f"Fashion-MNIST ready in {dest.resolve()}" in capsys.readouterr().out
    assert len(list(dest.glob("*.gz"))) == 4
    # into the user cache, while SNNJOB_DATA_DIR sends runs elsewhere: said so
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    assert cli.main(["data", "fetch", "--dataset", "fashion_mnist"]) == 0
    out = capsys.readouterr().out
    assert "note: SNNJOB_DATA_DIR is set, so runs look for Fashion-MNIST in " in out
    assert "$SNNJOB_DATA_DIR/fashion_mnist, not in " in out


def test_a_corrupt_fashion_download_leaves_nothing(clean_env, fashion, tmp_path):
    source = fashion("corrupt")
    with pytest.raises(DataError) as info:
        load_dataset("fashion_mnist")
    message = str(info.value)
    assert "Fashion-MNIST data not found" in message
    assert "corrupt download: checksum mismatch (SHA-256 of the .gz" in message
    assert "snnjob data fetch --dataset fashion_mnist" in message
    assert not any(p.is_file() for p in clean_env.rglob("*"))
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz.*corrupt download"):
        fetch(dest, source=source, timeout=10)
    assert list(dest.iterdir()) == []


def test_decompressed_fashion_files_are_checked_for_structure_only(
    tmp_path, fashion, fake_fashion, capsys
):
    folder = tmp_path / "raw"
    folder.mkdir()
    for name, content in fake_fashion.raw.items():
        (folder / name).write_bytes(content)
    data = load_dataset("fashion_mnist", folder, download=False)
    np.testing.assert_array_equal(data.test_labels, fake_fashion.arrays["t10k-labels-idx1-ubyte"])
    assert cli.main(["data", "verify", "--dataset", "fashion_mnist", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.count("structure only: no published SHA-256 of the decompressed file") == 4
    assert "4 decompressed file(s) not hash-checked" in out
    assert "verified\n" not in out and "sha256" not in out
    # damaged: its structure is still checked
    (folder / TRAIN_LABELS).write_bytes(fake_fashion.raw[TRAIN_LABELS][:-3])
    with pytest.raises(DataError, match=rf"{TRAIN_LABELS}: is truncated"):
        check_dataset("fashion_mnist", folder, download=False)


def test_fashion_never_uses_the_mnist_folder(monkeypatch, tmp_path, mnist_dir, fashion):
    monkeypatch.setenv(DATA_DIR_ENV, str(mnist_dir))
    sub = mnist_dir / "fashion_mnist"
    for call in (check_dataset, load_dataset):
        with pytest.raises(DataError) as info:
            call("fashion_mnist")
        message = str(info.value)
        assert (
            f"$SNNJOB_DATA_DIR/fashion_mnist is {sub}, which is not an existing folder" in message
        )
        assert "snnjob data fetch --dataset fashion_mnist" in message
    assert check_dataset("mnist").n_classes == 10  # MNIST keeps the folder itself
    # a fashion_mnist sub-folder of SNNJOB_DATA_DIR is used
    top = tmp_path / "data"
    _link_real(top, mnist_dir)
    fetch(top / "fashion_mnist", source=mnist_files.SOURCES["fashion_mnist"], timeout=10)
    monkeypatch.setenv(DATA_DIR_ENV, str(top))
    assert resolve_data_dir(source=FASHION_MNIST_SOURCE) == (top / "fashion_mnist").resolve()
    assert load_dataset("fashion_mnist").info.n_train == FAKE_TRAIN
    assert resolve_data_dir() == top.resolve()


def test_mnist_files_given_for_fashion_are_named(tmp_path, mnist_dir):
    # the real registry: the same names, other data; told apart by the labels' digests
    with pytest.raises(DataError, match=rf"is MNIST's {TRAIN_LABELS}, not Fashion-MNIST's"):
        check_dataset("fashion_mnist", mnist_dir, download=False)
    folder = tmp_path / "raw"
    _link_real(folder, mnist_dir)
    (folder / TRAIN_LABELS).write_bytes(_raw_bytes(mnist_dir, TRAIN_LABELS))  # decompressed
    with pytest.raises(DataError, match=rf"{TRAIN_LABELS}: is MNIST's {TRAIN_LABELS}"):
        check_dataset("fashion_mnist", folder, download=False)
    with pytest.raises(DataError) as info:
        verify(folder, source=FASHION_MNIST_SOURCE)
    assert f"images-idx3-ubyte.gz: is MNIST's {TRAIN_IMAGES}, not Fashion-MNIST's" in str(
        info.value
    )
    assert f"{TRAIN_LABELS}: is MNIST's {TRAIN_LABELS}" in str(info.value)


# --------------------------------------------------------------------------- CLI


def test_data_verify_of_a_missing_folder_is_bad_input(tmp_path, capsys, monkeypatch, mnist_dir):
    nowhere = tmp_path / "nowhere"
    assert cli.main(["data", "verify", "--dataset", "fashion_mnist", str(nowhere)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnjob: error: ")
    assert f"{nowhere} is not an existing folder; cannot verify Fashion-MNIST files" in err
    monkeypatch.setenv(DATA_DIR_ENV, str(mnist_dir))  # MNIST's folder: fashion looks below it
    assert cli.main(["data", "verify", "--dataset", "fashion_mnist"]) == 2
    assert f"$SNNJOB_DATA_DIR/fashion_mnist is {mnist_dir / 'fashion_mnist'}" in (
        capsys.readouterr().err
    )
    assert cli.main(["data", "verify", str(tmp_path), "--dir", str(nowhere)]) == 2
    assert "two folders given" in capsys.readouterr().err


def test_data_verify_mnist_output_is_unchanged(mnist_dir, capsys):
    assert cli.main(["data", "verify", "--dir", str(mnist_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"MNIST in {mnist_dir} verified"
    digest = mnist_files.FILES[TRAIN_LABELS].sha256
    assert f"ok  {TRAIN_LABELS:26s} {60000:6d} items  sha256 {digest}" in lines


def test_import_needs_no_tensorflow_ray_or_pyarrow():
    code = (
        "import sys, snnjob.datasets; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'ray', 'pyarrow'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
