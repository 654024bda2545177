"""Tests for snnjob.mnist on the real MNIST files and a real local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import platformdirs
import pytest

from snnjob import atomic
from snnjob.errors import DataError
from snnjob.mnist import (
    DATA_DIR_ENV,
    FILES,
    cache_dir,
    clear_cache,
    fetch,
    load_mnist,
    resolve_data_dir,
    verify,
)
from snnjob.mnist import files as mnist_files

TRAIN_IMAGES = "train-images-idx3-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"


# --------------------------------------------------------------------------- helpers


def _source(mnist_dir: Path, name: str) -> Path:
    raw = mnist_dir / name
    return raw if raw.is_file() else mnist_dir / f"{name}.gz"


def _raw_bytes(mnist_dir: Path, name: str) -> bytes:
    path = _source(mnist_dir, name)
    content = path.read_bytes()
    return gzip.decompress(content) if path.suffix == ".gz" else content


def _gz_bytes(mnist_dir: Path, name: str) -> bytes:
    path = _source(mnist_dir, name)
    content = path.read_bytes()
    return content if path.suffix == ".gz" else gzip.compress(content, compresslevel=1)


def _link_real(dest: Path, mnist_dir: Path, *, skip: tuple[str, ...] = ()) -> None:
    """Make ``dest`` hold the real files (as symlinks), except those in ``skip``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if name not in skip:
            src = _source(mnist_dir, name)
            (dest / src.name).symlink_to(src.resolve())


def _with_bad_file(tmp_path: Path, mnist_dir: Path, name: str, content: bytes, suffix="") -> Path:
    """A folder with the real files except ``name``, which holds ``content``."""
    folder = tmp_path / "bad"
    _link_real(folder, mnist_dir, skip=(name,))
    (folder / f"{name}{suffix}").write_bytes(content)
    return folder


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.is_symlink())


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


