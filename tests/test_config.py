"""Config loading and validation (no TensorFlow needed)."""

from __future__ import annotations

import pytest

from snnjob.config import JobConfig, available_configs, from_dict, load_config, parse_override
from snnjob.errors import ConfigError


def test_shipped_configs_load_and_validate():
    names = available_configs()
    assert {"seed", "quick", "tiny", "accurate"} <= set(names)
    for name in names:
        assert isinstance(load_config(name), JobConfig)


def test_accurate_config_keeps_the_notebooks_network_and_training_budget():
    acc, seed = load_config("accurate"), load_config("seed")
    assert acc.model.preset == seed.model.preset == "seed"  # average pooling, same layers
    assert acc.train.epochs == seed.train.epochs == 10
    assert acc.model.max_rates * acc.model.amplitude == pytest.approx(1.0, rel=1e-6)
    assert acc.train.lr_schedule == "cosine" and acc.model.layer_synapse > 0


def test_seed_config_is_the_classic_experiment():
    cfg = load_config("seed")
    assert cfg.model.preset == "seed"
    assert (cfg.model.amplitude, cfg.model.max_rates, cfg.model.intercepts) == (0.01, 100.0, 0.0)
    assert cfg.model.synapse == 0.1
    assert cfg.train.epochs == 10
    assert cfg.train.minibatch_size == 200
    assert cfg.train.learning_rate == pytest.approx(1e-3)
    assert cfg.data.n_train is None and cfg.eval.n_images is None
    assert cfg.eval.n_steps == (30,)


def test_overrides_are_yaml():
    cfg = load_config("tiny", ["eval.n_steps=[10, 30]", "eval.seeds=[0,1,2]", "data.n_train=null"])
    assert cfg.eval.n_steps == (10, 30)
    assert cfg.eval.seeds == (0, 1, 2)
    assert cfg.data.n_train is None
    assert load_config("tiny", ["eval.n_steps=20"]).eval.n_steps == (20,)
    assert load_config("tiny", ["train.learning_rate=1e-4"]).train.learning_rate == 1e-4


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("eval.n_stepz=[10]", "did you mean 'eval.n_steps'"),
        ("evl.n_steps=[10]", "did you mean 'eval'"),
        ("model.preset=strdied", "choose one of seed, strided"),
        ("train.device=tpu", "choose one of auto, cpu, gpu"),
        ("eval.n_steps=[0]", "timesteps > 0, got 0"),
        ("eval.n_steps=[10, 10]", "duplicates"),
        ("train.seeds=[]", "at least one seed"),
        ("train.epochs=1.5", "must be an integer"),
        ("eval.n_images=20000", "eval.n_images=20000 but mnist has 10000 test images"),
        ("model.max_rates=600", "not reachable"),
        ("model.layer_synapse=-0.005", "model.layer_synapse"),
        ("data.download=maybe", "true or false"),
    ],
)
def test_bad_values_name_the_key(override, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        load_config("tiny", [override])


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("eval.n_steps")
    with pytest.raises(ConfigError, match="section.key"):
        parse_override("n_steps=3")


def test_unknown_config_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="quick"):
        load_config("quik")


def test_config_file_and_round_trip(tmp_path):
    cfg = load_config("tiny", ["eval.seeds=[3, 4]"])
    path = tmp_path / "job.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(str(path)) == cfg
    assert from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "missing.yaml"))
    (tmp_path / "bad.yaml").write_text("model: [1, 2]\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(str(tmp_path / "bad.yaml"))


def test_shards_are_whole_minibatches():
    cfg = load_config("tiny", ["eval.shard_size=250", "eval.minibatch_size=100"])
    assert cfg.eval.effective_shard_size == 300
