"""Shard planning of the sweep, snnjob.plan (pure Python, no Ray started)."""

from __future__ import annotations

import numpy as np
import pytest

from snnjob.config import load_config
from snnjob.errors import ConfigError
from snnjob.params import ParamSet
from snnjob.plan import plan_shards, pool_size, shard_bounds
from snnjob.results.runinfo import ClusterInfo


@pytest.mark.parametrize(
    ("n_items", "shard_size"), [(1, 1), (10, 3), (10, 10), (10, 25), (10000, 1024), (60000, 7)]
)
def test_shard_bounds_cover_every_index_once(n_items, shard_size):
    bounds = shard_bounds(n_items, shard_size)
    covered = np.concatenate([np.arange(start, stop) for start, stop in bounds])
    np.testing.assert_array_equal(covered, np.arange(n_items))
    assert all(0 < stop - start <= shard_size for start, stop in bounds)
    assert all(stop - start == shard_size for start, stop in bounds[:-1])
    assert len(bounds) == -(-n_items // shard_size)


@pytest.mark.parametrize(("n_items", "shard_size"), [(0, 1), (-1, 1), (10, 0), (10, -3), (10, 2.0)])
def test_shard_bounds_rejects_bad_sizes(n_items, shard_size):
    with pytest.raises(ValueError, match="positive integer"):
        shard_bounds(n_items, shard_size)


def _psets(*seeds):
    return [ParamSet(s, {}, f"{s:x}" * 64, None) for s in seeds]


def test_plan_is_one_simulation_per_params_eval_seed_and_shard():
    cfg = load_config(
        "tiny", ["eval.n_steps=[20, 5, 10]", "eval.seeds=[0, 1]", "eval.shard_size=150"]
    )
    psets = _psets(0, 1)
    tasks = plan_shards(cfg, psets, 400)
    # shards are whole minibatches (100): 200, 200
    assert {(t.request.start, t.request.stop) for t in tasks} == {(0, 200), (200, 400)}
    assert len(tasks) == 2 * 2 * 2  # params x eval seeds x shards; n_steps cost nothing extra
    assert all(t.request.n_steps == 20 and t.request.readouts == (5, 10, 20) for t in tasks)
    points = [(p, t.shard_id) for t in tasks for p in t.points]
    assert len(points) == len(set(points)) == 2 * 3 * 2 * 2  # every (point, shard) once
    # params-major, then eval seed: a worker's simulator changes seldom
    keys = [(t.pset.id, t.request.eval_seed) for t in tasks]
    assert keys == sorted(keys, key=lambda k: ([p.id for p in psets].index(k[0]), k[1]))
    first = tasks[0]
    assert [p.slug for p in first.points] == [f"p-{psets[0].id}_t-0_n-{n}_s-0" for n in (5, 10, 20)]
    assert str(first) == f"shard 0 of p-{psets[0].id}_t-0_s-0"


def _cluster(cpus: float) -> ClusterInfo:
    return ClusterInfo(nodes=1, cpus=cpus, gpus=0.0, max_node_cpus=cpus)


def test_pool_size_fits_the_cluster_or_refuses():
    cfg = load_config("tiny")
    assert pool_size(cfg, _cluster(2.0), n_tasks=10) == 2
    assert pool_size(cfg, _cluster(8.0), n_tasks=3) == 3
    wide = load_config("tiny", ["resources.cpus_per_worker=4"])
    with pytest.raises(ConfigError, match="cannot fit one worker"):
        pool_size(wide, _cluster(2.0), n_tasks=3)
    fixed = load_config("tiny", ["resources.workers=5"])
    assert pool_size(fixed, _cluster(2.0), n_tasks=3) == 3
