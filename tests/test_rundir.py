"""snnjob.rundir: paths, the lock, the config-difference check, --overwrite."""

from __future__ import annotations

import pytest
import yaml

from snnjob.config import load_config
from snnjob.errors import RunDirError
from snnjob.rundir import RunDir, config_differences, open_run_dir


def test_paths_are_named_in_one_place(tmp_path):
    run = RunDir(tmp_path)
    assert run.params_file(3) == tmp_path / "params" / "seed-3.npz"
    assert run.checkpoint_dir(3) == tmp_path / "checkpoints" / "seed-3"
    assert run.summary == tmp_path / "summary.json"
    assert run.plot("digits.png") == tmp_path / "plots" / "digits.png"
    with pytest.raises(ValueError, match="unknown plot 'x.png'"):
        run.plot("x.png")


def test_config_is_written_and_a_second_driver_is_refused(tmp_path):
    cfg = load_config("tiny").to_dict()
    with open_run_dir(tmp_path / "out", cfg) as run:
        assert yaml.safe_load(run.config.read_text()) == cfg
        with pytest.raises(RunDirError, match="in use by another snnjob run"):
            open_run_dir(tmp_path / "out", cfg)
    open_run_dir(tmp_path / "out", cfg).release()  # free again once released


def test_a_different_config_is_refused_unless_overwrite(tmp_path):
    old = load_config("tiny").to_dict()
    new = load_config("tiny", ["eval.seeds=[1]", "resources.workers=3"]).to_dict()
    open_run_dir(tmp_path, old).release()
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x.parquet").write_bytes(b"data")
    with pytest.raises(RunDirError, match=r"eval\.seeds: \[0\] -> \[1\]\nUse another --out"):
        open_run_dir(tmp_path, new)
    assert (tmp_path / "results" / "x.parquet").exists()  # nothing lost by the refusal
    open_run_dir(tmp_path, new, overwrite=True).release()
    assert not (tmp_path / "results").exists()
    assert yaml.safe_load((tmp_path / "config.yaml").read_text()) == new


def test_settings_that_cannot_change_results_are_ignored():
    old = load_config("tiny").to_dict()
    new = load_config("tiny", ["resources.workers=3", "data.download=false"]).to_dict()
    assert config_differences(old, new) == []
    assert config_differences(old, load_config("tiny", ["model.synapse=0.05"]).to_dict()) == [
        "model.synapse: 0.1 -> 0.05"
    ]


def test_a_run_from_before_a_key_existed_compares_as_it_ran():
    new = load_config("tiny", ["eval.xla=true"]).to_dict()
    old = {**new, "eval": {k: v for k, v in new["eval"].items() if k != "xla"}}  # pre-XLA run
    assert config_differences(old, new) == ["eval.xla: False -> True"]
    assert config_differences(old, load_config("tiny", ["eval.xla=false"]).to_dict()) == []
