"""Anytime classification: the stopping rule (snnjob.anytime) on hand-built outputs, the
``anytime/`` Parquet dataset, its sums over shards, summary table, plot and config key."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from snnjob.anytime import anytime_counts, margins, stop_steps
from snnjob.config import load_config
from snnjob.errors import ConfigError, RunDirError
from snnjob.results.curves import summarize_anytime
from snnjob.results.curvestore import ANYTIME_SCHEMA, read_anytime_rows, write_anytime
from snnjob.results.report import summary_markdown
from snnjob.results.schema import ANYTIME_COLUMNS, columns_markdown
from snnjob.rundir import config_differences

RESULTS_FORMAT = Path(__file__).resolve().parents[1] / "docs" / "results-format.md"


def _outputs() -> tuple[np.ndarray, np.ndarray]:
    """Three images x 4 steps x 3 classes; labels 0, 1, 2."""
    out = np.zeros((3, 4, 3))
    # image 0: class 1 leads by 0.5 at step 1, then class 0 leads by 1, 2, 3
    out[0, :, 0] = [0.0, 1.0, 2.0, 3.0]
    out[0, 0, 1] = 0.5
    # image 1: class 1 leads by 0.2 at every step (never confident)
    out[1, :, 1] = 0.2
    # image 2: all zero at step 1 (margin 0, argmax class 0), class 2 by 4 from step 2
    out[2, 1:, 2] = 4.0
    return out, np.array([0, 1, 2])


def test_margins_and_stop_steps_by_hand():
    out, _ = _outputs()
    np.testing.assert_allclose(margins(out), [[0.5, 1, 2, 3], [0.2] * 4, [0, 4, 4, 4]])
    steps = stop_steps(out, [0.0, 0.3, 1.0, 2.5, 100.0])
    assert steps.tolist() == [
        [1, 1, 1],  # threshold 0: every image at step 1
        [1, 4, 2],  # image 1 never reaches 0.3: all 4 steps
        [2, 4, 2],
        [4, 4, 2],
        [4, 4, 4],  # nobody: every image uses every step
    ]


def test_anytime_counts_by_hand():
    out, labels = _outputs()
    errors, steps_sum = anytime_counts(out, labels, [0.0, 0.3, 1.0, 100.0])
    # threshold 0: image 0 says 1 (wrong), image 1 says 1, image 2 says 0 (wrong)
    # 0.3: image 0 at step 1 (wrong), image 1 at 4 (right), image 2 at 2 (right)
    assert errors.tolist() == [2, 1, 0, 0]
    assert steps_sum.tolist() == [3, 7, 8, 12]
    assert errors.dtype == steps_sum.dtype == np.int64


def test_a_lowpass_output_waits_longer_for_a_smaller_steady_state_margin():
    # the raw filtered margin accumulates: (1 - exp(-t dt / tau)) x steady-state margin
    gain = -np.expm1(-np.arange(1, 31) * 0.001 / 0.1)
    out = np.zeros((2, 30, 10))
    out[0, :, 3] = 4.0 * gain  # confident image: steady-state margin 4
    out[1, :, 5] = 1.0 * gain  # hard image: margin 1
    # about 100 m / M steps while t << tau; the hard image never reaches 0.3 within 30
    assert stop_steps(out, [0.04, 0.3]).tolist() == [[2, 5], [8, 30]]
    errors, steps_sum = anytime_counts(out, np.array([3, 5]), [0.04, 0.3])
    assert errors.tolist() == [0, 0] and steps_sum.tolist() == [7, 38]


def _write(out, shard_id, first, n_images, errors, steps, thresholds=(0.5, 2.0), eval_seed=0):
    return write_anytime(
        out, params_id="abc", train_seed=0, eval_seed=eval_seed, shard_id=shard_id,
        first_index=first, n_images=n_images, n_steps=10, thresholds=thresholds,
        n_errors=np.asarray(errors), steps_sum=np.asarray(steps),
    )  # fmt: skip


def test_round_trip_and_sum_over_shards(tmp_path):
    path = _write(tmp_path, 0, 0, 10, [4, 2], [20, 60])
    _write(tmp_path, 1, 10, 6, [3, 1], [12, 40])
    assert path == tmp_path / "anytime" / "p-abc_t-0_s-0_shard-00000.parquet"
    table = pq.read_table(path)
    assert table.schema.equals(ANYTIME_SCHEMA)
    assert table.schema.metadata[b"snnjob.schema"] == b"anytime-v1"
    assert table.column_names == [c.name for c in ANYTIME_COLUMNS]
    rows = read_anytime_rows(tmp_path)
    assert [(r["shard_id"], r["threshold"], r["n_errors"], r["steps_sum"]) for r in rows] == [
        (0, 0.5, 4, 20), (0, 2.0, 2, 60), (1, 0.5, 3, 12), (1, 2.0, 1, 40),
    ]  # fmt: skip
    assert rows[2]["last_index"] == 15 and rows[0]["n_steps"] == 10
    (entry,), problems = summarize_anytime(rows, 16)
    assert problems == []
    assert (entry.params_id, entry.eval_seed, entry.n_images, entry.n_steps) == ("abc", 0, 16, 10)
    low, mid = entry.points
    assert (low.threshold, low.n_errors, low.error, low.mean_steps) == (0.5, 7, 7 / 16, 32 / 16)
    assert (mid.n_errors, mid.mean_steps) == (3, 100 / 16)
    assert all(p.ci95_low <= p.error <= p.ci95_high for p in entry.points)


def test_incomplete_or_mixed_shards_are_named_not_summed(tmp_path):
    _write(tmp_path, 0, 0, 10, [4, 2], [20, 60])
    _write(tmp_path, 0, 0, 10, [4, 2], [20, 60], eval_seed=1)
    _write(tmp_path, 1, 10, 6, [3], [12], thresholds=(0.5,), eval_seed=1)
    entries, problems = summarize_anytime(read_anytime_rows(tmp_path), 16)
    assert entries == []
    assert problems == [
        "anytime p-abc_t-0_s-0: its shards do not cover images 0..15",
        "anytime p-abc_t-0_s-1: shards have different thresholds or n_steps",
    ]
    assert summarize_anytime([], 16) == ([], [])  # a run from before anytime/
    assert read_anytime_rows(tmp_path / "old-run") == []


def test_bad_counts_and_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="one n_errors and steps_sum per threshold"):
        _write(tmp_path, 0, 0, 10, [1], [10])
    with pytest.raises(ValueError, match="n_errors must lie within"):
        _write(tmp_path, 0, 0, 10, [11, 0], [10, 10])
    with pytest.raises(ValueError, match="steps_sum must lie within"):
        _write(tmp_path, 0, 0, 10, [1, 1], [9, 10])
    with pytest.raises(ValueError, match="steps_sum must lie within"):
        _write(tmp_path, 0, 0, 10, [1, 1], [10, 101])
    assert not (tmp_path / "anytime").exists() or not list((tmp_path / "anytime").iterdir())
    (tmp_path / "anytime").mkdir(exist_ok=True)
    (tmp_path / "anytime" / "p-abc_t-0_s-0_shard-00000.parquet").write_bytes(b"not parquet")
    with pytest.raises(RunDirError, match="cannot read .* remove it and run the evaluation again"):
        read_anytime_rows(tmp_path)


def test_config_key_defaults_on_and_is_validated():
    default = load_config("tiny").eval.anytime_thresholds
    assert len(default) >= 3 and list(default) == sorted(set(default)) and default[0] > 0
    assert load_config("tiny", ["eval.anytime_thresholds=[]"]).eval.anytime_thresholds == ()
    assert load_config("tiny", ["eval.anytime_thresholds=[0, 2]"]).eval.anytime_thresholds == (
        0.0, 2.0,
    )  # fmt: skip
    for bad, match in (("[2, 1]", "increasing"), ("[1, 1]", "duplicates"),
                       ("[-1]", ">= 0"), ("[.inf]", "finite")):  # fmt: skip
        with pytest.raises(ConfigError, match=match):
            load_config("tiny", [f"eval.anytime_thresholds={bad}"])


def test_a_run_folder_from_before_anytime_compares_as_off():
    new = load_config("tiny").to_dict()
    old = {**new, "eval": {k: v for k, v in new["eval"].items() if k != "anytime_thresholds"}}
    (line,) = config_differences(old, new)
    assert line.startswith("eval.anytime_thresholds: [] -> [")
    off = load_config("tiny", ["eval.anytime_thresholds=[]"]).to_dict()
    assert config_differences(old, off) == []


def test_summary_table_plot_and_readme(tmp_path):
    from test_plots import check_png, summary_for

    from snnjob.plots import plot_error_vs_steps
    from snnjob.results.curves import summarize_curves

    curve_rows = [
        {"params_id": "base", "train_seed": 0, "eval_seed": 0, "shard_id": 0, "first_index": 0,
         "last_index": 999, "step": t, "n_images": 1000, "n_errors": max(900 - 40 * t, 30)}
        for t in range(1, 31)
    ]  # fmt: skip
    curves, _ = summarize_curves(curve_rows, 1000)
    any_rows = [
        {"params_id": "base", "train_seed": 0, "eval_seed": 0, "shard_id": 0, "first_index": 0,
         "last_index": 999, "threshold": th, "n_steps": 30, "n_images": 1000, "n_errors": e,
         "steps_sum": s}
        for th, e, s in ((1.0, 200, 4000), (4.0, 60, 12000), (16.0, 31, 25000))
    ]  # fmt: skip
    anytime, problems = summarize_anytime(any_rows, 1000)
    assert problems == []
    summary = {**summary_for({(0, 30, 0): 30}), "curves": curves}
    without = check_png(plot_error_vs_steps(tmp_path / "a" / "e.png", summary))
    summary["anytime"] = anytime
    with_anytime = check_png(plot_error_vs_steps(tmp_path / "b" / "e.png", summary))
    assert with_anytime.shape == without.shape and not np.array_equal(with_anytime, without)
    text = re.sub(r" {2,}", " ", summary_markdown(summary))  # without tabulate's padding
    assert "**Anytime**" in text and "| 0 | 0 | 4 | 12.00 | 6.00 |" in text
    assert "**Anytime**" not in summary_markdown({**summary, "anytime": []})
    assert columns_markdown("anytime") in RESULTS_FORMAT.read_text()


# --------------------------------------------------------------------------------------------
# Real NengoDL: a tiny trained network
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_net(mnist_dir):
    from snnjob.mnist import load_mnist
    from snnjob.train import train

    cfg = load_config("tiny", [f"data.data_dir={mnist_dir}", "data.n_train=1000"])
    mnist = load_mnist(mnist_dir, download=False)
    n = cfg.data.n_train
    trained = train(cfg.model, cfg.train, mnist.train_images[:n], mnist.train_labels[:n],
                    seed=0, verbose=0)  # fmt: skip
    return cfg, trained.params, mnist.test_images[:100], mnist.test_labels[:100]


@pytest.mark.slow
def test_extreme_thresholds_are_the_first_and_last_step(tiny_net):
    from snnjob.evaluate import evaluate

    cfg, params, images, labels = tiny_net
    thresholds = (0.0, 0.05, 1e9)
    res = evaluate(cfg.model, params, images, labels, n_steps=10, seed=0, minibatch_size=50,
                   anytime=thresholds, keep_traces=100)  # fmt: skip
    # threshold 0: every image stops at step 1 with its step-1 prediction
    assert res.anytime_errors[0] == res.step_errors[0] and res.anytime_steps[0] == 100
    # a huge threshold: every image uses all 10 steps and its last-step prediction
    assert res.anytime_errors[-1] == res.step_errors[-1] and res.anytime_steps[-1] == 100 * 10
    assert 100 <= res.anytime_steps[1] <= 1000
    # the same numbers from the whole traces (one numpy call on the outputs of every step)
    errors, steps = anytime_counts(res.traces, labels, thresholds)
    np.testing.assert_array_equal(errors, res.anytime_errors)
    np.testing.assert_array_equal(steps, res.anytime_steps)


@pytest.mark.slow
def test_shards_sum_to_one_unsharded_evaluation(tiny_net):
    from snnjob.evaluate import SpikingEvaluator

    cfg, params, images, labels = tiny_net
    thresholds = (0.01, 0.05, 0.2)
    with SpikingEvaluator(cfg.model, params, n_steps=10, seed=0, minibatch_size=50) as ev:
        whole = ev.run(images, labels, anytime=thresholds)
        parts = [ev.run(images[a:b], labels[a:b], anytime=thresholds)
                 for a, b in ((0, 30), (30, 80), (80, 100))]  # fmt: skip
        assert ev.run(images[:5], labels[:5]).anytime_errors is None  # not asked: not computed
    np.testing.assert_array_equal(whole.anytime_errors, sum(p.anytime_errors for p in parts))
    np.testing.assert_array_equal(whole.anytime_steps, sum(p.anytime_steps for p in parts))
    assert whole.anytime_errors.shape == (3,)
    assert np.all(np.diff(whole.anytime_steps) >= 0)  # higher thresholds wait longer
