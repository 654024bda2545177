"""scripts/benchmark.py: its aggregation (medians over repeats, ratios) and argument checks.

The benchmark itself is measured, not asserted (docs/performance.md); these tests
cover the parts that turn runs into the reported numbers, and its bad-input errors.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("snnjob_benchmark", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_medians_take_each_variants_median_and_range(bench):
    rows = [
        {"variant": "plain_tiled", "image_steps_per_s": 100.0, "peak_rss_mb": 10.0, "errors": 5},
        {"variant": "snnjob_stream", "image_steps_per_s": 90.0, "peak_rss_mb": 8.0, "errors": 5},
        {"variant": "plain_tiled", "image_steps_per_s": 300.0, "peak_rss_mb": 12.0, "errors": 5},
        {"variant": "snnjob_stream", "image_steps_per_s": 200.0, "peak_rss_mb": 9.0, "errors": 5},
        {"variant": "plain_tiled", "image_steps_per_s": 200.0, "peak_rss_mb": 11.0, "errors": 5},
        {"variant": "snnjob_stream", "image_steps_per_s": 400.0, "peak_rss_mb": 7.0, "errors": 5},
    ]
    by = bench._medians(rows)
    assert list(by) == ["plain_tiled", "snnjob_stream"]  # first-seen order
    assert by["plain_tiled"]["image_steps_per_s"] == 200.0
    assert by["plain_tiled"]["image_steps_per_s_range"] == [100.0, 300.0]
    assert by["plain_tiled"]["runs"] == 3
    assert by["snnjob_stream"]["peak_rss_mb"] == 8.0
    ratios = bench._ratios(by)
    assert ratios["eval_ratio_seed_tuned"] == pytest.approx(1.0)
    assert ratios["snnjob_stream/plain_tiled peak RSS"] == pytest.approx(8.0 / 11.0)


def test_one_run_per_variant_is_its_own_median(bench):
    rows = [
        {"variant": "plain_fit", "images_per_s": 150.0, "peak_rss_mb": 1.0},
        {"variant": "snnjob_train", "images_per_s": 225.0, "peak_rss_mb": 1.0},
    ]
    by = bench._medians(rows)
    assert by["plain_fit"]["images_per_s_range"] == [150.0, 150.0]
    assert bench._ratios(by) == {"train_ratio": pytest.approx(1.5)}


def test_sweep_and_notebook_ratios(bench):
    rows = [
        {"variant": "plain_notebook", "image_steps_per_s": 50.0, "peak_rss_mb": 1.0},
        {"variant": "snnjob_stream", "image_steps_per_s": 150.0, "peak_rss_mb": 1.0},
        {"variant": "plain_sweep", "run_s": 60.0, "errors": {"10": 3}, "sweep_steps": [10]},
        {"variant": "snnjob_sweep", "run_s": 20.0, "errors": {"10": 3}, "sweep_steps": [10]},
    ]
    ratios = bench._ratios(bench._medians(rows))
    assert ratios == {"eval_ratio_seed": pytest.approx(3.0), "sweep_ratio": pytest.approx(3.0)}


def test_scaling_tiny_wall_and_peak_fraction(bench):
    rows = [
        {"variant": "snnjob_ray1", "image_steps_per_s": 80.0, "steady_image_steps_per_s": 100.0,
         "peak_rss_mb": 1.0},
        {"variant": "snnjob_ray2", "image_steps_per_s": 90.0, "steady_image_steps_per_s": 150.0,
         "peak_rss_mb": 1.0},
        {"variant": "tiny_eval", "run_s": 19.0, "peak_rss_mb": 1.0},
        {"variant": "conv_peak", "gflops": 400.0, "run_s": 0.2, "peak_rss_mb": 1.0},
        {"variant": "snnjob_stream", "image_steps_per_s": 2000.0, "peak_rss_mb": 1.0},
    ]  # fmt: skip
    by = bench._medians(rows)
    ratios = bench._ratios(by)
    assert ratios["scaling_2_workers"] == pytest.approx(1.5)  # steady state, not with start-up
    assert ratios["tiny_eval_wall_s"] == pytest.approx(19.0)
    # 2000 image-steps/s x 36.4 MFLOP (seed network) = 72.9 GFLOP/s of a 400 GFLOP/s conv
    assert ratios["eval_peak_fraction_seed"] == pytest.approx(2000 * 2 * 18_216_320 / 400e9)
    assert bench._speed(by["conv_peak"]) == "400 GFLOP/s"
    assert bench._speed(by["tiny_eval"]) == "19.0 s"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--repeat", "0"], "--repeat must be >= 1"),
        (["--variants", "plain_tiled,snnjob_fast"], "unknown variant(s) ['snnjob_fast']"),
    ],
)
def test_bad_arguments_are_named(args, message):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert message in proc.stderr


def test_engine_ratios_against_plain_nengo_dl(bench):
    rows = [
        {"variant": "plain_notebook", "image_steps_per_s": 1000.0},
        {"variant": "plain_tiled", "image_steps_per_s": 1250.0},
        {"variant": "snnjob_stream", "image_steps_per_s": 1100.0},
        {"variant": "engine_stream", "image_steps_per_s": 5000.0, "agreement": 0.999},
        {"variant": "engine_stream1", "image_steps_per_s": 3000.0},
        {"variant": "engine_jax_cpu", "image_steps_per_s": 2500.0},
        {"variant": "conv_peak", "gflops": 364.0},
        {"variant": "plain_sweep", "run_s": 40.0},
        {"variant": "engine_sweep", "run_s": 5.0},
        {"variant": "worker_rss_200", "worker_peak_rss_mb": 1024.0},
    ]
    r = bench._engine_ratios(bench._medians(rows))
    assert r["engine_eval_ratio"] == pytest.approx(5.0)
    assert r["engine_eval_ratio_tuned"] == pytest.approx(4.0)
    assert r["engine_over_nengo_dl_engine"] == pytest.approx(5000 / 1100)
    assert r["engine_eval_ratio_1_thread"] == pytest.approx(3.0)
    assert r["engine_jax_cpu_over_event_driven"] == pytest.approx(0.5)
    # 36.4 MFLOP per image-step of the seed network, against the measured Conv2D peak
    assert r["engine_peak_fraction"] == pytest.approx(5000 * 36.4e6 / 364e9, rel=1e-3)
    assert r["engine_sweep_ratio"] == pytest.approx(8.0)
    assert r["engine_worker_peak_rss_gb_200_steps"] == pytest.approx(1.0)
    assert r["engine_agreement"] == pytest.approx(0.999)
