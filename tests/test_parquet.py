"""The one Parquet layer (snnjob.results.parquet, snnjob.results.keys) under the five data
sets: a small run written by the store functions reads the same with pandas and
pyarrow.dataset as with snnjob's own readers; foreign files are refused in every folder."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from snnjob.errors import RunDirError
from snnjob.results.curvestore import read_anytime_rows, read_curve_rows, write_anytime, write_curve
from snnjob.results.keys import FILE_KEYS, PointKey, file_name, parse_file_name
from snnjob.results.parquet import UnreadableFileError, write_file
from snnjob.results.schema import COLUMNS, SPIKE_COLUMNS, SPIKE_HIST_BINS
from snnjob.results.spikestore import SPIKE_SCHEMA, read_spike_rows, read_spikes, write_spikes
from snnjob.results.store import completed_shards, read_predictions, read_results, write_shard

WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)
FOLDERS = ("results", "predictions", "curves", "anytime", "spikes")
SORT = {
    "results": ("params_id", "train_seed", "n_steps", "eval_seed", "shard_id"),
    "predictions": ("params_id", "train_seed", "n_steps", "eval_seed", "image_index"),
    "curves": ("params_id", "train_seed", "eval_seed", "shard_id", "step"),
    "anytime": ("params_id", "train_seed", "eval_seed", "shard_id", "threshold"),
    "spikes": ("params_id", "train_seed", "eval_seed", "layer"),
}
READERS = {
    "results": lambda out: read_results(out).to_pylist(),
    "predictions": lambda out: read_predictions(out).to_pylist(),
    "curves": read_curve_rows,
    "anytime": read_anytime_rows,
    "spikes": read_spike_rows,
}


def _spike_row(params_id: str, train_seed: int, eval_seed: int, layer: str) -> dict:
    row = {c.name: 0.5 for c in SPIKE_COLUMNS}
    row.update(params_id=params_id, params_sha256="f" * 64, train_seed=train_seed,
               eval_seed=eval_seed, layer=layer, n_neurons=8, n_images=4, n_steps=3,
               rate_hist_edges_hz=[float(i) for i in range(SPIKE_HIST_BINS + 1)],
               rate_hist_counts=[i % 3 for i in range(SPIKE_HIST_BINS)])  # fmt: skip
    return row


def write_small_run(out) -> None:
    """Two parameter sets x two evaluation seeds x two shards x two n_steps, every folder;
    a leftover temporary file in each."""
    rng = np.random.default_rng(0)
    for params_id in ("base", "wide.v2"):
        for eval_seed in (0, 1):
            for shard_id, (first, last) in enumerate(((0, 5), (6, 9))):
                n = last - first + 1
                keys = dict(params_id=params_id, train_seed=0, eval_seed=eval_seed,
                            shard_id=shard_id, first_index=first)  # fmt: skip
                write_curve(out, **keys, step_errors=np.array([n, 2, 1]), n_images=n)
                write_anytime(out, **keys, n_images=n, n_steps=3, thresholds=[0.5, 2.0],
                              n_errors=np.array([2, 1]),
                              steps_sum=np.array([n, 3 * n]))  # fmt: skip
                for n_steps in (2, 3):
                    label = rng.integers(0, 10, n)
                    prediction = label.copy()
                    prediction[0] = (label[0] + 1) % 10
                    row = dict(params_sha256="f" * 64, minibatch_size=4, first_index=first,
                               last_index=last, n_images=n, n_errors=1, wall_time_s=0.5,
                               worker_node="10.0.0.1", worker_pid=7, finished_at=WHEN)  # fmt: skip
                    predictions = dict(image_index=np.arange(first, last + 1), label=label,
                                       prediction=prediction,
                                       output=rng.random((n, 10)).astype(np.float32))  # fmt: skip
                    write_shard(out, point=PointKey(params_id, 0, n_steps, eval_seed),
                                shard_id=shard_id, row=row, predictions=predictions)  # fmt: skip
            write_spikes(out, [_spike_row(params_id, 0, eval_seed, layer)
                               for layer in ("conv0", "conv1")])  # fmt: skip
    for folder in FOLDERS:
        (out / folder / ".p-base_t-0_s-0.parquet.123.abcdef.tmp").write_bytes(b"PAR1 partial")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    write_small_run(out)
    return out


def _plain(value):
    """A value as snnjob's readers give it (lists, not numpy arrays)."""
    return value.tolist() if isinstance(value, np.ndarray) else value


