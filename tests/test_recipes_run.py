"""A recipe sweep end to end on a real local Ray instance: two recipes (max_rates 100 and
200 Hz, amplitudes tied) x one training seed, in one job, one results data set, resumable."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
import pytest

from snnjob.config import load_config
from snnjob.engines.factory import evaluate_with
from snnjob.mnist import load_mnist
from snnjob.params import load_params
from snnjob.recipes import expand_recipes
from snnjob.results import summary_markdown
from snnjob.results.store import read_predictions
from snnjob.runner import run_job
from snnjob.session import connect

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # trains two networks and starts Ray

TIED = ("train.recipes=[{model.max_rates: 100, model.amplitude: 0.01}, "
        "{model.max_rates: 200, model.amplitude: 0.005}]")  # fmt: skip


@pytest.fixture(scope="module")
def grid_run(mnist_dir, tmp_path_factory):
    connect(None, num_cpus=2)
    cfg = load_config("tiny", [f"data.data_dir={mnist_dir}", TIED, "data.n_train=1000",
                               "eval.n_images=200", "eval.spike_stats_images=50"])  # fmt: skip
    out = tmp_path_factory.mktemp("grid") / "run"
    summary = run_job(cfg, out, config_name="tiny", progress=False)
    yield cfg, out, summary
    ray.shutdown()


def test_each_recipe_is_trained_into_its_own_folder(grid_run):
    cfg, out, summary = grid_run
    a, b = expand_recipes(cfg)
    assert (a.slug, b.slug) == ("max_rates-100__amplitude-0.01", "max_rates-200__amplitude-0.005")
    for recipe in (a, b):
        _, meta = load_params(out / "params" / recipe.slug / "seed-0.npz")
        assert meta["recipe"] == recipe.name
        assert meta["recipe_overrides"] == dict(recipe.overrides)
        assert meta["config"]["model"]["max_rates"] == recipe.model.max_rates
        assert meta["config"]["train"]["grid"] == {} and meta["config"]["train"]["recipes"] == []
        assert (out / "checkpoints" / recipe.slug / "seed-0" / "epoch-0001.npz").is_file()
    assert not (out / "params" / "seed-0.npz").exists()
    assert [(p.recipe, p.train_seed) for p in summary.params] == [(a.name, 0), (b.name, 0)]


def test_each_parameter_set_is_evaluated_with_its_recipes_model(grid_run, mnist_dir):
    cfg, out, summary = grid_run
    mnist = load_mnist(mnist_dir, download=False)
    images, labels = mnist.test_images[:200], mnist.test_labels[:200]
    preds = read_predictions(out)
    recipes = expand_recipes(cfg)
    outputs = {}
    for recipe, entry in zip(recipes, summary.params, strict=True):
        params, _ = load_params(entry.path)
        ref = evaluate_with("compiled", recipe.model, params, images, labels, n_steps=10, seed=0,
                       minibatch_size=cfg.eval.minibatch_size)  # fmt: skip
        t = preds.filter(pc.equal(preds["params_id"], entry.params_id))
        t = t.sort_by([("image_index", "ascending")])
        np.testing.assert_array_equal(t["prediction"].to_numpy(), ref.predictions)
        got = np.stack(t["output"].to_numpy(zero_copy_only=False))
        np.testing.assert_allclose(got, ref.outputs, rtol=0, atol=1e-6)
        outputs[recipe.name] = (params, got)
    # and the job's model config would not have given these outputs
    params, got = outputs[recipes[1].name]
    wrong = evaluate_with("compiled", recipes[0].model, params, images, labels, n_steps=10, seed=0,
                     minibatch_size=cfg.eval.minibatch_size)  # fmt: skip
    assert np.abs(wrong.outputs - got).max() > 1e-3


def test_the_summary_has_a_section_per_recipe(grid_run):
    cfg, out, summary = grid_run
    names = [r.name for r in expand_recipes(cfg)]
    on_disk = json.loads((out / "summary.json").read_text())
    assert [r["recipe"] for r in on_disk["recipes"]] == names
    for section in ("points", "curves", "anytime", "rate_mode", "spikes", "params"):
        assert {e["recipe"] for e in on_disk[section]} == set(names), section
    for r in on_disk["recipes"]:
        (row,) = r["by_n_steps"]
        point = next(p for p in on_disk["points"] if p["recipe"] == r["recipe"])
        assert (row["n_steps"], row["n_errors"], row["n_images"]) == (10, point["n_errors"], 200)
        assert row["mean_error"] == point["error"] and r["rate_mode"]["n_images"] == 200
    text = summary_markdown(on_disk)
    assert all(f"**Recipe {n}**" in text for n in names)
    assert (out / "plots" / "error_vs_steps.png").is_file()


def test_a_rerun_trains_and_evaluates_nothing(grid_run):
    cfg, out, summary = grid_run
    files = sorted((out / "params").rglob("*.npz"))
    stamps = [f.stat().st_mtime_ns for f in files]
    again = run_job(cfg, out, config_name="tiny", progress=False)
    t = again.timings
    assert t.tasks == t.skipped > 0
    assert [f.stat().st_mtime_ns for f in sorted((out / "params").rglob("*.npz"))] == stamps
    assert [p.n_errors for p in again.points] == [p.n_errors for p in summary.points]
    assert again.recipes == summary.recipes
