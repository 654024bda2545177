"""Spiking evaluation: run the network with real LIF neurons for ``n_steps`` timesteps.

Each image is presented constantly for ``n_steps`` steps; the class is the argmax of
the synapse-filtered output at the last step. Images are streamed one minibatch at a
time, so memory is ``minibatch_size x n_steps x pixels`` floats, whatever the number of
images (the classic notebook tiled the whole test set over time at once). The last
minibatch is padded with copies of its first image and the padding dropped.

With ``stateful=False`` every minibatch starts from the simulator's initial state,
which the evaluation seed fixes (it seeds the Nengo network, which draws the neurons'
random initial voltages); an image's prediction therefore depends only on (params,
n_steps, seed), not on which shard or minibatch it is evaluated in. The network is causal,
so one run of ``n_steps`` also gives the output of every shorter run: :meth:`run` reads
any ``readouts`` steps and the error at every step from the same simulation.

``anytime`` thresholds also give, per threshold, the errors and the steps used when each
image stops at its first step whose output margin passes it (:mod:`snnjob.anytime`), from
the same outputs.

``rate=True`` runs the same weights with ``LIFRate`` neurons for one step instead (the
rate approximation that training optimised): the difference between the two errors is
what spiking costs at ``n_steps``.
"""

from __future__ import annotations

import time

import numpy as np

from snnjob.backend import nengo_dl
from snnjob.batches import over_time
from snnjob.config import ModelConfig
from snnjob.engines.base import EvalResult, Evaluator
from snnjob.network import NetworkHandles, build_network, set_layer_params
from snnjob.params import Params


def unroll_for(n_steps: int, max_unroll: int) -> int:
    """Largest divisor of ``n_steps`` not above ``max_unroll`` (NengoDL needs a divisor)."""
    return max(d for d in range(1, min(n_steps, max_unroll) + 1) if n_steps % d == 0)


class SpikingEvaluator(Evaluator):
    """The ``nengo_dl`` engine: one NengoDL simulator of the spiking network, built once and
    reused (the reference the compiled engine is checked against).

    Parameters
    ----------
    model_cfg
        Network configuration (must match the one ``params`` were trained with).
    params
        Trained parameters (``{"layer/weight": array}``).
    n_steps
        Timesteps each image is presented for (``dt`` = 1 ms).
    seed
        Simulator seed: the LIF neurons' random initial states.
    minibatch_size
        Images simulated at once.
    unroll
        Upper bound for NengoDL's ``unroll_simulation`` (a divisor of ``n_steps`` is used).
    device
        TensorFlow device string, e.g. ``"/cpu:0"`` (None: TensorFlow's choice).
    rate
        Use ``LIFRate`` neurons and the unfiltered output (``n_steps`` must be 1): the
        rate-mode error, what training optimised before any spiking.
    """

    engine = "nengo_dl"

    def __init__(
        self,
        model_cfg: ModelConfig,
        params: Params,
        *,
        n_steps: int,
        seed: int,
        minibatch_size: int = 50,
        unroll: int = 1,
        device: str | None = None,
        rate: bool = False,
    ):
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        if rate and n_steps != 1:
            raise ValueError(f"rate-mode evaluation runs one step (steady state), got {n_steps}")
        self.n_steps = int(n_steps)
        self.seed = int(seed)
        self.minibatch_size = int(minibatch_size)
        self.n_pixels, self.n_classes = model_cfg.net.n_pixels, model_cfg.net.n_classes
        self.handles: NetworkHandles = build_network(
            model_cfg, mode="rate" if rate else "eval", seed=self.seed
        )
        self._probe = self.handles.out_p if rate else self.handles.out_p_filt
        t0 = time.perf_counter()
        self.sim = nengo_dl.Simulator(
            self.handles.net,
            minibatch_size=self.minibatch_size,
            seed=self.seed,
            unroll_simulation=unroll_for(self.n_steps, unroll),
            device=device,
            progress_bar=False,
        )
        set_layer_params(self.handles, params)
        self.build_time_s = time.perf_counter() - t0

    def simulate(self, batch: np.ndarray) -> np.ndarray:
        out = self.sim.predict_on_batch({self.handles.inp: over_time(batch, self.n_steps)})
        return out[self._probe]

    def close(self) -> None:
        self.sim.close()


__all__ = ["EvalResult", "SpikingEvaluator", "evaluate", "unroll_for"]


def evaluate(
    model_cfg: ModelConfig,
    params: Params,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_steps: int,
    seed: int,
    minibatch_size: int = 50,
    unroll: int = 1,
    readouts: tuple[int, ...] = (),
    keep_traces: int = 0,
    rate: bool = False,
    anytime: tuple[float, ...] = (),
) -> EvalResult:
    """Build a simulator, evaluate ``images`` once, close it (see :class:`SpikingEvaluator`)."""
    with SpikingEvaluator(
        model_cfg,
        params,
        n_steps=n_steps,
        seed=seed,
        minibatch_size=minibatch_size,
        unroll=unroll,
        rate=rate,
    ) as ev:
        return ev.run(images, labels, readouts=readouts, keep_traces=keep_traces, anytime=anytime)
