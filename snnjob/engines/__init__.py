"""How a spiking evaluation runs: ``eval.engine``.

- ``compiled`` (the default): the whole simulation as one compiled program
  (:mod:`snnjob.engines.compiled`): an event-driven numba loop on the CPU, JAX on a GPU;
  its numbers are read from Nengo's build of the network and checked against NengoDL in
  every job (``eval.verify_images``).
- ``nengo_dl``: the NengoDL simulator (:class:`snnjob.evaluate.SpikingEvaluator`), the
  reference.

Where the compiled engine cannot run a request (rate-mode evaluation, which runs one step
of ``LIFRate`` neurons), :func:`snnjob.engines.factory.make_evaluator` uses ``nengo_dl``
(:func:`unsupported` says why). Importing this package loads neither TensorFlow nor numba.
"""

from __future__ import annotations

ENGINES = ("compiled", "nengo_dl")
"""The evaluation engines, ``eval.engine``'s choices."""
DEFAULT_ENGINE = "compiled"


def unsupported(engine: str, *, rate: bool = False) -> str | None:
    """Why ``engine`` cannot run this request (None: it can)."""
    if engine == "compiled" and rate:
        return "rate-mode evaluation (one step of LIFRate neurons) runs on nengo_dl"
    return None
