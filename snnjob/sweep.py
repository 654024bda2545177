"""The evaluation sweep: every (point, shard) not yet in ``OUT/results``, written as it lands.

A sweep is every (parameter set, ``n_steps``, evaluation seed) *point* x *shard* of
consecutive test images. :func:`run_sweep` plans its tasks and leaves out the ones written
already (:mod:`snnjob.plan`), runs the rest on the job's worker pool
(:class:`~snnjob.pool.EvalService`) and writes each shard as it lands
(:func:`~snnjob.shardwriter.write_task`, driver-side: no shared file system needed),
counting what ran for the run's statistics.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Any

from snnjob.config import JobConfig
from snnjob.engines.check import check_row
from snnjob.params import ParamSet
from snnjob.plan import plan_shards, pool_size, unfinished
from snnjob.pool import EvalService
from snnjob.rundir import RunDir
from snnjob.session import cluster_info
from snnjob.shardwriter import write_task

log = logging.getLogger(__name__)


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
    todo = unfinished(tasks, completed_shards(run.path))
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
        for task, outcome in service.run(todo, workers=n_workers):
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
            images += outcome.result.n_images
            image_steps += outcome.result.n_images * task.request.n_steps
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


def _progress_bar(total: int, initial: int, *, enabled: bool):
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, unit="shard", desc="spiking eval",
                disable=not enabled, mininterval=0.5 if tty else 10.0,
                dynamic_ncols=tty)  # fmt: skip
