"""Build the evaluator of an engine (:func:`make_evaluator`); loads the engine's modules."""

from __future__ import annotations

import logging

from snnjob.engines import ENGINES, unsupported

log = logging.getLogger(__name__)


def make_evaluator(
    engine: str,
    model_cfg,
    params,
    *,
    n_steps: int,
    seed: int,
    minibatch_size: int = 50,
    unroll: int = 1,
    rate: bool = False,
    threads: int = 1,
    gpu: bool = False,
):
    """An evaluator of ``engine`` (or ``nengo_dl`` where it cannot run the request, see
    :func:`unsupported`, logged); its ``engine`` attribute says which ran, and a fallback's
    ``fallback`` attribute why."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    why = unsupported(engine, rate=rate, net=model_cfg.net)
    if why is None and engine == "compiled":
        from snnjob.engines.compiled import CompiledEvaluator

        return CompiledEvaluator(
            model_cfg, params, n_steps=n_steps, seed=seed, minibatch_size=minibatch_size,
            threads=threads, gpu=gpu,
        )  # fmt: skip
    from snnjob.evaluate import SpikingEvaluator

    if why is not None:
        (log.info if rate else log.warning)("eval.engine=%s: %s; using nengo_dl", engine, why)
    ev = SpikingEvaluator(
        model_cfg, params, n_steps=n_steps, seed=seed, minibatch_size=minibatch_size,
        unroll=unroll, rate=rate,
    )  # fmt: skip
    ev.fallback = why
    return ev


def evaluate_with(
    engine: str, model_cfg, params, images, labels, *, n_steps: int, seed: int,
    minibatch_size: int = 50, readouts: tuple[int, ...] = (), **settings,
):  # fmt: skip
    """Build ``engine``'s evaluator, evaluate ``images`` once, close it (one process, no Ray:
    what a job's workers compute, for checks and scripts)."""
    with make_evaluator(engine, model_cfg, params, n_steps=n_steps, seed=seed,
                        minibatch_size=minibatch_size, **settings) as ev:  # fmt: skip
        return ev.run(images, labels, readouts=readouts)
