"""The evaluation sweep: shard planning, the pool of evaluation workers, and running it.

A sweep is every (parameter set, ``n_steps``, evaluation seed) *point* x *shard* of
consecutive test images. :class:`EvalService` owns what every evaluation of a job shares:
the worker pool, the test set put into the object store once, the parameter sets
broadcast once by the driver (an object put by an actor would die with it), and a
:class:`~snnjob.scheduler.Scheduler` for each batch of requests. The sweep, the rate-mode
pass and the plot traces all go through :meth:`EvalService.evaluate`.

:func:`run_sweep` evaluates the shards not yet in ``OUT/results`` and writes each as it
lands (driver-side: no shared file system needed).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import ray

from snnjob.config import JobConfig
from snnjob.engines.check import check_row
from snnjob.errors import RunDirError, SnnjobError
from snnjob.messages import ShardOutcome, ShardRequest, SpikeCounts, WorkerStats
from snnjob.params import ParamSet
from snnjob.plan import ShardTask, plan_shards, pool_size, shard_bounds
from snnjob.results.summary import wilson_interval
from snnjob.rundir import RunDir
from snnjob.scheduler import Scheduler
from snnjob.session import cluster_info

log = logging.getLogger(__name__)


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

    def evaluate(
        self, tasks: list[ShardTask], *, workers: int, method: str = "evaluate"
    ) -> Iterator[tuple[ShardTask, ShardOutcome]]:
        """Yield ``(task, outcome)`` for every task as it lands, on up to ``workers`` workers;
        a lost worker is replaced (it gets work once it has started, if the cluster has room)
        and its shards go back to the queue. ``method``: the
        :class:`~snnjob.actors.EvalWorker` method each task calls."""
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
            call = getattr(worker, method)
            return call.remote(task.request, task.pset.ref, images_ref, labels_ref)

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
    ) -> dict[str, float | None]:
        """Where the latency of a sweep's first shard (landed at ``at``, submitted at
        ``since``, both ``time.time()``) went: worker start, imports, build, first minibatch."""
        worker = next((s for s in workers if s.pid == outcome.pid), None)
        started = (worker.ready_at - worker.import_s - self.started_at) if worker else None
        return {
            "latency_s": at - since,
            "worker_start_s": started,
            "imports_s": worker.import_s if worker else None,
            "simulator_build_s": outcome.build_time_s,
            "first_minibatch_s": outcome.first_batch_s,
            "shard_simulation_s": outcome.wall_time_s,
        }

    def release(self, stats: list[WorkerStats] | None = None) -> None:
        """Stop the idle workers, keeping their counters (``stats``, as just read by
        :meth:`worker_stats`; None: read them now): their CPUs (GPUs) go back to the
        cluster, to training actors that wait for them; :meth:`evaluate` starts new ones."""
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


def run_sweep(
    cfg: JobConfig,
    run: RunDir,
    psets: list[ParamSet],
    service: EvalService,
    *,
    progress: bool = True,
    release: bool = False,
) -> dict[str, Any]:
    """Evaluate every (point, shard) not yet in ``run``; write each as it lands. ``release``:
    then stop the service's workers (:meth:`EvalService.release`)."""
    from snnjob.results.store import completed_shards

    tasks = plan_shards(cfg, psets, len(service.images))
    done = completed_shards(run.path)
    todo = [t for t in tasks if any((p, t.shard_id) not in done for p in t.points)]
    stats = {"tasks": len(tasks), "skipped": len(tasks) - len(todo), "workers": 0}
    if not todo:
        log.info("all %d shards already written; nothing to evaluate", len(tasks))
        return stats
    stats["workers"] = n_workers = pool_size(cfg, cluster_info(), len(todo))
    log.info(
        "evaluating %d of %d shards (%d already written) on %d worker(s), %d step(s) each, "
        "read at n_steps %s",
        len(todo), len(tasks), stats["skipped"], n_workers, todo[0].request.n_steps,
        list(todo[0].request.readouts),
    )  # fmt: skip
    bar = _progress_bar(len(tasks), stats["skipped"], enabled=progress)
    t0, since, images, image_steps, first = time.perf_counter(), time.time(), 0, 0, None
    used, checks = set(), []  # (engine, core) pairs; the self-checks against NengoDL
    try:
        for task, outcome in service.evaluate(todo, workers=n_workers):
            if not images:
                first = (outcome, time.time())
            write_task(cfg, run, task, outcome)
            used.add((outcome.engine, outcome.core))
            if outcome.check is not None:
                p = task.pset
                checks.append(
                    check_row(
                        outcome.check,
                        params_id=p.id,
                        recipe=p.recipe,
                        train_seed=p.train_seed,
                        eval_seed=task.request.eval_seed,
                    )
                )
            images += outcome.n_images
            image_steps += outcome.n_images * task.request.n_steps
            bar.update(1)
            rate = image_steps / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix_str(f"{rate:.0f} img-steps/s")
    finally:
        bar.close()
    stats["eval_wall_time_s"] = time.perf_counter() - t0
    stats["engines"], stats["cores"] = (
        sorted({e for e, _ in used}),
        sorted({c for _, c in used if c}),
    )
    stats["engine_checks"] = checks
    stats["images_evaluated"] = images
    stats["image_steps_simulated"] = image_steps
    stats["workers_lost"] = service.workers_lost
    stats["workers_replaced"] = service.workers_replaced
    stats["shards_resubmitted"] = service.shards_resubmitted
    workers = None
    with contextlib.suppress(Exception):  # statistics only (the workers are idle now)
        workers = service.worker_stats()
        stats["worker_builds"] = service.retired_builds + sum(s.builds for s in workers)
        stats["worker_peak_rss_mb"] = max([service.retired_peak_rss_mb,
                                           *(s.peak_rss_mb for s in workers)])  # fmt: skip
        if first is not None:
            stats["first_shard"] = service.first_shard(workers, *first, since)
    if release:  # with the counters just read: an unready worker is not waited for twice
        service.release(workers)
    return stats


