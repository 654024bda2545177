"""Spiking evaluation: run the network with real LIF neurons for ``n_steps`` timesteps.

Each image is presented constantly for ``n_steps`` steps; the class is the argmax of
the synapse-filtered output at the last step. Images are streamed one minibatch at a
time, so memory is ``minibatch_size x n_steps x 784`` floats, whatever the number of
images (the classic notebook tiled the whole test set over time at once). The last
minibatch is padded with copies of its first image and the padding dropped.

With ``stateful=False`` every minibatch starts from the simulator's initial state,
which the evaluation seed fixes (it seeds the Nengo network, which draws the neurons'
random initial voltages); an image's
prediction therefore depends only on (params, n_steps, seed), not on which shard or
minibatch it is evaluated in.

``rate=True`` runs the same weights with ``LIFRate`` neurons for one step instead (the
rate approximation that training optimised): the difference between the two errors is
what spiking costs at ``n_steps``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from snnjob.architecture import N_CLASSES
from snnjob.backend import nengo_dl
from snnjob.config import ModelConfig
from snnjob.network import NetworkHandles, build_network, set_layer_params
from snnjob.params import Params


@dataclass
class EvalResult:
    """Per-image outcome of a spiking evaluation, plus counts (never a rate)."""

    predictions: np.ndarray  # (n,) int64: argmax of the filtered output at the last step
    labels: np.ndarray  # (n,) int64
    outputs: np.ndarray  # (n, 10) float32: filtered output at the last step
    wall_time_s: float
    traces: np.ndarray | None = None  # (k, n_steps, 10) filtered outputs of the first k images

    @property
    def n_images(self) -> int:
        return int(len(self.labels))

    @property
    def n_errors(self) -> int:
        return int(np.count_nonzero(self.predictions != self.labels))


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
        minibatch_size: int = 200,
        unroll: int = 10,
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

    def run(self, images: np.ndarray, labels: np.ndarray, *, keep_traces: int = 0) -> EvalResult:
        """Evaluate ``images`` (N, 784) against ``labels`` (N,), one minibatch at a time."""
        images = np.asarray(images, dtype=np.float32)
        labels = np.asarray(labels, dtype=np.int64)
        if images.ndim != 2 or images.shape[1] != self.handles.inp.size_out:
            raise ValueError(f"images must have shape (N, 784), got {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        n, mb = len(images), self.minibatch_size
        outputs = np.empty((n, N_CLASSES), dtype=np.float32)
        traces = []
        t0 = time.perf_counter()
        for start in range(0, n, mb):
            batch = images[start : start + mb]
            real = len(batch)
            if real < mb:  # pad with copies of the first image, drop the padding below
                batch = np.concatenate([batch, np.repeat(batch[:1], mb - real, axis=0)])
            x = np.broadcast_to(batch[:, None, :], (mb, self.n_steps, batch.shape[1]))
            out = self.sim.predict_on_batch({self.handles.inp: np.ascontiguousarray(x)})
            filt = out[self._probe][:real]
            outputs[start : start + real] = filt[:, -1]
            if len(traces) * mb < keep_traces:
                traces.append(filt[: keep_traces - start].astype(np.float32))
        return EvalResult(
            predictions=np.argmax(outputs, axis=1).astype(np.int64),
            labels=labels,
            outputs=outputs,
            wall_time_s=time.perf_counter() - t0,
            traces=np.concatenate(traces) if traces else None,
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
    minibatch_size: int = 200,
    unroll: int = 10,
    keep_traces: int = 0,
    rate: bool = False,
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
        return ev.run(images, labels, keep_traces=keep_traces)
