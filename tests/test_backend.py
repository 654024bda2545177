"""TensorFlow/NengoDL start-up noise is silenced by default, and only that noise."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = (
    "import os, snnjob.network, snnjob.train, snnjob.evaluate; "
    "print('level', os.environ['TF_CPP_MIN_LOG_LEVEL'])"
)


def _run(**env):
    clean = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", CODE], env={**clean, **env}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_importing_the_network_prints_no_tensorflow_noise():
    proc = _run()
    assert proc.returncode == 0, proc.stderr
    assert "level 2" in proc.stdout  # nengo_dl's import set 1; snnjob put its default back
    assert "TF-TRT" not in proc.stderr, proc.stderr
    assert "tensorflow/" not in proc.stderr, proc.stderr


def test_a_users_log_level_is_kept():
    proc = _run(TF_CPP_MIN_LOG_LEVEL="3")
    assert proc.returncode == 0, proc.stderr
    assert "level 3" in proc.stdout
