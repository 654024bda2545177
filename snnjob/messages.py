"""Typed messages across the Ray boundary: what the driver asks actors and what they answer.

Plain frozen dataclasses of numpy arrays and numbers (no TensorFlow, no Ray), so the driver,
the actors and the tests read the same fields by name. The validated
:class:`~snnjob.config.ModelConfig` / :class:`~snnjob.config.JobConfig` travel as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


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
        Timesteps each image is presented for.
    eval_seed
        Seed of the Nengo network (the neurons' random initial states).
    minibatch_size, unroll
        Simulator settings (``unroll`` is an upper bound for ``unroll_simulation``).
    rate
        Rate-mode evaluation (``LIFRate``, one step) instead of spiking.
    keep_traces
        Return the filtered output at every step for the first ``keep_traces`` images.
    """

    params_id: str
    start: int
    stop: int
    n_steps: int
    eval_seed: int
    minibatch_size: int
    unroll: int
    rate: bool = False
    keep_traces: int = 0

    @property
    def simulator_key(self) -> tuple:
        """Requests with the same key run on the same simulator (no rebuild)."""
        return (self.params_id, self.n_steps, self.eval_seed, self.minibatch_size,
                self.unroll, self.rate)  # fmt: skip


@dataclass(frozen=True)
class ShardOutcome:
    """What an evaluation worker returns for one :class:`ShardRequest` (counts, never rates)."""

    params_sha256: str  # hash of the parameters the worker really used
    predictions: np.ndarray  # (n,) int64
    labels: np.ndarray  # (n,) int64
    outputs: np.ndarray  # (n, N_CLASSES) float32, filtered output at the last step
    n_images: int
    n_errors: int
    wall_time_s: float  # simulation time of this shard
    build_time_s: float  # simulator build paid by this shard (0 when reused)
    node: str
    pid: int
    traces: np.ndarray | None = None  # (k, n_steps, N_CLASSES) when requested


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
