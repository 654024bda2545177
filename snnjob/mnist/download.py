"""Download the ``.gz`` files of an IDX data set from public mirrors, checked, with atomic
installs.

Each ``<name>.gz`` is tried from the mirrors in order. It is streamed into a hidden
temporary file beside its final name (:func:`snnjob.atomic.write_atomic`), verified, and
only then renamed into place, so a failed, interrupted or corrupt download leaves
nothing under the final name and its temporary file is removed.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from snnjob import __version__
from snnjob.atomic import write_atomic
from snnjob.errors import DataError, RunDirError
from snnjob.mnist import files
from snnjob.mnist.files import DATA_DIR_ENV, MNIST_SOURCE, IdxSource, cache_dir
from snnjob.mnist.idx import FileProblem, file_sha256, is_valid
from snnjob.mnist.progress import ProgressCallback, reporter

__all__ = ["ProgressCallback", "fetch"]

_CHUNK = 1 << 16


class _MirrorFailed(Exception):
    """One download attempt from one mirror failed."""


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


def _write(out: IO[bytes], chunk: bytes, path: Path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:  # local disk problem: no other mirror can help
        raise DataError(f"cannot write {path}: {exc.strerror or exc}.") from exc


def _stream(
    url: str, out: IO[bytes], tmp: Path, *, timeout: float, report: ProgressCallback
) -> str:
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


def _download_problem(tmp: Path, name: str, gz_digest: str, source: IdxSource) -> str | None:
    """Why the downloaded ``.gz`` at ``tmp`` is not the right file, or None if it is."""
    spec = source.files[name]
    if gz_digest == spec.gz_sha256:
        return None
    if spec.sha256 is None:  # only the .gz's digest is known
        return (
            f"corrupt download: checksum mismatch (SHA-256 of the .gz {gz_digest}, expected "
            f"{spec.gz_sha256})"
        )
    try:
        content = file_sha256(tmp, gz=True)
    except FileProblem as exc:
        return f"corrupt download: not a valid gzip file ({exc.__cause__})"
    if content != spec.sha256:
        return (
            f"corrupt download: checksum mismatch (SHA-256 of the .gz {gz_digest}, expected "
            f"{spec.gz_sha256}; of its content {content}, expected {spec.sha256})"
        )
    return None


def _download(
    url: str,
    dest: Path,
    name: str,
    source: IdxSource,
    *,
    timeout: float,
    report: ProgressCallback,
) -> None:
    """Download, verify and install ``dest/<name>.gz``; the temp file never survives."""
    final = dest / f"{name}.gz"
    opened = False

    def write(out: IO[bytes]) -> None:
        nonlocal opened
        opened = True
        tmp = Path(out.name)
        gz_digest = _stream(url, out, tmp, timeout=timeout, report=report)
        out.flush()
        problem = _download_problem(tmp, name, gz_digest, source)
        if problem:
            raise _MirrorFailed(problem)  # write_atomic removes the temp file

    try:
        write_atomic(final, write)
    except RunDirError as exc:  # local disk problem: no other mirror can help
        reason = getattr(exc.__cause__, "strerror", None) or exc.__cause__ or exc
        where = f"write {final}" if opened else f"create a file in {dest}"
        raise DataError(f"cannot {where}: {reason}.") from exc


def _fetch_one(
    dest: Path,
    name: str,
    source: IdxSource,
    mirrors: tuple[str, ...],
    timeout: float,
    report: ProgressCallback,
) -> None:
    failures = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{name}.gz"
        try:
            _download(url, dest, name, source, timeout=timeout, report=report)
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
        f"run `{source.fetch_command}` again; or download the four files "
        f"({', '.join(n + '.gz' for n in source.files)}) by hand from one of the mirrors "
        f"above into one folder and {_use_folder(source)}."
    )


def _use_folder(source: IdxSource, ready: bool = False) -> str:
    """How to make the lookup find a folder of the files (MNIST: set SNNJOB_DATA_DIR)."""
    if source.env_subdir is None:
        return f"set {DATA_DIR_ENV} to " + (
            "a folder that already holds the files" if ready else "that folder"
        )
    return f"set {DATA_DIR_ENV} to a folder whose sub-folder {source.env_subdir} " + (
        "already holds the files" if ready else "is that folder"
    )


def fetch(
    dest: str | os.PathLike[str] | None = None,
    *,
    mirrors: Iterable[str] | None = None,
    timeout: float = 30.0,
    progress: ProgressCallback | bool | None = None,
    source: IdxSource = MNIST_SOURCE,
) -> Path:
    """Download the files of ``source`` (default MNIST) that are missing or invalid in
    ``dest``.

    A download is accepted if the ``.gz``'s SHA-256 equals the published one, or (MNIST)
    the SHA-256 of its decompressed content equals :data:`~snnjob.mnist.files.FILES`'.
    Files already present and valid are skipped; an invalid decompressed copy is
    deleted once its ``.gz`` has been downloaded (it would shadow it).

    Parameters
    ----------
    dest : str or os.PathLike, optional
        Target folder, created if needed. Default: the source's
        :func:`~snnjob.mnist.files.cache_dir`.
    mirrors : iterable of str, optional
        Base URLs serving ``<name>.gz``, tried in order. Default:
        :data:`snnjob.mnist.files.MIRRORS` (Fashion-MNIST: ``FASHION_MIRRORS``), read at
        call time (:func:`~snnjob.mnist.files.mirrors_of`).
    timeout : float, optional
        Socket timeout in seconds for each connection and read.
    progress : bool or callable, optional
        True: draw a tqdm progress bar per file on stderr. None or False (default): no
        progress. A callable is called as ``progress(file_name, bytes_done, bytes_total)``
        when a download starts and after each chunk; ``bytes_total`` is None if the
        server sends no length.
    source : IdxSource, optional
        The data set: :data:`~snnjob.mnist.files.MNIST_SOURCE` (default) or
        :data:`~snnjob.mnist.files.FASHION_MNIST_SOURCE`.

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
    TypeError
        If ``progress`` is neither a bool, None nor callable.
    """
    mirrors = files.mirrors_of(source) if mirrors is None else mirrors
    mirror_list = (mirrors,) if isinstance(mirrors, str) else tuple(mirrors)
    if not mirror_list:
        raise ValueError("mirrors must name at least one base URL")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise TypeError(f"progress must be a bool or a callable, got {progress!r}")
    target = (Path(dest) if dest is not None else cache_dir(source)).expanduser()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the {source.title} folder {target}: {exc.strerror or exc}. Choose "
            f"a writable folder, or {_use_folder(source, ready=True)}."
        ) from exc
    with reporter(progress) as report:
        for name in source.files:
            if not is_valid(target, name, source):
                _fetch_one(target, name, source, mirror_list, timeout, report)
    return target.resolve()
