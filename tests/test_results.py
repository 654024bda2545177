"""Tests of snnjob.results: real Parquet files written and read back, no mocks."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import binomtest

from snnjob.atomic import write_text_atomic
from snnjob.errors import RunDirError
from snnjob.results.convert import to_json
from snnjob.results.model import SCHEMA, RunSummary
from snnjob.results.report import summary_markdown
from snnjob.results.schema import (
    COLUMNS,
    PREDICTION_COLUMNS,
    SHARD_COLUMNS,
    PointKey,
    columns_markdown,
    parse_shard_file_name,
    shard_file_name,
)
from snnjob.results.store import (
    SHARD_SCHEMA,
    completed_shards,
    prediction_schema,
    read_predictions,
    read_results,
    read_shard_rows,
    write_shard,
)
from snnjob.results.summary import (
    check_coverage,
    load_summary,
    summarize,
    wilson_interval,
    write_json_atomic,
)

SHA = "0123456789abcdef" * 4
WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)
POINT = PointKey(params_id="base", train_seed=0, n_steps=50, eval_seed=3)


def make_row(first: int, last: int, n_errors: int, **overrides) -> dict:
    row = {
        "params_sha256": SHA,
        "minibatch_size": 10,
        "first_index": first,
        "last_index": last,
        "n_images": last - first + 1,
        "n_errors": n_errors,
        "wall_time_s": 1.25,
        "worker_node": "10.0.0.7",
        "worker_pid": 4242,
        "finished_at": WHEN,
    }
    row.update(overrides)
    return row


def make_predictions(first: int, last: int, n_errors: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n = last - first + 1
    label = rng.integers(0, 10, size=n)
    prediction = label.copy()
    prediction[:n_errors] = (label[:n_errors] + 1) % 10
    return {
        "image_index": np.arange(first, last + 1),
        "label": label,
        "prediction": prediction,
        "output": rng.random((n, 10)).astype(np.float32),
    }


def shard_rows(rows: list[tuple[PointKey, int, int, int, int]]) -> list[dict]:
    """Shard-row dicts (all SHARD_COLUMNS) of (point, shard_id, first, last, n_errors) tuples."""
    records = []
    for point, shard_id, first, last, n_errors in rows:
        record = make_row(first, last, n_errors)
        record.update(
            params_id=point.params_id,
            train_seed=point.train_seed,
            n_steps=point.n_steps,
            eval_seed=point.eval_seed,
            shard_id=shard_id,
        )
        records.append(record)
    return records


def hidden_files(out_dir: Path) -> list[Path]:
    return [p for p in out_dir.rglob(".*") if p.is_file()]


# ---------------------------------------------------------------------------------- keys


def test_schemas_are_documented():
    assert SHARD_SCHEMA.metadata == {b"snnjob.schema": b"shard-v1"}
    assert prediction_schema(10).metadata == {b"snnjob.schema": b"pred-v1"}
    assert SHARD_SCHEMA.field("finished_at").type == pa.timestamp("ms", tz="UTC")
    assert prediction_schema(10).field("output").type.list_size == 10
    assert prediction_schema(10).field("output").type.value_type == pa.float32()
    for field in SHARD_SCHEMA:
        assert field.metadata[b"description"]


def test_on_disk_schemas_are_unchanged():
    # The shard-v1 / pred-v1 formats exactly as first written: old run folders must still read.
    def col(name, type_, description):
        return pa.field(name, type_, nullable=False, metadata={"description": description})

    shard_v1 = pa.schema(
        [
            col("params_id", pa.string(), "id of the trained parameter set (network + training)"),
            col("params_sha256", pa.string(), "SHA-256 hex digest of the parameter file used"),
            col("train_seed", pa.int64(), "seed of the training run that produced the parameters"),
            col("n_steps", pa.int64(), "simulation timesteps each test image is presented for"),
            col("eval_seed", pa.int64(), "seed of the spiking evaluation (simulator seed)"),
            col("minibatch_size", pa.int64(), "simulator minibatch size used for this shard"),
            col("shard_id", pa.int64(), "index of the shard within the point's test set"),
            col("first_index", pa.int64(), "first test-image index of the shard (inclusive)"),
            col("last_index", pa.int64(), "last test-image index of the shard (inclusive)"),
            col("n_images", pa.int64(), "images evaluated: last_index - first_index + 1"),
            col("n_errors", pa.int64(), "images whose prediction differs from the label"),
            col(
                "wall_time_s",
                pa.float64(),
                "wall-clock seconds of the shard's simulation (shared by every n_steps read "
                "from it)",
            ),
            col("worker_node", pa.string(), "Ray node (IP address or node id) that ran the shard"),
            col("worker_pid", pa.int64(), "process id of the worker that ran the shard"),
            col("finished_at", pa.timestamp("ms", tz="UTC"), "time the shard finished (UTC, ms)"),
        ],
        metadata={"snnjob.schema": "shard-v1"},
    )  # fmt: skip
    pred_v1 = pa.schema(
        [
            col("params_id", pa.string(), "id of the trained parameter set"),
            col("train_seed", pa.int64(), "seed of the training run"),
            col("n_steps", pa.int64(), "simulation timesteps per test image"),
            col("eval_seed", pa.int64(), "seed of the spiking evaluation"),
            col("shard_id", pa.int64(), "index of the shard within the point's test set"),
            col("image_index", pa.int64(), "index of the image in the test set"),
            # descriptions (field metadata, not compared when files are read) say "class"
            # since datasets other than MNIST: files written before still read
            col("label", pa.int8(), "true class"),
            col("prediction", pa.int8(), "predicted class (argmax of output)"),
            col(
                "output",
                pa.list_(pa.field("element", pa.float32(), nullable=False), 10),
                "filtered network output of each of the dataset's K classes at the last timestep",
            ),
        ],
        metadata={"snnjob.schema": "pred-v1"},
    )
    for actual, expected in [(SHARD_SCHEMA, shard_v1), (prediction_schema(10), pred_v1)]:
        assert actual.equals(expected, check_metadata=True)
        for got, want in zip(actual, expected, strict=True):
            assert got.equals(want, check_metadata=True), got.name


@pytest.mark.parametrize(
    "columns,schema", [(SHARD_COLUMNS, SHARD_SCHEMA), (PREDICTION_COLUMNS, prediction_schema(10))]
)
def test_schema_module_and_arrow_schema_agree(columns, schema):
    assert [c.name for c in columns] == schema.names
    assert [c.description.encode() for c in columns] == [f.metadata[b"description"] for f in schema]
    assert all(not f.nullable for f in schema)
    assert len({c.name for c in columns}) == len(columns)
    assert all(c.description and c.type for c in columns)


@pytest.mark.parametrize("kind", ["results", "predictions"])
def test_columns_markdown_lists_every_column(kind):
    text = columns_markdown(kind)
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines[:2] == ["| column | type | description |", "|---|---|---|"]
    assert lines[2:] == [f"| `{c.name}` | `{c.type}` | {c.description} |" for c in COLUMNS[kind]]
    assert len(lines) == 2 + len(COLUMNS[kind])
    schema = SHARD_SCHEMA if kind == "results" else prediction_schema(10)
    for name in schema.names:
        assert sum(line.startswith(f"| `{name}` |") for line in lines) == 1


def test_columns_markdown_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        columns_markdown("summary")


def test_package_and_plain_modules_do_not_import_pyarrow():
    code = (
        "import sys\n"
        "import snnjob.results, snnjob.results.schema, snnjob.results.summary\n"
        "import snnjob.results.report\n"
        "assert 'pyarrow' not in sys.modules, sorted(m for m in sys.modules if 'arrow' in m)\n"
        "import snnjob.results.store\n"
        "assert 'pyarrow' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_point_key_slug_and_file_name_round_trip():
    point = PointKey("net_v2.1", np.int64(7), 100, 12)
    assert point.slug == "p-net_v2.1_t-7_n-100_s-12"
    assert isinstance(point.train_seed, int) and point == PointKey("net_v2.1", 7, 100, 12)
    name = shard_file_name(point, 7)
    assert name == "p-net_v2.1_t-7_n-100_s-12_shard-00007.parquet"
    assert parse_shard_file_name(name) == (point, 7)
    assert parse_shard_file_name("p-a_t-01_n-1_s-0_shard-00000.parquet") is None
    assert parse_shard_file_name("notes.parquet") is None


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"params_id": "../x"}, ValueError, "params_id must be 1-128 characters"),
        ({"params_id": ""}, ValueError, "params_id must be 1-128 characters"),
        ({"params_id": "a/b"}, ValueError, "params_id must be 1-128 characters"),
        ({"n_steps": 0}, ValueError, "n_steps must be >= 1, got 0"),
        ({"train_seed": -1}, ValueError, "train_seed must be >= 0, got -1"),
        ({"eval_seed": 1.0}, TypeError, r"eval_seed must be an integer, got 1\.0 \(float\)"),
        ({"eval_seed": True}, TypeError, r"eval_seed must be an integer, got True \(bool\)"),
        ({"eval_seed": np.bool_(True)}, TypeError, "eval_seed must be an integer"),
    ],
)
def test_point_key_rejects_bad_values(kwargs, error, match):
    args = {"params_id": "base", "train_seed": 0, "n_steps": 10, "eval_seed": 0, **kwargs}
    with pytest.raises(error, match=match):
        PointKey(**args)


# ---------------------------------------------------------------------------- round trip


def test_write_read_round_trip(tmp_path):
    other = PointKey("base", 1, 50, 3)
    preds0 = make_predictions(0, 9, 2, seed=1)
    preds1 = make_predictions(10, 14, 1, seed=2)
    path = write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 9, 2), predictions=preds0)
    assert path == tmp_path / "results" / shard_file_name(POINT, 0)
    write_shard(tmp_path, point=POINT, shard_id=1, row=make_row(10, 14, 1), predictions=preds1)
    write_shard(tmp_path, point=other, shard_id=0, row=make_row(0, 14, 0))  # no predictions

    results = read_results(tmp_path)
    assert results.schema.equals(SHARD_SCHEMA, check_metadata=True)
    assert results.num_rows == 3
    rows = results.to_pylist()
    assert [(r["train_seed"], r["shard_id"]) for r in rows] == [(0, 0), (0, 1), (1, 0)]
    first = rows[0]
    assert first == {
        "params_id": "base",
        "params_sha256": SHA,
        "train_seed": 0,
        "n_steps": 50,
        "eval_seed": 3,
        "minibatch_size": 10,
        "shard_id": 0,
        "first_index": 0,
        "last_index": 9,
        "n_images": 10,
        "n_errors": 2,
        "wall_time_s": 1.25,
        "worker_node": "10.0.0.7",
        "worker_pid": 4242,
        "finished_at": WHEN,
    }

    preds = read_predictions(tmp_path)
    assert preds.schema.equals(prediction_schema(10), check_metadata=True)
    assert preds.num_rows == 15
    assert preds.column("image_index").to_pylist() == list(range(15))
    assert set(preds.column("shard_id").to_pylist()) == {0, 1}
    np.testing.assert_array_equal(
        preds.column("label").to_numpy(), np.concatenate([preds0["label"], preds1["label"]])
    )
    np.testing.assert_array_equal(
        preds.column("prediction").to_numpy(),
        np.concatenate([preds0["prediction"], preds1["prediction"]]),
    )
    output = np.stack(preds.column("output").to_numpy(zero_copy_only=False))
    np.testing.assert_array_equal(output, np.concatenate([preds0["output"], preds1["output"]]))
    assert hidden_files(tmp_path) == []
    assert read_shard_rows(tmp_path) == rows


def test_read_empty_folder(tmp_path):
    assert read_results(tmp_path / "missing").schema.equals(SHARD_SCHEMA, check_metadata=True)
    assert read_results(tmp_path).num_rows == 0
    empty = read_predictions(tmp_path)  # no file says the number of classes: K = 0
    assert empty.num_rows == 0 and empty.schema.equals(prediction_schema(0), check_metadata=True)
    assert completed_shards(tmp_path / "missing") == set()
    assert read_shard_rows(tmp_path / "missing") == []


def test_row_may_repeat_matching_keys_but_not_contradict(tmp_path):
    row = make_row(0, 9, 0, params_id="base", shard_id=4)
    write_shard(tmp_path, point=POINT, shard_id=4, row=row)
    with pytest.raises(ValueError, match="shard_id"):
        write_shard(tmp_path, point=POINT, shard_id=5, row=row)


def test_row_with_missing_and_extra_keys_is_refused(tmp_path):
    row = make_row(0, 9, 0, accuracy=0.9)
    del row["worker_pid"]
    with pytest.raises(ValueError, match="worker_pid") as info:
        write_shard(tmp_path, point=POINT, shard_id=0, row=row)
    assert "accuracy" in str(info.value)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "overrides,error,match",
    [
        ({"n_images": 11}, ValueError, re.escape("n_images = 11 but first_index..last_index")),
        ({"n_errors": 11}, ValueError, "n_errors = 11 exceeds n_images = 10"),
        ({"last_index": -1}, ValueError, "last_index must be >= 0, got -1"),
        ({"wall_time_s": float("nan")}, ValueError, "wall_time_s must be finite and >= 0"),
        ({"finished_at": dt.datetime(2024, 1, 1)}, ValueError, "must be timezone-aware"),
        ({"minibatch_size": 2.0}, TypeError, "minibatch_size must be an integer"),
    ],
)
def test_row_with_bad_values_is_refused(tmp_path, overrides, error, match):
    row = make_row(0, 9, 1)
    row.update(overrides)  # not make_row(..., **overrides): n_errors is its own argument
    with pytest.raises(error, match=match):
        write_shard(tmp_path, point=POINT, shard_id=0, row=row)
    assert not (tmp_path / "results").exists()


def test_inconsistent_predictions_are_refused_and_nothing_written(tmp_path):
    preds = make_predictions(0, 9, 3)
    with pytest.raises(ValueError, match="n_errors"):
        write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 9, 2), predictions=preds)
    preds = make_predictions(0, 9, 2)
    preds["image_index"] = preds["image_index"] + 1
    with pytest.raises(ValueError, match="image_index"):
        write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 9, 2), predictions=preds)
    preds = make_predictions(0, 9, 2)
    preds["logits"] = preds.pop("output")
    with pytest.raises(ValueError, match="logits"):
        write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 9, 2), predictions=preds)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ atomicity


def test_completed_shards_after_writes(tmp_path):
    other = PointKey("base", 0, 100, 3)
    write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 4, 0))
    write_shard(tmp_path, point=POINT, shard_id=2, row=make_row(10, 14, 0))
    write_shard(tmp_path, point=other, shard_id=1, row=make_row(5, 9, 0))
    assert completed_shards(tmp_path) == {(POINT, 0), (POINT, 2), (other, 1)}
    # Rewriting a shard (e.g. a retried task) replaces it: same shards, the new row's values.
    write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 4, 1))
    assert completed_shards(tmp_path) == {(POINT, 0), (POINT, 2), (other, 1)}
    assert read_results(tmp_path).num_rows == 3
    rewritten = [
        r
        for r in read_shard_rows(tmp_path)
        if PointKey.from_mapping(r) == POINT and r["shard_id"] == 0
    ]
    assert [r["n_errors"] for r in rewritten] == [1]
    assert hidden_files(tmp_path) == []


def test_leftover_temp_files_are_ignored_and_removed(tmp_path):
    write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 4, 0))
    name = shard_file_name(POINT, 1)
    leftovers = [
        tmp_path / "results" / f".{name}.123.abcdef.tmp",
        tmp_path / "predictions" / f".{name}.123.abcdef.tmp",
    ]
    (tmp_path / "predictions").mkdir()
    for path in leftovers:
        path.write_bytes(b"PAR1 partial")
    assert read_results(tmp_path).num_rows == 1  # readers skip hidden files
    assert completed_shards(tmp_path) == {(POINT, 0)}
    assert not any(path.exists() for path in leftovers)


def test_unreadable_results_file_is_not_completed(tmp_path):
    write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 4, 0))
    broken = tmp_path / "results" / shard_file_name(POINT, 1)
    good = (tmp_path / "results" / shard_file_name(POINT, 0)).read_bytes()
    broken.write_bytes(good[: len(good) // 2])  # truncated: no Parquet footer
    with pytest.raises(RunDirError, match="cannot read"):
        read_results(tmp_path)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert completed_shards(tmp_path) == {(POINT, 0)}
    assert not broken.exists()
    assert read_results(tmp_path).num_rows == 1


def test_predictions_without_results_are_skipped(tmp_path):
    # A crash between the two renames leaves predictions without results: not completed.
    write_shard(
        tmp_path,
        point=POINT,
        shard_id=0,
        row=make_row(0, 4, 1),
        predictions=make_predictions(0, 4, 1),
    )
    (tmp_path / "results" / shard_file_name(POINT, 0)).unlink()
    assert completed_shards(tmp_path) == set()
    assert read_predictions(tmp_path).num_rows == 0


def test_foreign_files_are_refused(tmp_path):
    (tmp_path / "results").mkdir()
    other_schema = pa.table({"x": [1]})
    pq.write_table(other_schema, tmp_path / "results" / shard_file_name(POINT, 0))
    with pytest.raises(RunDirError, match="different"):
        completed_shards(tmp_path)
    os.remove(tmp_path / "results" / shard_file_name(POINT, 0))
    pq.write_table(other_schema, tmp_path / "results" / "data.parquet")
    with pytest.raises(RunDirError, match="data.parquet"):
        read_results(tmp_path)


def test_results_file_must_match_its_name(tmp_path):
    path = write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 4, 0))
    os.replace(path, path.with_name(shard_file_name(POINT, 9)))
    with pytest.raises(RunDirError, match="shard_id"):
        read_results(tmp_path)


def test_output_folder_that_is_a_file(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    with pytest.raises(RunDirError):
        write_shard(blocker, point=POINT, shard_id=0, row=make_row(0, 4, 0))


def test_write_json_and_text_atomic(tmp_path):
    target = tmp_path / "a" / "b" / "summary.json"
    obj = {"n": np.int64(3), "x": np.float32(0.5), "arr": np.arange(3), "point": POINT}
    assert write_json_atomic(target, obj) == target
    assert json.loads(target.read_text()) == {
        "n": 3,
        "x": 0.5,
        "arr": [0, 1, 2],
        "point": {"params_id": "base", "train_seed": 0, "n_steps": 50, "eval_seed": 3},
    }
    write_json_atomic(target, {"n": 4})
    assert json.loads(target.read_text()) == {"n": 4}
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        write_json_atomic(target, {"bad": float("nan")})
    assert json.loads(target.read_text()) == {"n": 4}
    text = tmp_path / "c" / "README.md"
    write_text_atomic(text, "héllo\n")
    assert text.read_text(encoding="utf-8") == "héllo\n"
    assert hidden_files(tmp_path) == []


# -------------------------------------------------------------------------------- coverage


def test_check_coverage_clean_cover():
    other = PointKey("base", 1, 50, 3)
    rows = shard_rows(
        [
            (POINT, 0, 0, 3, 0),
            (POINT, 1, 4, 9, 0),
            (other, 1, 5, 9, 0),  # order of rows does not matter
            (other, 0, 0, 4, 0),
        ]
    )
    assert check_coverage(rows, 10) == {}
    assert check_coverage(rows, 10, expected=[POINT, other]) == {}


def test_check_coverage_detects_gap():
    problems = check_coverage(shard_rows([(POINT, 0, 0, 3, 0), (POINT, 2, 6, 9, 0)]), 10)
    assert list(problems) == [POINT]
    assert any("gap" in p and "4..5" in p for p in problems[POINT])


def test_check_coverage_detects_missing_tail_and_missing_point():
    missing = PointKey("base", 0, 50, 4)
    problems = check_coverage(shard_rows([(POINT, 0, 0, 7, 0)]), 10, expected=[POINT, missing])
    assert any("gap" in p and "8..9" in p for p in problems[POINT])
    assert problems[missing] == ["no shards were evaluated"]


def test_check_coverage_detects_overlap():
    problems = check_coverage(shard_rows([(POINT, 0, 0, 5, 0), (POINT, 1, 4, 9, 0)]), 10)
    assert any("overlap" in p and "4..5" in p for p in problems[POINT])
    assert not any("gap" in p for p in problems[POINT])


def test_check_coverage_detects_duplicate():
    rows = shard_rows([(POINT, 0, 0, 4, 0), (POINT, 1, 5, 9, 0), (POINT, 1, 5, 9, 0)])
    problems = check_coverage(rows, 10)
    assert any("duplicate" in p and "shard 1" in p for p in problems[POINT])


def test_check_coverage_detects_out_of_range():
    problems = check_coverage(shard_rows([(POINT, 0, 0, 10, 0)]), 10)
    assert any("not within 0..9" in p for p in problems[POINT])


# ----------------------------------------------------------------------------- statistics


def squeeze(text: str) -> str:
    """Markdown tables without tabulate's column padding (cells compared, not widths)."""
    return re.sub(r" {2,}", " ", text)


