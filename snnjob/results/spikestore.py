"""Spike statistics per LIF layer (``OUT/spikes``): computed from spike counts, stored as Parquet.

One file per (parameter set, evaluation seed), ``p-<id>_t-<train seed>_s-<eval seed>.parquet``,
one row per LIF layer (columns: :data:`snnjob.results.schema.SPIKE_COLUMNS`), written
atomically. :func:`spike_rows` turns a :class:`~snnjob.messages.SpikeCounts` into the rows:

- a neuron's rate is its spikes / (images x steps x dt); the layer's mean and percentiles
  (linear interpolation) are over its neurons;
- ``silent_fraction``: neurons with no spike on any image; ``silent_per_image_fraction``:
  (image, neuron) pairs without a spike;
- ``synops_per_image_step``: sum over neurons of spikes x fan-out
  (:meth:`snnjob.architecture.NetSpec.fan_out`), per image and step;
- ``rate_hist_edges_hz`` / ``rate_hist_counts``: the histogram of the neurons' rates,
  :data:`~snnjob.results.schema.SPIKE_HIST_BINS` equal bins from 0 to the highest rate
  (schema ``spikes-v2``). Files of schema ``spikes-v1`` (without it) are still read.

Files are written, listed and read by :mod:`snnjob.results.parquet`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from snnjob.architecture import NetSpec
from snnjob.errors import RunDirError
from snnjob.messages import SpikeCounts
from snnjob.results.keys import FILE_KEYS, file_name, parse_file_name
from snnjob.results.parquet import arrow_schema, list_files, read_files, write_file
from snnjob.results.schema import (
    SPIKE_COLUMNS,
    SPIKE_COLUMNS_V1,
    SPIKE_HIST_BINS,
    SPIKE_SCHEMA_V1_VERSION,
    SPIKE_SCHEMA_VERSION,
    SPIKES_DIR,
)

SPIKE_SCHEMA = arrow_schema(SPIKE_COLUMNS, SPIKE_SCHEMA_VERSION)
"""Arrow schema of ``spikes/*.parquet``."""
SPIKE_SCHEMA_V1 = arrow_schema(SPIKE_COLUMNS_V1, SPIKE_SCHEMA_V1_VERSION)
"""Arrow schema of the ``spikes/*.parquet`` files written before the rate histogram."""
SPIKE_SCHEMAS = (SPIKE_SCHEMA, SPIKE_SCHEMA_V1)
"""The schemas ``spikes/`` files are read with, newest first."""
PERCENTILES = (5, 25, 50, 75, 95)


def spike_file_name(params_id: str, train_seed: int, eval_seed: int) -> str:
    """``p-<id>_t-<train seed>_s-<eval seed>.parquet`` (the fields are validated)."""
    return file_name({"params_id": params_id, "train_seed": train_seed, "eval_seed": eval_seed})


def spike_rows(
    net: NetSpec,
    counts: SpikeCounts,
    *,
    params_id: str,
    params_sha256: str,
    train_seed: int,
    eval_seed: int,
) -> list[dict[str, Any]]:
    """One row per LIF layer (see the module docstring)."""
    grids = net.fan_out()
    rows = []
    image_steps = counts.n_images * counts.n_steps
    for layer, spikes in counts.counts.items():
        spikes = np.asarray(spikes, dtype=np.int64)
        grid = np.asarray(grids[layer], dtype=np.int64)
        n = len(spikes)
        if n % grid.size:
            raise ValueError(f"{layer}: {n} neurons do not fit its {grid.shape} positions")
        per_neuron = np.repeat(grid.ravel(), n // grid.size)  # neurons ordered (h, w, c)
        rates = spikes / (image_steps * counts.dt)
        pct = np.percentile(rates, PERCENTILES)
        top = float(rates.max()) if rates.size and rates.max() > 0 else 1.0
        hist, edges = np.histogram(rates, bins=SPIKE_HIST_BINS, range=(0.0, top))
        rows.append({
            "params_id": params_id, "params_sha256": params_sha256,
            "train_seed": int(train_seed), "eval_seed": int(eval_seed), "layer": layer,
            "n_neurons": n, "n_images": counts.n_images, "n_steps": counts.n_steps,
            "mean_rate_hz": float(rates.mean()),
            **{f"p{q:02d}_rate_hz": float(v) for q, v in zip(PERCENTILES, pct)},
            "silent_fraction": float(np.mean(spikes == 0)),
            "silent_per_image_fraction": 1.0 - counts.active[layer] / (counts.n_images * n),
            "spikes_per_image_step": float(spikes.sum() / image_steps),
            "synops_per_image_step": float((spikes * per_neuron).sum() / image_steps),
            "rate_hist_edges_hz": [float(e) for e in edges],
            "rate_hist_counts": [int(c) for c in hist],
        })  # fmt: skip
    return rows


def write_spikes(out_dir: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Write one (parameter set, evaluation seed)'s rows atomically; return the path."""
    return write_file(out_dir, SPIKES_DIR, pa.Table.from_pylist(rows, schema=SPIKE_SCHEMA))


def read_spikes(
    out_dir: str | os.PathLike, params_id: str, train_seed: int, eval_seed: int
) -> list[dict[str, Any]] | None:
    """The rows of one (parameter set, evaluation seed), or None if there is no readable file.

    Rows of a ``spikes-v1`` file (older runs) come back without the histogram columns."""
    path = Path(out_dir) / SPIKES_DIR / spike_file_name(params_id, train_seed, eval_seed)
    if not path.is_file():
        return None
    try:
        (table,) = read_files({path: parse_file_name(path.name, FILE_KEYS[SPIKES_DIR])},
                              SPIKE_SCHEMAS)  # fmt: skip
    except RunDirError:  # unreadable, another schema, other keys inside
        return None
    return table.to_pylist()


def read_spike_rows(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every row of ``spikes/`` (empty if none), file by file in name order; ``spikes-v1``
    rows without the histogram columns. Raises :class:`RunDirError` for a file that cannot
    be read, holds another schema or is not an snnjob file."""
    tables = read_files(list_files(out_dir, SPIKES_DIR), SPIKE_SCHEMAS)
    return [row for table in tables for row in table.to_pylist()]
