"""The training optimiser: RMSprop with decoupled weight decay on kernels only."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from snnjob.config import load_config
from snnjob.errors import ConfigError
from snnjob.train import latest_checkpoint, make_optimizer, prune_checkpoints


def _one_step(weight_decay: float) -> dict[str, np.ndarray]:
    """One zero-gradient step (RMSprop then moves nothing itself) on variables named as
    NengoDL names the network's Keras weights."""
    cfg = load_config("tiny", [f"train.weight_decay={weight_decay}"]).train
    names = ("TensorGraph/conv0/kernel", "TensorGraph/conv0/bias", "TensorGraph/dense/kernel")
    variables = [tf.Variable(np.ones(3, np.float32), name=n) for n in names]
    opt = make_optimizer(cfg)
    opt.apply_gradients([(tf.zeros(3), v) for v in variables])
    return {n: v.numpy() for n, v in zip(names, variables)}


def test_weight_decay_multiplies_kernels_by_one_minus_lr_times_decay_and_spares_biases():
    after = _one_step(20.0)
    shrink = 1 - 1e-3 * 20.0
    np.testing.assert_allclose(after["TensorGraph/conv0/kernel"], shrink, rtol=1e-6)
    np.testing.assert_allclose(after["TensorGraph/dense/kernel"], shrink, rtol=1e-6)
    np.testing.assert_array_equal(after["TensorGraph/conv0/bias"], 1.0)


def test_no_weight_decay_by_default():
    assert load_config("seed").train.weight_decay == 0
    for value in _one_step(0.0).values():
        np.testing.assert_array_equal(value, 1.0)


def test_negative_weight_decay_is_refused():
    from snnjob.errors import ConfigError

    with pytest.raises(ConfigError, match="train.weight_decay"):
        load_config("tiny", ["train.weight_decay=-1"])


def test_prune_checkpoints_keeps_the_newest_by_epoch(tmp_path):
    for epoch in (1, 2, 10, 3):
        (tmp_path / f"epoch-{epoch:04d}.npz").write_bytes(b"x")
    (tmp_path / ".epoch-0011.npz.tmp").write_bytes(b"partial")  # not a checkpoint: kept
    deleted = prune_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in deleted) == ["epoch-0001.npz", "epoch-0002.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".epoch-0011.npz.tmp", "epoch-0003.npz", "epoch-0010.npz"
    ]  # fmt: skip
    assert latest_checkpoint(tmp_path).name == "epoch-0010.npz"
    assert prune_checkpoints(tmp_path, keep=5) == []
    with pytest.raises(ValueError, match="keep must be >= 1"):
        prune_checkpoints(tmp_path, keep=0)


def test_keep_checkpoints_is_validated():
    with pytest.raises(ConfigError, match="train.keep_checkpoints"):
        load_config("tiny", ["train.keep_checkpoints=0"])
