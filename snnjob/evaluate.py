"""Spiking evaluation: run the network with real LIF neurons for ``n_steps`` timesteps.

Each image is presented constantly for ``n_steps`` steps; the class is the argmax of
the synapse-filtered output at the last step. Images are streamed one minibatch at a
time, so memory is ``minibatch_size x n_steps x 784`` floats, whatever the number of
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
from dataclasses import dataclass

import numpy as np

from snnjob.anytime import anytime_counts
from snnjob.architecture import N_CLASSES
from snnjob.backend import nengo_dl
from snnjob.config import ModelConfig
from snnjob.network import NetworkHandles, build_network, set_layer_params
from snnjob.params import Params


@dataclass
class EvalResult:
    """Per-image outcome of a spiking evaluation, plus counts (never a rate).

    One simulation of ``n_steps`` steps is read at every requested ``readout`` step: with
    ``stateful=False`` the network starts every image from the same state and is causal, so
    the filtered output at step ``t`` is the output of a run of ``t`` steps.
    """

    labels: np.ndarray  # (n,) int64
    readouts: dict[int, np.ndarray]  # step -> (n, N_CLASSES) float32 filtered output there
    step_errors: np.ndarray  # (n_steps,) int64: errors when reading at step 1, 2, ...
    wall_time_s: float
    traces: np.ndarray | None = None  # (k, n_steps, N_CLASSES) outputs of the first k images
    first_batch_s: float = 0.0  # wall time of the first minibatch (tracing included)
    anytime_errors: np.ndarray | None = None  # (k,) int64 errors per anytime threshold
    anytime_steps: np.ndarray | None = None  # (k,) int64 steps used, summed over images

    @property
    def n_steps(self) -> int:
        return int(len(self.step_errors))

    @property
    def outputs(self) -> np.ndarray:
        """(n, N_CLASSES) filtered output at the last step."""
        return self.readouts[self.n_steps]

    @property
    def predictions(self) -> np.ndarray:
        """(n,) int64 argmax of the output at the last step."""
        return self.predictions_at(self.n_steps)

    def predictions_at(self, step: int) -> np.ndarray:
        return np.argmax(self.readouts[step], axis=1).astype(np.int64)

    @property
    def n_images(self) -> int:
        return int(len(self.labels))

    @property
    def n_errors(self) -> int:
        return int(self.step_errors[-1])


def unroll_for(n_steps: int, max_unroll: int) -> int:
    """Largest divisor of ``n_steps`` not above ``max_unroll`` (NengoDL needs a divisor)."""
    return max(d for d in range(1, min(n_steps, max_unroll) + 1) if n_steps % d == 0)


class SpikingEvaluator:
    """One NengoDL simulator of the spiking network, built once and reused.

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

    def run(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        readouts: tuple[int, ...] = (),
        keep_traces: int = 0,
        anytime: tuple[float, ...] = (),
    ) -> EvalResult:
        """Evaluate ``images`` (N, 784) against ``labels`` (N,), one minibatch at a time.

        ``readouts``: the steps (1..n_steps) whose filtered outputs to return, besides the
        last one, which is always read. The error at every step comes for free, and so do
        the ``anytime`` thresholds' errors and steps used (:mod:`snnjob.anytime`).
        """
        images = np.asarray(images, dtype=np.float32)
        labels = np.asarray(labels, dtype=np.int64)
        if images.ndim != 2 or images.shape[1] != self.handles.inp.size_out:
            raise ValueError(f"images must have shape (N, 784), got {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        steps = sorted({*map(int, readouts), self.n_steps})
        if steps[0] < 1 or steps[-1] > self.n_steps:
            raise ValueError(f"readout steps must be within 1..{self.n_steps}, got {readouts}")
        n, mb = len(images), self.minibatch_size
        outputs = {t: np.empty((n, N_CLASSES), dtype=np.float32) for t in steps}
        step_errors = np.zeros(self.n_steps, dtype=np.int64)
        any_errors = np.zeros(len(anytime), dtype=np.int64)
        any_steps = np.zeros(len(anytime), dtype=np.int64)
        traces = []
        t0 = time.perf_counter()
        for start in range(0, n, mb):
            batch = images[start : start + mb]
            real = len(batch)
            if real < mb:  # pad with copies of the first image, drop the padding below
                batch = np.concatenate([batch, np.repeat(batch[:1], mb - real, axis=0)])
            x = np.broadcast_to(batch[:, None, :], (mb, self.n_steps, batch.shape[1]))
            out = self.sim.predict_on_batch({self.handles.inp: np.ascontiguousarray(x)})
            if start == 0:
                first_batch_s = time.perf_counter() - t0
            filt = out[self._probe][:real]  # (real, n_steps, N_CLASSES)
            for t in steps:
                outputs[t][start : start + real] = filt[:, t - 1]
            wrong = np.argmax(filt, axis=2) != labels[start : start + real, None]
            step_errors += np.count_nonzero(wrong, axis=0)
            if anytime:
                batch_labels = labels[start : start + real]
                errors, used = anytime_counts(filt, batch_labels, anytime)
                any_errors += errors
                any_steps += used
            if len(traces) * mb < keep_traces:
                traces.append(filt[: keep_traces - start].astype(np.float32))
        return EvalResult(
            labels=labels,
            readouts=outputs,
            step_errors=step_errors,
            wall_time_s=time.perf_counter() - t0,
            traces=np.concatenate(traces) if traces else None,
            first_batch_s=first_batch_s if n else 0.0,
            anytime_errors=any_errors if anytime else None,
            anytime_steps=any_steps if anytime else None,
        )

    def close(self) -> None:
        self.sim.close()

    def __enter__(self) -> SpikingEvaluator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
