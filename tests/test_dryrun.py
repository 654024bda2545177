"""``snnjob run --dry-run``: the plan of a run, printed without starting Ray or writing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snnjob import cli
from snnjob.config import load_config
from snnjob.dryrun import EVAL_IMAGE_STEPS_PER_CPU_S, plan_run
from snnjob.params import save_params


def dry(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["run", "--dry-run", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_plan_counts_trainings_networks_shards_and_image_steps(mnist_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code, text, err = dry(
        capsys, "--config", "tiny", "--out", str(out), "--num-cpus", "4",
        "--set", f"data.data_dir={mnist_dir}", "--set", "train.seeds=[0, 1, 2]",
        "--set", "eval.seeds=[0, 1]", "--set", "eval.n_steps=[10, 30]",
        "--set", "eval.n_images=1000", "--set", "eval.shard_size=300",
    )  # fmt: skip
    assert code == 0, err
    assert "trainings     3 (" in text
    assert "networks      3:" in text
    # 3 networks x 2 eval seeds x 4 shards (300, 300, 300, 100); 2 n_steps per simulation
    assert "12 point(s) from 24 shard(s) of up to 300 images" in text
    assert f"image-steps   {3 * 2 * 1000 * 30:,}" in text
    assert "on 4 CPU(s)" in text
    assert not out.exists()  # nothing written


def test_the_estimate_scales_with_work_and_cpus(mnist_dir, tmp_path):
    cfg = load_config("tiny", [f"data.data_dir={mnist_dir}", "eval.n_steps=[30]"])
    base = plan_run(cfg, tmp_path / "a", num_cpus=2).estimate_s()
    more = load_config("tiny", [f"data.data_dir={mnist_dir}", "eval.n_steps=[60]"])
    double = plan_run(more, tmp_path / "a", num_cpus=2).estimate_s()
    wide = plan_run(cfg, tmp_path / "a", num_cpus=4).estimate_s()
    assert double["eval_s"] == pytest.approx(2 * base["eval_s"])
    assert wide["eval_s"] == pytest.approx(base["eval_s"] / 2)
    assert wide["train_s"] == pytest.approx(base["train_s"] / 2)
    nengo = load_config(
        "tiny", [f"data.data_dir={mnist_dir}", "eval.n_steps=[30]", "eval.engine=nengo_dl"]
    )
    slow = plan_run(nengo, tmp_path / "a", num_cpus=2).estimate_s()
    ratio = EVAL_IMAGE_STEPS_PER_CPU_S["compiled"] / EVAL_IMAGE_STEPS_PER_CPU_S["nengo_dl"]
    assert slow["eval_s"] == pytest.approx(base["eval_s"] * ratio)
    assert slow["check_s"] == 0  # nothing to check NengoDL against
    # start-up (Ray, workers, builds) is paid once, whatever the work or the CPUs
    assert base["startup_s"] == double["startup_s"] == wide["startup_s"] > 0


def test_a_tiny_custom_network_is_not_estimated_at_under_a_second(tmp_path, capsys):
    spec = tmp_path / "small.yaml"
    spec.write_text(
        "model:\n  layers:\n    - {type: conv, filters: 4, kernel: 3}\n"
        "    - {type: dense, units: 8}\neval:\n  n_images: 100\n  n_steps: [5]\n"
        "train:\n  epochs: 1\ndata:\n  n_train: 200\n"
    )
    plan = plan_run(load_config(str(spec)), tmp_path / "run", num_cpus=2)
    assert plan.estimate_s()["eval_s"] < 1  # the MAC-scaled part is tiny ...
    assert "about 13 s on 2 CPU(s): start-up 13 s" in plan.text()  # ... start-up is not


def test_with_params_nothing_trains(mnist_dir, tmp_path, capsys):
    cfg = load_config("tiny")

    params = {k: np.zeros(s, np.float32) for k, s in cfg.model.net.weight_shapes().items()}
    path = tmp_path / "p.npz"
    save_params(path, params, {"train_seed": 0, "config": cfg.to_dict()})
    code, text, err = dry(capsys, "--config", "tiny", "--params", str(path), "--out",
                          str(tmp_path / "run"), "--set", f"data.data_dir={mnist_dir}")  # fmt: skip
    assert code == 0, err
    assert "trainings     0" in text and "networks      1:" in text and "--params" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--config", "nope"], "unknown config 'nope'"),
        (["--config", "tiny", "--set", "eval.n_steps=[0]"], "eval.n_steps"),
        (["--config", "tiny", "--params", "missing.npz"], "missing.npz"),
    ],
)
def test_bad_input_is_refused_as_in_a_real_run(argv, message, mnist_dir, tmp_path, capsys):
    code, text, err = dry(capsys, *argv, "--out", str(tmp_path / "run"),
                          "--set", f"data.data_dir={mnist_dir}")  # fmt: skip
    assert code == 2
    assert err.startswith("snnjob: error:") and message in err, err
    assert "Traceback" not in err and text == ""
    assert not (tmp_path / "run").exists()


def test_a_folder_of_another_run_is_refused(mnist_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("model: {preset: strided}\n")
    (out / "summary.json").write_text("{}")
    code, _, err = dry(capsys, "--config", "tiny", "--out", str(out),
                       "--set", f"data.data_dir={mnist_dir}")  # fmt: skip
    assert code == 2 and "snnjob: error:" in err


def test_a_dry_run_starts_no_ray_and_no_tensorflow(mnist_dir, tmp_path):
    code = (
        "import sys; from snnjob import cli; "
        f"rc = cli.main(['run', '--dry-run', '--config', 'tiny', '--out', {str(tmp_path / 'r')!r}, "
        f"'--set', 'data.data_dir={mnist_dir}']); "
        "print(rc, sorted(m for m in ('ray', 'tensorflow', 'nengo_dl') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0 []"
    assert not Path(tmp_path / "r").exists()
