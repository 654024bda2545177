"""A job no node of the cluster can ever run is refused before anything trains (local Ray).

The check itself is a pure function, unit-tested in ``test_preflight.py``; here it runs
end to end through ``snnjob run`` on a real local Ray instance of 2 CPUs and no GPU.
"""

from __future__ import annotations

import time

import pytest

from snnjob import cli
from snnjob.session import connect

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # starts Ray


@pytest.fixture(scope="module")
def ray_local():
    started = not ray.is_initialized()
    info = connect(None, num_cpus=2)
    yield info
    if started:
        ray.shutdown()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--cpus-per-worker", "3"],
         "resources.cpus_per_worker=3 but the largest node has 2 CPU(s), so no evaluation "
         "worker can start; use --cpus-per-worker 2"),
        (["--gpus-per-worker", "1"], "resources.gpus_per_worker=1 but the cluster has 0 GPU(s)"),
        (["--set", "resources.trainer_cpus=8"], "resources.trainer_cpus=8 but the largest node"),
        (["--set", "train.device=gpu"], "train.device=gpu but the cluster has no GPU"),
    ],
    ids=["cpus-per-worker", "gpus-per-worker", "trainer-cpus", "train-device-gpu"],
)  # fmt: skip
def test_an_impossible_request_is_refused_before_training(
    ray_local, mnist_dir, tmp_path, capsys, argv, fragment
):
    out = tmp_path / "out"
    t0 = time.perf_counter()
    code = cli.main(["run", "--config", "tiny", "--set", f"data.data_dir={mnist_dir}",
                     "--num-cpus", "2", *argv, "--out", str(out), "--no-progress"])  # fmt: skip
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("snnjob: error: the Ray cluster (1 node(s), 2 CPU(s), 0 GPU(s)) ")
    assert fragment in err and "Traceback" not in err
    assert not out.exists()  # refused before the folder, the data, any trainer
    assert elapsed < 10, f"{elapsed:.1f} s with Ray already up"
