"""The evaluation sweep: every (point, shard) not yet in ``OUT/results``, written as it lands.

A sweep is every (parameter set, ``n_steps``, evaluation seed) *point* x *shard* of
consecutive test images. :func:`run_sweep` plans its tasks and leaves out the ones written
already (:mod:`snnjob.plan`), runs the rest on the job's worker pool
(:class:`~snnjob.pool.EvalService`) and writes each shard as it lands
(:func:`~snnjob.shardwriter.write_task`, driver-side: no shared file system needed),
counting what ran in a typed :class:`~snnjob.results.runinfo.SweepStats`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from dataclasses import replace

from snnjob.config import JobConfig
from snnjob.engines.check import check_row
from snnjob.params import ParamSet
from snnjob.plan import plan_shards, pool_size, unfinished
from snnjob.pool import EvalService
from snnjob.results.runinfo import SweepStats
from snnjob.rundir import RunDir
from snnjob.session import cluster_info
from snnjob.shardwriter import write_task

log = logging.getLogger(__name__)


def run_sweep(
    cfg: JobConfig,
    run: RunDir,
    pset: ParamSet,
    service: EvalService,
    *,
    ready_s: float = 0.0,
    progress: bool = True,
    release: bool = False,
) -> SweepStats:
    """Evaluate every (point, shard) of ``pset`` not yet in ``run``; write each as it lands.
    ``ready_s``: when the parameter set was ready (seconds into the job), recorded in the
    statistics. ``release``: then stop the service's workers (:meth:`EvalService.release`)."""
    from snnjob.results.store import completed_shards

    tasks = plan_shards(cfg, [pset], len(service.images))
    todo = unfinished(tasks, completed_shards(run.path))
    counts = SweepStats(recipe=pset.recipe, train_seed=pset.train_seed, ready_s=ready_s,
                        tasks=len(tasks), skipped=len(tasks) - len(todo), workers=0)  # fmt: skip
    if not todo:
        log.info("all %d shards already written; nothing to evaluate", len(tasks))
        return counts
    n_workers = pool_size(cfg, cluster_info(), len(todo))
    log.info(
        "evaluating %d of %d shards (%d already written) on %d worker(s), %d step(s) each, "
        "read at n_steps %s",
        len(todo), len(tasks), counts.skipped, n_workers, todo[0].request.n_steps,
        list(todo[0].request.readouts),
    )  # fmt: skip
    bar = _progress_bar(len(tasks), counts.skipped, enabled=progress)
    t0, since, images, image_steps, first = time.perf_counter(), time.time(), 0, 0, None
    used, checks = set(), []  # (engine, core) pairs; the self-checks against NengoDL
    try:
        for task, outcome in service.run(todo, workers=n_workers):
            if not images:
                first = (outcome, time.time())
            write_task(cfg, run, task, outcome)
            used.add((outcome.engine, outcome.core))
            if outcome.check is not None:
                checks.append(
                    check_row(
                        outcome.check,
                        params_id=pset.id,
                        recipe=pset.recipe,
                        train_seed=pset.train_seed,
                        eval_seed=task.request.eval_seed,
                    )
                )
            images += outcome.result.n_images
            image_steps += outcome.result.n_images * task.request.n_steps
            bar.update(1)
            rate = image_steps / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix_str(f"{rate:.0f} img-steps/s")
    finally:
        bar.close()
    stats = replace(
        counts,
        workers=n_workers,
        eval_wall_time_s=time.perf_counter() - t0,
        engines=tuple(sorted({e for e, _ in used})),
        cores=tuple(sorted({c for _, c in used if c})),
        engine_checks=tuple(checks),
        images_evaluated=images,
        image_steps_simulated=image_steps,
        workers_lost=service.workers_lost,
        workers_replaced=service.workers_replaced,
        shards_resubmitted=service.shards_resubmitted,
    )
    workers = None
    with contextlib.suppress(Exception):  # statistics only (the workers are idle now)
        workers = service.worker_stats()
        stats = replace(
            stats,
            worker_builds=service.retired_builds + sum(s.builds for s in workers),
            worker_peak_rss_mb=max([service.retired_peak_rss_mb,
                                    *(s.peak_rss_mb for s in workers)]),
            first_shard=None if first is None else service.first_shard(workers, *first, since),
        )  # fmt: skip
    if release:  # with the counters just read: an unready worker is not waited for twice
        service.release(workers)
    return stats


def _progress_bar(total: int, initial: int, *, enabled: bool):
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, unit="shard", desc="spiking eval",
                disable=not enabled, mininterval=0.5 if tty else 10.0,
                dynamic_ncols=tty)  # fmt: skip
