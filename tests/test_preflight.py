"""snnjob.preflight: the checks before Ray starts, and the cluster feasibility check (pure)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from snnjob.config import load_config
from snnjob.errors import ConfigError
from snnjob.params import save_params
from snnjob.preflight import check_feasible, check_inputs
from snnjob.results.runinfo import ClusterInfo


def info(cpus=2.0, gpus=0.0, max_node_cpus=None, nodes=1):
    """What :func:`snnjob.session.cluster_info` returns."""
    node_cpus = cpus if max_node_cpus is None else max_node_cpus
    return ClusterInfo(nodes=nodes, cpus=cpus, gpus=gpus, max_node_cpus=node_cpus)


@pytest.mark.parametrize(
    ("overrides", "cluster", "training", "fragment"),
    [
        (
            ["resources.cpus_per_worker=3"],
            info(2),
            False,
            "resources.cpus_per_worker=3 but the largest node has 2 CPU(s), so no evaluation "
            "worker can start; use --cpus-per-worker 2",
        ),
        (
            ["resources.cpus_per_worker=6"],
            info(8, max_node_cpus=4, nodes=2),
            True,
            "the largest node has 4 CPU(s)",
        ),
        (
            ["resources.gpus_per_worker=1"],
            info(4),
            False,
            "resources.gpus_per_worker=1 but the cluster has 0 GPU(s), so no evaluation worker "
            "can start; use --gpus-per-worker 0",
        ),
        (["resources.gpus_per_worker=2"], info(4, gpus=1), False, "the cluster has 1 GPU(s)"),
        (
            ["resources.trainer_cpus=4"],
            info(2),
            True,
            "resources.trainer_cpus=4 but the largest node has 2 CPU(s), so no trainer can start",
        ),
        (["train.device=gpu"], info(4), True, "train.device=gpu but the cluster has no GPU"),
        ([], info(0), True, "nodes still starting? wait until `ray status` lists them"),
    ],
    ids=[
        "cpus-per-worker",
        "cpus-per-worker-per-node",
        "gpu-worker-no-gpu",
        "gpus-above-total",
        "trainer-cpus",
        "train-device-gpu",
        "no-cpu-yet",
    ],  # fmt: skip
)
def test_a_job_no_node_can_ever_run_is_refused(overrides, cluster, training, fragment):
    cfg = load_config("tiny", overrides)
    with pytest.raises(ConfigError, match="can never run this job") as err:
        check_feasible(cfg, cluster, training=training)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "cluster"),
    [
        ([], info(2)),
        (["resources.cpus_per_worker=4", "resources.workers=8"], info(16, max_node_cpus=4)),
        (["resources.gpus_per_worker=0.5"], info(4, gpus=1)),
        # training needs only what it will use: trained parameters exist, or --params
        (["resources.trainer_cpus=64", "train.device=gpu"], info(2)),
    ],
    ids=["default", "workers-queue-for-cpus", "gpu-share", "no-training"],
)
def test_feasible_jobs_pass(overrides, cluster):
    check_feasible(load_config("tiny", overrides), cluster, training=False)
    if not overrides or "workers" in str(overrides):
        check_feasible(load_config("tiny", overrides), cluster, training=True)


def test_good_inputs_pass_in_milliseconds_and_write_nothing(tmp_path, mnist_dir):
    cfg = load_config("tiny", [f"data.data_dir={mnist_dir}", "data.download=false"])
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s).astype(np.float32)
              for k, s in cfg.model.net.weight_shapes().items()}  # fmt: skip
    side = save_params(tmp_path / "p.npz", params, {"config": cfg.to_dict()})
    (tmp_path / "out").mkdir()
    check_inputs(cfg, tmp_path / "out", params_file=tmp_path / "p.npz")  # warm imports
    t0 = time.perf_counter()
    identity = check_inputs(cfg, tmp_path / "out", params_file=tmp_path / "p.npz")
    elapsed = time.perf_counter() - t0
    assert identity == f"sha256:{side['sha256']}"
    assert check_inputs(cfg, tmp_path / "new") == "trained"
    assert elapsed < 1.0, elapsed
    assert list((tmp_path / "out").iterdir()) == [] and not (tmp_path / "new").exists()
