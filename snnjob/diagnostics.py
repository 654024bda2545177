"""The diagnostics on the evaluation pool: rate-mode error, plot traces, spike counts.

Each plans its requests (:mod:`snnjob.plan`) and runs them on the job's
:class:`~snnjob.pool.EvalService`, like the sweep; nothing here imports Ray.
"""

from __future__ import annotations

import logging

from snnjob.config import JobConfig
from snnjob.engines.base import EvalResult
from snnjob.messages import SpikeCounts
from snnjob.params import ParamSet
from snnjob.plan import rate_tasks, spike_task, trace_task
from snnjob.pool import EvalService
from snnjob.results.summary import wilson_interval

log = logging.getLogger(__name__)


def rate_mode_errors(cfg: JobConfig, psets: list[ParamSet], service: EvalService) -> list[dict]:
    """Each parameter set's test error with ``LIFRate`` neurons (one step, no spikes).

    What training achieved before any spiking: the gap to the spiking error at ``n_steps``
    is the cost of spiking. Sharded over the pool like the sweep; counts are summed.
    """
    tasks = rate_tasks(cfg, psets, len(service.images))
    counts = {p.id: [0, 0] for p in psets}
    workers = min(len(tasks), max(1, len(service.workers)))
    for task, outcome in service.run(tasks, workers=workers):
        counts[task.pset.id][0] += outcome.result.errors_at(1)
        counts[task.pset.id][1] += outcome.result.n_images
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
) -> EvalResult:
    """The first ``k`` test images' filtered outputs at every step (for the plots)."""
    task = trace_task(cfg, pset, n_steps=n_steps, eval_seed=eval_seed, k=k)
    ((_, outcome),) = service.run([task], workers=1)
    return outcome.result


def spike_counts(
    cfg: JobConfig, pset: ParamSet, service: EvalService, *, n_steps: int, eval_seed: int, k: int
) -> SpikeCounts:
    """Spikes of every LIF neuron over the first ``k`` test images (the spike statistics)."""
    task = spike_task(cfg, pset, n_steps=n_steps, eval_seed=eval_seed, k=k)
    ((_, outcome),) = service.run([task], workers=1)
    return outcome.result
