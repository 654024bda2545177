"""The distributed runner on a real local Ray instance (token auth on), real MNIST, real Parquet.

One module-scoped Ray instance; one tiny job trained and evaluated end to end, then
re-used by the checks below (resume, sharding invariance, driver kill + resume).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.compute as pc
import pytest
import yaml

from snnjob.config import load_config
from snnjob.engines.factory import make_evaluator
from snnjob.errors import RunDirError
from snnjob.evaluate import evaluate
from snnjob.mnist import load_mnist
from snnjob.params import load_params, params_sha256, save_params
from snnjob.results import check_coverage, load_summary, summary_markdown
from snnjob.results.convert import to_json
from snnjob.results.model import RunSummary
from snnjob.results.store import read_predictions, read_results
from snnjob.runner import run_job
from snnjob.session import connect

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # trains a network and starts Ray


@pytest.fixture(scope="module")
def ray_local():
    info = connect(None, num_cpus=2)
    yield info
    ray.shutdown()


def tiny(mnist_dir, *overrides):
    return load_config("tiny", [f"data.data_dir={mnist_dir}", "eval.n_steps=[5, 10]", *overrides])


@pytest.fixture(scope="module")
def first_run(ray_local, mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    cfg = tiny(mnist_dir)
    summary = run_job(cfg, out, config_name="tiny", progress=False)
    assert isinstance(summary, RunSummary)
    assert load_summary(out / "summary.json") == summary  # written once, read back the same
    return cfg, out, summary


def _predictions(out):
    t = read_predictions(out).sort_by([("n_steps", "ascending"), ("image_index", "ascending")])
    return t


def test_local_ray_has_token_auth_and_private_dashboard(ray_local):
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert ray_local.dashboard.startswith("127.0.0.1:")
    token = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    assert os.path.isfile(token), "local Ray with token auth wrote no token file"
    assert os.stat(token).st_mode & 0o077 == 0


def test_run_leaves_every_output(first_run):
    cfg, out, summary = first_run
    curve_file = f"curves/p-{summary.points[0].params_id}_t-0_s-0_shard-00000.parquet"
    anytime_file = curve_file.replace("curves/", "anytime/")
    for rel in (curve_file, anytime_file, "config.yaml", "params/seed-0.npz", "params/seed-0.json",
                "summary.json",
                "plots/digits.png", "plots/outputs_over_time.png", "plots/error_vs_steps.png",
                "plots/confusion.png", "plots/error_vs_synops.png",
                "plots/spike_rate_histograms.png",
                "checkpoints/seed-0/epoch-0001.npz"):  # fmt: skip
        assert (out / rel).is_file(), rel
    assert yaml.safe_load((out / "config.yaml").read_text()) == cfg.to_dict()
    on_disk = json.loads((out / "summary.json").read_text())
    assert [(p["n_steps"], p["eval_seed"]) for p in on_disk["points"]] == [(5, 0), (10, 0)]
    for p in on_disk["points"]:
        assert p["n_images"] == 400
        assert 0 <= p["n_errors"] <= 400
        assert p["ci95_low"] <= p["error"] <= p["ci95_high"]
    assert {e["n_steps"] for e in on_disk["by_n_steps"]} == {5, 10}
    assert not list(out.rglob(".*.tmp"))


def test_run_writes_spike_statistics_and_their_plot(first_run):
    from snnjob.results.spikestore import read_spikes

    cfg, out, summary = first_run
    (entry,) = summary.spikes
    params_id = summary.points[0].params_id
    assert (entry.params_id, entry.train_seed, entry.eval_seed) == (params_id, 0, 0)
    assert (entry.n_images, entry.n_steps) == (200, 10)  # eval.spike_stats_images, max
    rows = read_spikes(out, params_id, 0, 0)
    assert [r["layer"] for r in rows] == [r.layer for r in entry.layers] == [
        "conv0", "conv1", "conv2",
    ]  # fmt: skip
    for row, layer in zip(rows, entry.layers):
        assert row["params_sha256"] == summary.params[0].sha256
        assert all(row[k] == v for k, v in to_json(layer).items())
        assert 0 <= row["silent_fraction"] <= 1 and row["synops_per_image_step"] > 0
    assert json.loads((out / "summary.json").read_text())["spikes"] == to_json(summary.spikes)
    assert (out / "plots" / "spike_rates.png").is_file()
    for row in rows:  # spikes-v2: the histogram of the neurons' rates
        assert sum(row["rate_hist_counts"]) == row["n_neurons"]
        assert len(row["rate_hist_edges_hz"]) == len(row["rate_hist_counts"]) + 1


def test_the_runner_draws_each_plot_from_the_run_s_data(first_run, tmp_path):
    """Each PNG in OUT/plots is, pixel for pixel, the figure of what summary.json and the
    predictions hold, and those figures carry the run's numbers."""
    from matplotlib.image import imread

    from snnjob import plots

    cfg, out, summary = first_run
    on_disk = json.loads((out / "summary.json").read_text())
    macs = cfg.model.net.macs_per_image_step()
    preds = _predictions(out)
    preds = preds.filter(pc.equal(preds["n_steps"], 10))
    counts = plots.confusion_counts(
        preds["label"].to_numpy(), preds["prediction"].to_numpy(), on_disk["dataset"]["n_classes"]
    )
    redrawn = {
        "error_vs_steps.png": plots.plot_error_vs_steps(tmp_path / "a.png", on_disk),
        "error_vs_synops.png": plots.plot_error_vs_synops(tmp_path / "b.png", on_disk,
                                                          {"base": macs}),
        "confusion.png": plots.plot_confusion(tmp_path / "c.png", {"": counts}, n_steps=10,
                                              class_names=on_disk["dataset"]["class_names"]),
        "spike_rate_histograms.png": plots.plot_spike_histograms(tmp_path / "d.png",
                                                                 on_disk["spikes"]),
    }  # fmt: skip
    for name, path in redrawn.items():
        np.testing.assert_array_equal(imread(out / "plots" / name), imread(path), err_msg=name)
    points = {p["n_steps"]: p for p in on_disk["points"]}
    (rate,) = on_disk["rate_mode"]
    fig = plots.error_vs_steps_figure(on_disk)
    (mean,) = plots.tagged(fig, "seed-mean:base")  # one training seed: no band
    assert list(mean.get_ydata()) == [100 * points[n]["error"] for n in (5, 10)]
    assert plots.tagged(fig, "seed-band:base") == [] == plots.tagged(fig, "seed-bars:base")
    (line,) = plots.tagged(fig, "rate-mode:base")
    assert line.get_ydata()[0] == 100 * rate["error"]
    fig = plots.error_vs_synops_figure(on_disk, {"base": macs})
    (entry,) = on_disk["spikes"]
    per_step = sum(r["synops_per_image_step"] for r in entry["layers"])
    (synops,) = plots.tagged(fig, f"synops:{entry['params_id']}")
    np.testing.assert_allclose(synops.get_xdata(), [5 * per_step, 10 * per_step])
    assert list(synops.get_ydata()) == [100 * points[n]["error"] for n in (5, 10)]
    (star,) = plots.tagged(fig, "ann-error:base")
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (macs, 100 * rate["error"])
    assert counts.sum() == 400 and counts.sum() - np.trace(counts) == points[10]["n_errors"]


