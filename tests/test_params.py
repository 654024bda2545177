"""Parameter files: round trip, hash checks, fit checks (no pickle)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snnjob.config import ModelConfig
from snnjob.errors import ParamsError
from snnjob.params import check_compatible, load_params, params_sha256, save_params


def _params(cfg: ModelConfig, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = cfg.net.weight_shapes()
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


def test_round_trip_with_sidecar(tmp_path):
    cfg = ModelConfig()
    params = _params(cfg)
    side = save_params(tmp_path / "p.npz", params, {"train_seed": 3, "metrics": {"loss": 0.1}})
    loaded, meta = load_params(tmp_path / "p.npz", expected=cfg.net.weight_shapes())
    assert loaded.keys() == params.keys()
    for k in params:
        np.testing.assert_array_equal(loaded[k], params[k])
    assert meta["sha256"] == side["sha256"] == params_sha256(params)
    assert meta["train_seed"] == 3
    assert meta["shapes"]["dense/kernel"] == [3200, 10]
    assert {"nengo", "nengo-dl", "tensorflow", "numpy"} <= set(meta["versions"])
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_hash_depends_on_values_names_and_dtype():
    params = _params(ModelConfig())
    h = params_sha256(params)
    changed = dict(params, **{"dense/bias": params["dense/bias"] + 1e-7})
    assert params_sha256(changed) != h
    assert params_sha256({k: v.astype(np.float64) for k, v in params.items()}) != h
    assert params_sha256(dict(reversed(list(params.items())))) == h


def test_mismatch_lists_every_bad_layer():
    cfg = ModelConfig()
    params = _params(cfg)
    del params["conv1/bias"]
    params["conv2/kernel"] = np.zeros((5, 5, 64, 128), np.float32)
    params["extra/kernel"] = np.zeros(3, np.float32)
    with pytest.raises(ParamsError) as err:
        check_compatible(params, cfg.net.weight_shapes(), source="x.npz")
    msg = str(err.value)
    assert "conv1/bias: missing" in msg
    assert "conv2/kernel: file has shape (5, 5, 64, 128), network expects (3, 3, 64, 128)" in msg
    assert "extra/kernel: not in the network" in msg


def test_tampered_file_is_rejected(tmp_path):
    params = _params(ModelConfig())
    save_params(tmp_path / "p.npz", params, {})
    other = dict(params, **{"dense/bias": np.ones(10, np.float32)})
    np.savez(tmp_path / "p.npz", **other)
    with pytest.raises(ParamsError, match="does not match its sidecar"):
        load_params(tmp_path / "p.npz")


def test_pickled_arrays_are_refused(tmp_path):
    params = _params(ModelConfig())
    save_params(tmp_path / "p.npz", params, {})
    evil = dict(params, **{"dense/bias": np.array([{"a": 1}], dtype=object)})
    np.savez(tmp_path / "p.npz", **evil)
    with pytest.raises(ParamsError, match="plain .npz"):
        load_params(tmp_path / "p.npz")


def test_missing_files_are_clear(tmp_path):
    with pytest.raises(ParamsError, match="does not exist"):
        load_params(tmp_path / "nope.npz")
    params = _params(ModelConfig())
    save_params(tmp_path / "p.npz", params, {})
    # the sidecar is plain JSON (no pickle) naming the arrays' hash
    assert json.loads((tmp_path / "p.json").read_text())["sha256"] == params_sha256(params)
    (tmp_path / "p.json").unlink()
    with pytest.raises(ParamsError, match="no sidecar"):
        load_params(tmp_path / "p.npz")
    (tmp_path / "p.json").write_text("{not json")
    with pytest.raises(ParamsError, match="not valid JSON"):
        load_params(tmp_path / "p.npz")


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (np.nan, "dense/bias: 1 NaN and 0 infinite of 10 values"),
        (np.inf, "dense/bias: 0 NaN and 1 infinite of 10 values"),
        (-np.inf, "dense/bias: 0 NaN and 1 infinite of 10 values"),
    ],
    ids=["nan", "inf", "minus-inf"],
)
def test_non_finite_weights_are_refused_naming_the_layer(tmp_path, bad, fragment):
    params = _params(ModelConfig())
    params["dense/bias"] = params["dense/bias"].copy()
    params["dense/bias"][3] = bad
    save_params(tmp_path / "p.npz", params, {})  # the sidecar matches: only the values are bad
    with pytest.raises(ParamsError, match="unusable parameters") as err:
        load_params(tmp_path / "p.npz")
    assert fragment in str(err.value)
    assert "retrain" in str(err.value)


def test_non_float_weights_are_refused(tmp_path):
    params = _params(ModelConfig())
    params["conv1/kernel"] = params["conv1/kernel"].astype(np.int64)
    save_params(tmp_path / "p.npz", params, {})
    with pytest.raises(ParamsError, match="conv1/kernel: dtype int64, expected floating point"):
        load_params(tmp_path / "p.npz")


def test_a_single_array_npy_is_not_a_parameter_file(tmp_path):
    save_params(tmp_path / "p.npz", _params(ModelConfig()), {})
    with open(tmp_path / "p.npz", "wb") as fh:
        np.save(fh, np.zeros(3, np.float32))
    with pytest.raises(ParamsError, match=r"is not a \.npz file \(not a zip archive"):
        load_params(tmp_path / "p.npz")
