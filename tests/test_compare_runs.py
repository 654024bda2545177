"""``snnjob.load`` and ``snnjob compare`` on run folders made by the real pipeline: tiny jobs
trained and evaluated by :func:`snnjob.runner.run_job` on a local Ray instance and real MNIST.

Every value the DataFrames and the comparison show is checked against the run's own Parquet
files and ``summary.json``; the paired test's counts are recomputed from the predictions.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

import snnjob
from snnjob import cli
from snnjob.compare import compare_figure, compare_runs, mcnemar
from snnjob.config import load_config
from snnjob.errors import ResultsError
from snnjob.plots.common import tagged
from snnjob.results.curvestore import read_curve_rows
from snnjob.results.store import read_predictions, read_results

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # trains networks and starts Ray


@pytest.fixture(scope="module")
def runs(mnist_dir, tmp_path_factory):
    """A: tiny at n_steps 5, 10. B: trained 2 epochs, n_steps 5, 10, 20. C: A's parameters
    evaluated on the first 200 test images only (different test images)."""
    from snnjob.runner import run_job
    from snnjob.session import connect

    root = tmp_path_factory.mktemp("compare")
    base = [f"data.data_dir={mnist_dir}"]
    connect(None, num_cpus=2)
    try:
        a = root / "run-a"
        run_job(load_config("tiny", [*base, "eval.n_steps=[5, 10]"]), a, progress=False)
        b = root / "run-b"
        cfg_b = load_config("tiny", [*base, "eval.n_steps=[5, 10, 20]", "train.epochs=2"])
        run_job(cfg_b, b, progress=False)
        c = root / "run-c"
        cfg_c = load_config("tiny", [*base, "eval.n_steps=[10]", "eval.n_images=200",
                                     "eval.shard_size=100"])  # fmt: skip
        run_job(cfg_c, c, params_file=a / "params" / "seed-0.npz", progress=False)
    finally:
        ray.shutdown()
    return a, b, c


def test_load_equals_the_runs_parquet_and_summary(runs):
    a = runs[0]
    run = snnjob.load(a)
    summary = json.loads((a / "summary.json").read_text())
    assert run.summary.to_dict() == summary
    assert run.config == yaml.safe_load((a / "config.yaml").read_text())
    # points: one per sweep point, counts summed over shards, as summary.json says
    shards = read_results(a).to_pandas()
    assert len(run.points) == len(summary["points"]) == 2
    for row, point in zip(run.points.to_dict("records"), summary["points"]):
        assert row == {k: point[k] for k in row}
        mine = shards[shards["n_steps"] == row["n_steps"]]
        assert (row["n_images"], row["n_errors"]) == (400, mine["n_errors"].sum())
        assert row["n_shards"] == len(mine) == 2
        assert row["error"] == row["n_errors"] / 400
    assert run.shards.drop(columns="finished_at").equals(shards.drop(columns="finished_at"))
    # predictions: the Parquet rows, outputs included; errors add up to the points'
    preds = read_predictions(a).to_pandas()
    assert len(run.predictions) == 800
    assert run.predictions.drop(columns="output").equals(preds.drop(columns="output"))
    np.testing.assert_array_equal(np.stack(run.predictions.output), np.stack(preds.output))
    wrong = run.predictions[run.predictions.label != run.predictions.prediction]
    assert wrong.groupby("n_steps").size().to_dict() == dict(
        zip(run.points.n_steps, run.points.n_errors)
    )
    # curves: the error at step n is the point at n_steps n (same simulation)
    assert len(run.curves) == 10 and run.curves.step.tolist() == list(range(1, 11))
    assert sum(r["n_errors"] for r in read_curve_rows(a)) == run.curves.n_errors.sum()
    assert run.curves.n_errors.tolist() == summary["curves"][0]["n_errors"]
    for point in summary["points"]:
        at = run.curves[run.curves.step == point["n_steps"]].iloc[0]
        assert (at.n_errors, at.ci95_low) == (point["n_errors"], point["ci95_low"])
    (anytime,) = summary["anytime"]
    assert run.anytime[["threshold", "n_errors", "mean_steps"]].to_dict("records") == [
        {k: p[k] for k in ("threshold", "n_errors", "mean_steps")} for p in anytime["points"]
    ]
    (spikes,) = summary["spikes"]
    assert run.spikes.layer.tolist() == [layer["layer"] for layer in spikes["layers"]]
    assert run.spikes.mean_rate_hz.tolist() == [x["mean_rate_hz"] for x in spikes["layers"]]
    best = run.best()
    assert best.n_errors == min(p["n_errors"] for p in summary["points"])


def test_compare_two_real_runs(runs, tmp_path, capsys):
    a, b, _ = runs
    assert cli.main(["compare", str(a), str(b), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    comparison = compare_runs([a, b])
    summaries = [json.loads((r / "summary.json").read_text()) for r in (a, b)]
    assert [(r["run"], r["n_steps"], r["n_errors"]) for r in comparison.rows] == [
        (name, p["n_steps"], p["n_errors"])
        for name, s in zip(("run-a", "run-b"), summaries)
        for p in s["points"]
    ]
    for row, s in zip((comparison.rows[0], comparison.rows[2]), summaries):
        assert row["rate_mode_error"] == s["rate_mode"][0]["error"]
    # the paired test at n_steps 5 and 10 (both runs have them), recomputed image by image
    assert [t["n_steps"] for t in comparison.tests] == [5, 10]
    pa, pb = (read_predictions(r).to_pandas() for r in (a, b))
    for test in comparison.tests:
        ra, rb = ((p[p.n_steps == test["n_steps"]].sort_values("image_index")) for p in (pa, pb))
        assert ra.image_index.tolist() == rb.image_index.tolist() == list(range(400))
        right_a = (ra.label == ra.prediction).to_numpy()
        right_b = (rb.label == rb.prediction).to_numpy()
        b_count, c_count = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
        assert (test["b"], test["c"]) == (b_count, c_count)
        assert test["p_value"] == mcnemar(b_count, c_count)["p_value"]
        verdict = "is significant" if test["p_value"] < 0.05 else "is not significant"
        assert f"n_steps {test['n_steps']}: run-b gets {c_count} image(s) right" in printed
        assert f"the difference {verdict} at 5%" in printed
    # the figure: a line per run through its errors, the rate-mode errors as lines
    fig = compare_figure(comparison)
    for name, s in zip(("run-a", "run-b"), summaries):
        (line,) = tagged(fig, f"error:{name}")
        assert list(line.get_xdata()) == [p["n_steps"] for p in s["points"]]
        assert list(line.get_ydata()) == pytest.approx([100 * p["error"] for p in s["points"]])
        (rate,) = tagged(fig, f"rate-mode:{name}")
        assert rate.get_ydata()[0] == pytest.approx(100 * s["rate_mode"][0]["error"])
    assert (tmp_path / "compare.png").stat().st_size > 10_000


def test_real_runs_on_different_test_images_are_refused(runs, tmp_path, capsys):
    a, _, c = runs
    assert cli.main(["compare", str(a), str(c), "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("snnjob: error: run-a and run-c were evaluated on different test ")
    assert "(400 and 200 images)" in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda run: (run / "summary.json").write_text('{"points": ['), "summary.json is damaged"),
        (lambda run: next((run / "predictions").iterdir()).write_bytes(b"PAR1 junk PAR1"),
         "is damaged"),
        (lambda run: shutil.rmtree(run / "results"), "results is missing"),
    ],
    ids=["truncated-summary", "garbage-predictions", "no-results"],
)  # fmt: skip
def test_a_damaged_real_run_is_refused(runs, damage, fragment, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(runs[0], run)
    damage(run)
    with pytest.raises(ResultsError, match=fragment):
        snnjob.load(run)
    assert cli.main(["compare", str(runs[1]), str(run), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "snnjob run --config" in err and "Traceback" not in err
