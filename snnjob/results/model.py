"""``summary.json`` as frozen dataclasses: :class:`RunSummary` and everything in it.

Built once (:func:`snnjob.results.summary.summarize`, :func:`snnjob.runner.build_summary`),
serialised in one place: :meth:`RunSummary.to_dict` / :meth:`RunSummary.from_dict`, by the
generic converter of :mod:`snnjob.results.convert` (the field annotations are the schema).
The JSON keys are the field names, in field order; ``schema`` (:data:`SCHEMA`) comes first.

A summary without ``schema`` (written before it, e.g. ``docs/measured/sweep-summary.json``)
loads: its older keys are upgraded (:func:`upgrade_summary`) and fields it lacks take their
defaults. A summary of an unknown schema, or with a value of the wrong type, is refused with
a :class:`~snnjob.results.convert.FormatError` naming the field. Plain Python.

The run-time sections (engine, parameter sets and their training, timings and sweep
statistics, cluster) are in :mod:`snnjob.results.runinfo`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from snnjob.datasets import DatasetInfo
from snnjob.results.convert import FormatError, from_json, optional, to_json
from snnjob.results.runinfo import BASE, ClusterInfo, EngineInfo, ParamsInfo, Timings
from snnjob.results.schema import PointKey

__all__ = [
    "BASE", "LEGACY_SEED_KEY", "SCHEMA", "Anytime", "AnytimePoint", "Curve", "FormatError",
    "NetworkInfo", "Point", "PooledRate", "RateMode", "RecipeStepStats", "RecipeSummary",
    "RunSummary", "SpikeEntry", "SpikeLayer", "StepStats", "as_spike_entries", "as_summary",
    "upgrade_summary",
]  # fmt: skip

SCHEMA = "summary-v2"
"""The ``schema`` of the summaries this version writes (files without one: the older ones)."""
LEGACY_SEED_KEY = "seed"
"""Key of the evaluation seed in the points of summaries written before it became
``eval_seed`` (the Parquet column name); :func:`upgrade_summary` converts it."""


@dataclass(frozen=True, kw_only=True)
class Point:
    """One sweep point: counts summed over its shards, the error and its Wilson interval."""

    params_id: str
    recipe: str = BASE
    params_sha256: str = ""
    train_seed: int
    n_steps: int
    eval_seed: int
    n_images: int
    n_errors: int
    error: float
    ci95_low: float = 0.0
    ci95_high: float = 1.0
    n_shards: int = 0
    eval_wall_time_s: float = 0.0

    @property
    def key(self) -> PointKey:
        return PointKey(self.params_id, self.train_seed, self.n_steps, self.eval_seed)


@dataclass(frozen=True, kw_only=True)
class StepStats:
    """``by_n_steps``: the point errors at one ``n_steps`` across training and eval seeds."""

    n_steps: int
    n_points: int
    mean_error: float
    std_error: float
    min_error: float
    max_error: float


@dataclass(frozen=True, kw_only=True)
class Curve:
    """One simulation's error at every step (``n_errors[t - 1]``: read at step ``t``)."""

    params_id: str
    recipe: str = BASE
    train_seed: int
    eval_seed: int
    n_images: int
    n_errors: tuple[int, ...]
    error: tuple[float, ...]
    ci95_low: tuple[float, ...]
    ci95_high: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class AnytimePoint:
    """One threshold: errors and mean steps used when each image stops when confident."""

    threshold: float
    n_errors: int
    error: float
    ci95_low: float
    ci95_high: float
    mean_steps: float


