"""Writing one finished shard of the sweep into ``OUT/`` (driver-side; no Ray, no pyarrow).

:func:`write_task` turns a worker's :class:`~snnjob.messages.ShardOutcome` into the run's
files through the results store: the shard's error curve and anytime counts, then per sweep
point its predictions and its results row (written last: a results file marks the point's
shard done, so a resumed run skips it, :func:`snnjob.plan.unfinished`).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np

from snnjob.config import JobConfig
from snnjob.engines.base import EvalResult
from snnjob.errors import RunDirError
from snnjob.messages import ShardOutcome
from snnjob.plan import ShardTask
from snnjob.rundir import RunDir


def write_task(
    cfg: JobConfig, run: RunDir, task: ShardTask, outcome: ShardOutcome[EvalResult]
) -> None:
    """Write one finished shard: its curve and anytime counts, then per point its
    predictions and results row (a results file, written last, marks the point's shard done)."""
    from snnjob.results.curvestore import write_anytime, write_curve
    from snnjob.results.store import write_shard

    r, res = task.request, outcome.result
    try:
        write_curve(
            run.path, params_id=task.pset.id, train_seed=task.pset.train_seed,
            eval_seed=r.eval_seed, shard_id=task.shard_id, first_index=r.start,
            step_errors=res.step_errors, n_images=res.n_images,
        )  # fmt: skip
        if r.anytime:  # like the curve: before the results files
            write_anytime(
                run.path, params_id=task.pset.id, train_seed=task.pset.train_seed,
                eval_seed=r.eval_seed, shard_id=task.shard_id, first_index=r.start,
                n_images=res.n_images, n_steps=r.n_steps, thresholds=r.anytime,
                n_errors=res.anytime_errors, steps_sum=res.anytime_steps,
            )  # fmt: skip
        for point in task.points:
            step = point.n_steps
            predictions = _predictions(task, res, step) if cfg.eval.save_predictions else None
            write_shard(
                run.path, point=point, shard_id=task.shard_id,
                row=_shard_row(task, outcome, step), predictions=predictions,
            )  # fmt: skip
    except RunDirError as exc:
        raise RunDirError(
            f"{exc}. The shards written before are kept: free space or fix the folder's "
            f"permissions, then re-run the same command to resume"
        ) from exc


def _shard_row(task: ShardTask, outcome: ShardOutcome[EvalResult], step: int) -> dict[str, Any]:
    r, res = task.request, outcome.result
    return {
        "params_sha256": task.pset.sha256,
        "minibatch_size": r.minibatch_size,
        "first_index": r.start,
        "last_index": r.stop - 1,
        "n_images": res.n_images,
        "n_errors": res.errors_at(step),
        "wall_time_s": res.wall_time_s + outcome.build_time_s,
        "worker_node": outcome.node,
        "worker_pid": outcome.pid,
        "finished_at": _dt.datetime.now(_dt.UTC),
    }


def _predictions(task: ShardTask, res: EvalResult, step: int) -> dict[str, np.ndarray]:
    return {
        "image_index": np.arange(task.request.start, task.request.stop, dtype=np.int64),
        "label": res.labels,
        "prediction": res.predictions_at(step),
        "output": res.readouts[step],
    }