def write_task(cfg: JobConfig, run: RunDir, task: ShardTask, outcome: ShardOutcome) -> None:
    """Write one finished shard: its curve and anytime counts, then per point its
    predictions and results row (a results file, written last, marks the point's shard done)."""
    from snnjob.results.curvestore import write_anytime, write_curve
    from snnjob.results.store import write_shard

    r = task.request
    try:
        write_curve(
            run.path, params_id=task.pset.id, train_seed=task.pset.train_seed,
            eval_seed=r.eval_seed, shard_id=task.shard_id, first_index=r.start,
            step_errors=outcome.step_errors, n_images=outcome.n_images,
        )  # fmt: skip
        if r.anytime:  # like the curve: before the results files
            write_anytime(
                run.path, params_id=task.pset.id, train_seed=task.pset.train_seed,
                eval_seed=r.eval_seed, shard_id=task.shard_id, first_index=r.start,
                n_images=outcome.n_images, n_steps=r.n_steps, thresholds=r.anytime,
                n_errors=outcome.anytime_errors, steps_sum=outcome.anytime_steps,
            )  # fmt: skip
        for point in task.points:
            step = point.n_steps
            predictions = _predictions(task, outcome, step) if cfg.eval.save_predictions else None
            write_shard(
                run.path, point=point, shard_id=task.shard_id,
                row=_shard_row(task, outcome, step), predictions=predictions,
            )  # fmt: skip
    except RunDirError as exc:
        raise RunDirError(
            f"{exc}. The shards written before are kept: free space or fix the folder's "
            f"permissions, then re-run the same command to resume"
        ) from exc


