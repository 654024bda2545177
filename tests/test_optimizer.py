"""The training optimiser: RMSprop with decoupled weight decay on kernels only."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from snnjob.config import load_config
from snnjob.train import make_optimizer


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