@pytest.mark.parametrize("folder", FOLDERS)
def test_pandas_reads_each_folder_as_it_is(run, folder):
    expected = READERS[folder](run)
    assert len(expected) > 0
    frame = pd.read_parquet(run / folder)
    assert list(frame.columns) == [c.name for c in COLUMNS[folder]]
    assert "category" not in set(map(str, frame.dtypes))  # no key turned into a partition
    frame = frame.sort_values(list(SORT[folder]), kind="stable", ignore_index=True)
    rows = [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
    assert rows == sorted(expected, key=lambda r: tuple(r[k] for k in SORT[folder]))


@pytest.mark.parametrize("folder", FOLDERS)
def test_pyarrow_dataset_reads_each_folder_as_it_is(run, folder):
    expected = READERS[folder](run)
    for dataset in (ds.dataset(run / folder), ds.dataset(run / folder, partitioning="hive")):
        table = dataset.to_table()
        assert table.schema.names == [c.name for c in COLUMNS[folder]]
        rows = table.sort_by([(k, "ascending") for k in SORT[folder]]).to_pylist()
        assert rows == sorted(expected, key=lambda r: tuple(r[k] for k in SORT[folder]))
    assert pq.read_table(run / folder).num_rows == len(expected)


@pytest.mark.parametrize("folder", FOLDERS)
def test_a_foreign_file_in_any_folder_is_refused(run, tmp_path, folder):
    out = tmp_path / "run"
    shutil.copytree(run, out)
    pq.write_table(pa.table({"x": [1]}), out / folder / "data.parquet")
    with pytest.raises(RunDirError, match="unexpected file .*data.parquet"):
        READERS[folder](out)
    if folder in ("results", "predictions"):
        with pytest.raises(RunDirError, match="data.parquet"):
            completed_shards(out)


@pytest.mark.parametrize("folder", ["curves", "anytime", "spikes"])
def test_a_renamed_file_is_refused(tmp_path, folder):
    write_small_run(tmp_path)
    first, second = sorted((tmp_path / folder).glob("*.parquet"))[:2]
    os.replace(first, second)  # second's name, first's rows
    with pytest.raises(RunDirError, match="but its name says"):
        READERS[folder](tmp_path)


def test_an_unreadable_file_names_itself_in_one_style(tmp_path):
    write_small_run(tmp_path)
    for folder in FOLDERS:
        path = sorted((tmp_path / folder).glob("*.parquet"))[0]
        good = path.read_bytes()
        path.write_bytes(b"not parquet")
        with pytest.raises(UnreadableFileError, match=f"cannot read .*{path.name} .*; remove it"):
            READERS[folder](tmp_path)
        path.write_bytes(good)
    path.write_bytes(good[: len(good) // 2])
    assert read_spikes(tmp_path, "base", 0, 0) is None  # the spike statistics are redone


def test_write_file_names_the_file_after_its_one_key_per_column(tmp_path):
    rows = [_spike_row("abc", 1, 2, "conv0"), _spike_row("abc", 1, 3, "conv1")]
    with pytest.raises(ValueError, match="must share one eval_seed"):
        write_spikes(tmp_path, rows)
    path = write_file(tmp_path, "spikes", pa.Table.from_pylist(rows[:1], schema=SPIKE_SCHEMA))
    assert path == tmp_path / "spikes" / "p-abc_t-1_s-2.parquet"


@pytest.mark.parametrize("folder", FOLDERS)
def test_file_names_round_trip_in_every_folder(folder):
    fields = FILE_KEYS[folder]
    keys = {"params_id": "net-1.b_c", "train_seed": 3, "n_steps": 40, "eval_seed": 0,
            "shard_id": 12}  # fmt: skip
    keys = {k: keys[k] for k in fields}
    name = file_name(keys)
    assert parse_file_name(name, fields) == keys
    others = {FILE_KEYS[f] for f in FOLDERS} - {fields}
    assert all(parse_file_name(name, other) is None for other in others)
    assert parse_file_name(name.replace("_t-3", "_t-03"), fields) is None  # not canonical
    with pytest.raises(ValueError, match="not key columns"):
        file_name({**keys, "layer": "conv0"})


def test_the_documented_one_liners_run_and_agree(run):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "results-format.md").read_text()
    section = doc.split("\n## Reading the folders with pandas", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    found: dict = {}
    exec(code.replace('"OUT/', f'"{run}/'), found)  # noqa: S102  (our own documentation)
    assert len(found["shards"]) == len(READERS["results"](run))
    assert len(found["predictions"]) == len(READERS["predictions"](run))
    base = [r for r in read_curve_rows(run) if r["params_id"] == "base"]
    assert len(found["curves"]) == len(base) > 0
    assert found["anytime"].num_rows == len(read_anytime_rows(run))
    assert found["spikes"].column_names == ["params_id", "layer", "mean_rate_hz"]
    assert found["spikes"].num_rows == len(read_spike_rows(run))


def _sorted_rows(table, folder: str) -> list[dict]:
    return table.sort_by([(k, "ascending") for k in SORT[folder]]).to_pylist()


@pytest.mark.parametrize("folder", FOLDERS)
def test_duckdb_reads_each_folder_by_a_glob(run, folder):
    import duckdb  # a dev dependency (pyproject.toml), in the locked environment

    expected = READERS[folder](run)
    con = duckdb.connect()
    table = con.sql(f"SELECT * FROM read_parquet('{run / folder}/*.parquet')").fetch_arrow_table()
    assert table.schema.names == [c.name for c in COLUMNS[folder]]
    assert _sorted_rows(table, folder) == sorted(
        expected, key=lambda r: tuple(r[k] for k in SORT[folder])
    )


@pytest.mark.parametrize("folder", FOLDERS)
def test_polars_reads_each_folder_by_a_glob(run, folder):
    import polars as pl

    expected = READERS[folder](run)
    frame = pl.read_parquet(f"{run / folder}/*.parquet")
    assert frame.columns == [c.name for c in COLUMNS[folder]]
    assert _sorted_rows(frame.to_arrow(), folder) == sorted(
        expected, key=lambda r: tuple(r[k] for k in SORT[folder])
    )


def test_the_documented_duckdb_and_polars_lines_run_and_agree(run):
    import duckdb

    doc = (Path(__file__).resolve().parents[1] / "docs" / "results-format.md").read_text()
    section = doc.split("\n## Reading the folders with pandas", 1)[1]
    sql = section.split("```sql\n", 1)[1].split("```", 1)[0].replace("OUT/", f"{run}/")
    by_steps = duckdb.connect().sql(sql).fetchall()
    rows = read_results(run).to_pylist()
    for n_steps, error in by_steps:
        shards = [r for r in rows if r["n_steps"] == n_steps]
        want = sum(r["n_errors"] for r in shards) / sum(r["n_images"] for r in shards)
        assert error == pytest.approx(want)
    assert [n for n, _ in by_steps] == sorted({r["n_steps"] for r in rows})
    blocks = [b.split("```", 1)[0] for b in section.split("```python\n")[1:]]
    code = next(b for b in blocks if b.startswith("import polars"))
    found: dict = {}
    exec(code.replace('"OUT/', f'"{run}/'), found)  # noqa: S102  (our own documentation)
    assert found["shards"].height == len(rows)