@dataclass(frozen=True, kw_only=True)
class Anytime:
    """One simulation's anytime points (:mod:`snnjob.anytime`)."""

    params_id: str
    recipe: str = BASE
    train_seed: int
    eval_seed: int
    n_images: int
    n_steps: int
    points: tuple[AnytimePoint, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RateMode:
    """One parameter set's rate-mode (``LIFRate``, no spikes) test error."""

    params_id: str
    recipe: str = BASE
    train_seed: int
    n_images: int
    n_errors: int
    error: float
    ci95_low: float = 0.0
    ci95_high: float = 1.0


@dataclass(frozen=True, kw_only=True)
class RecipeStepStats:
    """One recipe at one ``n_steps``: spread over training seeds and pooled counts."""

    n_steps: int
    n_train_seeds: int
    n_points: int
    mean_error: float
    std_error: float
    min_error: float
    max_error: float
    mean_ci95_low: float | None = None
    mean_ci95_high: float | None = None
    n_images: int
    n_errors: int
    error: float
    ci95_low: float
    ci95_high: float


@dataclass(frozen=True, kw_only=True)
class PooledRate:
    """A recipe's rate-mode rows pooled, and the mean error over its training seeds."""

    n_images: int
    n_errors: int
    error: float
    ci95_low: float
    ci95_high: float
    mean_error: float


@dataclass(frozen=True, kw_only=True)
class RecipeSummary:
    """One recipe (:mod:`snnjob.results.byrecipe`): its overrides, seeds, errors."""

    recipe: str
    slug: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    train_seeds: tuple[int, ...] = ()
    params_ids: tuple[str, ...] = ()
    by_n_steps: tuple[RecipeStepStats, ...] = ()
    rate_mode: PooledRate | None = None


@dataclass(frozen=True, kw_only=True)
class SpikeLayer:
    """One LIF layer's spike statistics (:data:`snnjob.results.schema.SPIKE_COLUMNS`);
    the histogram is absent in rows of ``spikes-v1`` files."""

    layer: str
    n_neurons: int = 0
    mean_rate_hz: float = 0.0
    p05_rate_hz: float = 0.0
    p25_rate_hz: float = 0.0
    p50_rate_hz: float = 0.0
    p75_rate_hz: float = 0.0
    p95_rate_hz: float = 0.0
    silent_fraction: float = 0.0
    silent_per_image_fraction: float = 0.0
    spikes_per_image_step: float = 0.0
    synops_per_image_step: float = 0.0
    rate_hist_edges_hz: tuple[float, ...] | None = optional()
    rate_hist_counts: tuple[int, ...] | None = optional()


@dataclass(frozen=True, kw_only=True)
class SpikeEntry:
    """One parameter set's spike statistics on the first ``n_images`` test images."""

    params_id: str
    recipe: str = BASE
    train_seed: int
    eval_seed: int = 0
    n_images: int = 0
    n_steps: int = 0
    layers: tuple[SpikeLayer, ...] = ()


@dataclass(frozen=True, kw_only=True)
class NetworkInfo:
    """The network evaluated (:meth:`snnjob.architecture.NetSpec.to_dict`)."""

    layers: tuple[dict[str, Any], ...]
    image_shape: tuple[int, int, int]
    n_classes: int
    description: str

    @classmethod
    def of(cls, net: Any) -> NetworkInfo:
        """Of a :class:`~snnjob.architecture.NetSpec`."""
        return from_json(cls, net.to_dict(), "network")


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """A run's ``summary.json``. Every section is optional but ``points`` and
    ``by_n_steps`` (what :func:`~snnjob.results.summary.summarize` gives): lists are empty
    and the others None when a run (or an older version) did not write them."""

    schema: str = field(default=SCHEMA, init=False)
    points: tuple[Point, ...] = ()
    by_n_steps: tuple[StepStats, ...] = ()
    curves: tuple[Curve, ...] = ()
    anytime: tuple[Anytime, ...] = ()
    dataset: DatasetInfo | None = optional()
    network: NetworkInfo | None = optional()
    recipes: tuple[RecipeSummary, ...] = ()
    rate_mode: tuple[RateMode, ...] = ()
    spikes: tuple[SpikeEntry, ...] = ()
    config_name: str | None = optional()
    engine: EngineInfo | None = optional()
    params: tuple[ParamsInfo, ...] = ()
    timings: Timings | None = optional()
    cluster: ClusterInfo | None = optional()

    def __post_init__(self) -> None:
        for name, value in vars(self).items():  # sections given as lists: tuples, as loaded
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (what ``summary.json`` holds)."""
        return to_json(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        """A summary from parsed JSON: this schema, or an older file without one (upgraded,
        absent fields defaulted). Raises :class:`FormatError` (a ValueError) naming the
        field for an unknown schema, a wrong type or a missing required value."""
        if not isinstance(data, Mapping):
            raise FormatError(
                f"a summary must be a JSON object with a 'points' list, got {type(data).__name__}"
            )
        schema = data.get("schema")
        if schema is None:
            data = upgrade_summary(data)
        elif schema != SCHEMA:
            raise FormatError(
                f"summary.schema is {schema!r}, which this version of snnjob does not know (it "
                f"reads {SCHEMA!r} and older summaries without a schema): upgrade snnjob"
            )
        if not isinstance(data.get("points"), list):
            raise FormatError("a summary must be a JSON object with a 'points' list")
        return from_json(cls, data, "summary")


def as_summary(summary: RunSummary | Mapping[str, Any]) -> RunSummary:
    """``summary`` itself, or a ``summary.json`` dict converted (:meth:`RunSummary.from_dict`)."""
    if isinstance(summary, RunSummary):
        return summary
    return RunSummary.from_dict(summary)


def as_spike_entries(
    spikes: Sequence[SpikeEntry | Mapping[str, Any]],
) -> tuple[SpikeEntry, ...]:
    """The ``spikes`` entries of a summary, typed (dicts as in ``summary.json`` converted)."""
    return tuple(
        s if isinstance(s, SpikeEntry) else from_json(SpikeEntry, s, f"spikes[{i}]")
        for i, s in enumerate(spikes)
    )


def _upgrade_point(point: Any, index: int) -> Any:
    if not isinstance(point, Mapping) or LEGACY_SEED_KEY not in point:
        return point
    if "eval_seed" in point and point["eval_seed"] != point[LEGACY_SEED_KEY]:
        raise FormatError(
            f"summary.points[{index}] has both eval_seed = {point['eval_seed']!r} and the old "
            f"seed = {point[LEGACY_SEED_KEY]!r}"
        )
    # keep the key where it was, so an upgraded summary reads like a new one
    return {
        ("eval_seed" if key == LEGACY_SEED_KEY else key): value
        for key, value in point.items()
        if key != "eval_seed"
    }


def upgrade_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a ``summary.json`` dict without ``schema`` in the current layout (the
    input is not changed): points written before the rename carry the evaluation seed as
    ``"seed"``; it becomes ``"eval_seed"`` (same position)."""
    if not isinstance(summary, Mapping) or not isinstance(summary.get("points"), list):
        raise FormatError("a summary must be a JSON object with a 'points' list")
    out = dict(summary)
    out["points"] = [_upgrade_point(p, i) for i, p in enumerate(summary["points"])]
    return out