Z95 = 1.959963984540054  # the standard-normal 97.5% quantile


def wilson_by_hand(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = (z / (1 + z * z / n)) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_interval_known_values():
    # 0/100: the lower bound is exactly 0 and the upper one is z^2 / (n + z^2).
    low, high = wilson_interval(0, 100)
    assert low == 0.0
    assert high == pytest.approx(Z95**2 / (100 + Z95**2), rel=1e-12)
    assert high == pytest.approx(0.036993, abs=1e-6)
    # 1/100 and 50/100 (published values: 0.0018-0.0545 and 0.4038-0.5962).
    assert wilson_interval(1, 100) == pytest.approx(wilson_by_hand(1, 100), rel=1e-12)
    assert wilson_interval(1, 100) == pytest.approx((0.001767, 0.054486), abs=1e-6)
    assert wilson_interval(50, 100) == pytest.approx(wilson_by_hand(50, 100), rel=1e-12)
    assert wilson_interval(50, 100) == pytest.approx((0.403832, 0.596168), abs=1e-6)
    assert wilson_interval(100, 100)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (3, 7), (17, 10000), (9999, 10000), (5, 5)])
def test_wilson_interval_contains_point_estimate(k, n):
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
    wider = wilson_interval(k, n, confidence=0.997)
    assert wider[0] <= low and wider[1] >= high


