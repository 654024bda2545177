"""Training's typed records: a training's metrics (``TrainResult.metrics``), its per-epoch
history in checkpoints (this version's and older ones), and the metrics a parameter file's
sidecar carries back. Tiny arrays, no real training."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import tensorflow as tf

import snnjob.train as train_mod
from snnjob.config import load_config
from snnjob.errors import ParamsError
from snnjob.messages import TrainOutcome, TrainProgress
from snnjob.params import save_params
from snnjob.results.convert import from_json, to_json
from snnjob.results.runinfo import EpochStats, TrainingMetrics
from snnjob.rundir import RunDir
from snnjob.train import TrainResult
from snnjob.training import metrics_of, param_sets

HISTORY = [
    EpochStats(epoch=1, loss=0.75, accuracy=0.5, images=200, learning_rate=1e-3, wall_time_s=2.0),
    EpochStats(epoch=2, loss=0.25, accuracy=0.875, images=200, learning_rate=5e-4,
               wall_time_s=1.5),
]  # fmt: skip


def test_a_trainings_metrics_are_typed_and_round_trip_through_json():
    res = TrainResult(params={}, seed=3, history=list(HISTORY), wall_time_s=4.0,
                      resumed_from_epoch=1, device="/cpu:0")  # fmt: skip
    m = res.metrics()
    assert isinstance(m, TrainingMetrics)
    assert (m.epochs, m.final_loss, m.final_rate_accuracy) == (2, 0.25, 0.875)
    assert m.history == tuple(HISTORY)
    assert (m.train_wall_time_s, m.resumed_from_epoch, m.device) == (4.0, 1, "/cpu:0")
    data = json.loads(json.dumps(to_json(m)))  # what a sidecar holds
    assert data["history"][1]["learning_rate"] == 5e-4
    assert from_json(TrainingMetrics, data, "metrics") == m
    assert TrainOutcome({}, m).metrics is m


def test_no_epoch_has_no_final_loss():
    m = TrainResult(params={}, seed=0).metrics()
    assert (m.epochs, m.final_loss, m.final_rate_accuracy, m.history) == (0, None, None, ())


class _Optimizer:
    def __init__(self, value: float):
        self.variables = [tf.Variable(np.full(3, value, np.float32))]


@pytest.fixture
def fake_network(monkeypatch):
    """Checkpoint the layers ``{"dense/bias": [1, 2]}``; restoring fills ``restored``."""
    restored: dict[str, np.ndarray] = {}
    layers = {"dense/bias": np.array([1.0, 2.0], np.float32)}
    monkeypatch.setattr(train_mod, "layer_params", lambda handles: dict(layers))
    monkeypatch.setattr(train_mod, "set_layer_params", lambda handles, p: restored.update(p))
    return restored


def test_a_checkpoint_keeps_every_field_of_the_history(tmp_path, fake_network):
    path = train_mod._save_checkpoint(tmp_path, 2, None, _Optimizer(0.5), HISTORY)
    assert path.name == "epoch-0002.npz"
    with np.load(path, allow_pickle=False) as data:  # both records, for old and new readers
        np.testing.assert_array_equal(data["history"][:, :3], [[1, 0.75, 0.5], [2, 0.25, 0.875]])
        assert json.loads(str(data["history_json"]))[0]["learning_rate"] == 1e-3
    opt = _Optimizer(0.0)
    epoch, history = train_mod._restore(path, None, opt)
    assert epoch == 2 and history == HISTORY
    assert all(isinstance(h, EpochStats) for h in history)
    np.testing.assert_array_equal(fake_network["dense/bias"], [1.0, 2.0])
    np.testing.assert_array_equal(opt.variables[0].numpy(), [0.5] * 3)


def test_an_older_checkpoint_without_history_json_still_resumes(tmp_path, fake_network):
    path = tmp_path / "epoch-0001.npz"
    np.savez(path, **{"param/dense/bias": np.zeros(2, np.float32),
                      "optimizer/0000": np.ones(3, np.float32),
                      "history": np.array([[1, 0.75, 0.5, 200, 2.0]])})  # fmt: skip
    epoch, history = train_mod._restore(path, None, _Optimizer(0.0))
    assert epoch == 1
    assert history == [EpochStats(epoch=1, loss=0.75, accuracy=0.5, images=200, wall_time_s=2.0)]
    assert history[0].learning_rate is None  # that version did not keep it
    assert isinstance(history[0].epoch, int) and isinstance(history[0].loss, float)


def test_a_checkpoint_of_the_dict_history_version_reads_as_typed(tmp_path, fake_network):
    """Checkpoints written while the history was a list of dicts: the same JSON."""
    old = [{"epoch": 1, "loss": 0.75, "accuracy": 0.5, "images": 200, "learning_rate": 1e-3,
            "wall_time_s": 2.0}]  # fmt: skip
    path = tmp_path / "epoch-0001.npz"
    np.savez(path, **{"param/dense/bias": np.zeros(2, np.float32),
                      "optimizer/0000": np.ones(3, np.float32),
                      "history": np.array([[1, 0.75, 0.5, 200, 2.0]]),
                      "history_json": np.array(json.dumps(old))})  # fmt: skip
    _, history = train_mod._restore(path, None, _Optimizer(0.0))
    assert history == [HISTORY[0]]


def test_a_damaged_history_is_refused_before_anything_is_restored(tmp_path, fake_network):
    path = tmp_path / "epoch-0001.npz"
    np.savez(path, **{"param/dense/bias": np.zeros(2, np.float32),
                      "optimizer/0000": np.ones(3, np.float32),
                      "history": np.zeros((1, 5)),
                      "history_json": np.array('[{"epoch": "one"}]')})  # fmt: skip
    with pytest.raises(ParamsError, match=r"epoch-0001.npz is unreadable .*history"):
        train_mod._restore(path, None, _Optimizer(0.0))
    assert fake_network == {}


def test_progress_is_a_frozen_record():
    p = TrainProgress(epoch=1, epochs=2, batch=3, batches=4)
    assert p.loss is None
    with pytest.raises(AttributeError):
        p.loss = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        (None, None),
        ({}, None),
        ({"loss": 0.1, "val_acc": 0.9}, None),  # another tool's metrics
        ({"epochs": "ten"}, None),  # ours in name, not in type
        ([1, 2], None),
        ({"epochs": 2, "final_loss": 0.25, "device": "gpu"},
         TrainingMetrics(epochs=2, final_loss=0.25, device="gpu")),
    ],
)  # fmt: skip
def test_sidecar_metrics_are_ours_or_none(metrics, expected, caplog):
    meta = {} if metrics is None else {"metrics": metrics}
    with caplog.at_level(logging.WARNING, logger="snnjob.training"):
        assert metrics_of(meta, source="p.npz") == expected


def _write_params(path, cfg, metrics) -> None:
    rng = np.random.default_rng(0)
    shapes = cfg.model.net.weight_shapes()
    params = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    save_params(path, params, {"train_seed": 0, "metrics": metrics})


def test_a_params_file_from_elsewhere_has_no_metrics(tmp_path):
    cfg = load_config("tiny")
    path = tmp_path / "other.npz"
    _write_params(path, cfg, {"loss": [0.5, 0.1], "epochs": "many"})
    (pset,) = param_sets(cfg, None, np.zeros((0, 1)), np.zeros(0), params_file=path)
    assert pset.metrics is None and pset.train_seed == 0


def test_a_finished_training_is_reused_with_its_typed_metrics(tmp_path):
    cfg = load_config("tiny")
    run = RunDir(tmp_path)
    metrics = TrainResult(params={}, seed=0, history=list(HISTORY), wall_time_s=4.0).metrics()
    _write_params(run.params_file(0), cfg, to_json(metrics))
    (pset,) = param_sets(cfg, run, np.zeros((0, 1)), np.zeros(0))  # nothing to train: no Ray
    assert pset.metrics == metrics
    assert pset.metrics.history[1].learning_rate == 5e-4
