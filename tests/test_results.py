"""Tests of snnjob.results: real Parquet files written and read back, no mocks."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from snnjob.errors import RunDirError
from snnjob.results import (
    PREDICTION_SCHEMA,
    SHARD_SCHEMA,
    PointKey,
    check_coverage,
    completed_shards,
    parse_shard_file_name,
    read_predictions,
    read_results,
    shard_file_name,
    summarize,
    summary_markdown,
    wilson_interval,
    write_json_atomic,
    write_shard,
    write_text_atomic,
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


def shard_table(rows: list[tuple[PointKey, int, int, int, int]]) -> pa.Table:
    """Table of (point, shard_id, first, last, n_errors) rows with SHARD_SCHEMA."""
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
    return pa.Table.from_pylist(records, schema=SHARD_SCHEMA)


def hidden_files(out_dir: Path) -> list[Path]:
    return [p for p in out_dir.rglob(".*") if p.is_file()]


# ---------------------------------------------------------------------------------- keys


def test_schemas_are_documented():
    assert SHARD_SCHEMA.metadata == {b"snnjob.schema": b"shard-v1"}
    assert PREDICTION_SCHEMA.metadata == {b"snnjob.schema": b"pred-v1"}
    assert SHARD_SCHEMA.field("finished_at").type == pa.timestamp("ms", tz="UTC")
    assert PREDICTION_SCHEMA.field("output").type.list_size == 10
    assert PREDICTION_SCHEMA.field("output").type.value_type == pa.float32()
    for field in SHARD_SCHEMA:
        assert field.metadata[b"description"]


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
    "kwargs",
    [
        {"params_id": "../x"},
        {"params_id": ""},
        {"params_id": "a/b"},
        {"n_steps": 0},
        {"train_seed": -1},
        {"eval_seed": 1.0},
        {"eval_seed": True},
    ],
)
def test_point_key_rejects_bad_values(kwargs):
    args = {"params_id": "base", "train_seed": 0, "n_steps": 10, "eval_seed": 0, **kwargs}
    with pytest.raises((TypeError, ValueError)):
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
    assert preds.schema.equals(PREDICTION_SCHEMA, check_metadata=True)
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


def test_read_empty_folder(tmp_path):
    assert read_results(tmp_path / "missing").schema.equals(SHARD_SCHEMA, check_metadata=True)
    assert read_results(tmp_path).num_rows == 0
    assert read_predictions(tmp_path).schema.equals(PREDICTION_SCHEMA, check_metadata=True)
    assert completed_shards(tmp_path / "missing") == set()


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
    "overrides",
    [
        {"n_images": 11},
        {"n_errors": 11},
        {"last_index": -1},
        {"wall_time_s": float("nan")},
        {"finished_at": dt.datetime(2024, 1, 1)},
        {"minibatch_size": 2.0},
    ],
)
def test_row_with_bad_values_is_refused(tmp_path, overrides):
    with pytest.raises((TypeError, ValueError)):
        write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 9, 1, **overrides))
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
    # Rewriting a shard (e.g. a retried task) replaces it.
    write_shard(tmp_path, point=POINT, shard_id=0, row=make_row(0, 4, 1))
    assert completed_shards(tmp_path) == {(POINT, 0), (POINT, 2), (other, 1)}
    assert read_results(tmp_path).num_rows == 3
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
    with pytest.raises(ValueError):
        write_json_atomic(target, {"bad": float("nan")})
    assert json.loads(target.read_text()) == {"n": 4}
    text = tmp_path / "c" / "README.md"
    write_text_atomic(text, "héllo\n")
    assert text.read_text(encoding="utf-8") == "héllo\n"
    assert hidden_files(tmp_path) == []


# -------------------------------------------------------------------------------- coverage


def test_check_coverage_clean_cover():
    other = PointKey("base", 1, 50, 3)
    table = shard_table(
        [
            (POINT, 0, 0, 3, 0),
            (POINT, 1, 4, 9, 0),
            (other, 1, 5, 9, 0),  # order of rows does not matter
            (other, 0, 0, 4, 0),
        ]
    )
    assert check_coverage(table, 10) == {}
    assert check_coverage(table, 10, expected=[POINT, other]) == {}


def test_check_coverage_detects_gap():
    problems = check_coverage(shard_table([(POINT, 0, 0, 3, 0), (POINT, 2, 6, 9, 0)]), 10)
    assert list(problems) == [POINT]
    assert any("gap" in p and "4..5" in p for p in problems[POINT])


def test_check_coverage_detects_missing_tail_and_missing_point():
    missing = PointKey("base", 0, 50, 4)
    problems = check_coverage(shard_table([(POINT, 0, 0, 7, 0)]), 10, expected=[POINT, missing])
    assert any("gap" in p and "8..9" in p for p in problems[POINT])
    assert problems[missing] == ["no shards were evaluated"]


def test_check_coverage_detects_overlap():
    problems = check_coverage(shard_table([(POINT, 0, 0, 5, 0), (POINT, 1, 4, 9, 0)]), 10)
    assert any("overlap" in p and "4..5" in p for p in problems[POINT])
    assert not any("gap" in p for p in problems[POINT])


def test_check_coverage_detects_duplicate():
    table = shard_table([(POINT, 0, 0, 4, 0), (POINT, 1, 5, 9, 0), (POINT, 1, 5, 9, 0)])
    problems = check_coverage(table, 10)
    assert any("duplicate" in p and "shard 1" in p for p in problems[POINT])


def test_check_coverage_detects_out_of_range():
    problems = check_coverage(shard_table([(POINT, 0, 0, 10, 0)]), 10)
    assert any("not within 0..9" in p for p in problems[POINT])


# ----------------------------------------------------------------------------- statistics


def wilson_by_hand(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = (z / (1 + z * z / n)) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_interval_known_values():
    # 0/100: the lower bound is exactly 0 and the upper one is z^2 / (n + z^2).
    low, high = wilson_interval(0, 100)
    assert low == 0.0
    assert high == pytest.approx(1.959964**2 / (100 + 1.959964**2), rel=1e-12)
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
    wider = wilson_interval(k, n, z=3.0)
    assert wider[0] <= low and wider[1] >= high


def test_wilson_interval_rejects_bad_counts():
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
    with pytest.raises(ValueError):
        wilson_interval(-1, 4)


def test_summarize_sums_counts_not_rates():
    # Shard 0: 1 error in 10 images (10%); shard 1: 0 errors in 990 images (0%).
    # Averaging the shard rates gives 5%; the right answer is 1/1000 = 0.1%.
    table = shard_table([(POINT, 0, 0, 9, 1), (POINT, 1, 10, 999, 0)])
    summary = summarize(table, extra={"config": {"dt": 0.001}})
    assert summary["config"] == {"dt": 0.001}
    (point,) = summary["points"]
    assert point["n_images"] == 1000
    assert point["n_errors"] == 1
    assert point["error"] == pytest.approx(0.001)
    assert point["error"] != pytest.approx(0.05)
    assert (point["ci95_low"], point["ci95_high"]) == wilson_interval(1, 1000)
    assert point["ci95_low"] <= point["error"] <= point["ci95_high"]
    assert point["n_shards"] == 2
    assert point["eval_wall_time_s"] == pytest.approx(2.5)
    assert point["seed"] == 3 and point["train_seed"] == 0 and point["n_steps"] == 50
    assert point["params_sha256"] == SHA and point["params_id"] == "base"
    json.dumps(summary)  # plain Python types only


def test_summarize_by_n_steps_mean_and_std():
    errors = {  # (train_seed, n_steps, eval_seed) -> n_errors out of 100
        (0, 10, 0): 10,
        (0, 10, 1): 14,
        (1, 10, 0): 18,
        (0, 50, 0): 3,
    }
    rows = [(PointKey("base", t, n, s), 0, 0, 99, k) for (t, n, s), k in errors.items()]
    summary = summarize(shard_table(rows[::-1]))
    keys = [(p["train_seed"], p["n_steps"], p["seed"]) for p in summary["points"]]
    assert keys == sorted(errors)
    by = {b["n_steps"]: b for b in summary["by_n_steps"]}
    assert [b["n_steps"] for b in summary["by_n_steps"]] == [10, 50]
    assert by[10]["n_points"] == 3
    assert by[10]["mean_error"] == pytest.approx(0.14)
    # sample std of 0.10, 0.14, 0.18: sqrt((0.04^2 + 0 + 0.04^2) / 2) = 0.04
    assert by[10]["std_error"] == pytest.approx(0.04)
    assert by[10]["min_error"] == pytest.approx(0.10)
    assert by[10]["max_error"] == pytest.approx(0.18)
    assert by[50] == {
        "n_steps": 50,
        "n_points": 1,
        "mean_error": pytest.approx(0.03),
        "std_error": 0.0,
        "min_error": pytest.approx(0.03),
        "max_error": pytest.approx(0.03),
    }


def test_summarize_refuses_mixed_parameter_files():
    table = shard_table([(POINT, 0, 0, 4, 0), (POINT, 1, 5, 9, 0)])
    table = table.set_column(
        table.schema.get_field_index("params_sha256"),
        SHARD_SCHEMA.field("params_sha256"),
        pa.array([SHA, "f" * 64]),
    )
    with pytest.raises(RunDirError, match="different parameter files"):
        summarize(table)
    assert any("different parameter files" in p for p in check_coverage(table, 10)[POINT])


def test_summarize_empty_and_extra_clash():
    assert summarize(SHARD_SCHEMA.empty_table()) == {"points": [], "by_n_steps": []}
    with pytest.raises(ValueError, match="points"):
        summarize(SHARD_SCHEMA.empty_table(), extra={"points": 1})


def test_summary_markdown(tmp_path):
    rows = [
        (PointKey("base", 0, 10, 0), 0, 0, 99, 12),
        (PointKey("base", 0, 10, 1), 0, 0, 99, 8),
        (PointKey("base", 0, 50, 0), 0, 0, 99, 2),
    ]
    summary = summarize(shard_table(rows))
    text = summary_markdown(summary)
    lines = text.splitlines()
    assert "| n_steps | seed | train_seed | n_images | n_errors | error % | 95% CI % |" in lines
    assert any(line.startswith("| 10 | 0 | 0 | 100 | 12 | 12.00 |") for line in lines)
    assert any(line.startswith("| 10 | 2 | 10.00 | 2.83 |") for line in lines)
    assert text.endswith("\n")
    assert "Rate-mode" not in text
    with_rate = summary_markdown(
        {**summary, "rate_mode": [{"params_id": "base", "train_seed": 0, "n_images": 100,
                                   "n_errors": 3, "error": 0.03, "ci95_low": 0.0103,
                                   "ci95_high": 0.0846}]}
    )  # fmt: skip
    assert with_rate.startswith(text.rstrip("\n"))
    assert "| 0 | 100 | 3 | 3.00 | 1.03 – 8.46 |" in with_rate.splitlines()
    # Same output after a JSON round trip (e.g. summary.json read back by the CLI).
    path = write_json_atomic(tmp_path / "summary.json", summary)
    assert summary_markdown(json.loads(path.read_text())) == text
