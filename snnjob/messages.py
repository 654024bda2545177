"""Typed messages across the Ray boundary: what the driver asks actors and what they answer.

Plain frozen dataclasses of numpy arrays and numbers (no TensorFlow, no Ray), so the driver,
the actors and the tests read the same fields by name. The validated
:class:`~snnjob.config.ModelConfig` / :class:`~snnjob.config.JobConfig` travel as they are.

An evaluation worker takes one kind of call, :meth:`snnjob.actors.EvalWorker.run`, and the
request's type says what to do: a :class:`ShardRequest` is evaluated (the answer holds an
:class:`~snnjob.engines.base.EvalResult`), a :class:`SpikeRequest` has its spikes counted
(a :class:`SpikeCounts`). Either way the answer is a :class:`ShardOutcome`: the engine's
result as it came, plus what only the worker knows (its node, the parameters' hash, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from snnjob.config import ModelConfig
from snnjob.engines.base import EvalResult
from snnjob.results.runinfo import TrainingMetrics


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
class SpikeRequest:
    """Count the spikes of every LIF neuron on test images ``start:stop`` of the broadcast
    test set (the spike statistics), on a simulator of its own, built and closed for it (the
    worker's evaluation simulator stays). Fields as in :class:`ShardRequest`."""

    params_id: str
    start: int
    stop: int
    n_steps: int
    eval_seed: int
    minibatch_size: int
    unroll: int
    model: ModelConfig | None = None
    engine: str = "nengo_dl"


WorkRequest = ShardRequest | SpikeRequest
"""What :meth:`snnjob.actors.EvalWorker.run` takes; the type says what the worker does."""


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


Result = TypeVar("Result", EvalResult, SpikeCounts)


@dataclass(frozen=True)
class ShardOutcome(Generic[Result]):
    """What an evaluation worker answers for one request: ``result``, the engine's own
    (:class:`~snnjob.engines.base.EvalResult` for a :class:`ShardRequest`, counts and
    predictions, never rates; :class:`SpikeCounts` for a :class:`SpikeRequest`), and what
    only the worker knows."""

    result: Result
    params_sha256: str  # hash of the parameters the worker really used
    node: str
    pid: int
    build_time_s: float = 0.0  # simulator build paid by this request (0 when reused)
    engine: str = "nengo_dl"  # the engine that ran it
    core: str = ""  # the compiled engine's core (cpu, jax) where it ran
    check: EngineCheck | None = None  # the self-check against NengoDL, where it ran


@dataclass(frozen=True)
class TrainOutcome:
    """What a training actor returns for one training seed."""

    params: dict[str, np.ndarray]
    metrics: TrainingMetrics = field(default_factory=TrainingMetrics)
    node: str = ""
    pid: int = 0


@dataclass(frozen=True, kw_only=True)
class TrainProgress:
    """Where a training is, after its latest minibatch (what
    :meth:`snnjob.actors.TrainerActor.progress` answers and the live bars show): epoch
    ``epoch`` of ``epochs``, minibatch ``batch`` of ``batches`` (both counted from 1), and
    that minibatch's loss (None: Keras reported none)."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float | None = None


@dataclass(frozen=True)
class WorkerStats:
    """An evaluation worker's counters (for the run's statistics)."""

    builds: int
    node: str
    pid: int
    import_s: float  # importing TensorFlow and NengoDL when the worker started
    ready_at: float  # time.time() when the worker was ready for its first request
    peak_rss_mb: float = 0.0  # the worker process's peak resident memory (VmHWM) so far
