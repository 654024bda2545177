"""Error curves: Parquet written and read back (snnjob.results.curvestore) and summed
over shards (snnjob.results.curves)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from snnjob.errors import RunDirError
from snnjob.results.curves import summarize_curves
from snnjob.results.curvestore import CURVE_SCHEMA, read_curve_rows, write_curve
from snnjob.results.schema import CURVE_COLUMNS, columns_markdown, curve_file_name


def _write(out, shard_id, first, errors, n_images, eval_seed=0):
    errors = np.asarray(errors, dtype=np.int64)
    return write_curve(out, params_id="abc", train_seed=0, eval_seed=eval_seed,
                       shard_id=shard_id, first_index=first, step_errors=errors,
                       n_images=n_images)  # fmt: skip


def test_round_trip_and_sum_over_shards(tmp_path):
    path = _write(tmp_path, 0, 0, [9, 5, 3], 10)
    _write(tmp_path, 1, 10, [4, 2, 1], 6)
    assert path == tmp_path / "curves" / "p-abc_t-0_s-0_shard-00000.parquet"
    assert path.name == curve_file_name("abc", 0, 0, 0)
    table = pq.read_table(path)
    assert table.schema.equals(CURVE_SCHEMA) and table.schema.metadata[b"snnjob.schema"] == (
        b"curve-v1"
    )
    assert table.column_names == [c.name for c in CURVE_COLUMNS]
    rows = read_curve_rows(tmp_path)
    assert [(r["shard_id"], r["step"], r["n_errors"]) for r in rows] == [
        (0, 1, 9), (0, 2, 5), (0, 3, 3), (1, 1, 4), (1, 2, 2), (1, 3, 1),
    ]  # fmt: skip
    assert rows[3]["last_index"] == 15
    (curve,), problems = summarize_curves(rows, 16)
    assert problems == []
    assert curve.n_errors == (13, 7, 4) and curve.n_images == 16
    assert curve.error == (13 / 16, 7 / 16, 4 / 16)
    assert all(lo <= e <= hi for lo, e, hi in zip(curve.ci95_low, curve.error,
                                                  curve.ci95_high))  # fmt: skip


def test_incomplete_curves_are_named_not_summed(tmp_path):
    _write(tmp_path, 0, 0, [9, 5, 3], 10)
    _write(tmp_path, 0, 0, [9, 5], 10, eval_seed=1)
    _write(tmp_path, 1, 10, [4], 6, eval_seed=1)
    curves, problems = summarize_curves(read_curve_rows(tmp_path), 16)
    assert curves == []
    assert problems == [
        "curve p-abc_t-0_s-0: its shards do not cover images 0..15",
        "curve p-abc_t-0_s-1: shards have different numbers of steps {1, 2}",
    ]


def test_bad_curves_are_refused(tmp_path):
    with pytest.raises(ValueError, match="step_errors must lie within 0..n_images=10"):
        _write(tmp_path, 0, 0, [11], 10)
    with pytest.raises(ValueError, match="non-empty 1-d integer array"):
        _write(tmp_path, 0, 0, [], 10)
    assert not (tmp_path / "curves").exists() or not list((tmp_path / "curves").iterdir())
    (tmp_path / "curves").mkdir(exist_ok=True)
    (tmp_path / "curves" / "p-abc_t-0_s-0_shard-00000.parquet").write_bytes(b"not parquet")
    with pytest.raises(RunDirError, match="cannot read .* remove it and run the evaluation again"):
        read_curve_rows(tmp_path)


def test_columns_are_documented():
    table = columns_markdown("curves")
    assert all(f"| `{c.name}` |" in table for c in CURVE_COLUMNS)
