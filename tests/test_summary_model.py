"""The typed summary (snnjob.results.model): summary.json <-> RunSummary, in one converter.

A real summary round-trips exactly; a summary written before the ``schema`` key still loads
(new fields take their defaults); an unknown future schema or a value of the wrong type is
refused with an error naming the field.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest

from snnjob.datasets import DatasetInfo
from snnjob.results.convert import FormatError, from_json, to_json
from snnjob.results.model import SCHEMA, Point, RunSummary, SpikeEntry, as_summary
from snnjob.results.report import summary_markdown
from snnjob.results.runinfo import ClusterInfo, SweepStats, TrainingMetrics
from snnjob.results.summary import load_summary, write_summary

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ROOT / "docs" / "measured" / "sweep-summary.json"


@pytest.fixture
def measured() -> dict:
    """A real run's summary.json (the `quick` sweep), written before the schema key."""
    return json.loads(MEASURED.read_text())


def test_a_real_summary_round_trips_exactly(measured, tmp_path):
    summary = RunSummary.from_dict(measured)
    assert RunSummary.from_dict(summary.to_dict()) == summary
    # the JSON layout is kept: the same keys and values, plus the schema (first)
    out = summary.to_dict()
    assert list(out)[0] == "schema" and out["schema"] == SCHEMA
    assert out == {"schema": SCHEMA, **measured}
    assert list(out["points"][0]) == list(measured["points"][0])
    assert list(out["timings"]) == list(measured["timings"])
    # typed all the way down
    assert summary.points[0].n_errors == 282 and summary.points[0].recipe == "base"
    assert summary.recipes[0].by_n_steps[0].mean_ci95_low is None
    assert summary.spikes[0].layers[0].rate_hist_counts[0] == 12828
    assert summary.engine.checks[0].mismatches == {"10": 0, "20": 0, "30": 0}
    assert summary.params[0].training.history[0].epoch == 1
    started = measured["cluster"]["ray_start_s"]
    cluster = ClusterInfo(nodes=1, cpus=2.0, gpus=0.0, max_node_cpus=2.0,
                          dashboard="127.0.0.1:8265", ray_start_s=started)  # fmt: skip
    assert summary.cluster == cluster
    # written in one place, read back equal
    path = write_summary(tmp_path / "summary.json", summary)
    assert json.loads(path.read_text()) == out
    assert load_summary(path) == summary


def test_an_old_summary_without_the_schema_loads_with_defaults(measured):
    summary = RunSummary.from_dict(measured)
    assert summary.dataset is None and summary.network is None  # written before them
    old = {
        "points": [{"params_id": "abc", "train_seed": 0, "n_steps": 10, "seed": 3,
                    "n_images": 100, "n_errors": 7, "error": 0.07}],
        "by_n_steps": [],
        "cluster": {"nodes": 1, "cpus": 2, "gpus": 0, "max_node_cpus": 2, "dashboard": None},
    }  # fmt: skip
    frozen = copy.deepcopy(old)
    loaded = RunSummary.from_dict(old)
    assert old == frozen  # the input is not changed
    (point,) = loaded.points
    assert (point.eval_seed, point.recipe, point.n_shards) == (3, "base", 0)  # seed: upgraded
    assert loaded.curves == loaded.anytime == loaded.spikes == () and loaded.engine is None
    assert loaded.cluster.ray_start_s is None and loaded.cluster.cpus == 2.0
    assert "eval_seed" in loaded.to_dict()["points"][0]


def test_an_unknown_schema_is_refused(measured):
    with pytest.raises(FormatError, match=r"summary\.schema is 'summary-v9'.*upgrade snnjob"):
        RunSummary.from_dict({**measured, "schema": "summary-v9"})
    with pytest.raises(FormatError, match=r"summary\.schema is 2"):
        RunSummary.from_dict({**measured, "schema": 2})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["points"][1].update(n_errors="7"),
         r"summary\.points\[1\]\.n_errors must be int, got str '7'"),
        (lambda s: s["points"][0].update(n_errors=True),
         r"summary\.points\[0\]\.n_errors must be int, got bool"),
        (lambda s: s["points"][0].pop("n_steps"),
         r"summary\.points\[0\] lacks 'n_steps' \(Point\)"),
        (lambda s: s["engine"]["checks"][0]["mismatches"].update({"10": 0.5}),
         r"summary\.engine\.checks\[0\]\.mismatches\.10 must be int, got float"),
        (lambda s: s["spikes"][0]["layers"][2].update(rate_hist_edges_hz=3.0),
         r"summary\.spikes\[0\]\.layers\[2\]\.rate_hist_edges_hz must be tuple"),
        (lambda s: s["timings"].update(per_params={}),
         r"summary\.timings\.per_params must be tuple"),
        (lambda s: s.update(cluster=[1, 2]),
         r"summary\.cluster must be a JSON object \(ClusterInfo\), got list"),
        (lambda s: s.update(dataset={"name": "mnist", "image_shape": [28, 28],
                                     "n_classes": 10, "class_names": list("0123456789"),
                                     "n_train": 1, "n_test": 1}),
         r"summary\.dataset\.image_shape must hold 3 values, got 2"),
        (lambda s: s.update(dataset={"name": "mnist", "image_shape": [28, 28, 1],
                                     "n_classes": 3, "class_names": ["a", "b"],
                                     "n_train": 1, "n_test": 1}),
         r"summary\.dataset: class_names must name n_classes"),
        (lambda s: s.update(points={}), r"'points' list"),
    ],
    ids=["str-for-int", "bool-for-int", "missing", "nested-dict", "list", "tuple", "object",
         "shape", "dataset-check", "points"],
)  # fmt: skip
def test_a_wrong_type_is_refused_naming_the_field(measured, change, message):
    change(measured)
    with pytest.raises(FormatError, match=message):
        RunSummary.from_dict(measured)
    with pytest.raises(FormatError, match=message):  # also with the schema key
        RunSummary.from_dict({"schema": SCHEMA, **measured})