def test_wilson_interval_rejects_bad_counts():
    with pytest.raises(ValueError, match="n_errors = 5 exceeds n = 4"):
        wilson_interval(5, 4)
    with pytest.raises(ValueError, match="n_errors must be >= 0, got -1"):
        wilson_interval(-1, 4)
    with pytest.raises(ValueError, match="confidence must be a number in"):
        wilson_interval(1, 4, confidence=95)


def test_summarize_sums_counts_not_rates():
    # Shard 0: 1 error in 10 images (10%); shard 1: 0 errors in 990 images (0%).
    # Averaging the shard rates gives 5%; the right answer is 1/1000 = 0.1%.
    rows = shard_rows([(POINT, 0, 0, 9, 1), (POINT, 1, 10, 999, 0)])
    summary = summarize(rows)
    (point,) = summary.points
    assert point.n_images == 1000
    assert point.n_errors == 1
    assert point.error == pytest.approx(0.001)
    mean_of_shard_rates = np.mean([r["n_errors"] / r["n_images"] for r in rows])
    assert mean_of_shard_rates == pytest.approx(0.05)
    assert point.error != pytest.approx(mean_of_shard_rates)
    assert (point.ci95_low, point.ci95_high) == wilson_interval(1, 1000)
    assert point.ci95_low <= point.error <= point.ci95_high
    assert point.n_shards == 2
    assert point.eval_wall_time_s == pytest.approx(2.5)
    assert point.eval_seed == 3 and point.train_seed == 0 and point.n_steps == 50
    assert "seed" not in summary.to_dict()["points"][0]
    assert point.params_sha256 == SHA and point.params_id == "base"
    json.dumps(summary.to_dict())  # plain Python types only


