"""Planning the work of the evaluation pool: shards, tasks, what is left, the pool's size.

A sweep is every (parameter set, evaluation seed) simulation x *shard* of consecutive test
images; each task simulates the longest ``n_steps`` once and is read at every requested
``n_steps`` (one sweep point each); :func:`unfinished` leaves out what a resumed run has
written already. The diagnostics' tasks (rate mode, plot traces, spike counts) are planned
here too. No Ray here: :class:`snnjob.pool.EvalService` runs the tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnjob.config import JobConfig
from snnjob.errors import ConfigError
from snnjob.messages import ShardRequest, SpikeRequest, WorkRequest
from snnjob.params import ParamSet
from snnjob.results import PointKey
from snnjob.results.runinfo import ClusterInfo


def shard_bounds(n_items: int, shard_size: int) -> list[tuple[int, int]]:
    """Split ``range(n_items)`` into consecutive ``(start, stop)`` shards of ``shard_size``
    (the last may be shorter), covering every index exactly once.

    Raises ``ValueError`` if either size is not a positive integer.
    """
    for label, value in (("n_items", n_items), ("shard_size", shard_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    n_items, shard_size = int(n_items), int(shard_size)
    return [(start, min(start + shard_size, n_items)) for start in range(0, n_items, shard_size)]


@dataclass(frozen=True)
class ShardTask:
    """One shard of one simulation: a parameter set, an evaluation seed, a range of images.

    The simulation runs the longest ``n_steps`` of the sweep once and is read at every
    requested ``n_steps`` (``request.readouts``): one sweep point each. ``request``'s type
    says what the worker does with it (:data:`~snnjob.messages.WorkRequest`).
    """

    pset: ParamSet
    shard_id: int
    request: WorkRequest

    @property
    def points(self) -> list[PointKey]:
        """The sweep points whose shard this task evaluates (none for a spike count)."""
        r = self.request
        if not isinstance(r, ShardRequest):
            return []
        steps = r.readouts or (r.n_steps,)
        return [PointKey(self.pset.id, self.pset.train_seed, n, r.eval_seed) for n in steps]

    def __str__(self) -> str:
        r = self.request
        return f"shard {self.shard_id} of p-{self.pset.id}_t-{self.pset.train_seed}_s-{r.eval_seed}"


def plan_shards(cfg: JobConfig, psets: list[ParamSet], n_images: int) -> list[ShardTask]:
    """Every (params, eval seed) x shard, params-major (workers rebuild less); each task
    simulates ``max(eval.n_steps)`` steps once and reads every requested ``n_steps``."""
    e = cfg.eval
    bounds = shard_bounds(n_images, e.effective_shard_size)
    steps = tuple(sorted(set(e.n_steps)))
    anytime = tuple(e.anytime_thresholds)
    return [
        ShardTask(p, i, ShardRequest(p.id, a, b, steps[-1], s, e.minibatch_size, e.unroll,
                                     steps, anytime=anytime, model=p.model, engine=e.engine,
                                     verify_images=e.verify_images if i == 0 else 0))
        for p in psets
        for s in e.seeds
        for i, (a, b) in enumerate(bounds)
    ]  # fmt: skip


def unfinished(tasks: list[ShardTask], done: set[tuple[PointKey, int]]) -> list[ShardTask]:
    """The tasks with a (point, shard) not in ``done`` (the results files already written,
    :func:`~snnjob.results.store.completed_shards`): what a resumed sweep still runs."""
    return [t for t in tasks if any((p, t.shard_id) not in done for p in t.points)]


def rate_tasks(cfg: JobConfig, psets: list[ParamSet], n_images: int) -> list[ShardTask]:
    """The rate-mode pass (``LIFRate``, one step, read at step 1), sharded like the sweep."""
    e = cfg.eval
    bounds = shard_bounds(n_images, e.effective_shard_size)
    return [
        ShardTask(p, i, ShardRequest(p.id, a, b, 1, 0, e.minibatch_size, 1, (1,), rate=True,
                                     model=p.model, engine=e.engine))
        for p in psets
        for i, (a, b) in enumerate(bounds)
    ]  # fmt: skip


def trace_task(
    cfg: JobConfig, pset: ParamSet, *, n_steps: int, eval_seed: int, k: int
) -> ShardTask:
    """The first ``k`` test images, their filtered outputs kept at every step (the plots)."""
    e = cfg.eval
    request = ShardRequest(pset.id, 0, k, n_steps, eval_seed, e.minibatch_size, e.unroll,
                           keep_traces=k, model=pset.model, engine=e.engine)  # fmt: skip
    return ShardTask(pset, 0, request)


def spike_task(
    cfg: JobConfig, pset: ParamSet, *, n_steps: int, eval_seed: int, k: int
) -> ShardTask:
    """The spikes of every LIF neuron over the first ``k`` test images (spike statistics)."""
    e = cfg.eval
    request = SpikeRequest(pset.id, 0, k, n_steps, eval_seed, min(e.minibatch_size, k),
                           e.unroll, model=pset.model, engine=e.engine)  # fmt: skip
    return ShardTask(pset, 0, request)


def pool_size(cfg: JobConfig, info: ClusterInfo, n_tasks: int) -> int:
    """Workers to start: ``resources.workers``, else as many as the cluster fits."""
    r = cfg.resources
    if r.workers is not None:
        return max(1, min(r.workers, n_tasks))
    n = int(info.cpus // r.cpus_per_worker)
    if r.gpus_per_worker > 0:
        n = min(n, int(info.gpus // r.gpus_per_worker))
    if n < 1:
        raise ConfigError(
            f"the cluster ({info.cpus:g} CPUs, {info.gpus:g} GPUs) cannot fit one worker "
            f"of resources.cpus_per_worker={r.cpus_per_worker}, "
            f"resources.gpus_per_worker={r.gpus_per_worker}"
        )
    return max(1, min(n, n_tasks))