def test_summary_counts_equal_parquet_sums(first_run):
    cfg, out, summary = first_run
    table = read_results(out)
    assert check_coverage(table, 400) == {}
    assert table.num_rows == 2 * 2  # 2 points x 2 shards of 200
    for p in summary.points:
        rows = table.filter(pc.equal(table["n_steps"], p.n_steps))
        assert pc.sum(rows["n_errors"]).as_py() == p.n_errors
        assert pc.sum(rows["n_images"]).as_py() == p.n_images
    preds = _predictions(out)
    for n_steps in (5, 10):
        t = preds.filter(pc.equal(preds["n_steps"], n_steps))
        assert t["image_index"].to_pylist() == list(range(400))
        wrong = int(np.sum(t["label"].to_numpy() != t["prediction"].to_numpy()))
        point = next(p for p in summary.points if p.n_steps == n_steps)
        assert wrong == point.n_errors


def test_one_simulation_per_shard_gives_every_point_and_the_curve(first_run):
    cfg, out, summary = first_run
    assert summary.timings.tasks == 2  # 2 shards x 1 simulation of 10 steps
    assert summary.timings.image_steps_simulated == 400 * 10  # not 400 * (5 + 10)
    first = summary.timings.first_shard  # where the first shard's latency went
    parts = (first.worker_start_s, first.imports_s, first.simulator_build_s,
             first.first_minibatch_s)  # fmt: skip
    assert all(v > 0 for v in parts), first
    assert first.imports_s + first.simulator_build_s < first.latency_s
    assert summary.cluster.ray_start_s > 0
    from snnjob.results.curvestore import read_curve_rows

    rows = read_curve_rows(out)
    assert len(rows) == 2 * 10  # 2 shards x steps 1..10
    (curve,) = summary.curves
    assert (curve.params_id, curve.train_seed, curve.eval_seed) == (
        summary.points[0].params_id, 0, 0,
    )  # fmt: skip
    assert len(curve.n_errors) == 10 and curve.n_images == 400
    for p in summary.points:  # the curve at a requested n_steps is that point's count
        assert curve.n_errors[p.n_steps - 1] == p.n_errors
    for n_errors, shard_rows in zip(curve.n_errors, zip(rows[:10], rows[10:])):
        assert n_errors == sum(r["n_errors"] for r in shard_rows)
    assert all(lo <= e <= hi for lo, e, hi in zip(curve.ci95_low, curve.error,
                                                  curve.ci95_high))  # fmt: skip