def test_summarize_by_n_steps_mean_and_std():
    errors = {  # (train_seed, n_steps, eval_seed) -> n_errors out of 100
        (0, 10, 0): 10,
        (0, 10, 1): 14,
        (1, 10, 0): 18,
        (0, 50, 0): 3,
    }
    rows = [(PointKey("base", t, n, s), 0, 0, 99, k) for (t, n, s), k in errors.items()]
    summary = summarize(shard_rows(rows[::-1]))
    keys = [(p.train_seed, p.n_steps, p.eval_seed) for p in summary.points]
    assert keys == sorted(errors)
    by = {b.n_steps: b for b in summary.by_n_steps}
    assert [b.n_steps for b in summary.by_n_steps] == [10, 50]
    assert by[10].n_points == 3
    assert by[10].mean_error == pytest.approx(0.14)
    # sample std of 0.10, 0.14, 0.18: sqrt((0.04^2 + 0 + 0.04^2) / 2) = 0.04
    assert by[10].std_error == pytest.approx(0.04)
    assert by[10].min_error == pytest.approx(0.10)
    assert by[10].max_error == pytest.approx(0.18)
    assert to_json(by[50]) == {
        "n_steps": 50,
        "n_points": 1,
        "mean_error": pytest.approx(0.03),
        "std_error": 0.0,
        "min_error": pytest.approx(0.03),
        "max_error": pytest.approx(0.03),
    }


