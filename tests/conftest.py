"""Shared pytest fixtures and options.

Tests use the real MNIST files: ``SNNJOB_DATA_DIR`` if set, else ``../shared/data/mnist``
beside the checkout. Long tests carry ``@pytest.mark.slow`` and run with ``--runslow``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_CONFIGS = Path(__file__).resolve().parent / "configs"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


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
