"""A network and a dataset as data: a custom ``model.layers`` spec on a synthetic ``.npz``
dataset (16x16x3 colour images, 5 named classes, written here), trained and evaluated end to
end by ``snnjob run`` on local Ray, then evaluated again with other shards: same predictions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from synthdata import CLASSES, write_dataset

from snnjob import load

pytestmark = pytest.mark.slow  # trains a network and starts Ray

SPEC = """\
model:
  layers:
    - {type: conv, filters: 16, kernel: 3, strides: 1}
    - {type: avgpool, size: 2}
    - {type: conv, filters: 32, kernel: 3, strides: 2}
    - {type: dense, units: 64}
  max_rates: 200
  amplitude: 0.005
data:
  dataset: npz:DATA
train:
  epochs: 3
  seeds: [0]
  minibatch_size: 50
eval:
  n_steps: [20, 60]
  seeds: [0]
  minibatch_size: 50
  shard_size: 100
  spike_stats_images: 20
  verify_images: 20
"""


def snnjob_run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "snnjob.cli", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("custom")
    write_dataset(root / "shapes.npz")
    (root / "my.yaml").write_text(SPEC.replace("DATA", str(root / "shapes.npz")))
    first = snnjob_run("--config", "my.yaml", "--out", "run1", "--num-cpus", "2", cwd=root)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # the trained parameters again, every point in one shard instead of three
    second = snnjob_run("--config", "my.yaml", "--out", "run2", "--num-cpus", "2",
                        "--params", "run1/params/seed-0.npz", "--set", "eval.shard_size=300",
                        cwd=root)  # fmt: skip
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return root, first, second


def test_the_custom_network_trains_and_evaluates_on_the_npz_dataset(runs):
    root, first, _ = runs
    summary = json.loads((root / "run1" / "summary.json").read_text())
    assert summary["dataset"]["image_shape"] == [16, 16, 3]
    assert summary["dataset"]["class_names"] == CLASSES
    assert summary["dataset"]["n_classes"] == 5 and summary["dataset"]["n_test"] == 300
    assert summary["network"]["description"] == ("conv16k3-pool2-conv32k3/s2-dense64-readout5")
    run = load(root / "run1")
    assert len(run.points) == 2 and set(run.points["n_images"]) == {300}
    # chance is 80% error; the patches are easy to see after 3 epochs
    assert summary["rate_mode"][0]["error"] < 0.05, summary["rate_mode"]
    assert run.points.set_index("n_steps")["error"][60] < 0.3, run.points
    preds = run.predictions
    assert len(preds) == 2 * 300 and len(preds["output"].iloc[0]) == 5
    assert set(preds["label"]) == set(range(5))
    for name in ("digits.png", "confusion.png", "outputs_over_time.png", "error_vs_steps.png"):
        assert (root / "run1" / "plots" / name).is_file(), name
    spikes = json.loads((root / "run1" / "summary.json").read_text())["spikes"][0]["layers"]
    assert [row["layer"] for row in spikes] == ["conv0", "conv1", "fc0"]


def test_sharding_does_not_change_a_single_prediction(runs):
    root, _, _ = runs
    a, b = load(root / "run1"), load(root / "run2")
    assert a.shards["shard_id"].nunique() == 3 and b.shards["shard_id"].nunique() == 1
    key = ["n_steps", "image_index"]
    pa_, pb = a.predictions.sort_values(key), b.predictions.sort_values(key)
    assert pa_["prediction"].tolist() == pb["prediction"].tolist()
    np.testing.assert_array_equal(np.stack(pa_["output"]), np.stack(pb["output"]))
    assert a.points["n_errors"].tolist() == b.points["n_errors"].tolist()


def test_the_job_says_which_engine_ran_the_custom_network(runs):
    root, first, _ = runs
    summary = json.loads((root / "run1" / "summary.json").read_text())
    engine = summary["engine"]
    assert engine["requested"] == "compiled"
    if engine.get("used") != ["compiled"]:  # a fallback must say why, never silently
        assert "nengo_dl" in first.stdout + first.stderr
