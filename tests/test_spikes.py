"""Spike statistics: fan-out from the layer shapes, spikes counted inside the graph (compared
with a per-step probe of the neurons), rows, Parquet file and plot; the rate regulariser's
probes (training graphs only)."""

from __future__ import annotations

import math

import nengo
import numpy as np
import pytest

from snnjob.architecture import DENSE, PRESETS, NetSpec, parse_layers
from snnjob.backend import nengo_dl
from snnjob.config import ModelConfig
from snnjob.messages import SpikeCounts
from snnjob.network import build_network, set_layer_params
from snnjob.results.spikestore import read_spikes, spike_rows, write_spikes
from snnjob.spikes import count_spikes

N_STEPS = 12
SEED_NET, STRIDED_NET = ModelConfig(preset="seed").net, ModelConfig(preset="strided").net


def _params(preset="strided", *, seed=0, bias=0.05):
    """Random He-scaled weights: enough drive for every layer to spike."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, shape in ModelConfig(preset=preset).net.weight_shapes().items():
        if key.endswith("bias"):
            out[key] = np.full(shape, bias, np.float32)
        else:
            fan_in = int(np.prod(shape[:-1]))
            out[key] = (rng.normal(size=shape) * np.sqrt(2 / fan_in)).astype(np.float32)
    return out


@pytest.fixture(scope="module")
def images(mnist_dir):
    from snnjob.mnist import load_mnist

    return load_mnist(mnist_dir, download=False).test_images[:5]


CUSTOM = NetSpec(parse_layers([
    {"type": "conv", "filters": 8, "kernel": 3}, {"type": "avgpool", "size": 3},
    {"type": "conv", "filters": 6, "kernel": 3, "strides": 2, "padding": "same"},
    {"type": "dense", "units": 12}, {"type": "dense", "units": 7},
]), (17, 17, 3), 5)  # fmt: skip


@pytest.mark.parametrize("net", [ModelConfig(preset=p).net for p in PRESETS] + [CUSTOM],
                         ids=[*PRESETS, "custom"])  # fmt: skip
def test_fan_out_sums_to_the_connections_of_the_next_layer(net):
    """Summed over neurons, fan-out counts every synapse of the next weighted layer once per
    source neuron behind it (a pool cell averages size^2 neurons); same padding's zero
    border has no source."""
    stages, grids = net.stages, net.fan_out()
    for i, st in enumerate(stages):
        synapses = int(np.sum(grids[st.name])) * st.out_shape[2]  # every channel alike
        per_source = math.prod(st.pools) ** 2
        nxt = stages[i + 1] if i + 1 < len(stages) else None
        if nxt is None:
            expected = net.readout_in * net.n_classes * per_source
        elif nxt.kind == "dense":
            expected = math.prod(nxt.in_shape) * nxt.out_shape[2] * per_source
        else:
            h, w, c = nxt.in_shape
            oh, ow, co = nxt.out_shape
            k, s = nxt.kernel, nxt.strides
            same = nxt.padding == "same"

            def pad(n, o, k=k, s=s, same=same):
                return max((o - 1) * s + k - n, 0) // 2 if same else 0

            inside = sum(  # window taps that land on the input (not on same's zero border)
                1 for y in range(oh) for x in range(ow) for dy in range(k) for dx in range(k)
                if 0 <= y * s - pad(h, oh) + dy < h and 0 <= x * s - pad(w, ow) + dx < w
            )  # fmt: skip
            expected = inside * c * co * per_source
        assert synapses == expected, st.name
        assert np.size(grids[st.name]) * st.out_shape[2] == net.n_neurons()[st.name]


def test_fan_out_is_exact_at_borders_and_through_pools():
    seed = ModelConfig(preset="seed").net.fan_out()
    assert seed["conv0"][12][12] == 9 * 64 and seed["conv0"][0][0] == 64  # 3x3, 1x1 window
    assert seed["conv0"][0][1] == 2 * 64 and seed["conv0"][25][25] == 64
    assert seed["conv1"][4][4] == 9 * 128  # pool cell (2, 2): interior of conv2's input
    assert seed["conv1"][0][0] == seed["conv1"][1][1] == 128  # pool cell (0, 0): one window
    assert {v for row in seed["conv2"] for v in row} == {10}  # 10x10 -> pool 5x5 -> readout
    strided = ModelConfig(preset="strided").net.fan_out()
    assert strided["conv0"][25][12] == 0  # stride 2 from 26: the last row feeds no window
    assert strided["conv0"][2][2] == 4 * 64 and strided["conv0"][1][1] == 64
    assert DENSE not in seed


def _direct_counts(cfg, params, images, n_steps, seed):
    """Spikes per (image, neuron) from a probe of every step (for FilteredLIF, the spikes
    are recovered step by step from the filtered output; they must come out 0 or 1)."""
    handles = build_network(cfg, mode="eval", seed=seed)
    with handles.net:
        probes = {name: nengo.Probe(neurons) for name, neurons in handles.lif.items()}
    x = np.repeat(np.asarray(images, np.float32)[:, None, :], n_steps, axis=1)
    with nengo_dl.Simulator(
        handles.net, minibatch_size=len(images), seed=seed, progress_bar=False
    ) as sim:
        set_layer_params(handles, params)
        out = sim.predict_on_batch({handles.inp: x})
        dt = sim.dt
    counts = {}
    for name, p in probes.items():
        values = out[p] * dt / cfg.amplitude  # (images, steps, neurons), spikes are 1
        if cfg.layer_synapse > 0:
            a = np.exp(-dt / cfg.layer_synapse)
            prev = np.concatenate([np.zeros_like(values[:, :1]), values[:, :-1]], axis=1)
            values = (values - a * prev) / (1 - a)
        spikes = np.rint(values)
        np.testing.assert_allclose(values, spikes, atol=1e-3)
        assert set(np.unique(spikes)) <= {0.0, 1.0}
        counts[name] = spikes.sum(axis=1).astype(np.int64)
    return counts


@pytest.mark.parametrize("layer_synapse", [0.0, 0.005])
def test_counts_equal_a_per_step_probe_of_the_spikes(images, layer_synapse):
    cfg = ModelConfig(preset="strided", layer_synapse=layer_synapse)
    params = _params()
    direct = _direct_counts(cfg, params, images[:3], N_STEPS, seed=1)
    counted = count_spikes(cfg, params, images[:3], n_steps=N_STEPS, seed=1, minibatch_size=3)
    assert counted.n_images == 3 and counted.n_steps == N_STEPS and counted.dt == 0.001
    for name, per_image in direct.items():
        assert per_image.sum() > 0, name  # the check means something
        np.testing.assert_array_equal(counted.counts[name], per_image.sum(axis=0))
        assert counted.active[name] == np.count_nonzero(per_image)


def test_counts_do_not_depend_on_the_minibatch_size(images):
    cfg = ModelConfig(preset="strided", layer_synapse=0.005)
    params = _params(seed=2)
    a = count_spikes(cfg, params, images, n_steps=N_STEPS, seed=0, minibatch_size=5)
    b = count_spikes(cfg, params, images, n_steps=N_STEPS, seed=0, minibatch_size=2)  # padded
    for name in a.counts:
        np.testing.assert_array_equal(a.counts[name], b.counts[name])
        assert a.active[name] == b.active[name]


def test_zero_input_gives_no_spikes():
    cfg = ModelConfig(preset="strided")
    zeros = np.zeros((2, 784), np.float32)
    counted = count_spikes(cfg, _params(bias=0.0), zeros, n_steps=N_STEPS, seed=0)
    rows = spike_rows(STRIDED_NET, counted, params_id="z", params_sha256="0" * 64,
                      train_seed=0, eval_seed=0)  # fmt: skip
    for r in rows:
        assert r["mean_rate_hz"] == r["p95_rate_hz"] == r["spikes_per_image_step"] == 0.0
        assert r["silent_fraction"] == r["silent_per_image_fraction"] == 1.0


def _synthetic_counts():
    sizes = ModelConfig(preset="seed").net.n_neurons()
    counts = {name: np.zeros(n, np.int64) for name, n in sizes.items()}
    counts["conv0"][0] = 10  # neuron (0, 0, channel 0): a corner, fan-out 64
    counts["conv0"][(12 * 26 + 12) * 32 + 5] = 20  # (12, 12, channel 5): fan-out 9 * 64
    counts["conv2"][:] = 1
    return SpikeCounts(n_images=2, n_steps=10, dt=0.001, counts=counts,
                       active={"conv0": 3, "conv1": 0, "conv2": 2 * 12800})  # fmt: skip


def test_rows_from_counts():
    rows = {r["layer"]: r for r in spike_rows(SEED_NET, _synthetic_counts(), params_id="abc",
            params_sha256="f" * 64, train_seed=1, eval_seed=2)}  # fmt: skip
    r0 = rows["conv0"]
    assert r0["n_neurons"] == 21632 and (r0["n_images"], r0["n_steps"]) == (2, 10)
    assert r0["spikes_per_image_step"] == pytest.approx(30 / 20)
    assert r0["synops_per_image_step"] == pytest.approx((10 * 64 + 20 * 576) / 20)
    assert r0["mean_rate_hz"] == pytest.approx(30 / 0.02 / 21632)  # spikes / (images x s)
    assert r0["silent_fraction"] == pytest.approx(1 - 2 / 21632)
    assert r0["silent_per_image_fraction"] == pytest.approx(1 - 3 / (2 * 21632))
    assert r0["p95_rate_hz"] == 0.0
    r2 = rows["conv2"]
    assert r2["p05_rate_hz"] == r2["p95_rate_hz"] == r2["mean_rate_hz"] == pytest.approx(50.0)
    assert r2["synops_per_image_step"] == pytest.approx(12800 * 10 / 20)
    assert r2["silent_fraction"] == 0.0 == r2["silent_per_image_fraction"]


def test_rows_round_trip_through_parquet_and_plot(tmp_path):
    from snnjob.plots import plot_spike_rates

    rows = spike_rows(SEED_NET, _synthetic_counts(), params_id="abc", params_sha256="f" * 64,
                      train_seed=1, eval_seed=2)  # fmt: skip
    path = write_spikes(tmp_path, rows)
    assert path == tmp_path / "spikes" / "p-abc_t-1_s-2.parquet"
    assert read_spikes(tmp_path, "abc", 1, 2) == rows
    assert read_spikes(tmp_path, "abc", 1, 3) is None
    entry = {"params_id": "abc", "train_seed": 1, "eval_seed": 2, "n_images": 2, "n_steps": 10,
             "layers": rows}  # fmt: skip
    png = plot_spike_rates(tmp_path / "spike_rates.png", [entry, {**entry, "train_seed": 2}])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("mode", ["eval", "rate", "train"])
def test_networks_carry_only_the_output_probes(mode):
    handles = build_network(ModelConfig(preset="strided"), mode=mode)
    assert set(handles.net.all_probes) == {handles.out_p, handles.out_p_filt}
    assert list(handles.lif) == [st.name for st in ModelConfig(preset="strided").net.stages]


def test_rate_probes_are_added_to_training_graphs_only_by_train():
    from snnjob.train import add_rate_probes

    handles = build_network(ModelConfig(preset="strided"), mode="train")
    probes = add_rate_probes(handles, 0.01)
    assert list(probes) == ["conv0", "conv1", "conv2"]
    assert all(p.size_in == 1 for p in probes.values())
    assert len(handles.net.all_probes) == 5


@pytest.mark.slow  # trains two tiny networks
def test_rate_regulariser_pulls_mean_rates_toward_its_target(mnist_dir):
    from snnjob.config import TrainConfig
    from snnjob.mnist import load_mnist
    from snnjob.spikes import rate_mode_rates
    from snnjob.train import train

    mnist = load_mnist(mnist_dir, download=False)
    model = ModelConfig(preset="strided")
    x, y = mnist.train_images[:1000], mnist.train_labels[:1000]
    rates = {}
    for reg in (0.0, 0.01):
        cfg = TrainConfig(epochs=1, minibatch_size=100, rate_reg=reg, rate_target=60.0)
        params = train(model, cfg, x, y, seed=0, verbose=0).params
        rates[reg] = rate_mode_rates(model, params, mnist.test_images[:200])
    print(rates)  # measured: unregularised 6.8/10.0/14.1 Hz, regularised 13.7/50.2/66.1 Hz
    for layer, plain in rates[0.0].items():
        pulled = rates[0.01][layer]
        assert plain < 20 and pulled > 1.5 * plain, (layer, plain, pulled)
        assert abs(pulled - 60) < abs(plain - 60), (layer, plain, pulled)
