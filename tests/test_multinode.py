"""Multi-node behaviour on a real 3-node ``ray.cluster_utils.Cluster`` (several raylets)."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from snnjob.config import load_config
from snnjob.engines.factory import evaluate_with
from snnjob.mnist import load_mnist
from snnjob.params import save_params
from snnjob.results import check_coverage
from snnjob.results.store import read_predictions, read_results
from snnjob.runner import run_job
from snnjob.train import train

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = pytest.mark.slow  # starts a 3-node Ray cluster and trains


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    ray.init(address=c.address)
    yield c
    ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="module")
def trained_params(mnist_dir, tmp_path_factory):
    cfg = load_config("tiny", [f"data.data_dir={mnist_dir}"])
    mnist = load_mnist(mnist_dir, download=False)
    res = train(cfg.model, cfg.train, mnist.train_images[:1000], mnist.train_labels[:1000],
                seed=0, verbose=0)  # fmt: skip
    path = tmp_path_factory.mktemp("params") / "seed-0.npz"
    save_params(path, res.params, {"train_seed": 0, "config": cfg.to_dict()})
    return path, res.params


def test_shards_spread_over_nodes_and_match_one_node(cluster, trained_params, mnist_dir, tmp_path):
    path, params = trained_params
    assert len([n for n in ray.nodes() if n["Alive"]]) == 3
    cfg = load_config(
        "tiny", [f"data.data_dir={mnist_dir}", "eval.shard_size=50", "eval.minibatch_size=50"]
    )
    summary = run_job(cfg, tmp_path / "run", params_file=path, progress=False)
    table = read_results(tmp_path / "run")
    assert check_coverage(table, 400) == {}
    nodes = set(table["worker_node"].to_pylist())
    assert len(nodes) >= 2, nodes  # SPREAD placed workers on several raylets

    mnist = load_mnist(mnist_dir, download=False)
    ref = evaluate_with("compiled", cfg.model, params, mnist.test_images[:400],
                        mnist.test_labels[:400], n_steps=10, seed=0)  # fmt: skip
    preds = read_predictions(tmp_path / "run").sort_by("image_index")
    np.testing.assert_array_equal(preds["prediction"].to_numpy(), ref.predictions)
    assert summary.points[0].n_errors == ref.n_errors
    assert pc.sum(table["n_images"]).as_py() == 400


def test_losing_a_node_mid_sweep_still_completes(cluster, trained_params, mnist_dir, tmp_path):
    """A worker node dies while shards are in flight: its workers are not restarted; their
    shards are resubmitted to the workers on live nodes (snnjob.scheduler). 300 steps: each
    shard lasts long enough (seconds) for the node to die with shards in flight (the
    compiled engine is fast); no self-check, which would hold the first shard back."""
    import threading

    path, params = trained_params
    extra = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    cfg = load_config(
        "tiny",
        [f"data.data_dir={mnist_dir}", "eval.shard_size=50", "eval.minibatch_size=50",
         "eval.n_steps=[10, 300]", "resources.workers=4", "eval.verify_images=0"],
    )  # fmt: skip
    results = tmp_path / "run" / "results"

    def kill_when_started():
        import time

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if results.is_dir() and len(list(results.glob("*.parquet"))) >= 2:
                cluster.remove_node(extra, allow_graceful=False)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_started, daemon=True)
    killer.start()
    summary = run_job(cfg, tmp_path / "run", params_file=path, progress=False)
    killer.join(timeout=5)
    table = read_results(tmp_path / "run")
    assert table.num_rows == 16
    assert check_coverage(table, 400) == {}
    assert [p.n_images for p in summary.points] == [400, 400]
    assert summary.timings.workers_lost >= 1  # the node died with shards in flight
    assert summary.timings.shards_resubmitted >= 1
    assert len([n for n in ray.nodes() if n["Alive"]]) == 3  # the node is gone
    # identical to a fault-free single-process evaluation, at both points
    mnist = load_mnist(mnist_dir, download=False)
    preds = read_predictions(tmp_path / "run").sort_by([("n_steps", "ascending"),
                                                         ("image_index", "ascending")])  # fmt: skip
    for i, n_steps in enumerate((10, 300)):
        ref = evaluate_with("compiled", cfg.model, params, mnist.test_images[:400],
                            mnist.test_labels[:400], n_steps=n_steps, seed=0)  # fmt: skip
        got = preds["prediction"].to_numpy()[i * 400 : (i + 1) * 400]
        np.testing.assert_array_equal(got, ref.predictions)