def test_anytime_points_are_their_shards_summed(first_run):
    from snnjob.results.curvestore import read_anytime_rows
    from snnjob.results.report import summary_markdown

    cfg, out, summary = first_run
    thresholds = list(cfg.eval.anytime_thresholds)
    rows = read_anytime_rows(out)
    assert len(rows) == 2 * len(thresholds)  # 2 shards x thresholds
    (entry,) = json.loads((out / "summary.json").read_text())["anytime"]
    assert (entry["train_seed"], entry["eval_seed"], entry["n_images"], entry["n_steps"]) == (
        0, 0, 400, 10,
    )  # fmt: skip
    assert [p["threshold"] for p in entry["points"]] == thresholds
    for p in entry["points"]:
        mine = [r for r in rows if r["threshold"] == p["threshold"]]
        assert p["n_errors"] == sum(r["n_errors"] for r in mine)
        assert p["mean_steps"] == sum(r["steps_sum"] for r in mine) / 400
        assert 1 <= p["mean_steps"] <= 10 and p["ci95_low"] <= p["error"] <= p["ci95_high"]
    steps = [p["mean_steps"] for p in entry["points"]]
    assert steps == sorted(steps)  # a higher threshold waits at least as long
    assert "**Anytime**" in summary_markdown(summary)