def test_summarize_refuses_mixed_parameter_files():
    rows = shard_rows([(POINT, 0, 0, 4, 0), (POINT, 1, 5, 9, 0)])
    rows[1]["params_sha256"] = "f" * 64
    with pytest.raises(RunDirError, match="different parameter files"):
        summarize(rows)
    assert any("different parameter files" in p for p in check_coverage(rows, 10)[POINT])


def test_summarize_empty():
    assert summarize([]) == RunSummary()
    assert summarize(SHARD_SCHEMA.empty_table()).to_dict() == {
        "schema": SCHEMA, "points": [], "by_n_steps": [], "curves": [], "anytime": [],
        "recipes": [], "rate_mode": [], "spikes": [], "params": [],
    }  # fmt: skip


def test_summary_markdown(tmp_path):
    rows = [
        (PointKey("base", 0, 10, 0), 0, 0, 99, 12),
        (PointKey("base", 0, 10, 1), 0, 0, 99, 8),
        (PointKey("base", 0, 50, 0), 0, 0, 99, 2),
    ]
    summary = summarize(shard_rows(rows))
    text = summary_markdown(summary)
    lines = squeeze(text).splitlines()
    assert (
        "| n_steps | eval_seed | train_seed | n_images | n_errors | error % | 95% CI % |" in lines
    )
    assert any(line.startswith("| 10 | 0 | 0 | 100 | 12 | 12.00 |") for line in lines)
    assert any(line.startswith("| 10 | 2 | 10.00 | 2.83 |") for line in lines)
    assert text.endswith("\n")
    assert "Rate-mode" not in text
    with_rate = summary_markdown(
        {**summary.to_dict(), "rate_mode": [{"params_id": "base", "train_seed": 0,
                                             "n_images": 100, "n_errors": 3, "error": 0.03,
                                             "ci95_low": 0.0103, "ci95_high": 0.0846}]}
    )  # fmt: skip
    assert with_rate.startswith(text.rstrip("\n"))
    assert "| 0 | 100 | 3 | 3.00 | 1.03 – 8.46 |" in squeeze(with_rate).splitlines()
    # Same output after a JSON round trip (e.g. summary.json read back by the CLI).
    path = write_json_atomic(tmp_path / "summary.json", summary)
    assert summary_markdown(json.loads(path.read_text())) == text


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 50, 100, 999, 10000])
def test_wilson_interval_matches_scipy(n):
    ks = sorted({0, 1, 2, n // 3, n // 2, n - 2, n - 1, n} & set(range(n + 1)))
    for k in ks:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        # the default z = 1.959964 is the 95% quantile rounded to 7 digits
        assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), rel=1e-7, abs=1e-9)
        low, high = wilson_interval(k, n)
        assert 0.0 <= low <= k / n <= high <= 1.0
    assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0