def test_a_damaged_file_is_named_with_the_field(measured, tmp_path):
    measured["points"][0]["error"] = "low"
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(measured))
    with pytest.raises(ValueError, match=r"summary\.json is not an snnjob summary\.json: "
                                         r"summary\.points\[0\]\.error must be float"):  # fmt: skip
        load_summary(path)


def test_dataset_and_network_sections(measured):
    info = DatasetInfo("fashion_mnist", (28, 28, 1), 10, tuple(f"c{k}" for k in range(10)),
                       60000, 10000)  # fmt: skip
    network = {"layers": [{"type": "conv", "filters": 8}], "image_shape": [28, 28, 1],
               "n_classes": 10, "description": "conv8k3-readout10"}  # fmt: skip
    summary = RunSummary.from_dict({**measured, "dataset": info.to_dict(), "network": network})
    assert summary.dataset == info and summary.dataset.class_names[3] == "c3"
    assert summary.network.image_shape == (28, 28, 1)
    out = summary.to_dict()
    assert out["dataset"] == info.to_dict() and out["network"] == network
    assert RunSummary.from_dict(out) == summary


def test_dicts_and_typed_objects_are_accepted_alike(measured):
    summary = RunSummary.from_dict(measured)
    assert as_summary(summary) is summary and as_summary(measured) == summary
    assert summary_markdown(measured) == summary_markdown(summary)
    # a dict holding typed entries (e.g. summarize_curves's output) converts too
    mixed = {**measured, "curves": list(summary.curves)}
    assert RunSummary.from_dict(mixed) == summary
    # sections given as lists are kept as tuples (equal to a loaded summary)
    assert replace(summary, points=list(summary.points)) == summary
    entry = from_json(SpikeEntry, measured["spikes"][0], "spikes[0]")
    assert to_json(entry) == measured["spikes"][0]


def test_optional_fields_are_left_out_while_none():
    point = Point(params_id="a", train_seed=0, n_steps=5, eval_seed=0, n_images=10, n_errors=1,
                  error=0.1)  # fmt: skip
    assert "rate_mode" in to_json(RunSummary(points=(point,)))  # lists: always
    assert "engine" not in to_json(RunSummary(points=(point,)))  # sections: when present
    stats = SweepStats(train_seed=0, tasks=2, skipped=2, workers=0)
    assert to_json(stats) == {"recipe": "base", "train_seed": 0, "ready_s": 0.0, "tasks": 2,
                              "skipped": 2, "workers": 0}  # fmt: skip


def test_the_runner_merges_sweeps_and_assembles_one_summary(measured):
    from snnjob.config import load_config
    from snnjob.params import ParamSet
    from snnjob.recipes import expand_recipes
    from snnjob.runner import build_summary, merge_sweeps

    skipped = SweepStats(train_seed=0, ready_s=1.0, tasks=2, skipped=2, workers=0)
    ran = from_json(SweepStats, {
        "recipe": "base", "train_seed": 1, "ready_s": 3.0, "tasks": 2, "skipped": 0,
        "workers": 2, "eval_wall_time_s": 4.0, "engines": ["compiled"], "cores": ["cpu"],
        "engine_checks": [], "images_evaluated": 400, "image_steps_simulated": 4000,
        "workers_lost": 0, "workers_replaced": 0, "shards_resubmitted": 0, "worker_builds": 2,
        "worker_peak_rss_mb": 900.0, "first_shard": {"latency_s": 2.0},
    }, "stats")  # fmt: skip
    t = merge_sweeps([skipped, ran])
    assert (t.tasks, t.skipped, t.workers, t.images_evaluated) == (4, 2, 2, 400)
    assert (t.eval_wall_time_s, t.params_ready_wall_time_s, t.worker_builds) == (4.0, 3.0, 2)
    assert t.first_shard.latency_s == 2.0 and t.per_params == (skipped, ran)
    assert "worker_builds" not in to_json(merge_sweeps([skipped]))  # nothing evaluated

    recipes = expand_recipes(load_config("tiny"))
    pset = ParamSet(0, {}, "ab" * 32, None, TrainingMetrics(epochs=1))
    points = [{**p, "params_id": pset.id, "recipe": "other"} for p in measured["points"][:2]]
    results = RunSummary.from_dict({"points": points, "by_n_steps": []})
    summary = build_summary(results, [pset], recipes, config_name="tiny", timings=t)
    assert {p.recipe for p in summary.points} == {"base"}  # labelled
    (recipe,) = summary.recipes
    assert recipe.recipe == "base" and recipe.params_ids == (pset.id,)
    (described,) = summary.params
    assert (described.params_id, described.path, described.training.epochs) == (pset.id, None, 1)
    assert summary.timings is t and summary.config_name == "tiny"


def test_an_engine_fallback_is_recorded_and_printed_only_when_there_is_one():
    from snnjob.results.report import engine_line
    from snnjob.results.runinfo import EngineInfo

    ran = EngineInfo(requested="compiled", used=("compiled",), cores=("cpu",))
    assert "fallback" not in to_json(ran)
    assert engine_line(ran) == "**Engine**: compiled (cpu)"
    fell = EngineInfo(requested="compiled", used=("nengo_dl",), fallback="lstm8: no core")
    assert to_json(fell)["fallback"] == "lstm8: no core"
    assert from_json(EngineInfo, to_json(fell), "engine") == fell
    assert engine_line(fell) == "**Engine**: nengo_dl (compiled asked for; lstm8: no core)"