def test_a_run_from_before_anytime_resumes_summarizes_and_plots(first_run, mnist_dir, tmp_path):
    cfg, out, summary = first_run
    old = tmp_path / "old"
    shutil.copytree(out, old)
    shutil.rmtree(old / "anytime")
    shutil.rmtree(old / "plots")
    # and from before the rate histograms: its spikes file in the spikes-v1 schema
    import pyarrow as pa
    import pyarrow.parquet as pq

    from snnjob.results.spikestore import SPIKE_SCHEMA_V1, read_spikes

    (spikes_file,) = (old / "spikes").glob("*.parquet")
    v1 = pq.read_table(spikes_file).drop_columns(["rate_hist_edges_hz", "rate_hist_counts"])
    pq.write_table(pa.Table.from_pylist(v1.to_pylist(), schema=SPIKE_SCHEMA_V1), spikes_file)
    params_id = summary.points[0].params_id
    assert "rate_hist_counts" not in read_spikes(old, params_id, 0, 0)[0]  # readable
    config = yaml.safe_load((old / "config.yaml").read_text())
    del config["eval"]["anytime_thresholds"]
    (old / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(RunDirError, match=r"eval\.anytime_thresholds: \[\] -> \[0\.01"):
        run_job(cfg, old, progress=False)
    again = run_job(tiny(mnist_dir, "eval.anytime_thresholds=[]"), old, progress=False)
    assert again.timings.skipped == again.timings.tasks == 2  # still complete
    assert again.points == summary.points and again.anytime == ()
    assert (old / "plots" / "error_vs_steps.png").is_file()
    assert again.spikes == summary.spikes  # recomputed with the histograms
    assert read_spikes(old, params_id, 0, 0) == read_spikes(out, params_id, 0, 0)
    for name in ("confusion.png", "error_vs_synops.png", "spike_rate_histograms.png"):
        assert (old / "plots" / name).is_file(), name
    assert not (old / "anytime").exists()


def test_rate_mode_error_in_summary_equals_single_process(first_run, mnist_dir):
    cfg, out, summary = first_run
    on_disk = json.loads((out / "summary.json").read_text())
    (row,) = on_disk["rate_mode"]
    params, meta = load_params(out / "params" / "seed-0.npz")
    assert row["params_id"] == meta["sha256"][:12] and row["train_seed"] == 0
    mnist = load_mnist(mnist_dir, download=False)
    images, labels = mnist.test_images[:400], mnist.test_labels[:400]
    ref = evaluate(cfg.model, params, images, labels, n_steps=1, seed=0,
                   minibatch_size=cfg.eval.minibatch_size, rate=True)  # fmt: skip
    assert (row["n_images"], row["n_errors"]) == (400, ref.n_errors)
    assert row["ci95_low"] <= row["error"] <= row["ci95_high"]


def test_workers_used_bit_identical_parameters(first_run):
    cfg, out, summary = first_run
    params, meta = load_params(out / "params" / "seed-0.npz")
    sha = params_sha256(params)
    assert meta["sha256"] == sha
    assert set(read_results(out)["params_sha256"].to_pylist()) == {sha}


def test_distributed_predictions_equal_single_process_evaluation(first_run, mnist_dir):
    cfg, out, summary = first_run
    params, _ = load_params(out / "params" / "seed-0.npz")
    mnist = load_mnist(mnist_dir, download=False)
    x, y = mnist.test_images[:400], mnist.test_labels[:400]
    preds = _predictions(out)
    t = preds.filter(pc.equal(preds["n_steps"], 10))
    outputs = np.stack(t["output"].to_numpy(zero_copy_only=False))
    # the job's engine (compiled, the default) in this process: bit for bit (each image's
    # simulation is its own, whatever the threads, shards and workers)
    with make_evaluator("compiled", cfg.model, params, n_steps=10, seed=0) as ev:
        ref = ev.run(x, y)
    np.testing.assert_array_equal(t["prediction"].to_numpy(), ref.predictions)
    np.testing.assert_array_equal(outputs, ref.outputs)
    # NengoDL, the reference engine: within the contract (float32 summed in another order)
    nengo = evaluate(cfg.model, params, x, y, n_steps=10, seed=0,
                     minibatch_size=cfg.eval.minibatch_size)  # fmt: skip
    assert np.sum(nengo.predictions != ref.predictions) <= 1
    assert np.abs(nengo.outputs - outputs).max() <= 0.01 * np.abs(nengo.outputs).max()


def test_summary_records_the_engine_and_its_self_check(first_run):
    cfg, out, summary = first_run
    engine = summary.engine
    assert engine.requested == "compiled" and engine.used == ("compiled",)
    assert engine.cores == ("cpu",) and engine.rate_mode == "nengo_dl"
    (check,) = engine.checks  # one (parameter set, evaluation seed): its first shard
    assert check.n_images == cfg.eval.verify_images == 50 and check.n_steps == 10
    assert check.mismatches == {"5": 0, "10": 0}
    assert 0 <= check.max_abs_diff <= 0.01 * check.output_scale
    assert check.wall_time_s > 0 and engine.check_wall_time_s == check.wall_time_s
    assert json.loads((out / "summary.json").read_text())["engine"] == to_json(engine)
    text = summary_markdown(summary)  # what `snnjob run` and `snnjob summary` print
    assert ("**Engine**: compiled (cpu); checked against nengo_dl on the first 50 images of 1 "
            "simulation(s): at most 0 differing prediction(s)") in text  # fmt: skip


def test_sharding_and_worker_count_do_not_change_predictions(first_run, mnist_dir, tmp_path):
    cfg, out, _ = first_run
    cfg2 = tiny(mnist_dir, "eval.shard_size=100", "resources.workers=1")
    run_job(cfg2, tmp_path / "one", params_file=out / "params" / "seed-0.npz", progress=False)
    a, b = _predictions(out), _predictions(tmp_path / "one")
    assert read_results(tmp_path / "one").num_rows == 2 * 4
    assert a["prediction"].to_pylist() == b["prediction"].to_pylist()
    assert a["output"].to_pylist() == b["output"].to_pylist()


def test_xla_changes_no_prediction_and_is_exact_across_shardings(first_run, mnist_dir, tmp_path):
    """The nengo_dl engine with XLA (its default elsewhere; tiny turns it off) against the
    compiled engine's run: exact within itself across shardings, close to the other."""
    cfg, out, summary = first_run
    params = out / "params" / "seed-0.npz"
    xla = [
        run_job(
            tiny(mnist_dir, "eval.engine=nengo_dl", "eval.xla=true", *extra),
            tmp_path / name,
            params_file=params,
            progress=False,
        )  # fmt: skip
        for name, extra in (("a", ()), ("b", ("eval.shard_size=100", "resources.workers=1")))
    ]
    assert xla[0].engine.used == ("nengo_dl",) and xla[0].engine.checks == ()
    a, b, compiled = _predictions(tmp_path / "a"), _predictions(tmp_path / "b"), _predictions(out)
    # within one setting, sharding and worker count change nothing, bit for bit
    assert a["output"].to_pylist() == b["output"].to_pylist()
    # against the compiled engine: float rounding only
    differ = np.sum(a["prediction"].to_numpy() != compiled["prediction"].to_numpy())
    assert differ <= 1
    diff = np.abs(np.stack(a["output"].to_numpy(zero_copy_only=False))
                  - np.stack(compiled["output"].to_numpy(zero_copy_only=False)))  # fmt: skip
    assert 0 < diff.max() < 0.05  # another engine really ran, and stays close
    errors = [p.n_errors for p in xla[0].points]
    assert all(abs(e - p.n_errors) <= 1 for e, p in zip(errors, summary.points))


def test_two_training_seeds_on_two_cpus_are_swept_as_ready_without_deadlock(
    ray_local, mnist_dir, tmp_path
):
    """Both trainers hold the cluster's 2 CPUs; evaluation workers wait for a finished
    trainer's CPU, which is freed at once (not when the driver next looks)."""
    out = tmp_path / "two"
    args = [
        sys.executable, "-m", "snnjob.cli", "run", "--config", "tiny",
        "--set", f"data.data_dir={mnist_dir}", "--set", "train.seeds=[0, 1]",
        "--out", str(out), "--address", ray.get_runtime_context().gcs_address, "--no-progress",
    ]  # fmt: skip
    env = dict(os.environ, RAY_AUTH_MODE="token")
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    per = summary["timings"]["per_params"]
    assert sorted(p["train_seed"] for p in per) == [0, 1]  # swept one by one, as each landed
    assert all(p["tasks"] == 2 and p["skipped"] == 0 for p in per)
    assert [p["train_seed"] for p in summary["params"]] == [0, 1]  # reported in seed order
    table = read_results(out)
    assert table.num_rows == 2 * 2 and check_coverage(table, 400) == {}
    assert len(set(table["params_id"].to_pylist())) == 2


def test_an_idle_evaluation_pool_gives_its_cpus_to_a_waiting_trainer(first_run, mnist_dir,
                                                                     tmp_path):  # fmt: skip
    """Seed 0's parameters are in --out, seed 1 must train on both of the cluster's CPUs.
    Seed 0's evaluation pool takes the CPUs first (the trainer first puts 60,000 training
    images into the object store); once its sweep ends it must give them back, or the
    trainer never starts (it did not: the job hung)."""
    _, first, _ = first_run
    out = tmp_path / "reused"
    (out / "params").mkdir(parents=True)
    for f in (first / "params").glob("seed-0.*"):
        shutil.copy(f, out / "params" / f.name)
    args = [
        sys.executable, "-m", "snnjob.cli", "run", "--config", "tiny",
        "--set", f"data.data_dir={mnist_dir}", "--set", "train.seeds=[0, 1]",
        "--set", "train.epochs=0", "--set", "data.n_train=60000",  # epochs 0: no fitting
        "--out", str(out), "--address", ray.get_runtime_context().gcs_address, "--no-progress",
    ]  # fmt: skip
    env = dict(os.environ, RAY_AUTH_MODE="token")
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = [line for line in proc.stderr.splitlines() if " snnjob." in line]
    first_sweep = next(i for i, line in enumerate(log) if "evaluating 2 of 2 shards" in line)
    trained = next(i for i, line in enumerate(log) if "training seed 1 done" in line)
    assert first_sweep < trained, log  # seed 0 was evaluated while seed 1 waited to train
    summary = json.loads((out / "summary.json").read_text())
    per = summary["timings"]["per_params"]
    assert [p["train_seed"] for p in per] == [0, 1] and all(p["tasks"] == 2 for p in per)
    table = read_results(out)
    assert check_coverage(table, 400) == {}
    pids = {seed: {r["worker_pid"] for r in table.to_pylist() if r["train_seed"] == seed}
            for seed in (0, 1)}  # fmt: skip
    assert not pids[0] & pids[1], pids  # the first pool was released, seed 1 had a new one


def test_rerun_resumes_without_duplicates(first_run):
    cfg, out, summary = first_run
    again = run_job(cfg, out, config_name="tiny", progress=False)
    # one task per (params, eval seed, shard), read at n_steps 5 and 10
    assert again.timings.skipped == again.timings.tasks == 2
    assert again.points == summary.points
    assert again.rate_mode == summary.rate_mode  # same rows (reused from summary.json)
    assert read_results(out).num_rows == 4


def test_a_different_config_is_refused(first_run, mnist_dir):
    cfg, out, _ = first_run
    with pytest.raises(RunDirError, match=r"eval\.seeds: \[0\] -> \[1\]"):
        run_job(tiny(mnist_dir, "eval.seeds=[1]"), out, progress=False)


def test_other_parameters_are_refused_and_nothing_is_mixed(first_run, tmp_path):
    cfg, out, _ = first_run
    assert yaml.safe_load((out / "identity.yaml").read_text()) == {"params": "trained"}
    params, meta = load_params(out / "params" / "seed-0.npz")
    changed = {k: v * np.float32(1.01) for k, v in params.items()}
    other = save_params(tmp_path / "other.npz", changed, {"config": meta["config"]})
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != ".snnjob.lock"}
    with pytest.raises(RunDirError, match="parameters: trained by the run -> --params with "
                       f"sha256:{other['sha256']}"):  # fmt: skip
        run_job(cfg, out, params_file=tmp_path / "other.npz", progress=False)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != ".snnjob.lock"} == before


