"""Recipe sweeps without Ray or TensorFlow: train.grid / train.recipes parsing, validation,
expansion order and names, file layout, per-recipe model configs on the requests, the
summary's recipe sections, the report and the plot."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import matplotlib.image
import pytest
import yaml

from snnjob.config import from_dict, load_config
from snnjob.errors import ConfigError
from snnjob.messages import ShardRequest
from snnjob.params import ParamSet
from snnjob.plan import plan_shards
from snnjob.plots import plot_error_vs_steps
from snnjob.preflight import check_params
from snnjob.recipes import expand_recipes, recipe_name, recipe_slug
from snnjob.results import summarize, summary_markdown
from snnjob.results.byrecipe import label_recipes, summarize_recipes
from snnjob.rundir import RunDir, config_differences

TIED = "train.recipes=[{model.max_rates: 100, model.amplitude: 0.01}, " \
       "{model.max_rates: 200, model.amplitude: 0.005}]"  # fmt: skip


def test_no_grid_is_one_base_recipe_in_todays_layout():
    cfg = load_config("tiny")
    (recipe,) = expand_recipes(cfg)
    assert (recipe.name, recipe.slug, recipe.overrides, recipe.config) == ("base", "", (), cfg)
    run = RunDir(Path("/out"))
    assert run.params_file(0, recipe.slug).as_posix() == "/out/params/seed-0.npz"
    assert run.checkpoint_dir(0, recipe.slug).as_posix() == "/out/checkpoints/seed-0"
    assert run.params_file(2, "max_rates-200").as_posix() == "/out/params/max_rates-200/seed-2.npz"


def test_grid_is_crossed_in_the_order_written_last_key_fastest():
    cfg = load_config(
        "tiny", ["train.grid={model.max_rates: [100, 200.0], model.lif_smoothing: [0, 0.02]}"]
    )
    recipes = expand_recipes(cfg)
    assert [r.name for r in recipes] == [
        "max_rates=100,lif_smoothing=0",
        "max_rates=100,lif_smoothing=0.02",
        "max_rates=200,lif_smoothing=0",
        "max_rates=200,lif_smoothing=0.02",
    ]
    assert recipes[1].slug == "max_rates-100__lif_smoothing-0.02"
    assert [(r.model.max_rates, r.model.lif_smoothing) for r in recipes] == [
        (100.0, 0.0), (100.0, 0.02), (200.0, 0.0), (200.0, 0.02)
    ]  # fmt: skip
    # each recipe's config is the base with its overrides, and no grid of its own
    for r in recipes:
        assert r.config.train.grid == () and r.config.train.recipes == ()
        assert r.config.eval == cfg.eval and r.config.data == cfg.data
        assert r.config.train.seeds == cfg.train.seeds


def test_recipes_tie_values_and_cross_the_grid():
    cfg = load_config("tiny", [TIED, "train.grid={train.epochs: [1, 2]}"])
    recipes = expand_recipes(cfg)
    assert [r.name for r in recipes] == [
        "max_rates=100,amplitude=0.01,epochs=1",
        "max_rates=100,amplitude=0.01,epochs=2",
        "max_rates=200,amplitude=0.005,epochs=1",
        "max_rates=200,amplitude=0.005,epochs=2",
    ]
    last = recipes[-1].config
    assert (last.model.max_rates, last.model.amplitude, last.train.epochs) == (200.0, 0.005, 2)
    assert recipes[-1].as_dict() == {
        "recipe": "max_rates=200,amplitude=0.005,epochs=2",
        "slug": "max_rates-200__amplitude-0.005__epochs-2",
        "overrides": {"model.max_rates": 200.0, "model.amplitude": 0.005, "train.epochs": 2},
    }


def test_names_and_slugs_are_short_stable_and_safe():
    assert recipe_name(()) == "base" and recipe_slug("base") == "base"
    assert recipe_name((("model.intercepts", -0.5), ("train.lr_schedule", "cos"))) == (
        "intercepts=-0.5,lr_schedule=cos"
    )
    assert recipe_name((("model.amplitude", 1 / 3),)) == f"amplitude={1 / 3!r}"  # exact
    assert recipe_slug("intercepts=-0.5,lr_schedule=cos") == "intercepts--0.5__lr_schedule-cos"
    assert recipe_slug("a=x/y z") == "a-x_y_z"
    long = ",".join(f"k{i}={i}" for i in range(40))
    slug = recipe_slug(long)
    assert len(slug) == 80 and slug == recipe_slug(long) and slug != recipe_slug(long + "0")


def test_the_config_round_trips_and_old_run_folders_compare_equal():
    cfg = load_config("tiny", [TIED, "train.grid={model.lif_smoothing: [0, 0.02]}"])
    raw = cfg.to_dict()
    assert raw["train"]["grid"] == {"model.lif_smoothing": [0.0, 0.02]}
    assert raw["train"]["recipes"][1] == {"model.max_rates": 200.0, "model.amplitude": 0.005}
    assert from_dict(yaml.safe_load(yaml.safe_dump(raw, sort_keys=False))) == cfg
    plain = load_config("tiny").to_dict()
    assert (plain["train"]["grid"], plain["train"]["recipes"]) == ({}, [])
    old = yaml.safe_load(yaml.safe_dump(plain))  # a folder from before train.grid
    del old["train"]["grid"], old["train"]["recipes"]
    assert config_differences(old, plain) == []
    assert config_differences(old, raw) != []  # a grid is a different run


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("train.grid={model.max_ratez: [100]}", "unknown config key 'model.max_ratez' (did you "
                                                "mean 'model.max_rates'?)"),
        ("train.grid={eval.n_steps: [[10], [20]]}", "'eval.n_steps' cannot vary per recipe; only "
                                                    "model.* and train.* keys"),
        ("train.grid={data.n_train: [100]}", "'data.n_train' cannot vary per recipe"),
        ("train.grid={train.seeds: [[0], [1]]}", "train.seeds cannot vary per recipe"),
        ("train.recipes=[{train.grid: {}}]", "train.grid cannot vary per recipe"),
        ("train.grid={model.max_rates: []}", "train.grid.model.max_rates is an empty list"),
        ("train.grid={model.max_rates: 100}", "train.grid.model.max_rates must be a list"),
        ("train.grid={model.max_rates: [100, 100.0]}", "has duplicates"),
        ("train.grid={model.max_rates: [100, fast]}", "train.grid.model.max_rates[1] must be a "
                                                      "number"),
        ("train.grid=[1, 2]", "train.grid must be a mapping"),
        ("train.recipes={model.max_rates: 100}", "train.recipes must be a list of mappings"),
        ("train.recipes=[{}]", r"train.recipes[0] must be a non-empty mapping"),
        ("train.recipes=[{model.max_rates: 200}, {model.max_rates: 200.0}]",
         "lists the recipe max_rates=200 twice (entries 0 and 1)"),
        ("train.recipes=[{model.max_rates: 200}]\ntrain.grid={model.max_rates: [100]}", ""),
        ("train.grid={model.max_rates: [100, 600]}", "recipe max_rates=600: model.max_rates=600.0 "
                                                     "Hz is not reachable"),
        ("train.grid={train.lr_schedule: [constant, cosin]}", "recipe lr_schedule=cosin: "
                                                              "train.lr_schedule='cosin'"),
    ],
)  # fmt: skip
def test_bad_grids_and_recipes_name_the_key(override, fragment):
    overrides = override.split("\n")
    if len(overrides) == 2:  # a key in both: refused, naming it
        fragment = "train.recipes[0] sets model.max_rates, which train.grid varies too"
    with pytest.raises(ConfigError) as info:
        load_config("tiny", overrides)
    assert fragment in str(info.value)


def test_a_yaml_file_with_a_grid(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(
        "train:\n  seeds: [0, 1]\n  grid:\n    model.max_rates: [100, 200]\n"
        "  recipes:\n    - {model.lif_smoothing: 0.02}\n"
    )
    names = [r.name for r in expand_recipes(load_config(path))]
    assert names == ["lif_smoothing=0.02,max_rates=100", "lif_smoothing=0.02,max_rates=200"]


def test_params_file_and_a_grid_are_refused(tmp_path):
    cfg = load_config("tiny", [TIED])
    with pytest.raises(ConfigError, match="--params evaluates one parameter set"):
        check_params(cfg, tmp_path / "p.npz", out=tmp_path / "out")


def _pset(recipe, seed=0, sha="ab" * 32):
    return ParamSet(seed, {}, sha, None, recipe=recipe.name, slug=recipe.slug, model=recipe.model)


def test_each_request_carries_its_recipes_model_config():
    cfg = load_config("tiny", [TIED])
    a, b = expand_recipes(cfg)
    # identical weights (a setting that only changes evaluation) still get separate ids
    pa, pb = _pset(a), _pset(b)
    assert pa.id != pb.id and len(pa.id) == 12
    assert ParamSet(0, {}, "ab" * 32, None).id == "ab" * 6  # no grid: the hash prefix
    tasks = plan_shards(cfg, [pa, pb], 400)
    assert {t.request.model for t in tasks if t.pset is pa} == {a.model}
    assert {t.request.model for t in tasks if t.pset is pb} == {b.model}
    assert a.model.max_rates == 100 and b.model.max_rates == 200
    r = tasks[0].request
    assert r.simulator_key != dataclasses.replace(r, model=b.model).simulator_key
    assert ShardRequest("x", 0, 1, 1, 0, 1, 1).model is None  # the worker's own model


def _rows(recipe_of_params):
    """One 1000-image shard per (params id, train seed, n_steps, eval seed) -> n_errors."""
    return [
        {"params_id": pid, "params_sha256": pid * 4, "train_seed": t, "n_steps": n,
         "eval_seed": s, "minibatch_size": 100, "shard_id": 0, "first_index": 0,
         "last_index": 999, "n_images": 1000, "n_errors": k, "wall_time_s": 1.0,
         "worker_node": "n", "worker_pid": 1, "finished_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}
        for (pid, t, n, s), k in recipe_of_params.items()
    ]  # fmt: skip


@pytest.fixture
def grid_summary():
    cfg = load_config("tiny", [TIED])
    recipes = expand_recipes(cfg)
    # recipe A: params a0 (seed 0), a1 (seed 1); recipe B: b0 (seed 0); two eval seeds
    counts = {}
    for pid, seed, base in (("a0" * 8, 0, 100), ("a1" * 8, 1, 60), ("b0" * 8, 0, 30)):
        for n in (10, 30):
            for s in (0, 1):
                counts[(pid, seed, n, s)] = base // (n // 10) + s
    rate_mode = [
        {"params_id": p, "train_seed": 0, "n_images": 1000, "n_errors": k, "error": k / 1000,
         "ci95_low": 0.0, "ci95_high": 0.1}
        for p, k in (("a0" * 8, 10), ("b0" * 8, 20))
    ]  # fmt: skip
    summary = {**summarize(_rows(counts)).to_dict(), "rate_mode": rate_mode}
    names = {"a0" * 8: recipes[0].name, "a1" * 8: recipes[0].name, "b0" * 8: recipes[1].name}
    summary = label_recipes(summary, names, [recipes[1].name, recipes[0].name])  # B first
    summary = dataclasses.replace(
        summary, recipes=summarize_recipes(summary, [r.as_dict() for r in recipes])
    )
    return summary, recipes


def test_every_entry_names_its_recipe_and_each_recipe_is_pooled(grid_summary):
    summary, (a, b) = grid_summary
    assert {p.recipe for p in summary.points} == {a.name, b.name}
    assert list(summary.to_dict()["points"][0])[:2] == ["params_id", "recipe"]
    assert [r.recipe for r in summary.rate_mode] == [b.name, a.name]
    assert [p.recipe for p in summary.points] == [b.name] * 4 + [a.name] * 8
    # within a recipe, the order of summarize: (train seed, n_steps, eval seed)
    assert [(p.train_seed, p.n_steps) for p in summary.points[4:8]] == [(0, 10)] * 2 + [(0, 30)] * 2
    ra, rb = summary.recipes
    assert (ra.recipe, ra.slug, ra.train_seeds) == (a.name, a.slug, (0, 1))
    assert ra.overrides == {"model.max_rates": 100.0, "model.amplitude": 0.01}
    (at10, at30) = ra.by_n_steps
    # seed 0: (100 + 101) / 2000, seed 1: (60 + 61) / 2000, at n_steps 10
    assert at10.n_steps == 10 and at10.n_train_seeds == 2 and at10.n_points == 4
    assert at10.mean_error == pytest.approx((201 + 121) / 2 / 2000)
    assert (at10.min_error, at10.max_error) == (121 / 2000, 201 / 2000)
    assert at10.std_error == pytest.approx(abs(201 - 121) / 2000 / 2**0.5)
    assert (at10.n_errors, at10.n_images, at10.error) == (322, 4000, 322 / 4000)
    assert at10.ci95_low < at10.error < at10.ci95_high
    # the mean's Student-t interval over the 2 seeds: t(0.975, 1) = 12.706
    half = 12.7062 * at10.std_error / 2**0.5
    assert at10.mean_ci95_high == pytest.approx(at10.mean_error + half, rel=1e-4)
    assert at10.mean_ci95_low == 0.0  # clipped: an error rate is not negative
    assert rb.by_n_steps[1].std_error == 0.0  # one training seed
    assert rb.by_n_steps[1].mean_ci95_low is None
    assert rb.rate_mode.error == 0.02 and ra.rate_mode.n_errors == 10


def squeeze(text: str) -> str:
    """Markdown tables without tabulate's column padding (cells compared, not widths)."""
    return re.sub(r" {2,}", " ", text)


