"""Training and spiking evaluation on real MNIST, in one process (no Ray)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TEST_CONFIGS

from snnjob.config import load_config
from snnjob.evaluate import SpikingEvaluator, evaluate, unroll_for
from snnjob.messages import TrainProgress
from snnjob.mnist import load_mnist
from snnjob.network import build_network
from snnjob.results.convert import to_json
from snnjob.train import epoch_learning_rate, latest_checkpoint, train

pytestmark = pytest.mark.slow  # trains networks


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return load_mnist(mnist_dir, download=False)


@pytest.fixture(scope="module")
def cfg():
    return load_config(TEST_CONFIGS / "short_training.yaml")


@pytest.fixture(scope="module")
def trained(cfg, mnist):
    n = cfg.data.n_train
    return train(cfg.model, cfg.train, mnist.train_images[:n], mnist.train_labels[:n], seed=0,
                 verbose=0)  # fmt: skip


def _test_set(cfg, mnist):
    n = cfg.eval.n_images
    return mnist.test_images[:n], mnist.test_labels[:n]


def test_seed_network_matches_the_classic_architecture():
    cfg = load_config("seed")
    handles = build_network(cfg.model, mode="train")
    assert list(handles.layers) == ["conv0", "conv1", "conv2", "dense"]


def test_short_training_learns_real_digits(cfg, mnist, trained):
    """Real learning beats chance (90% error) by far; the bound is loose enough to be stable."""
    # the TensorFlow-free model spec matches the weights of the built network
    assert {k: v.shape for k, v in trained.params.items()} == cfg.model.net.weight_shapes()
    assert trained.history[-1].accuracy > 0.85  # rate-mode training accuracy
    images, labels = _test_set(cfg, mnist)
    res = evaluate(cfg.model, trained.params, images, labels, n_steps=30, seed=0,
                   minibatch_size=cfg.eval.minibatch_size)  # fmt: skip
    assert res.n_images == 500
    assert res.n_errors / res.n_images < 0.15, f"spiking error {res.n_errors / res.n_images:.3f}"


def test_error_before_training_is_near_chance(cfg, mnist):
    untrained = train(cfg.model, cfg.train.__class__(epochs=0), mnist.train_images[:200],
                      mnist.train_labels[:200], seed=0, verbose=0)  # fmt: skip
    assert untrained.history == []
    images, labels = _test_set(cfg, mnist)
    res = evaluate(cfg.model, untrained.params, images[:200], labels[:200], n_steps=30, seed=0,
                   minibatch_size=100)  # fmt: skip
    assert res.n_errors / res.n_images > 0.6


def test_same_seed_gives_identical_predictions(cfg, mnist, trained):
    images, labels = _test_set(cfg, mnist)
    images, labels = images[:200], labels[:200]
    with SpikingEvaluator(cfg.model, trained.params, n_steps=20, seed=1, minibatch_size=100) as ev:
        a = ev.run(images, labels)
        b = ev.run(images, labels)
    c = evaluate(cfg.model, trained.params, images, labels, n_steps=20, seed=1,
                 minibatch_size=100)  # fmt: skip
    np.testing.assert_array_equal(a.outputs, b.outputs)
    np.testing.assert_array_equal(a.outputs, c.outputs)
    np.testing.assert_array_equal(a.predictions, c.predictions)
    d = evaluate(cfg.model, trained.params, images, labels, n_steps=20, seed=2,
                 minibatch_size=100)  # fmt: skip
    assert not np.array_equal(a.outputs, d.outputs)  # the seed sets the neurons' initial state


def test_streaming_is_invariant_to_batching_and_padding(cfg, mnist, trained):
    images, labels = _test_set(cfg, mnist)
    images, labels = images[:300], labels[:300]
    whole = evaluate(cfg.model, trained.params, images, labels, n_steps=10, seed=0,
                     minibatch_size=100)  # fmt: skip
    with SpikingEvaluator(cfg.model, trained.params, n_steps=10, seed=0, minibatch_size=100) as ev:
        part1 = ev.run(images[:130], labels[:130])  # 100 + 30 padded
        part2 = ev.run(images[130:], labels[130:], keep_traces=3)
    np.testing.assert_array_equal(whole.outputs, np.concatenate([part1.outputs, part2.outputs]))
    assert part2.traces.shape == (3, 10, 10)
    np.testing.assert_array_equal(part2.traces[:, -1], part2.outputs[:3])


def test_one_long_run_read_at_every_n_steps_equals_separate_runs(cfg, mnist, trained):
    """The sweep simulates max(n_steps) once: causal network, same initial state per image."""
    images, labels = _test_set(cfg, mnist)
    images, labels = images[:400], labels[:400]
    steps = (5, 10, 20, 30)
    long = evaluate(cfg.model, trained.params, images, labels, n_steps=30, seed=1,
                    minibatch_size=100, unroll=10, readouts=steps)  # fmt: skip
    bit_identical = []
    for n in steps:
        # a separate run also unrolls differently (unroll_for(5, 10) = 5, (20, 10) = 10)
        alone = evaluate(cfg.model, trained.params, images, labels, n_steps=n, seed=1,
                         minibatch_size=100, unroll=10)  # fmt: skip
        np.testing.assert_array_equal(long.predictions_at(n), alone.predictions)
        np.testing.assert_allclose(long.readouts[n], alone.outputs, rtol=0, atol=1e-5)
        assert long.step_errors[n - 1] == alone.n_errors
        bit_identical.append(np.array_equal(long.readouts[n], alone.outputs))
    assert all(bit_identical)  # on this stack the outputs are equal bit for bit
    # the per-step errors are the errors of reading the output at each step
    assert long.step_errors.shape == (30,)
    assert long.n_errors == long.step_errors[-1] == int(np.sum(long.predictions != labels))
    with pytest.raises(ValueError, match=r"readout steps must be within 1\.\.30"):
        evaluate(cfg.model, trained.params, images[:10], labels[:10], n_steps=30, seed=1,
                 minibatch_size=100, readouts=(31,))  # fmt: skip


def test_rate_mode_is_what_long_spiking_runs_converge_to(cfg, mnist, trained):
    """LIFRate for one step gives the rate-mode error; long spiking runs approach it."""
    images, labels = _test_set(cfg, mnist)
    rate = evaluate(cfg.model, trained.params, images, labels, n_steps=1, seed=0,
                    minibatch_size=cfg.eval.minibatch_size, rate=True)  # fmt: skip
    again = evaluate(cfg.model, trained.params, images, labels, n_steps=1, seed=3,
                     minibatch_size=cfg.eval.minibatch_size, rate=True)  # fmt: skip
    np.testing.assert_array_equal(rate.outputs, again.outputs)  # no random state in rate mode
    assert rate.n_errors / rate.n_images < 0.15
    k = 100
    spiking = evaluate(cfg.model, trained.params, images[:k], labels[:k], n_steps=200, seed=0,
                       minibatch_size=cfg.eval.minibatch_size)  # fmt: skip
    agree = np.mean(spiking.predictions == rate.predictions[:k])
    assert agree >= 0.95, f"only {agree:.0%} of 200-step spiking predictions match rate mode"
    with pytest.raises(ValueError, match="one step"):
        evaluate(cfg.model, trained.params, images[:1], labels[:1], n_steps=5, seed=0, rate=True)


def test_layer_synapse_keeps_the_rate_network(cfg, trained, mnist):
    """The in-neuron filter has DC gain 1: long spiking runs still agree with rate mode."""
    import dataclasses

    model = dataclasses.replace(cfg.model, layer_synapse=0.005)
    images, labels = mnist.test_images[:100], mnist.test_labels[:100]
    rate = evaluate(cfg.model, trained.params, images, labels, n_steps=1, seed=0,
                    minibatch_size=cfg.eval.minibatch_size, rate=True)  # fmt: skip
    spiking = evaluate(model, trained.params, images, labels, n_steps=200, seed=0,
                       minibatch_size=cfg.eval.minibatch_size)  # fmt: skip
    agree = np.mean(spiking.predictions == rate.predictions)
    assert agree >= 0.95, f"only {agree:.0%} of filtered spiking predictions match rate mode"


def test_rate_network_uses_lifrate_neurons():
    import nengo

    model = load_config("tiny").model
    kinds = {
        mode: {type(e.neuron_type) for e in build_network(model, mode=mode).net.all_ensembles}
        for mode in ("train", "eval", "rate")
    }
    assert kinds == {"train": {nengo.LIF}, "eval": {nengo.LIF}, "rate": {nengo.LIFRate}}
    with pytest.raises(ValueError, match="mode must be"):
        build_network(model, mode="spiky")


@pytest.mark.parametrize("preset", ["seed", "strided"])
def test_layer_synapse_filters_spikes_only_in_spiking_evaluation(preset):
    import dataclasses

    import nengo

    from snnjob.neurons import FilteredLIF

    base = dataclasses.replace(load_config("tiny").model, preset=preset)
    filtered = dataclasses.replace(base, layer_synapse=0.005)

    def layers(model, mode):
        net = build_network(model, mode=mode).net
        synapses = {c.synapse for c in net.all_connections}
        neurons = [(type(e.neuron_type), getattr(e.neuron_type, "tau_out", None))
                   for e in net.all_ensembles]  # fmt: skip
        return synapses, neurons

    # the filter lives in the neurons of each of the 3 LIF layers, never on a connection
    assert layers(filtered, "eval") == ({None}, [(FilteredLIF, 0.005)] * 3)
    assert layers(filtered, "train") == ({None}, [(nengo.LIF, None)] * 3)  # one step of rates
    assert layers(filtered, "rate") == ({None}, [(nengo.LIFRate, None)] * 3)
    assert layers(base, "eval") == ({None}, [(nengo.LIF, None)] * 3)  # the notebook's network


def test_unroll_is_a_divisor():
    assert unroll_for(30, 10) == 10
    assert unroll_for(25, 10) == 5
    assert unroll_for(7, 10) == 7
    assert unroll_for(13, 10) == 1


def test_checkpoint_resume_matches_uninterrupted_training(tmp_path, mnist):
    cfg = load_config("tiny", ["train.epochs=2", "train.keep_checkpoints=1"])
    x, y = mnist.train_images[:1000], mnist.train_labels[:1000]
    full = train(cfg.model, cfg.train, x, y, seed=5, checkpoint_dir=tmp_path / "a", verbose=0)
    assert latest_checkpoint(tmp_path / "a").name == "epoch-0002.npz"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["epoch-0002.npz"]  # pruned
    one = load_config("tiny", ["train.epochs=1"]).train
    train(cfg.model, one, x, y, seed=5, checkpoint_dir=tmp_path / "b", verbose=0)
    resumed = train(cfg.model, cfg.train, x, y, seed=5, checkpoint_dir=tmp_path / "b", verbose=0)
    assert resumed.resumed_from_epoch == 1
    assert [h.epoch for h in resumed.history] == [1, 2]
    for k in full.params:
        np.testing.assert_allclose(resumed.params[k], full.params[k], rtol=1e-4, atol=1e-6)


def test_a_resumed_trainings_history_keeps_every_field(tmp_path, mnist):
    """A training resumed from a checkpoint reports the same per-epoch history as an
    uninterrupted one, every field but the wall time; the checkpoint used to keep five of
    them and drop ``learning_rate`` (found by scripts/chaos.py: the resumed run's
    summary.json lacked it)."""
    cfg = load_config("tiny", ["train.epochs=2", "train.lr_schedule=cosine"])
    x, y = mnist.train_images[:500], mnist.train_labels[:500]
    full = train(cfg.model, cfg.train, x, y, seed=3, verbose=0)
    one = load_config("tiny", ["train.epochs=1", "train.lr_schedule=cosine"]).train
    train(cfg.model, one, x, y, seed=3, checkpoint_dir=tmp_path, verbose=0)
    resumed = train(cfg.model, cfg.train, x, y, seed=3, checkpoint_dir=tmp_path, verbose=0)
    assert resumed.resumed_from_epoch == 1

    def fields(history):
        return [{k: v for k, v in to_json(h).items() if k != "wall_time_s"} for h in history]

    assert [sorted(h) for h in fields(resumed.history)] == [sorted(h) for h in fields(full.history)]
    assert [h.learning_rate for h in resumed.history] == pytest.approx([1e-3, 5e-4])
    for mine, uninterrupted in zip(fields(resumed.history), fields(full.history)):
        assert mine == pytest.approx(uninterrupted)


def test_cosine_schedule_sets_each_epochs_learning_rate(mnist):
    cfg = load_config("tiny", ["train.epochs=3", "train.lr_schedule=cosine"])
    x, y = mnist.train_images[:500], mnist.train_labels[:500]
    res = train(cfg.model, cfg.train, x, y, seed=1, verbose=0)
    # read back from the optimiser after each epoch: what its steps used
    used = [h.learning_rate for h in res.history]
    np.testing.assert_allclose(used, [1e-3, 7.5e-4, 2.5e-4], rtol=1e-6)
    assert [epoch_learning_rate(cfg.train, e) for e in range(3)] == pytest.approx(used)
    const = load_config("tiny", ["train.epochs=3"]).train
    assert {epoch_learning_rate(const, e) for e in range(3)} == {1e-3}


def test_progress_reports_every_minibatch_and_tensorboard_gets_each_epoch(tmp_path, mnist):
    import tensorflow as tf

    cfg = load_config("tiny", ["train.epochs=2"])
    x, y = mnist.train_images[:500], mnist.train_labels[:500]
    seen: list[TrainProgress] = []
    res = train(cfg.model, cfg.train, x, y, seed=2, verbose=0, progress=seen.append,
                tensorboard_dir=tmp_path / "tb")  # fmt: skip
    batches = 500 // cfg.train.minibatch_size
    assert len(seen) == 2 * batches
    assert [(s.epoch, s.batch) for s in seen] == [
        (e, b) for e in (1, 2) for b in range(1, batches + 1)
    ]
    assert all(s.epochs == 2 and s.batches == batches and s.loss > 0 for s in seen)
    scalars: dict[str, dict[int, float]] = {}
    for f in (tmp_path / "tb").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(f)):
            for v in event.summary.value:
                scalars.setdefault(v.tag, {})[event.step] = float(tf.make_ndarray(v.tensor))
    assert set(scalars) >= {"loss", "accuracy", "learning_rate", "images_per_s"}
    assert scalars["loss"] == pytest.approx({h.epoch: h.loss for h in res.history})


def test_weight_decay_shrinks_the_trained_kernels(mnist):
    cfg = load_config("tiny", ["train.epochs=1"])
    x, y = mnist.train_images[:500], mnist.train_labels[:500]
    plain = train(cfg.model, cfg.train, x, y, seed=3, verbose=0).params
    wd = load_config("tiny", ["train.epochs=1", "train.weight_decay=50"]).train
    decayed = train(cfg.model, wd, x, y, seed=3, verbose=0).params
    kernels = [k for k in plain if k.endswith("kernel")]
    assert len(kernels) == 4
    # 5 steps at lr 1e-3: each multiplies a kernel by (1 - 0.05), about 0.77 in all, on top
    # of the same gradient steps (RMSprop's steps are ~lr each: small beside the decay)
    for k in kernels:
        ratio = np.linalg.norm(decayed[k]) / np.linalg.norm(plain[k])
        assert 0.7 < ratio < 0.85, (k, ratio)


def _short(mnist, *overrides: str):
    cfg = load_config("tiny", ["train.epochs=1", *overrides])
    x, y = mnist.train_images[:600], mnist.train_labels[:600]
    return cfg, train(cfg.model, cfg.train, x, y, seed=4, verbose=0).params


def test_training_noise_changes_training_and_is_absent_at_evaluation(mnist):
    cfg0, plain = _short(mnist)
    cfg1, noisy = _short(mnist, "model.train_noise=0.3")
    assert any(not np.allclose(plain[k], noisy[k]) for k in plain)  # noise shaped training
    x, y = mnist.test_images[:100], mnist.test_labels[:100]
    a = evaluate(cfg0.model, noisy, x, y, n_steps=10, seed=0, minibatch_size=50)
    b = evaluate(cfg1.model, noisy, x, y, n_steps=10, seed=0, minibatch_size=50)
    np.testing.assert_array_equal(a.readouts[10], b.readouts[10])  # no noise when evaluating


def test_lif_smoothing_changes_training_only(mnist):
    """0 (the default) trains through NengoDL's plain LIFRate step (test_architecture checks
    the choice); a SoftLIF sigma changes training, and evaluation never sees it."""
    cfg0, plain = _short(mnist)
    cfg1, smooth = _short(mnist, "model.lif_smoothing=0.02")
    assert any(not np.allclose(plain[k], smooth[k], rtol=1e-3, atol=1e-5) for k in plain)
    x, y = mnist.test_images[:100], mnist.test_labels[:100]
    a = evaluate(cfg0.model, smooth, x, y, n_steps=10, seed=0, minibatch_size=50)
    b = evaluate(cfg1.model, smooth, x, y, n_steps=10, seed=0, minibatch_size=50)
    np.testing.assert_array_equal(a.readouts[10], b.readouts[10])