def test_killed_driver_then_rerun_completes_without_duplicates(first_run, mnist_dir, tmp_path):
    cfg, out, summary = first_run
    target = tmp_path / "killed"
    args = [
        sys.executable, "-m", "snnjob.cli", "run", "--config", "tiny",
        "--set", f"data.data_dir={mnist_dir}", "--set", "eval.n_steps=[5, 10]",
        "--set", "eval.shard_size=50", "--set", "eval.minibatch_size=50",
        "--params", str(out / "params" / "seed-0.npz"), "--out", str(target),
        "--address", ray.get_runtime_context().gcs_address, "--no-progress",
    ]  # fmt: skip
    env = dict(os.environ, RAY_AUTH_MODE="token")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = target / "results"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if results.is_dir() and len(list(results.glob("*.parquet"))) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(list(results.glob("*.parquet")))
    assert 2 <= written < 16, written  # killed mid-sweep

    cfg3 = tiny(mnist_dir, "eval.shard_size=50", "eval.minibatch_size=50")
    resumed = run_job(cfg3, target, params_file=out / "params" / "seed-0.npz", progress=False)
    assert resumed.timings.skipped >= written // 2  # a task writes a file per n_steps
    table = read_results(target)
    assert table.num_rows == 16
    assert check_coverage(table, 400) == {}
    key = [(p.n_steps, p.n_errors, p.n_images) for p in resumed.points]
    assert key == [(p.n_steps, p.n_errors, p.n_images) for p in summary.points]
    assert _predictions(target)["prediction"].to_pylist() == (
        _predictions(out)["prediction"].to_pylist()
    )


def test_live_training_bars_and_tensorboard_files(ray_local, mnist_dir, tmp_path, capfd):
    out = tmp_path / "live"
    run_job(tiny(mnist_dir, "train.epochs=2"), out, progress=True)
    err = capfd.readouterr().err
    # the driver drew the actor's bar from its progress() answers while it trained
    assert "train seed 0" in err and "epoch 2/2" in err and "done, loss" in err
    assert "batch/s" in err or "s/batch" in err  # tqdm's rate, behind the ETA
    events = list((out / "tensorboard" / "seed-0").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
