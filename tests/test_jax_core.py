"""The JAX core (dense, jitted) against the CPU core (event-driven, numba) on the CPU.

Both simulate the same :class:`~snnjob.engines.program.Program` with NengoDL's float32 LIF
arithmetic; they differ only in summation order (dense convolutions against scattered
spikes) and in the float32 ``log1p`` of XLA against libm's. Such rounding differences can
move a rare spike by a step, so traces agree closely but not bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("numba")

from snnjob.architecture import AvgPool, Conv, Dense  # noqa: E402
from snnjob.config import ModelConfig  # noqa: E402

N_IMAGES = 20
N_STEPS = 20
SEED = 0

CASES = {
    "seed": ModelConfig(),
    "strided-synapse": ModelConfig(
        preset="strided", layer_synapse=0.004, max_rates=200.0, amplitude=0.005
    ),
    # no readout synapse: the probe reads the readout itself, without NengoDL's lag
    "no-readout-synapse": ModelConfig(
        synapse=0.0, max_rates=300.0, amplitude=1 / 300, layer_synapse=0.003
    ),
    # layer lists (tests/test_engines.py runs the same against NengoDL): a 16x16x3 input
    # with 5 classes, pool, stride 2, dense layer; same padding, 3x3 then 2x2 pools, dense
    # layer; a dense-only network
    "custom-conv-dense": ModelConfig(
        layers=(Conv(8, 3), AvgPool(2), Conv(16, 3, strides=2), Dense(32)),
        image_shape=(16, 16, 3),
        n_classes=5,
        layer_synapse=0.003,
    ),
    "custom-same-pools": ModelConfig(
        layers=(
            Conv(8, 3, strides=2, padding="same"),
            Conv(16, 4, padding="same"),
            AvgPool(3),
            AvgPool(2),
            Dense(24),
        ),
    ),  # fmt: skip
    "custom-dense-only": ModelConfig(layers=(Dense(64), Dense(32))),
}


def random_params(model: ModelConfig, seed: int = 1) -> dict[str, np.ndarray]:
    """Random weights that keep every layer spiking: kernels N(0, 1) * 2.5 / sqrt(fan_in),
    biases N(0, 0.1)."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in model.net.weight_shapes().items():
        if name.endswith("/kernel"):
            fan_in = int(np.prod(shape[:-1]))
            params[name] = (rng.standard_normal(shape) * 2.5 / np.sqrt(fan_in)).astype(np.float32)
        else:
            params[name] = (rng.standard_normal(shape) * 0.1).astype(np.float32)
    return params


@pytest.fixture(scope="module")
def images(mnist_dir):
    from snnjob.mnist.load import load_mnist

    return np.asarray(load_mnist(mnist_dir, download=False).test_images[:N_IMAGES], np.float32)


@pytest.mark.parametrize("case", sorted(CASES))
def test_jax_core_matches_cpu_core(case, images):
    import jax

    from snnjob.engines.cpu_runner import CpuCore
    from snnjob.engines.jax_core import JaxCore
    from snnjob.engines.program import build_program

    cfg = CASES[case]
    if cfg.net.image_shape != (28, 28, 1):  # random images of the spec's shape
        images = np.random.default_rng(0).random((N_IMAGES, cfg.net.n_pixels), np.float32)
    program = build_program(cfg, random_params(cfg), SEED)
    cpu_trace, cpu_counts = CpuCore(program, threads=1).run(images, N_STEPS, count_spikes=True)
    core = JaxCore(program, device=jax.devices("cpu")[0], batch_size=8)  # 3 chunks, 1 padded
    assert core.name == "jax" and core.n_neurons == CpuCore(program).n_neurons
    jax_trace, jax_counts = core.run(images, N_STEPS, count_spikes=True)

    assert jax_trace.shape == cpu_trace.shape == (N_IMAGES, N_STEPS, program.n_classes)
    assert jax_trace.dtype == np.float32 and jax_counts.dtype == np.int32
    assert jax_counts.shape == cpu_counts.shape == (N_IMAGES, core.n_neurons)
    # the network is active: otherwise the comparison would be vacuous
    assert cpu_counts.sum(axis=1).min() > 0.01 * core.n_neurons
    if program.probe_lag:
        assert np.all(jax_trace[:, 0] == 0)  # the filtered probe reads 0 at the first step

    # Spikes: measured identical (seed, strided, the layer lists) and 2.2e-5 of the counts
    # differing (no readout synapse, whose layer filters feed every neuron a continuous,
    # differently rounded current): an ulp can move a spike by a step.
    differ = np.mean(jax_counts != cpu_counts)
    assert differ < 1e-3, f"{differ:.2e} of the neurons' spike counts differ"
    scale = float(np.abs(cpu_trace).max())
    diff = np.abs(jax_trace - cpu_trace)
    # Before any spike can have moved (the first 5 steps), only float32 rounding: measured
    # <= 5e-7 of the output scale (max |trace|; the layer lists: <= 4.4e-7); 1e-5 of it is
    # a 20x margin and far below the ~1e-2 of the scale by which the trace moves in a step
    # (a readout a step off fails).
    early = float(diff[:, :5].max())
    assert early <= 1e-5 * scale, f"first steps: max |diff| {early:.3g}, scale {scale:.3g}"
    # Over all steps a moved spike shows: measured mean |diff| <= 1.8e-4 and max <= 2.7e-2
    # of the scale (no readout synapse; <= 5e-7 for both others). NengoDL against the CPU
    # core is held to 1e-2 of the scale per step with a filtered readout (test_engines).
    assert diff.mean() <= 1e-3 * scale, f"mean |diff| {diff.mean():.3g}, scale {scale:.3g}"
    assert diff.max() <= 0.1 * scale, f"max |diff| {diff.max():.3g}, scale {scale:.3g}"
    # the last step's predictions: measured identical; a moved spike may flip a close call
    flips = int(np.sum(jax_trace[:, -1].argmax(-1) != cpu_trace[:, -1].argmax(-1)))
    assert flips <= 1, f"{flips} of {N_IMAGES} predictions differ"
