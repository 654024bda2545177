"""snnjob.rundir: paths, the lock, the config-difference check, --overwrite."""

from __future__ import annotations

import pytest
import yaml

from snnjob.config import load_config
from snnjob.errors import RunDirError
from snnjob.rundir import (
    TRAINED,
    RunDir,
    check_run_dir,
    config_differences,
    has_outputs,
    open_run_dir,
    params_identity,
    recorded_params,
)


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


def _finished(path, cfg, params="trained"):
    """A folder as a finished run leaves it (config, identity, one result file)."""
    open_run_dir(path, cfg, params=params).release()
    (path / "results").mkdir()
    (path / "results" / "x.parquet").write_bytes(b"data")


def test_other_parameters_are_a_different_run(tmp_path):
    cfg = load_config("tiny").to_dict()
    _finished(tmp_path, cfg, params=params_identity("a" * 64))
    for other in (params_identity("b" * 64), TRAINED):
        with pytest.raises(RunDirError, match=r"parameters: --params with sha256:aaaa") as err:
            check_run_dir(tmp_path, cfg, params=other)
        assert f"-> {'--params with ' + other if other != TRAINED else 'trained'}" in str(err.value)
        with pytest.raises(RunDirError, match="parameters:"):
            open_run_dir(tmp_path, cfg, params=other)
    open_run_dir(tmp_path, cfg, params=params_identity("a" * 64)).release()  # same: resume
    assert (tmp_path / "results" / "x.parquet").exists()
    open_run_dir(tmp_path, cfg, params=TRAINED, overwrite=True).release()
    assert yaml.safe_load((tmp_path / "identity.yaml").read_text()) == {"params": "trained"}


def test_a_folder_from_before_identity_yaml_is_judged_by_what_it_holds(tmp_path):
    cfg = load_config("tiny").to_dict()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "summary.json").write_text('{"params": [{"sha256": "%s"}]}' % ("c" * 64))
    assert recorded_params(tmp_path) == params_identity("c" * 64)
    with pytest.raises(RunDirError, match="parameters: --params with sha256:cccc"):
        check_run_dir(tmp_path, cfg, params=TRAINED)
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "seed-0.npz").write_bytes(b"x")  # only training writes OUT/params
    assert recorded_params(tmp_path) == TRAINED
    check_run_dir(tmp_path, cfg, params=TRAINED)


def test_a_run_that_failed_before_any_output_does_not_lock_the_folder(tmp_path):
    old = load_config("tiny").to_dict()
    new = load_config("tiny", ["data.n_train=500"]).to_dict()
    open_run_dir(tmp_path, old).release()  # e.g. then failed on a wrong data folder
    (tmp_path / "results").mkdir()  # an empty folder protects nothing either
    assert not has_outputs(tmp_path)
    check_run_dir(tmp_path, new, params=params_identity("d" * 64))
    open_run_dir(tmp_path, new).release()
    assert yaml.safe_load((tmp_path / "config.yaml").read_text()) == new


def test_check_run_dir_changes_nothing(tmp_path):
    cfg = load_config("tiny").to_dict()
    assert check_run_dir(tmp_path / "a" / "b", cfg) == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()
    (tmp_path / "c").mkdir()
    check_run_dir(tmp_path / "c", cfg)
    assert list((tmp_path / "c").iterdir()) == []


def test_an_unwritable_folder_is_a_clear_error(read_only_dir):
    cfg = load_config("tiny").to_dict()
    for out in (read_only_dir, read_only_dir / "new"):
        with pytest.raises(RunDirError, match="cannot write output folder .*choose a folder"):
            check_run_dir(out, cfg)
        with pytest.raises(RunDirError, match="(cannot write|cannot create) output folder"):
            open_run_dir(out, cfg)


def test_a_file_in_the_way_is_a_clear_error(tmp_path):
    cfg = load_config("tiny").to_dict()
    (tmp_path / "f").write_text("x")
    for check in (check_run_dir, open_run_dir):
        with pytest.raises(RunDirError, match="is a file, not a folder; choose another --out"):
            check(tmp_path / "f", cfg)
        with pytest.raises(RunDirError, match=r"(is a file, not a folder|Not a directory)\)?; "):
            check(tmp_path / "f" / "sub", cfg)
