"""The compiled engine against the NengoDL simulator it replaces (real NengoDL, real MNIST).

The parameters are random but active (every layer spikes, as a trained network does), so
that the tests need no training; the full-test-set contract on trained parameters is
``scripts/engine_compare.py`` (its output is in docs/performance.md). Besides the presets,
networks given as layer lists (``model.layers``): ``same`` padding, pools of other sizes
and several in a row, dense hidden layers, other image shapes and class counts.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from snnjob.architecture import AvgPool, Conv, Dense, NetSpec
from snnjob.config import ModelConfig, load_config
from snnjob.engines import ENGINES, unsupported
from snnjob.engines.check import EngineMismatchError, allowed_mismatches, compare, verify
from snnjob.engines.compiled import CompiledEvaluator, choose_core, select_core, spike_counts
from snnjob.engines.cpu_runner import CpuCore
from snnjob.engines.factory import evaluate_with, make_evaluator
from snnjob.engines.program import LayerGeometry, Program, build_program, probe_coefficients
from snnjob.errors import ConfigError
from snnjob.evaluate import SpikingEvaluator
from snnjob.mnist import load_mnist


def active_params(model: ModelConfig | None = None, seed: int = 1) -> dict[str, np.ndarray]:
    """Random weights at a scale where every layer spikes (Glorot-like, 2.5x)."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, shape in (model or ModelConfig()).net.weight_shapes().items():
        if len(shape) > 1:
            w = rng.standard_normal(shape) * 2.5 / np.sqrt(np.prod(shape[:-1]))
        else:
            w = rng.standard_normal(shape) * 0.1
        out[key] = w.astype(np.float32)
    return out


@pytest.fixture(scope="module")
def mnist():
    m = load_mnist(download=False)
    return m.test_images[:24], m.test_labels[:24]


def run_both(cfg: ModelConfig, params, images, labels, *, n_steps=15, seed=0):
    steps = tuple(range(1, n_steps + 1))
    with SpikingEvaluator(cfg, params, n_steps=n_steps, seed=seed, minibatch_size=12) as ref:
        b = ref.run(images, labels, readouts=steps)
    with CompiledEvaluator(cfg, params, n_steps=n_steps, seed=seed, minibatch_size=12) as ev:
        a = ev.run(images, labels, readouts=steps)
    return a, b


