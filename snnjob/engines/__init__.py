"""How a spiking evaluation runs: ``eval.engine``.

- ``compiled`` (the default): the whole simulation as one compiled program
  (:mod:`snnjob.engines.compiled`): an event-driven numba loop on the CPU, JAX on a GPU;
  its numbers are read from Nengo's build of the network and checked against NengoDL in
  every job (``eval.verify_images``).
- ``nengo_dl``: the NengoDL simulator (:class:`snnjob.evaluate.SpikingEvaluator`), the
  reference.

The compiled engine runs every network a :class:`~snnjob.architecture.NetSpec` describes
(convolutions with ``valid`` or ``same`` padding and any stride, average pools of any size,
dense hidden layers, any number of them). Where it cannot run a request (rate-mode
evaluation, which runs one step of ``LIFRate`` neurons; a layer the cores do not know),
:func:`snnjob.engines.factory.make_evaluator` uses ``nengo_dl`` and logs why
(:func:`unsupported`). Importing this package loads neither TensorFlow nor numba.
"""

from __future__ import annotations

ENGINES = ("compiled", "nengo_dl")
"""The evaluation engines, ``eval.engine``'s choices."""
DEFAULT_ENGINE = "compiled"


def unsupported(engine: str, *, rate: bool = False, net=None) -> str | None:
    """Why ``engine`` cannot run this request (None: it can); ``net``: the network's
    :class:`~snnjob.architecture.NetSpec` (None: not checked)."""
    if engine != "compiled":
        return None
    if rate:
        return "rate-mode evaluation (one step of LIFRate neurons) runs on nengo_dl"
    if net is not None:
        from snnjob.engines.geometry import unsupported_geometry

        why = unsupported_geometry(net.stages)
        if why is not None:
            return f"{net.describe()}: {why}"
    return None
