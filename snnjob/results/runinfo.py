"""The run-time sections of ``summary.json`` as frozen dataclasses: the engine and its
self-checks, the parameter sets and their training, timings and per-parameter-set sweep
statistics, and the Ray cluster (:func:`snnjob.session.cluster_info`).

Part of :class:`snnjob.results.model.RunSummary` (see there); plain Python. Fields that a
sweep writes only when it evaluated something are :func:`~snnjob.results.convert.optional`:
absent from the JSON while None, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snnjob.results.convert import optional

__all__ = ["BASE", "CheckRow", "ClusterInfo", "EngineContract", "EngineInfo", "EpochStats",
           "FirstShard", "ParamsInfo", "SweepStats", "Timings", "TrainingMetrics"]  # fmt: skip

BASE = "base"
"""The recipe of an entry in a job without a recipe sweep (and of unlabelled entries)."""


@dataclass(frozen=True, kw_only=True)
class CheckRow:
    """One self-check of the compiled engine against NengoDL (:mod:`snnjob.engines.check`);
    ``mismatches``: readout step (as text) -> images whose class differs."""

    params_id: str
    recipe: str = BASE
    train_seed: int
    eval_seed: int
    n_images: int
    n_steps: int
    mismatches: dict[str, int] = field(default_factory=dict)
    max_abs_diff: float
    output_scale: float
    wall_time_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class EngineContract:
    """What the compiled engine promises: the agreement and the largest relative diff."""

    agreement: float
    max_relative_diff: float


@dataclass(frozen=True, kw_only=True)
class EngineInfo:
    """What ran the spiking evaluation, and its self-checks against NengoDL."""

    requested: str
    used: tuple[str, ...] = ()
    cores: tuple[str, ...] = ()
    rate_mode: str = "nengo_dl"
    verify_images: int = 0
    contract: EngineContract | None = optional()
    checks: tuple[CheckRow, ...] = ()
    check_wall_time_s: float = 0.0
    fallback: str | None = optional()  # why the network ran on nengo_dl instead of compiled


@dataclass(frozen=True, kw_only=True)
class EpochStats:
    """One training epoch (rate-mode loss and accuracy on the training images)."""

    epoch: int
    loss: float
    accuracy: float
    images: int = 0
    learning_rate: float | None = optional()
    wall_time_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class TrainingMetrics:
    """How a parameter set was trained (:meth:`snnjob.train.TrainResult.metrics`)."""

    epochs: int = 0
    final_loss: float | None = None
    final_rate_accuracy: float | None = None
    history: tuple[EpochStats, ...] = ()
    train_wall_time_s: float = 0.0
    resumed_from_epoch: int = 0
    device: str = ""


@dataclass(frozen=True, kw_only=True)
class ParamsInfo:
    """One parameter set of the run; ``training``: None when its file records none."""

    train_seed: int
    params_id: str
    recipe: str = BASE
    sha256: str
    path: str | None = None
    training: TrainingMetrics | None = None


@dataclass(frozen=True, kw_only=True)
class FirstShard:
    """Where the latency of a sweep's first shard went (None: not measured)."""

    latency_s: float
    worker_start_s: float | None = None
    imports_s: float | None = None
    simulator_build_s: float | None = None
    first_minibatch_s: float | None = None
    shard_simulation_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class SweepStats:
    """One parameter set's sweep (:func:`snnjob.sweep.run_sweep`); a sweep that evaluated
    nothing has only the counts."""

    recipe: str = BASE
    train_seed: int
    ready_s: float = 0.0
    tasks: int
    skipped: int
    workers: int
    eval_wall_time_s: float | None = optional()
    engines: tuple[str, ...] | None = optional()
    cores: tuple[str, ...] | None = optional()
    engine_checks: tuple[CheckRow, ...] | None = optional()
    images_evaluated: int | None = optional()
    image_steps_simulated: int | None = optional()
    workers_lost: int | None = optional()
    workers_replaced: int | None = optional()
    shards_resubmitted: int | None = optional()
    worker_builds: int | None = optional()
    worker_peak_rss_mb: float | None = optional()
    first_shard: FirstShard | None = optional()


@dataclass(frozen=True, kw_only=True)
class Timings:
    """The job's timings and sweep statistics, summed over its parameter sets' sweeps
    (``per_params``); the worker counters are the pool's, cumulative over the job."""

    total_wall_time_s: float = 0.0
    tasks: int = 0
    skipped: int = 0
    workers: int = 0
    images_evaluated: int = 0
    image_steps_simulated: int = 0
    eval_wall_time_s: float = 0.0
    workers_lost: int | None = optional()
    workers_replaced: int | None = optional()
    shards_resubmitted: int | None = optional()
    worker_builds: int | None = optional()
    worker_peak_rss_mb: float | None = optional()
    first_shard: FirstShard | None = optional()
    params_ready_wall_time_s: float = 0.0
    per_params: tuple[SweepStats, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ClusterInfo:
    """The Ray cluster: live nodes, total CPUs and GPUs, the largest node's CPUs, the
    dashboard (``HOST:PORT``, None without one) and how long starting or joining took."""

    nodes: int
    cpus: float
    gpus: float
    max_node_cpus: float
    dashboard: str | None = None
    ray_start_s: float | None = None
