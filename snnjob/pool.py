"""The pool of evaluation workers: :class:`EvalService`, the Ray side of every evaluation.

:class:`EvalService` owns what every evaluation of a job shares: the worker pool, the test
set put into the object store once, the parameter sets broadcast once by the driver (an
object put by an actor would die with it), and a :class:`~snnjob.scheduler.Scheduler` for
each batch of tasks. Every task goes to :meth:`snnjob.actors.EvalWorker.run` with its typed
request (:data:`~snnjob.messages.WorkRequest`): the sweep (:mod:`snnjob.sweep`) and the
diagnostics (:mod:`snnjob.diagnostics`) differ only in the requests they plan
(:mod:`snnjob.plan`). Every answer is a :class:`~snnjob.messages.ShardOutcome`, checked
here against the parameters' hash.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import ray

from snnjob.config import JobConfig
from snnjob.errors import SnnjobError
from snnjob.messages import ShardOutcome, WorkerStats
from snnjob.plan import ShardTask
from snnjob.results.runinfo import FirstShard
from snnjob.scheduler import Scheduler


class EvalService:
    """The evaluation side of one job (see the module docstring); close it when done."""

    def __init__(self, cfg: JobConfig, images: np.ndarray, labels: np.ndarray):
        self.cfg = cfg
        self.images, self.labels = images, labels
        self._data_refs: tuple[ray.ObjectRef, ray.ObjectRef] | None = None
        self.workers: list[Any] = []  # EvalWorker handles, started on first use
        self.workers_lost = 0
        self.workers_replaced = 0
        self.shards_resubmitted = 0
        self.started_at: float | None = None  # time.time() when the first worker was asked for
        self.retired_builds, self.retired_peak_rss_mb = 0, 0.0  # of released workers

    def run(
        self, tasks: list[ShardTask], *, workers: int
    ) -> Iterator[tuple[ShardTask, ShardOutcome]]:
        """Yield ``(task, outcome)`` for every task as it lands, on up to ``workers`` workers
        (each task's request says what the worker does); a lost worker is replaced (it gets
        work once it has started, if the cluster has room) and its shards go back to the
        queue."""
        if self.started_at is None:
            self.started_at = time.time()
        while len(self.workers) < workers:
            self.workers.append(self._start_worker())
        for task in tasks:
            if task.pset.ref is None:  # broadcast once, owned by the driver
                task.pset.ref = ray.put(task.pset.params)
        if self._data_refs is None:  # the test set, once per job
            self._data_refs = (ray.put(np.ascontiguousarray(self.images)), ray.put(self.labels))
        images_ref, labels_ref = self._data_refs

        def submit(worker, task: ShardTask) -> ray.ObjectRef:
            return worker.run.remote(task.request, task.pset.ref, images_ref, labels_ref)

        scheduler = Scheduler(
            self.workers[:workers], submit, max_attempts=3, describe=str,
            replace=self._start_worker,
        )  # fmt: skip
        try:
            for task, outcome in scheduler.run(tasks):
                if outcome.params_sha256 != task.pset.sha256:
                    raise SnnjobError(
                        f"worker {outcome.node}:{outcome.pid} evaluated parameters with sha256 "
                        f"{outcome.params_sha256}, expected {task.pset.sha256}: the broadcast "
                        f"was corrupted"
                    )
                yield task, outcome
        finally:
            lost = set(scheduler.stats.lost_actors)
            self.workers_lost += len(lost)
            self.workers_replaced += scheduler.stats.replaced
            self.shards_resubmitted += scheduler.stats.resubmitted
            for i in lost:  # kill them in case they come back
                ray.kill(scheduler.actors[i])
            kept = [a for i, a in enumerate(scheduler.actors) if i not in lost]
            self.workers = kept + self.workers[workers:]

    def _start_worker(self) -> Any:
        from snnjob.actors import EvalWorker

        r = self.cfg.resources
        return EvalWorker.options(
            num_cpus=r.cpus_per_worker,
            num_gpus=r.gpus_per_worker,
            max_restarts=0,  # the scheduler replaces a lost worker and requeues its shards
            scheduling_strategy="SPREAD",
        ).remote(self.cfg.model, r.cpus_per_worker, xla=self.cfg.eval.xla)

    def worker_stats(self) -> list[WorkerStats]:
        """Counters of the workers that answer within seconds (for the run's statistics; a
        replacement still waiting for room on the cluster does not)."""
        refs = [w.stats.remote() for w in self.workers]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=30)
        return ray.get(ready)

    def first_shard(
        self, workers: list[WorkerStats], outcome: ShardOutcome, at: float, since: float
    ) -> FirstShard:
        """Where the latency of a sweep's first shard (landed at ``at``, submitted at
        ``since``, both ``time.time()``) went: worker start, imports, build, first minibatch."""
        worker = next((s for s in workers if s.pid == outcome.pid), None)
        started = (worker.ready_at - worker.import_s - self.started_at) if worker else None
        return FirstShard(
            latency_s=at - since,
            worker_start_s=started,
            imports_s=worker.import_s if worker else None,
            simulator_build_s=outcome.build_time_s,
            first_minibatch_s=outcome.result.first_batch_s,
            shard_simulation_s=outcome.result.wall_time_s,
        )

    def release(self, stats: list[WorkerStats] | None = None) -> None:
        """Stop the idle workers, keeping their counters (``stats``, as just read by
        :meth:`worker_stats`; None: read them now): their CPUs (GPUs) go back to the
        cluster, to training actors that wait for them; :meth:`run` starts new ones."""
        if stats is None:
            with contextlib.suppress(Exception):  # statistics only
                stats = self.worker_stats()
        for s in stats or []:
            self.retired_builds += s.builds
            self.retired_peak_rss_mb = max(self.retired_peak_rss_mb, s.peak_rss_mb)
        self.close()

    def close(self) -> None:
        for worker in self.workers:
            ray.kill(worker)
        self.workers = []

    def __enter__(self) -> EvalService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
