"""The single description of every column of the run's Parquet data sets (``OUT/results``,
``predictions``, ``curves``, ``anytime``, ``spikes``).

Plain Python (no :mod:`pyarrow`): :mod:`snnjob.results.parquet` builds the Parquet schemas from
these tuples, and :func:`columns_markdown` renders them as the column tables of
docs/results-format.md. What identifies a point and a file (:class:`PointKey`, the file
names) is defined in :mod:`snnjob.results.keys` and re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

# What identifies a point, a shard and a file: defined in keys.py, known by their users as here.
from snnjob.results.keys import (  # noqa: F401  (re-exported)
    CURVE_FIELDS,
    FILE_KEYS,
    POINT_FIELDS,
    PointKey,
    as_int,
    curve_file_name,
    parse_shard_file_name,
    shard_file_name,
)

# Folders (inside the run's output folder) of the data sets; the run-folder layout is defined
# in :mod:`snnjob.rundir`.
from snnjob.rundir import ANYTIME as ANYTIME_DIR
from snnjob.rundir import CURVES as CURVES_DIR
from snnjob.rundir import PREDICTIONS as PREDICTIONS_DIR
from snnjob.rundir import RESULTS as RESULTS_DIR
from snnjob.rundir import SPIKES as SPIKES_DIR

__all__ = [
    "ANYTIME_COLUMNS",
    "ANYTIME_DIR",
    "ANYTIME_SCHEMA_VERSION",
    "COLUMNS",
    "CURVES_DIR",
    "CURVE_COLUMNS",
    "CURVE_FIELDS",
    "CURVE_SCHEMA_VERSION",
    "FILE_KEYS",
    "curve_file_name",
    "POINT_FIELDS",
    "PREDICTIONS_DIR",
    "PREDICTION_COLUMNS",
    "PREDICTION_SCHEMA_VERSION",
    "RESULTS_DIR",
    "SCHEMA_METADATA_KEY",
    "SCHEMA_VERSIONS",
    "SHARD_COLUMNS",
    "SHARD_SCHEMA_VERSION",
    "Column",
    "PointKey",
    "columns_markdown",
    "parse_shard_file_name",
    "shard_file_name",
]

SCHEMA_METADATA_KEY = "snnjob.schema"
"""Key of the Parquet schema metadata entry that holds the schema version."""
SHARD_SCHEMA_VERSION = "shard-v1"
"""Schema version of ``results/*.parquet``."""
PREDICTION_SCHEMA_VERSION = "pred-v1"
"""Schema version of ``predictions/*.parquet``."""
CURVE_SCHEMA_VERSION = "curve-v1"
"""Schema version of ``curves/*.parquet``."""
ANYTIME_SCHEMA_VERSION = "anytime-v1"
"""Schema version of ``anytime/*.parquet``."""


@dataclass(frozen=True)
class Column:
    """One column of a results table (never nullable).

    Attributes
    ----------
    name : str
        Column name.
    type : str
        Arrow type written as a short string: ``"string"``, ``"int64"``, ``"int8"``,
        ``"float64"``, ``"timestamp[ms, UTC]"`` or ``"list<float32, N>"`` (fixed size N; ``K``:
        the dataset's number of classes, fixed per run).
    description : str
        One line; stored as the Parquet field's ``description`` metadata.
    """

    name: str
    type: str
    description: str


SHARD_COLUMNS: tuple[Column, ...] = (
    Column("params_id", "string", "id of the trained parameter set (network + training)"),
    Column("params_sha256", "string", "SHA-256 hex digest of the parameter file used"),
    Column("train_seed", "int64", "seed of the training run that produced the parameters"),
    Column("n_steps", "int64", "simulation timesteps each test image is presented for"),
    Column("eval_seed", "int64", "seed of the spiking evaluation (simulator seed)"),
    Column("minibatch_size", "int64", "simulator minibatch size used for this shard"),
    Column("shard_id", "int64", "index of the shard within the point's test set"),
    Column("first_index", "int64", "first test-image index of the shard (inclusive)"),
    Column("last_index", "int64", "last test-image index of the shard (inclusive)"),
    Column("n_images", "int64", "images evaluated: last_index - first_index + 1"),
    Column("n_errors", "int64", "images whose prediction differs from the label"),
    Column(
        "wall_time_s",
        "float64",
        "wall-clock seconds of the shard's simulation (shared by every n_steps read from it)",
    ),
    Column("worker_node", "string", "Ray node (IP address or node id) that ran the shard"),
    Column("worker_pid", "int64", "process id of the worker that ran the shard"),
    Column("finished_at", "timestamp[ms, UTC]", "time the shard finished (UTC, ms)"),
)
"""Columns of ``results/*.parquet`` (schema ``shard-v1``): one row per (sweep point, shard)."""

PREDICTION_COLUMNS: tuple[Column, ...] = (
    Column("params_id", "string", "id of the trained parameter set"),
    Column("train_seed", "int64", "seed of the training run"),
    Column("n_steps", "int64", "simulation timesteps per test image"),
    Column("eval_seed", "int64", "seed of the spiking evaluation"),
    Column("shard_id", "int64", "index of the shard within the point's test set"),
    Column("image_index", "int64", "index of the image in the test set"),
    Column("label", "int8", "true class"),
    Column("prediction", "int8", "predicted class (argmax of output)"),
    Column(
        "output",
        "list<float32, K>",
        "filtered network output of each of the dataset's K classes at the last timestep",
    ),
)
"""Columns of ``predictions/*.parquet`` (schema ``pred-v1``): one row per test image."""

CURVE_COLUMNS: tuple[Column, ...] = (
    Column("params_id", "string", "id of the trained parameter set"),
    Column("train_seed", "int64", "seed of the training run"),
    Column("eval_seed", "int64", "seed of the spiking evaluation"),
    Column("shard_id", "int64", "index of the shard within the test set"),
    Column("first_index", "int64", "first test-image index of the shard (inclusive)"),
    Column("last_index", "int64", "last test-image index of the shard (inclusive)"),
    Column("step", "int64", "timestep the output is read at (1 = the first step)"),
    Column("n_images", "int64", "images in the shard"),
    Column("n_errors", "int64", "images misclassified when read at this step"),
)
"""Columns of ``curves/*.parquet`` (schema ``curve-v1``): one row per (simulation, shard,
step), from 1 to the longest ``n_steps`` of the sweep."""

ANYTIME_COLUMNS: tuple[Column, ...] = (
    *CURVE_COLUMNS[:6],
    Column("threshold", "float64", "margin (top-1 minus top-2 filtered output) to stop at"),
    Column("n_steps", "int64", "steps simulated: what an image that never stops uses"),
    Column("n_images", "int64", "images in the shard"),
    Column("n_errors", "int64", "images misclassified at the step they stopped at"),
    Column("steps_sum", "int64", "steps used, summed over the shard's images"),
)
"""Columns of ``anytime/*.parquet`` (schema ``anytime-v1``): one row per (simulation, shard,
threshold) of :mod:`snnjob.anytime`'s early stopping."""

COLUMNS: dict[str, tuple[Column, ...]] = {
    RESULTS_DIR: SHARD_COLUMNS,
    PREDICTIONS_DIR: PREDICTION_COLUMNS,
    CURVES_DIR: CURVE_COLUMNS,
    ANYTIME_DIR: ANYTIME_COLUMNS,
}
"""Columns per kind of file, keyed by folder name (``"results"``, ``"predictions"``)."""

SCHEMA_VERSIONS: dict[str, str] = {
    RESULTS_DIR: SHARD_SCHEMA_VERSION,
    PREDICTIONS_DIR: PREDICTION_SCHEMA_VERSION,
    CURVES_DIR: CURVE_SCHEMA_VERSION,
    ANYTIME_DIR: ANYTIME_SCHEMA_VERSION,
}
"""Schema version per kind of file, keyed like :data:`COLUMNS`."""


def columns_markdown(kind: str) -> str:
    """Render the columns of one kind of file as a Markdown table.

    Parameters
    ----------
    kind : str
        ``"results"`` (:data:`SHARD_COLUMNS`), ``"predictions"`` (:data:`PREDICTION_COLUMNS`),
        ``"curves"`` (:data:`CURVE_COLUMNS`), ``"anytime"`` (:data:`ANYTIME_COLUMNS`) or
        ``"spikes"`` (:data:`SPIKE_COLUMNS`).

    Returns
    -------
    str
        ``| column | type | description |`` table, one line per column, ending with a newline.

    Raises
    ------
    ValueError
        If ``kind`` is not one of them.
    """
    if kind not in COLUMNS:
        raise ValueError(f"kind must be one of {sorted(COLUMNS)}, got {kind!r}")
    lines = ["| column | type | description |", "|---|---|---|"]
    lines += [f"| `{c.name}` | `{c.type}` | {c.description} |" for c in COLUMNS[kind]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Spike statistics (OUT/spikes): a diagnostic, not part of the sweep's results
# --------------------------------------------------------------------------------------------

SPIKE_SCHEMA_VERSION = "spikes-v2"
"""Schema version of ``spikes/*.parquet`` (``spikes-v1``: without the rate histogram)."""
SPIKE_SCHEMA_V1_VERSION = "spikes-v1"
"""Schema version of the ``spikes/*.parquet`` files written before the rate histogram."""
SPIKE_HIST_BINS = 20
"""Bins of the per-layer firing-rate histogram (``rate_hist_counts``)."""

_RATE = "firing rate (Hz) of the layer's neurons, each averaged over the images and steps"
SPIKE_COLUMNS_V1: tuple[Column, ...] = (
    Column("params_id", "string", "id of the trained parameter set"),
    Column("params_sha256", "string", "SHA-256 hex digest of the parameters simulated"),
    Column("train_seed", "int64", "seed of the training run"),
    Column("eval_seed", "int64", "seed of the spiking evaluation (the neurons' initial states)"),
    Column("layer", "string", "LIF layer, named after the convolution that drives it"),
    Column("n_neurons", "int64", "neurons in the layer"),
    Column("n_images", "int64", "test images simulated (the first ones of the test set)"),
    Column("n_steps", "int64", "timesteps each image is presented for"),
    Column("mean_rate_hz", "float64", f"mean {_RATE}"),
    Column("p05_rate_hz", "float64", f"5th percentile of the {_RATE}"),
    Column("p25_rate_hz", "float64", f"25th percentile of the {_RATE}"),
    Column("p50_rate_hz", "float64", f"median {_RATE}"),
    Column("p75_rate_hz", "float64", f"75th percentile of the {_RATE}"),
    Column("p95_rate_hz", "float64", f"95th percentile of the {_RATE}"),
    Column("silent_fraction", "float64", "fraction of neurons with no spike on any image"),
    Column(
        "silent_per_image_fraction",
        "float64",
        "fraction of (image, neuron) pairs with no spike over the image's window",
    ),
    Column("spikes_per_image_step", "float64", "spikes of the whole layer per image and step"),
    Column(
        "synops_per_image_step",
        "float64",
        "synaptic operations per image and step: each spike times its neuron's fan-out "
        "(architecture.fan_out: exact at borders, through the pool)",
    ),
)
"""Columns of ``spikes/*.parquet`` files of schema ``spikes-v1`` (still read)."""
SPIKE_COLUMNS: tuple[Column, ...] = (
    *SPIKE_COLUMNS_V1,
    Column(
        "rate_hist_edges_hz",
        f"list<float64, {SPIKE_HIST_BINS + 1}>",
        f"edges of the histogram of the {_RATE}: {SPIKE_HIST_BINS} equal bins from 0 to the "
        "layer's highest rate (to 1 Hz when all are silent)",
    ),
    Column(
        "rate_hist_counts",
        f"list<int64, {SPIKE_HIST_BINS}>",
        "neurons per histogram bin (bins include their left edge, the last also its right)",
    ),
)
"""Columns of ``spikes/*.parquet`` (schema ``spikes-v2``): one row per LIF layer of one
(parameter set, evaluation seed), from the spike-statistics pass at the sweep's longest
``n_steps``; ``spikes-v1`` rows lack the two histogram columns."""

COLUMNS[SPIKES_DIR] = SPIKE_COLUMNS
SCHEMA_VERSIONS[SPIKES_DIR] = SPIKE_SCHEMA_VERSION
__all__ += ["SPIKES_DIR", "SPIKE_COLUMNS", "SPIKE_COLUMNS_V1", "SPIKE_HIST_BINS",
            "SPIKE_SCHEMA_V1_VERSION", "SPIKE_SCHEMA_VERSION"]  # fmt: skip