def _base_recipe(summary):
    """``summary`` labelled and pooled as a job without a recipe sweep."""
    plain = label_recipes(summary, {})
    base = [{"recipe": "base", "slug": "", "overrides": {}}]
    return dataclasses.replace(plain, recipes=summarize_recipes(plain, base))


def test_the_report_has_a_table_per_recipe(grid_summary):
    summary, (a, b) = grid_summary
    text = squeeze(summary_markdown(summary))
    assert f"**Recipe {a.name}** (model.max_rates=100.0, model.amplitude=0.01; training " \
           "seeds 0, 1; rate-mode error 1.00%)" in text  # fmt: skip
    assert f"**Recipe {b.name}**" in text
    assert "| recipe | params_id | n_steps |" in text
    # without a grid: no recipe tables, no recipe column
    plain = _base_recipe(summarize(_rows({("c0" * 8, 0, 10, 0): 5})))
    assert plain.points[0].recipe == "base"
    assert "Recipe" not in summary_markdown(plain)
    assert "| recipe |" not in squeeze(summary_markdown(plain))


def test_one_recipe_with_three_training_seeds_gets_its_mean_and_interval():
    errors = {0: 100, 1: 110, 2: 120}  # of 1000 images each, at n_steps 10
    plain = _base_recipe(summarize(_rows({(f"c{s}" * 8, s, 10, 0): e for s, e in errors.items()})))
    (row,) = plain.recipes[0].by_n_steps
    # mean 11%, sample std 1%, t(0.975, 2) = 4.3027: 11 +- 4.3027 / sqrt(3)
    assert row.mean_error == pytest.approx(0.11)
    assert row.mean_ci95_low == pytest.approx(0.11 - 0.024842, abs=1e-5)
    assert row.mean_ci95_high == pytest.approx(0.11 + 0.024842, abs=1e-5)
    text = squeeze(summary_markdown(plain))
    assert "**Recipe base** (the base config; training seeds 0, 1, 2" in text
    assert "| 10 | 3 | 11.00 | 8.52 – 13.48 | 1.00 |" in text


def test_the_error_plot_colours_each_recipe(grid_summary, tmp_path):
    summary, _ = grid_summary
    path = plot_error_vs_steps(tmp_path / "e.png", summary)
    assert matplotlib.image.imread(path).std() > 0.01