def rate_mode_errors(cfg: JobConfig, psets: list[ParamSet], service: EvalService) -> list[dict]:
    """Each parameter set's test error with ``LIFRate`` neurons (one step, no spikes).

    What training achieved before any spiking: the gap to the spiking error at ``n_steps``
    is the cost of spiking. Sharded over the pool like the sweep; counts are summed.
    """
    e = cfg.eval
    bounds = shard_bounds(len(service.images), e.effective_shard_size)
    tasks = [
        ShardTask(p, i, ShardRequest(p.id, a, b, 1, 0, e.minibatch_size, 1, (1,), rate=True,
                                     model=p.model, engine=e.engine))
        for p in psets
        for i, (a, b) in enumerate(bounds)
    ]  # fmt: skip
    counts = {p.id: [0, 0] for p in psets}
    workers = min(len(tasks), max(1, len(service.workers)))
    for task, outcome in service.evaluate(tasks, workers=workers):
        counts[task.pset.id][0] += outcome.n_errors(1)
        counts[task.pset.id][1] += outcome.n_images
    rows = []
    for p in psets:
        n_err, n = counts[p.id]
        low, high = wilson_interval(n_err, n)
        rows.append({
            "params_id": p.id, "recipe": p.recipe, "train_seed": p.train_seed, "n_images": n,
            "n_errors": n_err, "error": n_err / n, "ci95_low": low, "ci95_high": high,
        })  # fmt: skip
        log.info("rate-mode (LIFRate, 1 step) test error, training seed %d: %.2f%% (%d/%d)",
                 p.train_seed, 100 * n_err / n, n_err, n)  # fmt: skip
    return rows


def output_traces(
    cfg: JobConfig, pset: ParamSet, service: EvalService, *, n_steps: int, eval_seed: int, k: int
) -> ShardOutcome:
    """The first ``k`` test images' filtered outputs at every step (for the plots)."""
    e = cfg.eval
    request = ShardRequest(pset.id, 0, k, n_steps, eval_seed, e.minibatch_size, e.unroll,
                           keep_traces=k, model=pset.model, engine=e.engine)  # fmt: skip
    ((_, outcome),) = service.evaluate([ShardTask(pset, 0, request)], workers=1)
    return outcome


def spike_counts(
    cfg: JobConfig, pset: ParamSet, service: EvalService, *, n_steps: int, eval_seed: int, k: int
) -> SpikeCounts:
    """Spikes of every LIF neuron over the first ``k`` test images (the spike statistics)."""
    e = cfg.eval
    mb = min(e.minibatch_size, k)
    request = ShardRequest(
        pset.id, 0, k, n_steps, eval_seed, mb, e.unroll, model=pset.model, engine=e.engine
    )
    tasks = [ShardTask(pset, 0, request)]
    ((_, counts),) = service.evaluate(tasks, workers=1, method="spike_statistics")
    return counts


def _shard_row(task: ShardTask, outcome: ShardOutcome, step: int) -> dict[str, Any]:
    r = task.request
    return {
        "params_sha256": task.pset.sha256,
        "minibatch_size": r.minibatch_size,
        "first_index": r.start,
        "last_index": r.stop - 1,
        "n_images": outcome.n_images,
        "n_errors": outcome.n_errors(step),
        "wall_time_s": outcome.wall_time_s + outcome.build_time_s,
        "worker_node": outcome.node,
        "worker_pid": outcome.pid,
        "finished_at": _dt.datetime.now(_dt.UTC),
    }


def _predictions(task: ShardTask, outcome: ShardOutcome, step: int) -> dict[str, np.ndarray]:
    return {
        "image_index": np.arange(task.request.start, task.request.stop, dtype=np.int64),
        "label": outcome.labels,
        "prediction": outcome.predictions(step),
        "output": outcome.readouts[step],
    }


def _progress_bar(total: int, initial: int, *, enabled: bool):
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, unit="shard", desc="spiking eval",
                disable=not enabled, mininterval=0.5 if tty else 10.0,
                dynamic_ncols=tty)  # fmt: skip
