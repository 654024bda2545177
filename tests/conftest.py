"""Shared pytest fixtures and options.

Tests use the real MNIST files: ``SNNJOB_DATA_DIR`` if set, else ``../shared/data/mnist``
beside the checkout. Tests that train a network or start Ray carry ``@pytest.mark.slow``:
``scripts/test.sh`` runs everything, ``scripts/test.sh -m "not slow"`` the unit suite.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_CONFIGS = Path(__file__).resolve().parent / "configs"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Folder holding the real MNIST IDX files (never downloaded by tests)."""
    env = os.environ.get("SNNJOB_DATA_DIR")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "mnist"
    if (
        not (path / "t10k-labels-idx1-ubyte.gz").exists()
        and not (path / "t10k-labels-idx1-ubyte").exists()
    ):
        pytest.fail(f"real MNIST files not found in {path}; set SNNJOB_DATA_DIR to their folder")
    return path


@pytest.fixture
def read_only_dir(tmp_path):
    """An existing folder nobody can create files in, root included.

    As root, permission bits are ignored, so the folder is made immutable
    (``chattr +i``, on file systems that support it); otherwise it is ``chmod 555``.
    """
    import subprocess

    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"running as root and `chattr +i` failed: {done.stderr.strip()}")
        yield folder
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


@pytest.fixture
def closed_port():
    """A TCP port on 127.0.0.1 that is bound but not listening: connections are refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()
