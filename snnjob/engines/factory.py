"""Build the evaluator of an engine (:func:`make_evaluator`); loads the engine's modules."""

from __future__ import annotations

from snnjob.engines import ENGINES, unsupported


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
    :func:`unsupported`); its ``engine`` attribute says which ran."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "compiled" and unsupported(engine, rate=rate) is None:
        from snnjob.engines.compiled import CompiledEvaluator

        return CompiledEvaluator(
            model_cfg, params, n_steps=n_steps, seed=seed, minibatch_size=minibatch_size,
            threads=threads, gpu=gpu,
        )  # fmt: skip
    from snnjob.evaluate import SpikingEvaluator

    return SpikingEvaluator(
        model_cfg, params, n_steps=n_steps, seed=seed, minibatch_size=minibatch_size,
        unroll=unroll, rate=rate,
    )  # fmt: skip


def evaluate_with(
    engine: str, model_cfg, params, images, labels, *, n_steps: int, seed: int,
    minibatch_size: int = 50, readouts: tuple[int, ...] = (), **settings,
):  # fmt: skip
    """Build ``engine``'s evaluator, evaluate ``images`` once, close it (one process, no Ray:
    what a job's workers compute, for checks and scripts)."""
    with make_evaluator(engine, model_cfg, params, n_steps=n_steps, seed=seed,
                        minibatch_size=minibatch_size, **settings) as ev:  # fmt: skip
        return ev.run(images, labels, readouts=readouts)