CASES = {
    "seed network": ModelConfig(),
    "strided, layer_synapse, 200 Hz": ModelConfig(
        preset="strided", layer_synapse=0.004, max_rates=200.0, amplitude=0.005
    ),
    "intercepts, tau_ref, readout synapse": ModelConfig(
        intercepts=-0.2, max_rates=150.0, tau_ref=0.003, tau_rc=0.03, synapse=0.05
    ),
    "no readout synapse, accurate's neurons": ModelConfig(
        synapse=0.0, max_rates=300.0, amplitude=1 / 300, layer_synapse=0.003
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_engine_reproduces_nengo_dl(name, mnist):
    cfg = CASES[name]
    a, b = run_both(cfg, active_params(cfg), *mnist)
    for t in range(1, a.n_steps + 1):
        diff = np.abs(a.readouts[t] - b.readouts[t]).max()
        scale = np.abs(b.readouts[t]).max()
        # same float32 arithmetic summed in another order: measured <= 2e-3 of the scale
        # here (a rounding can move one spike by one step); a wrong number is far larger
        assert diff <= 0.01 * scale + 1e-6, (name, t, diff, scale)
        assert np.sum(a.predictions_at(t) != b.predictions_at(t)) <= 1, (name, t)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert abs(int(a.step_errors[-1]) - int(b.step_errors[-1])) <= 1


def test_first_step_reads_zero_as_nengo_dl_does(mnist):
    """NengoDL's filtered probe lags the network by one step: step 1 reads the filter's
    initial state. The compiled engine reads the same step."""
    a, b = run_both(ModelConfig(), active_params(), *mnist, n_steps=3)
    np.testing.assert_array_equal(b.readouts[1], 0)
    np.testing.assert_array_equal(a.readouts[1], 0)
    assert np.abs(a.readouts[2]).max() > 0


def test_the_evaluation_seed_sets_the_initial_states(mnist):
    params = active_params()
    p0, p3 = build_program(ModelConfig(), params, 0), build_program(ModelConfig(), params, 3)
    assert not np.array_equal(p0.voltages[0], p3.voltages[0])
    np.testing.assert_array_equal(p0.gains[1], p3.gains[1])  # seed-independent
    a, b = run_both(ModelConfig(), params, *mnist, n_steps=10, seed=3)
    assert np.abs(a.outputs - b.outputs).max() <= 0.01 * np.abs(b.outputs).max()


def test_results_do_not_depend_on_minibatch_or_threads(mnist):
    images, labels = mnist
    params = active_params()
    prog = build_program(ModelConfig(), params, 0)
    one, _ = CpuCore(prog, threads=1).run(images, 12)
    two, _ = CpuCore(prog, threads=2).run(images, 12)
    np.testing.assert_array_equal(one, two)
    ev = CompiledEvaluator(ModelConfig(), params, n_steps=12, seed=0, minibatch_size=5,
                           program=prog)  # fmt: skip
    res = ev.run(images, labels)
    np.testing.assert_array_equal(res.outputs, one[:, -1])
    alone, _ = CpuCore(prog).run(images[7:8], 12)  # an image's output is its own
    np.testing.assert_array_equal(alone[0], one[7])


def test_spike_counts_match_nengo_dl_probes(mnist):
    from snnjob.spikes import count_spikes

    images, _ = mnist
    params = active_params()
    cfg = ModelConfig(layer_synapse=0.003)
    a = spike_counts(cfg, params, images[:8], n_steps=12, seed=0)
    b = count_spikes(cfg, params, images[:8], n_steps=12, seed=0, minibatch_size=8)
    assert set(a.counts) == set(b.counts) == {"conv0", "conv1", "conv2"}
    for layer in a.counts:
        total = b.counts[layer].sum()
        assert total > 0
        assert np.abs(a.counts[layer] - b.counts[layer]).sum() <= 0.001 * total + 2, layer
        assert abs(a.active[layer] - b.active[layer]) <= 0.001 * b.active[layer] + 2


def test_the_self_check_catches_a_wrong_engine(mnist):
    """A program whose neurons are off by 3% must fail the check, naming both engines."""
    images, labels = mnist
    params = active_params()
    prog = build_program(ModelConfig(), params, 0)
    wrong = dataclasses.replace(prog, gains=[g * np.float32(1.03) for g in prog.gains])
    steps = (5, 15)
    with CompiledEvaluator(ModelConfig(), params, n_steps=15, seed=0, program=wrong) as ev:
        a = ev.run(images, labels, readouts=steps)
    with SpikingEvaluator(ModelConfig(), params, n_steps=15, seed=0, minibatch_size=12) as ref:
        b = ref.run(images, labels, readouts=steps)
    check = compare(a.readouts, b.readouts, n_steps=15)
    with pytest.raises(EngineMismatchError, match=r"compiled engine disagrees with nengo_dl"):
        verify(check, what="parameter set x, evaluation seed 0")
    with CompiledEvaluator(ModelConfig(), params, n_steps=15, seed=0, program=prog) as ev:
        good = ev.run(images, labels, readouts=steps)
    verify(compare(good.readouts, b.readouts, n_steps=15), what="the right program")


def test_check_rules():
    out = np.eye(10, dtype=np.float32)[np.arange(50) % 10]
    out[:2] = 0
    out[:2, 3], out[:2, 4] = 0.50, 0.49  # two borderline images
    flipped = out.copy()
    flipped[0, 3], flipped[0, 4] = 0.49, 0.50  # a rounding-sized change flips one
    assert allowed_mismatches(50) == 1 and allowed_mismatches(10_000) == 5
    verify(compare({30: flipped}, {30: out}, n_steps=30), what="one flip")  # within
    flipped[1, 3], flipped[1, 4] = 0.49, 0.50
    with pytest.raises(EngineMismatchError, match=r"2 prediction\(s\) differ at n_steps 30"):
        verify(compare({30: flipped}, {30: out}, n_steps=30), what="two flips")
    moved = out + np.float32(0.2) * (np.arange(10) == 9)  # argmax kept, numbers wrong
    with pytest.raises(EngineMismatchError, match="largest output difference"):
        verify(compare({30: moved}, {30: out}, n_steps=30), what="moved")


@pytest.mark.parametrize("custom", [False, True])
def test_program_round_trips_through_npz(tmp_path, custom):
    cfg = CUSTOM["same padding, 3x3 pools, dense"][0] if custom else ModelConfig()
    cfg = dataclasses.replace(cfg, layer_synapse=0.002)
    prog = build_program(cfg, active_params(cfg), 5)
    prog.save(tmp_path / "p.npz")
    back = Program.load(tmp_path / "p.npz")
    assert back.layers == prog.layers and back.meta == prog.meta
    assert back.float32_constants() == prog.float32_constants()
    for a, b in zip(back.voltages + back.kernels, prog.voltages + prog.kernels):
        np.testing.assert_array_equal(a, b)
    if custom:
        assert [g.kind for g in back.layers] == ["conv", "conv", "dense"]
        assert back.layers[1].padding == "same" and back.layers[1].pools == (3, 2)


def test_program_geometry_follows_the_spec():
    stages = CUSTOM["same padding, 3x3 pools, dense"][0].net.stages
    geo = [LayerGeometry.from_stage(st) for st in stages]
    assert [g.pooled_shape for g in geo] == [st.pooled_shape for st in stages]
    # TensorFlow's SAME: 28 -> 14 with a 3x3 kernel, stride 2: 1 zero row in all, after;
    # 14 -> 14 with 4x4, stride 1: 3 zero rows, 1 before and 2 after
    assert geo[0].out_shape[:2] == (14, 14) and geo[1].out_shape[:2] == (14, 14)
    assert geo[0].pads == (0, 0) and geo[1].pads == (1, 1) and geo[2].pads == (0, 0)
    assert geo[1].pooled_shape == (2, 2, 16) and geo[2].in_shape == (2, 2, 16)
    # a file of the first engine (one 2x2 pool as a bool) still loads
    old = {"name": "conv1", "in_shape": [26, 26, 32], "kernel": 3, "strides": 1,
           "out_shape": [24, 24, 64], "pool": True}  # fmt: skip
    g = LayerGeometry.from_json(old)
    assert g.pools == (2,) and g.kind == "conv" and g.pooled_shape == (12, 12, 64)


def test_probe_filter_is_nengos_zoh_lowpass():
    a, b = probe_coefficients(0.1)
    assert a == pytest.approx(np.exp(-0.001 / 0.1)) and b == pytest.approx(1 - a)
    assert probe_coefficients(0.0) == (0.0, 1.0)


# ---- networks as data: any valid layer list ----

CUSTOM = {
    # a colour input of another size, 5 classes; pool, stride-2 convolution, dense layer
    "conv, pool, strided conv, dense (16x16x3, 5 classes)": (
        ModelConfig(
            layers=(Conv(8, 3), AvgPool(2), Conv(16, 3, strides=2), Dense(32)),
            image_shape=(16, 16, 3),
            n_classes=5,
        ),  # fmt: skip
        "synthetic",
    ),
    "the same with layer_synapse": (
        ModelConfig(
            layers=(Conv(8, 3), AvgPool(2), Conv(16, 3, strides=2), Dense(32)),
            image_shape=(16, 16, 3),
            n_classes=5,
            layer_synapse=0.003,
        ),  # fmt: skip
        "synthetic",
    ),
    # same padding (uneven: more zeros after than before), a 3x3 pool that drops two
    # trailing rows and columns, a 2x2 pool after it, then a dense layer
    "same padding, 3x3 pools, dense": (
        ModelConfig(
            layers=(
                Conv(8, 3, strides=2, padding="same"),
                Conv(16, 4, padding="same"),
                AvgPool(3),
                AvgPool(2),
                Dense(24),
            )
        ),
        "mnist",
    ),  # fmt: skip
    "dense only (28x28x1)": (ModelConfig(layers=(Dense(64), Dense(32))), "mnist"),
}


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(0)
    return rng.random((36, 16 * 16 * 3), dtype=np.float32), rng.integers(0, 5, 36)


@pytest.fixture(scope="module")
def mnist36():
    m = load_mnist(download=False)
    return m.test_images[:36], m.test_labels[:36]


@pytest.mark.parametrize("name", list(CUSTOM))
def test_compiled_engine_runs_any_spec_as_nengo_dl(name, request):
    cfg, data = CUSTOM[name]
    images, labels = request.getfixturevalue("synthetic" if data == "synthetic" else "mnist36")
    params = active_params(cfg)
    assert unsupported("compiled", net=cfg.net) is None
    steps = tuple(range(1, 26))
    runs = {
        engine: evaluate_with(engine, cfg, params, images, labels, n_steps=25, seed=0,
                              minibatch_size=12, readouts=steps)
        for engine in ("compiled", "nengo_dl")
    }  # fmt: skip
    a, b = runs["compiled"], runs["nengo_dl"]
    assert np.abs(b.outputs).max() > 0
    for t in steps[1:]:  # (step 1 reads the probe's initial 0)
        scale = np.abs(b.readouts[t]).max()
        diff = np.abs(a.readouts[t] - b.readouts[t]).max(axis=1)  # per image
        # measured on 300 images x 30 steps: <= 3.4e-7 of the scale and no prediction
        # differing, for every spec here: float32 rounding only. A spike moved by a rounding
        # (another CPU, another TF kernel) moves one image's output by up to ~0.1 of the
        # scale: allowed for one image; a wrong layer moves them all (a wrong padding:
        # over 1x the scale, 20+ of 36 predictions)
        assert np.sum(diff > 1e-5 * scale) <= 1, (name, t, diff.max() / scale)
        assert diff.max() <= 0.15 * scale, (name, t, diff.max() / scale)
        assert np.sum(a.predictions_at(t) != b.predictions_at(t)) <= 1, (name, t)


def test_spike_counts_of_a_custom_spec_match_nengo_dl(mnist36):
    from snnjob.spikes import count_spikes

    cfg = CUSTOM["same padding, 3x3 pools, dense"][0]
    params = active_params(cfg)
    images = mnist36[0][:6]
    a = spike_counts(cfg, params, images, n_steps=12, seed=0)
    b = count_spikes(cfg, params, images, n_steps=12, seed=0, minibatch_size=6)
    assert set(a.counts) == set(b.counts) == {"conv0", "conv1", "fc0"}
    for layer in a.counts:
        assert b.counts[layer].sum() > 0
        np.testing.assert_array_equal(a.counts[layer], b.counts[layer])  # measured: equal


def test_what_the_compiled_engine_cannot_run_falls_back_with_the_reason(monkeypatch, caplog):
    # no hidden LIF layer (the config rejects it; the engine says why all the same)
    why = unsupported("compiled", net=NetSpec((), (28, 28, 1), 10))
    assert why and "without hidden LIF layers" in why
    assert unsupported("nengo_dl", net=NetSpec((), (28, 28, 1), 10)) is None
    # a layer kind the cores do not know (a stand-in for one added to the spec later)
    import snnjob.engines.geometry as geometry

    lstm = LayerGeometry("lstm0", (28, 28, 1), 1, 1, (1, 1, 8), kind="lstm")
    assert "'lstm' layer" in geometry.unsupported_geometry([lstm])
    with pytest.raises(ValueError, match="CPU core cannot run"):
        CpuCore(dataclasses.replace(build_program(ModelConfig(), active_params(), 0),
                                    layers=[lstm]))  # fmt: skip
    monkeypatch.setattr(geometry, "unsupported_geometry", lambda layers: "a made-up limit")
    cfg = CUSTOM["dense only (28x28x1)"][0]
    assert unsupported("compiled", net=cfg.net) == "dense64-dense32-readout10: a made-up limit"
    with caplog.at_level(logging.WARNING, logger="snnjob.engines.factory"):
        ev = make_evaluator("compiled", cfg, active_params(cfg), n_steps=4, seed=0)
    with ev:
        assert ev.engine == "nengo_dl" and ev.fallback.endswith("a made-up limit")
    assert "a made-up limit; using nengo_dl" in caplog.text


def test_engine_choice_and_fallback():
    assert ENGINES == ("compiled", "nengo_dl")
    assert load_config("seed").eval.engine == "compiled"
    assert unsupported("compiled", rate=True) and unsupported("compiled") is None
    params = active_params()
    with make_evaluator("compiled", ModelConfig(), params, n_steps=1, seed=0, rate=True) as ev:
        assert ev.engine == "nengo_dl" and "rate-mode" in ev.fallback  # LIFRate, one step
    with make_evaluator("compiled", ModelConfig(), params, n_steps=4, seed=0) as ev:
        assert ev.engine == "compiled" and ev.core_name == "cpu" and ev.fallback is None
    with pytest.raises(ValueError, match="unknown engine 'jit'"):
        make_evaluator("jit", ModelConfig(), params, n_steps=4, seed=0)
    with pytest.raises(ConfigError, match="eval.engine='tf' is not allowed"):
        load_config("seed", ["eval.engine=tf"])
    with pytest.raises(ConfigError, match="eval.verify_images"):
        load_config("seed", ["eval.verify_images=-1"])


def test_device_selection():
    assert choose_core(False, 0)[0] == "cpu"
    assert choose_core(False, 1)[0] == "cpu"
    assert choose_core(True, 1) == ("jax", "JAX on the worker's GPU")
    core, why = choose_core(True, 0)
    assert core == "cpu" and "JAX sees none" in why
    prog = build_program(ModelConfig(), active_params(), 0)
    assert select_core(prog, gpu=True).name == "cpu"  # this machine: no GPU for JAX
