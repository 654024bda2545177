"""How a spiking evaluation runs: ``eval.engine``.

- ``compiled`` (the default): the whole simulation as one compiled program
  (:mod:`snnjob.engines.compiled`): an event-driven numba loop on the CPU, JAX on a GPU;
  its numbers are read from Nengo's build of the network and checked against NengoDL in
  every job (``eval.verify_images``).
- ``nengo_dl``: the NengoDL simulator (:class:`snnjob.evaluate.SpikingEvaluator`), the
  reference.

Where the compiled engine cannot run a request (rate-mode evaluation, which runs one step
of ``LIFRate`` neurons), :func:`make_evaluator` uses ``nengo_dl`` and says why. Importing
this package loads neither TensorFlow nor numba.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

ENGINES = ("compiled", "nengo_dl")
"""The evaluation engines, ``eval.engine``'s choices."""
DEFAULT_ENGINE = "compiled"


def unsupported(engine: str, *, rate: bool = False) -> str | None:
    """Why ``engine`` cannot run this request (None: it can)."""
    if engine == "compiled" and rate:
        return "rate-mode evaluation (one step of LIFRate neurons) runs on nengo_dl"
    return None


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
