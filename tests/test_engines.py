"""The compiled engine against the NengoDL simulator it replaces (real NengoDL, real MNIST).

The parameters are random but active (every layer spikes, as a trained network does), so
that the tests need no training; the full-test-set contract on trained parameters is
``scripts/engine_compare.py`` (its output is in docs/performance.md).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnjob.architecture import weight_shapes
from snnjob.config import ModelConfig, load_config
from snnjob.engines import ENGINES, unsupported
from snnjob.engines.check import EngineMismatchError, allowed_mismatches, compare, verify
from snnjob.engines.compiled import CompiledEvaluator, choose_core, select_core, spike_counts
from snnjob.engines.cpu_runner import CpuCore
from snnjob.engines.factory import make_evaluator
from snnjob.engines.program import Program, build_program, probe_coefficients
from snnjob.errors import ConfigError
from snnjob.evaluate import SpikingEvaluator
from snnjob.mnist import load_mnist


def active_params(preset: str = "seed", seed: int = 1) -> dict[str, np.ndarray]:
    """Random weights at a scale where every layer spikes (Glorot-like, 2.5x)."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, shape in weight_shapes(preset).items():
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
    a, b = run_both(cfg, active_params(cfg.preset), *mnist)
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


def test_program_round_trips_through_npz(tmp_path):
    prog = build_program(ModelConfig(layer_synapse=0.002), active_params(), 5)
    prog.save(tmp_path / "p.npz")
    back = Program.load(tmp_path / "p.npz")
    assert back.layers == prog.layers and back.meta == prog.meta
    assert back.float32_constants() == prog.float32_constants()
    for a, b in zip(back.voltages + back.kernels, prog.voltages + prog.kernels):
        np.testing.assert_array_equal(a, b)


def test_probe_filter_is_nengos_zoh_lowpass():
    a, b = probe_coefficients(0.1)
    assert a == pytest.approx(np.exp(-0.001 / 0.1)) and b == pytest.approx(1 - a)
    assert probe_coefficients(0.0) == (0.0, 1.0)


def test_engine_choice_and_fallback():
    assert ENGINES == ("compiled", "nengo_dl")
    assert load_config("seed").eval.engine == "compiled"
    assert unsupported("compiled", rate=True) and unsupported("compiled") is None
    params = active_params()
    with make_evaluator("compiled", ModelConfig(), params, n_steps=1, seed=0, rate=True) as ev:
        assert ev.engine == "nengo_dl"  # rate mode: LIFRate, one step
    with make_evaluator("compiled", ModelConfig(), params, n_steps=4, seed=0) as ev:
        assert ev.engine == "compiled" and ev.core_name == "cpu"
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
