"""The ``compiled`` engine: the whole spiking simulation as one compiled program.

:func:`~snnjob.engines.program.build_program` reads the network, its neurons' gains,
biases and initial states from Nengo's build of the same network the ``nengo_dl`` engine
simulates; a core runs it: the event-driven numba loop on the CPU
(:mod:`snnjob.engines.cpu`), or the JAX core on a GPU (:mod:`snnjob.engines.jax_core`).
Results go through the same minibatch loop as the ``nengo_dl`` engine's
(:class:`~snnjob.engines.base.Evaluator`).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from snnjob.engines.base import Evaluator
from snnjob.engines.program import Program, build_program

log = logging.getLogger(__name__)


def choose_core(gpu: bool, jax_gpus: int) -> tuple[str, str]:
    """``(core, why)``: ``jax`` on a worker given a GPU that JAX sees, else ``cpu``."""
    if not gpu:
        return "cpu", "no GPU given to this worker"
    if jax_gpus < 1:
        return "cpu", (
            "this worker was given a GPU, but JAX sees none (install a CUDA build of jaxlib "
            "on the GPU nodes); running on the CPU"
        )
    return "jax", "JAX on the worker's GPU"


def select_core(program: Program, *, threads: int = 1, gpu: bool = False):
    """The core that runs ``program`` (:func:`choose_core`): JAX on the worker's GPU, or the
    numba CPU core with ``threads`` threads (with a warning when a GPU goes unused)."""
    devices = gpu_devices() if gpu else []
    core, why = choose_core(gpu, len(devices))
    if core == "jax":
        from snnjob.engines.jax_core import JaxCore

        return JaxCore(program, device=devices[0])
    if gpu:
        log.warning(why)
    from snnjob.engines.cpu_runner import CpuCore

    return CpuCore(program, threads=threads)


def gpu_devices() -> list:
    """JAX's GPU devices (empty without a CUDA build of jaxlib or without a GPU)."""
    try:
        import jax

        return list(jax.devices("gpu"))
    except Exception:  # noqa: BLE001 - no GPU backend
        return []


class CompiledEvaluator(Evaluator):
    """The compiled engine's simulator of one (params, evaluation seed, ``n_steps``)."""

    engine = "compiled"
    pad_batches = False

    def __init__(
        self,
        model_cfg,
        params: dict[str, np.ndarray],
        *,
        n_steps: int,
        seed: int,
        minibatch_size: int = 50,
        threads: int = 1,
        gpu: bool = False,
        program: Program | None = None,
    ):
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        self.n_steps = int(n_steps)
        self.seed = int(seed)
        self.minibatch_size = int(minibatch_size)
        t0 = time.perf_counter()
        self.program = program if program is not None else build_program(model_cfg, params, seed)
        self.core = select_core(self.program, threads=threads, gpu=gpu)
        if self.core.name == "jax":  # a GPU wants thousands of images at once, not 50
            self.minibatch_size = max(self.minibatch_size, self.core.batch_size)
        self.n_pixels, self.n_classes = self.program.n_pixels, self.program.n_classes
        self.build_time_s = time.perf_counter() - t0

    @property
    def core_name(self) -> str:
        return self.core.name

    def simulate(self, batch: np.ndarray) -> np.ndarray:
        trace, _ = self.core.run(batch, self.n_steps)
        return trace

    def count_spikes(self, images: np.ndarray) -> np.ndarray:
        """(n, neurons) int32: each image's spikes per neuron over ``n_steps`` (neurons of
        every LIF layer in order, each ``(h, w, c)``)."""
        _, counts = self.core.run(np.asarray(images, np.float32), self.n_steps, count_spikes=True)
        return counts


def spike_counts(
    model_cfg, params, images: np.ndarray, *, n_steps: int, seed: int, threads: int = 1,
    gpu: bool = False,
):  # fmt: skip
    """:class:`~snnjob.messages.SpikeCounts` of every LIF neuron on ``images``, counted by
    the compiled engine in the simulation itself (the ``nengo_dl`` engine's
    :func:`snnjob.spikes.count_spikes` reads them from probes)."""
    from snnjob.messages import SpikeCounts

    t0 = time.perf_counter()
    ev = CompiledEvaluator(model_cfg, params, n_steps=n_steps, seed=seed, threads=threads,
                           gpu=gpu)  # fmt: skip
    per_image = ev.count_spikes(images)
    counts, active, start = {}, {}, 0
    for g in ev.program.layers:
        layer = per_image[:, start : start + g.n_neurons]
        counts[g.name] = layer.sum(axis=0, dtype=np.int64)
        active[g.name] = int(np.count_nonzero(layer))
        start += g.n_neurons
    return SpikeCounts(
        n_images=len(per_image), n_steps=int(n_steps), dt=ev.program.dt, counts=counts,
        active=active, wall_time_s=time.perf_counter() - t0,
    )  # fmt: skip