def test_check_coverage_and_summarize_accept_a_table(tmp_path):
    write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 4, 1))
    write_shard(tmp_path, point=POINT, shard_id=1, row=make_row(5, 9, 0))
    rows = read_shard_rows(tmp_path)
    table = read_results(tmp_path)
    assert check_coverage(table, 10) == check_coverage(rows, 10) == {}
    assert summarize(table) == summarize(rows) == summarize(iter(rows))
    assert summarize(rows).points[0].n_errors == 1


def test_rows_of_the_wrong_shape_are_refused():
    with pytest.raises(TypeError, match="rows must be an iterable of shard-row dicts"):
        summarize(shard_rows([(POINT, 0, 0, 9, 0)])[0])
    with pytest.raises(TypeError, match="row 0 must be a mapping"):
        check_coverage([("base", 0, 50, 3)], 10)
    row = shard_rows([(POINT, 0, 0, 9, 0)])[0]
    del row["wall_time_s"]
    with pytest.raises(ValueError, match=re.escape("row 0 lacks the columns ['wall_time_s']")):
        summarize([row])
    assert check_coverage([row], 10) == {}  # coverage does not need the timing


def test_load_summary_upgrades_seed_key(tmp_path):
    summary = summarize(shard_rows([(POINT, 0, 0, 9, 1), (PointKey("base", 0, 10, 1), 0, 0, 9, 2)]))
    old = {k: v for k, v in summary.to_dict().items() if k != "schema"}
    old["points"] = [  # a summary.json written before the rename (and the schema key)
        {("seed" if key == "eval_seed" else key): value for key, value in point.items()}
        for point in old["points"]
    ]
    path = write_json_atomic(tmp_path / "summary.json", old)
    frozen = json.loads(path.read_text())

    for source in (path, str(path), old):
        loaded = load_summary(source)
        assert loaded == summary
        assert list(loaded.to_dict()["points"][0]) == list(summary.to_dict()["points"][0])
    assert old == frozen  # the input is not modified
    assert load_summary(summary) is summary  # a summary comes back as it is
    assert load_summary(summary.to_dict()) == summary
    assert summary_markdown(old) == summary_markdown(summary)


def test_load_summary_refuses_bad_input(tmp_path):
    point = {"params_id": "base", "train_seed": 0, "n_steps": 10, "seed": 1, "eval_seed": 2,
             "n_images": 10, "n_errors": 1, "error": 0.1}  # fmt: skip
    with pytest.raises(ValueError, match="both eval_seed = 2 and the old seed = 1"):
        load_summary({"points": [point], "by_n_steps": []})
    same = load_summary({"points": [{**point, "seed": 2}], "by_n_steps": []})
    assert [(p.params_id, p.train_seed, p.n_steps, p.eval_seed) for p in same.points] == [
        ("base", 0, 10, 2)
    ]
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_summary(tmp_path / "missing.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"list\.json is not an snnjob summary\.json: .*'points'"):
        load_summary(tmp_path / "list.json")
    (tmp_path / "cut.json").write_text('{"points": [')
    with pytest.raises(ValueError, match=r"cut\.json is not an snnjob summary\.json"):
        load_summary(tmp_path / "cut.json")
