"""Typed messages across the Ray boundary: what the driver asks actors and what they answer.

Plain frozen dataclasses of numpy arrays and numbers (no TensorFlow, no Ray), so the driver,
the actors and the tests read the same fields by name. The validated
:class:`~snnjob.config.ModelConfig` / :class:`~snnjob.config.JobConfig` travel as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snnjob.config import ModelConfig


@dataclass(frozen=True)
class ShardRequest:
    """Evaluate test images ``start:stop`` of the broadcast test set with one parameter set.

    Attributes
    ----------
    params_id
        Id of the parameter set (the worker keeps one simulator per id and settings).
    start, stop
        Test-image range (``stop`` exclusive).
    n_steps
        Timesteps each image is presented for (one simulation of this length).
    readouts
        The steps (``<= n_steps``) to read the filtered output at: one sweep point each
        (the last step is always read).
    eval_seed
        Seed of the Nengo network (the neurons' random initial states).
    minibatch_size, unroll
        Simulator settings (``unroll`` is an upper bound for ``unroll_simulation``).
    rate
        Rate-mode evaluation (``LIFRate``, one step) instead of spiking.
    keep_traces
        Return the filtered output at every step for the first ``keep_traces`` images.
    anytime
        Margin thresholds of the anytime counts (:mod:`snnjob.anytime`); empty: none.
    model
        The model config to build the simulator from: the parameter set's (in a recipe
        sweep each recipe has its own); None: the worker's (the job's).
    engine
        Evaluation engine (``eval.engine``); ``compiled`` falls back to ``nengo_dl`` where
        it cannot run the request (rate mode).
    verify_images
        With the compiled engine: the first N images of this shard also run through NengoDL
        and must agree (the job's self-check; 0: none).
    """

    params_id: str
    start: int
    stop: int
    n_steps: int
    eval_seed: int
    minibatch_size: int
    unroll: int
    readouts: tuple[int, ...] = ()
    rate: bool = False
    keep_traces: int = 0
    anytime: tuple[float, ...] = ()
    model: ModelConfig | None = None
    engine: str = "nengo_dl"
    verify_images: int = 0

    @property
    def simulator_key(self) -> tuple:
        """Requests with the same key run on the same simulator (no rebuild)."""
        return (self.params_id, self.n_steps, self.eval_seed, self.minibatch_size,
                self.unroll, self.rate, self.model, self.engine)  # fmt: skip


@dataclass(frozen=True)
class EngineCheck:
    """The self-check of one shard: its first images run through both engines."""

    n_images: int
    n_steps: int
    readouts: tuple[int, ...]
    mismatches: dict[int, int]  # readout step -> images whose predictions differ
    max_abs_diff: float  # largest |compiled - nengo_dl| filtered output at any readout
    output_scale: float  # largest |nengo_dl| filtered output there
    wall_time_s: float  # NengoDL build and run


@dataclass(frozen=True)
class ShardOutcome:
    """What an evaluation worker returns for one :class:`ShardRequest` (counts, never rates)."""

    params_sha256: str  # hash of the parameters the worker really used
    labels: np.ndarray  # (n,) int64
    readouts: dict[int, np.ndarray]  # step -> (n, classes) float32 filtered output there
    step_errors: np.ndarray  # (n_steps,) int64 errors when reading at step 1, 2, ...
    n_images: int
    wall_time_s: float  # simulation time of this shard
    build_time_s: float  # simulator build paid by this shard (0 when reused)
    first_batch_s: float  # wall time of the shard's first minibatch (part of wall_time_s)
    node: str
    pid: int
    traces: np.ndarray | None = None  # (k, n_steps, classes) when requested
    anytime_errors: np.ndarray | None = None  # (k,) int64 per request.anytime threshold
    anytime_steps: np.ndarray | None = None  # (k,) int64 steps used, summed over images
    engine: str = "nengo_dl"  # the engine that ran it
    core: str = ""  # the compiled engine's core (cpu, jax) where it ran
    check: EngineCheck | None = None  # the self-check against NengoDL, where it ran

    def n_errors(self, step: int) -> int:
        """Errors when reading the output at ``step``."""
        return int(self.step_errors[step - 1])

    def predictions(self, step: int) -> np.ndarray:
        """(n,) int64 argmax of the output at ``step`` (one of the request's readouts)."""
        return np.argmax(self.readouts[step], axis=1).astype(np.int64)


@dataclass(frozen=True)
class TrainOutcome:
    """What a training actor returns for one training seed."""

    params: dict[str, np.ndarray]
    metrics: dict[str, Any] = field(default_factory=dict)
    node: str = ""
    pid: int = 0


@dataclass(frozen=True)
class WorkerStats:
    """An evaluation worker's counters (for the run's statistics)."""

    builds: int
    node: str
    pid: int
    import_s: float  # importing TensorFlow and NengoDL when the worker started
    ready_at: float  # time.time() when the worker was ready for its first request
    peak_rss_mb: float = 0.0  # the worker process's peak resident memory (VmHWM) so far


@dataclass(frozen=True)
class SpikeCounts:
    """Spikes of every LIF neuron over the first ``n_images`` test images (the spike-statistics
    pass, :func:`snnjob.spikes.count_spikes`), summed over images and steps."""

    n_images: int
    n_steps: int
    dt: float  # simulator timestep (s)
    counts: dict[str, np.ndarray]  # layer -> (n_neurons,) int64 spikes, neurons ordered (h, w, c)
    active: dict[str, int]  # layer -> (image, neuron) pairs with at least one spike
    wall_time_s: float = 0.0
    params_sha256: str = ""  # filled in by the worker: the parameters it really used
    node: str = ""
    pid: int = 0