# --------------------------------------------------------------------------- HTTP server


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``/<mode>/<name>.gz``; mode: good, missing, corrupt, cut."""

    def do_GET(self):  # noqa: N802 (http.server API)
        self.server.requests.append(self.path)
        _, mode, file_name = self.path.split("/", 2)
        payload = self.server.payloads.get(file_name)
        if payload is None or mode == "missing":
            self.send_error(404)
            return
        if mode == "corrupt":
            middle = len(payload) // 2
            payload = payload[:middle] + bytes([payload[middle] ^ 0xFF]) + payload[middle + 1 :]
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if mode == "cut":  # announce the full length, then close the connection early
            payload = payload[: len(payload) // 2]
            self.close_connection = True
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(mnist_dir):
    """A real HTTP server on 127.0.0.1 serving the MNIST .gz files; yields its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.payloads = {f"{name}.gz": _gz_bytes(mnist_dir, name) for name in FILES}
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
def clean_env(monkeypatch, tmp_path):
    """No SNNJOB_DATA_DIR; the cache folder lives under tmp_path."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "snnjob" / "mnist"


# --------------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return load_mnist(mnist_dir, download=False)


def test_real_files_shapes_dtypes_and_range(mnist):
    assert mnist.train_images.shape == (60000, 784)
    assert mnist.test_images.shape == (10000, 784)
    assert mnist.train_labels.shape == (60000,)
    assert mnist.test_labels.shape == (10000,)
    for images in (mnist.train_images, mnist.test_images):
        assert images.dtype == np.float32
        assert images.min() == 0.0
        assert images.max() == 1.0
    assert mnist.train_labels.dtype == np.int64
    assert mnist.test_labels.dtype == np.int64


def test_real_files_sanity_facts(mnist):
    assert mnist.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(mnist.test_labels).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009,
    ]  # fmt: skip
    assert np.bincount(mnist.train_labels).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]  # fmt: skip


def test_arrays_are_read_only_and_cached(mnist, mnist_dir):
    for array in (mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels):
        assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        mnist.train_images[0, 0] = 0.5
    assert load_mnist(mnist_dir, download=False) is mnist
    assert load_mnist(mnist_dir, download=False, verify=False) is mnist
    assert repr(mnist) == "MNIST(train=60000, test=10000)"


def test_verify_real_files(mnist_dir):
    results = verify(mnist_dir)
    assert [r["name"] for r in results] == list(FILES)
    assert all(r["ok"] for r in results)
    assert [r["n_items"] for r in results] == [60000, 60000, 10000, 10000]
    assert [r["sha256"] for r in results] == [h.sha256 for h in FILES.values()]
    assert all(Path(r["path"]).is_file() for r in results)


def test_decompressed_files_load_too(tmp_path, mnist_dir, mnist):
    for name in FILES:
        (tmp_path / name).write_bytes(_raw_bytes(mnist_dir, name))
    try:
        raw = load_mnist(tmp_path, download=False)
        assert raw is not mnist
        for field in ("train_images", "train_labels", "test_images", "test_labels"):
            np.testing.assert_array_equal(getattr(raw, field), getattr(mnist, field))
        results = verify(tmp_path)
        assert [r["path"] for r in results] == [tmp_path / name for name in FILES]
    finally:
        clear_cache(tmp_path)


def test_decompressed_file_preferred_over_gz(tmp_path, mnist_dir):
    _link_real(tmp_path, mnist_dir)
    (tmp_path / TEST_LABELS).write_bytes(_raw_bytes(mnist_dir, TEST_LABELS))
    paths = {r["name"]: r["path"] for r in verify(tmp_path)}
    assert paths[TEST_LABELS] == tmp_path / TEST_LABELS


# --------------------------------------------------------------------------- corrupt files


def test_flipped_byte_fails_checksum(tmp_path, mnist_dir):
    content = bytearray(_raw_bytes(mnist_dir, TEST_LABELS))
    assert content[8] == 7
    content[8] = 3  # still a valid digit: only the checksum can tell
    folder = _with_bad_file(tmp_path, mnist_dir, TEST_LABELS, bytes(content))
    bad = folder / TEST_LABELS
    with pytest.raises(DataError) as info:
        load_mnist(folder, download=False)
    message = str(info.value)
    assert str(bad) in message
    assert FILES[TEST_LABELS].sha256 in message
    assert hashlib.sha256(content).hexdigest() in message
    assert "snnjob data fetch" in message
    with pytest.raises(DataError, match=rf"{TEST_LABELS}: SHA-256 of the decompressed data is"):
        verify(folder)
    # Without checksum verification the (well-formed) file is accepted.
    try:
        assert load_mnist(folder, download=False, verify=False).test_labels[0] == 3
    finally:
        clear_cache(folder)


def test_flipped_byte_in_gz_is_rejected(tmp_path, mnist_dir):
    content = bytearray(_gz_bytes(mnist_dir, TEST_LABELS))
    content[len(content) // 2] ^= 0xFF
    folder = _with_bad_file(tmp_path, mnist_dir, TEST_LABELS, bytes(content), ".gz")
    with pytest.raises(DataError, match=rf"{TEST_LABELS}\.gz: is not a valid gzip file"):
        load_mnist(folder, download=False, verify=False)


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_truncated_file_is_rejected(tmp_path, mnist_dir, compressed):
    if compressed:
        content, suffix = _gz_bytes(mnist_dir, TEST_IMAGES), ".gz"
    else:
        content, suffix = _raw_bytes(mnist_dir, TEST_IMAGES), ""
    folder = _with_bad_file(
        tmp_path, mnist_dir, TEST_IMAGES, content[: len(content) - 1000], suffix
    )
    with pytest.raises(DataError, match=r"truncated") as info:
        load_mnist(folder, download=False, verify=False)
    assert str(folder / f"{TEST_IMAGES}{suffix}") in str(info.value)


def test_header_only_file_is_rejected(tmp_path, mnist_dir):
    folder = _with_bad_file(tmp_path, mnist_dir, TEST_LABELS, b"\x00\x00\x08")
    with pytest.raises(DataError, match=rf"{TEST_LABELS}.*truncated"):
        load_mnist(folder, download=False, verify=False)


def test_wrong_magic_number_is_rejected(tmp_path, mnist_dir):
    content = bytearray(_raw_bytes(mnist_dir, TEST_LABELS))
    content[3] = 0x03  # 2049 -> 2051, an image file's magic
    folder = _with_bad_file(tmp_path, mnist_dir, TEST_LABELS, bytes(content))
    with pytest.raises(DataError, match=rf"{TEST_LABELS}: has magic number 2051, expected 2049"):
        load_mnist(folder, download=False, verify=False)


def test_wrong_count_and_label_range_are_rejected(tmp_path, mnist_dir):
    content = bytearray(_raw_bytes(mnist_dir, TEST_LABELS))
    content[8] = 10
    folder = _with_bad_file(tmp_path, mnist_dir, TEST_LABELS, bytes(content))
    with pytest.raises(DataError, match=r"label 10, expected digits 0\.\.9"):
        load_mnist(folder, download=False, verify=False)
    content = bytearray(_raw_bytes(mnist_dir, TEST_LABELS))
    content[4:8] = (9999).to_bytes(4, "big")
    (folder / TEST_LABELS).write_bytes(bytes(content[: 8 + 9999]))
    with pytest.raises(DataError, match=r"shape \(9999,\), expected \(10000,\)"):
        load_mnist(folder, download=False, verify=False)


def test_verify_lists_every_problem(tmp_path, mnist_dir):
    folder = tmp_path / "partial"
    _link_real(folder, mnist_dir, skip=(TEST_LABELS, TEST_IMAGES))
    (folder / f"{TEST_IMAGES}.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError) as info:
        verify(folder)
    message = str(info.value)
    assert f"{TEST_IMAGES}.gz: is not a valid gzip file" in message
    assert f"{TEST_LABELS}: missing" in message
    assert TRAIN_IMAGES not in message
    assert "snnjob data fetch" in message
    with pytest.raises(DataError, match="not an existing folder"):
        verify(tmp_path / "nowhere")


# --------------------------------------------------------------------------- lookup order


@pytest.mark.skipif(sys.platform != "linux", reason="platformdirs' Linux (XDG) layout")
def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "snnjob" / "mnist"
    assert cache_dir() == platformdirs.user_cache_path("snnjob") / "mnist"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home_cache = tmp_path / "home" / ".cache" / "snnjob" / "mnist"
    for ignored in ("", "relative/cache"):  # XDG: empty or relative values are ignored
        monkeypatch.setenv("XDG_CACHE_HOME", ignored)
        assert cache_dir() == home_cache
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == home_cache
    assert not (tmp_path / "home").exists()  # cache_dir() only names the folder


def test_lookup_order(monkeypatch, tmp_path, mnist_dir, clean_env):
    explicit, env_dir = tmp_path / "explicit", tmp_path / "env"
    for folder in (explicit, env_dir, clean_env):
        _link_real(folder, mnist_dir)
    monkeypatch.setenv(DATA_DIR_ENV, str(env_dir))
    assert resolve_data_dir(explicit) == explicit.resolve()
    assert resolve_data_dir() == env_dir.resolve()
    monkeypatch.delenv(DATA_DIR_ENV)
    assert resolve_data_dir() == clean_env.resolve()
    (clean_env / f"{TEST_LABELS}.gz").unlink()  # an incomplete cache is not used
    assert resolve_data_dir() is None


def test_explicit_dir_lacking_files_is_an_error(monkeypatch, tmp_path, mnist_dir, clean_env):
    _link_real(clean_env, mnist_dir)  # a complete cache must not be fallen back to
    partial = tmp_path / "partial"
    _link_real(partial, mnist_dir, skip=(TEST_LABELS, TRAIN_IMAGES))
    with pytest.raises(DataError) as info:
        resolve_data_dir(partial)
    message = str(info.value)
    assert f"lacks {TRAIN_IMAGES}, {TEST_LABELS}" in message
    assert str(partial) in message
    with pytest.raises(DataError, match="not an existing folder"):
        load_mnist(tmp_path / "nowhere")
    monkeypatch.setenv(DATA_DIR_ENV, str(partial))
    with pytest.raises(DataError, match=rf"\${DATA_DIR_ENV} is .* lacks {TRAIN_IMAGES}"):
        load_mnist()


# --------------------------------------------------------------------------- downloads


def test_fetch_into_empty_folder(tmp_path, server):
    dest = tmp_path / "new" / "dir"
    calls = []
    result = fetch(
        dest, mirrors=[_url(server, "good")], progress=lambda *a: calls.append(a), timeout=10
    )
    assert result == dest.resolve()
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in FILES)
    assert all(r["ok"] for r in verify(dest))
    assert (f"{TEST_LABELS}.gz", 0, len(server.payloads[f"{TEST_LABELS}.gz"])) in calls
    assert calls[-1][1] == calls[-1][2]
    # Present and valid files are skipped: a dead mirror is never asked.
    before = len(server.requests)
    fetch(dest, mirrors=[_url(server, "missing")])
    assert len(server.requests) == before


def test_fetch_progress_true_draws_tqdm_bars(tmp_path, mnist_dir, server, capsys):
    dest = tmp_path / "dest"
    _link_real(dest, mnist_dir, skip=(TEST_LABELS, TEST_IMAGES))
    fetch(dest, mirrors=[_url(server, "missing"), _url(server, "good")], progress=True)
    err = capsys.readouterr().err
    # one finished bar per download; the 404 never started one
    bars = [line for line in err.replace("\r", "\n").splitlines() if "100%" in line]
    assert sorted({line.split(":")[0] for line in bars}) == [
        f"{TEST_IMAGES}.gz",
        f"{TEST_LABELS}.gz",
    ]
    assert "missing" not in err
    assert _leftovers(dest) == sorted([f"{TEST_IMAGES}.gz", f"{TEST_LABELS}.gz"])


def test_fetch_falls_back_to_next_mirror(tmp_path, mnist_dir, server):
    dest = tmp_path / "dest"
    _link_real(dest, mnist_dir, skip=(TEST_LABELS,))
    before = len(server.requests)
    mirrors = [_closed_port_url(), _url(server, "missing"), _url(server, "corrupt")]
    fetch(dest, mirrors=[*mirrors, _url(server, "good").rstrip("/")], timeout=10)
    assert server.requests[before:] == [
        f"/{m}/{TEST_LABELS}.gz" for m in ("missing", "corrupt", "good")
    ]
    assert _leftovers(dest) == [f"{TEST_LABELS}.gz"]
    verify(dest)


def test_fetch_replaces_invalid_file(tmp_path, mnist_dir, server):
    dest = tmp_path / "dest"
    _link_real(dest, mnist_dir, skip=(TEST_LABELS,))
    (dest / TEST_LABELS).write_bytes(b"garbage")  # raw copy would shadow the new .gz
    fetch(dest, mirrors=[_url(server, "good")], timeout=10)
    assert _leftovers(dest) == [f"{TEST_LABELS}.gz"]
    verify(dest)


def test_fetch_rejects_corrupt_payload(tmp_path, mnist_dir, server):
    dest = tmp_path / "dest"
    _link_real(dest, mnist_dir, skip=(TEST_LABELS,))
    with pytest.raises(DataError, match=rf"{TEST_LABELS}\.gz.*corrupt download") as info:
        fetch(dest, mirrors=[_url(server, "corrupt")], timeout=10)
    assert "SNNJOB_DATA_DIR" in str(info.value)
    assert _leftovers(dest) == []


def test_interrupted_transfer_leaves_nothing(tmp_path, server):
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match=r"transfer interrupted after \d+ of \d+ bytes"):
        fetch(dest, mirrors=[_url(server, "cut")], timeout=10)
    assert list(dest.iterdir()) == []


def test_all_mirrors_failing(tmp_path, server):
    dead, missing = _closed_port_url(), _url(server, "missing")
    with pytest.raises(DataError) as info:
        fetch(tmp_path, mirrors=[dead, missing], timeout=10)
    message = str(info.value)
    assert f"{dead}{TRAIN_IMAGES}.gz: ConnectionRefusedError" in message
    assert f"{missing}{TRAIN_IMAGES}.gz: HTTP 404" in message
    assert "SNNJOB_DATA_DIR" in message
    assert "snnjob data fetch" in message
    assert list(tmp_path.iterdir()) == []


def test_unwritable_destination_is_a_data_error(monkeypatch, tmp_path, server):
    # The temp file cannot be created (its folder is missing): no mirror can help with that.
    monkeypatch.setattr(atomic, "tmp_path_for", lambda path: path.parent / "gone" / path.name)
    with pytest.raises(DataError, match=rf"^cannot create a file in {tmp_path}: No such file"):
        fetch(tmp_path, mirrors=[_url(server, "good")], timeout=10)
    assert list(tmp_path.iterdir()) == []


def test_fetch_argument_checks(tmp_path):
    with pytest.raises(ValueError, match="mirrors"):
        fetch(tmp_path, mirrors=[])
    with pytest.raises(ValueError, match="timeout"):
        fetch(tmp_path, timeout=0)
    with pytest.raises(TypeError, match="progress"):
        fetch(tmp_path, progress="yes")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DataError, match="cannot create the MNIST folder"):
        fetch(blocker / "sub")


def test_load_mnist_downloads_into_cache(monkeypatch, clean_env, server, mnist):
    monkeypatch.setattr(mnist_files, "MIRRORS", (_url(server, "missing"), _url(server, "good")))
    try:
        loaded = load_mnist()
        assert sorted(p.name for p in clean_env.iterdir()) == sorted(f"{n}.gz" for n in FILES)
        np.testing.assert_array_equal(loaded.test_labels, mnist.test_labels)
        assert resolve_data_dir() == clean_env.resolve()
    finally:
        clear_cache(clean_env)


def test_load_mnist_offline_says_how_to_fix(monkeypatch, clean_env, server):
    with pytest.raises(DataError, match=r"SNNJOB_DATA_DIR.*snnjob data fetch"):
        load_mnist(download=False)
    monkeypatch.setattr(mnist_files, "MIRRORS", (_closed_port_url(), _url(server, "missing")))
    with pytest.raises(DataError) as info:
        load_mnist()
    message = str(info.value)
    assert "MNIST data not found" in message
    assert "every mirror failed" in message
    assert "set SNNJOB_DATA_DIR" in message
    assert "`snnjob data fetch`" in message
    assert not any(p.is_file() for p in clean_env.rglob("*"))


# --------------------------------------------------------------------------- package


def test_import_needs_no_tensorflow_ray_or_pyarrow():
    code = (
        "import sys, snnjob.mnist; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'ray', 'pyarrow'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
