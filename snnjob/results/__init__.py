"""Per-shard evaluation results: column descriptions, Parquet files, coverage and summaries.

An evaluation sweep is a set of *points* (:class:`PointKey`: params id, training seed,
``n_steps``, evaluation seed). Each point's test set is split into *shards* of consecutive test
images, and each evaluated shard is written as its own small Parquet file::

    OUT/results/<slug>_shard-00007.parquet       one row per (point, shard), schema shard-v1
    OUT/predictions/<slug>_shard-00007.parquet   one row per image, schema pred-v1
    OUT/curves/p-<id>_t-<k>_s-<e>_shard-00007.parquet   errors at every step, curve-v1

The points of one (params, evaluation seed) come from one simulation per shard, read at
each ``n_steps``; its curve (the error at every step) is written before its results files.

Every file is first written to a hidden temporary file in the same folder (readers ignore
names starting with ``"."``) and then renamed into place, so a file under its final name is
complete. The predictions file of a shard is written before its results file, and a shard is
done exactly when its results file exists: resuming an interrupted sweep skips
``store.completed_shards``. Rates are computed from counts summed over shards, never by
averaging per-shard rates (shards may hold different numbers of images).

Submodules:

- :mod:`~snnjob.results.schema`: the one description of every column (name, type,
  description), schema versions, ``columns_markdown``. Plain Python.
- :mod:`~snnjob.results.keys`: :class:`PointKey`, each folder's key columns and the one
  file-name scheme of all five folders (``shard_file_name``, ``parse_file_name``, ...), also
  re-exported by ``schema``. Plain Python.
- :mod:`~snnjob.results.rows`: validation of a shard row and its per-image predictions
  before they are written. Plain Python and numpy.
- :mod:`~snnjob.results.parquet`: the one Parquet layer: Arrow schemas, atomic writes,
  listing, reading with the schema and name checks, one error style.
- :mod:`~snnjob.results.store` (``write_shard``, ``completed_shards``,
  ``read_results``/``read_predictions``/``read_shard_rows``),
  :mod:`~snnjob.results.curvestore` (``write_curve``, ``read_curve_rows``, anytime) and
  :mod:`~snnjob.results.spikestore` (``write_spikes``, ``read_spikes``): each data set's
  columns, keys and checks over ``parquet``. With it, the only modules of :mod:`snnjob` that
  import :mod:`pyarrow`; import them explicitly (this package does not).
- :mod:`~snnjob.results.curves`: ``summarize_curves``, the per-step errors summed over
  shards. Plain Python.
- :mod:`~snnjob.results.model` (with :mod:`~snnjob.results.runinfo`): ``summary.json`` typed,
  :class:`~snnjob.results.model.RunSummary` and everything in it (frozen dataclasses), its
  ``schema`` version and ``to_dict``/``from_dict`` (by :mod:`~snnjob.results.convert`, the
  one converter, driven by the type hints). Plain Python.
- :mod:`~snnjob.results.summary`: ``check_coverage`` and ``summarize`` over shard-row dicts,
  ``wilson_interval``, ``load_summary`` (reads ``summary.json`` as a ``RunSummary``, older
  formats upgraded), ``write_summary`` and ``write_json_atomic``.
- :mod:`~snnjob.results.report`: ``summary_markdown`` (tables by tabulate), ``summary_json``,
  ``summary_csv``.
- :mod:`~snnjob.results.frames`: ``load`` (``snnjob.load``): a finished run as pandas
  DataFrames, and ``check_run_folder``. Import it explicitly (pandas; this package does not).
"""

from snnjob.results.model import RunSummary
from snnjob.results.report import summary_markdown
from snnjob.results.schema import (
    POINT_FIELDS,
    PREDICTION_COLUMNS,
    PREDICTIONS_DIR,
    RESULTS_DIR,
    SHARD_COLUMNS,
    Column,
    PointKey,
    columns_markdown,
    parse_shard_file_name,
    shard_file_name,
)
from snnjob.results.summary import (
    check_coverage,
    load_summary,
    summarize,
    wilson_interval,
    write_json_atomic,
    write_summary,
)

__all__ = [
    "POINT_FIELDS",
    "PREDICTIONS_DIR",
    "PREDICTION_COLUMNS",
    "RESULTS_DIR",
    "SHARD_COLUMNS",
    "Column",
    "PointKey",
    "RunSummary",
    "check_coverage",
    "columns_markdown",
    "load_summary",
    "parse_shard_file_name",
    "shard_file_name",
    "summarize",
    "summary_markdown",
    "wilson_interval",
    "write_json_atomic",
    "write_summary",
]
