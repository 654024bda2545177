"""The TensorFlow-free model spec (snnjob.architecture) and the neuron choice (snnjob.neurons)."""

from __future__ import annotations

import nengo
import pytest

from snnjob.architecture import PRESETS, AvgPool, Conv, Dense, NetSpec, Readout, parse_layers
from snnjob.config import ModelConfig, load_config
from snnjob.errors import ConfigError

MNIST_SHAPE, MNIST_CLASSES = (28, 28, 1), 10  # what the dataset layer says of MNIST


def _net(layers, shape=(16, 16, 3), classes=5):
    return NetSpec(parse_layers(layers), shape, classes)


def test_seed_network_is_the_classic_architecture():
    net = ModelConfig(preset="seed").net
    assert net.image_shape == MNIST_SHAPE and net.n_classes == MNIST_CLASSES
    assert [(s.kind, s.out_shape[2], s.kernel, s.strides, s.pools) for s in net.stages] == [
        ("conv", 32, 3, 1, ()), ("conv", 64, 3, 1, (2,)), ("conv", 128, 3, 1, (2,)),
    ]  # fmt: skip
    shapes = net.weight_shapes()
    assert shapes["conv0/kernel"] == (3, 3, 1, 32)
    assert shapes["conv2/kernel"] == (3, 3, 64, 128)
    assert shapes["dense/kernel"] == (5 * 5 * 128, 10)  # 28-2=26 ->24/2=12 ->10/2=5
    assert net.n_neurons() == {
        "conv0": 26 * 26 * 32,
        "conv1": 24 * 24 * 64,
        "conv2": 10 * 10 * 128,
    }
    assert net.describe() == "conv32k3-conv64k3-pool2-conv128k3-pool2-readout10"


def test_cost_per_image_step():
    assert ModelConfig(preset="seed").net.macs_per_image_step() == 18_216_320  # 18.2 M
    assert ModelConfig(preset="strided").net.macs_per_image_step() == 4_724_096
    assert ModelConfig(preset="seed").net.flops_per_image_step() == 2 * 18_216_320


def test_unknown_preset_names_the_choices():
    with pytest.raises(
        ConfigError, match="model.preset='vgg' is not allowed; choose one of seed, strided"
    ):
        load_config("tiny", ["model.preset=vgg"])


def test_the_issue_example_derives_shapes_macs_and_neurons():
    net = _net([
        {"type": "conv", "filters": 16, "kernel": 3, "strides": 1},
        {"type": "avgpool", "size": 2},
        {"type": "conv", "filters": 32, "kernel": 3, "strides": 2},
        {"type": "dense", "units": 64},
    ])  # fmt: skip
    # 16 -3-> 14 -pool-> 7 -3/2-> 3 ; dense 64 ; readout 5
    assert [s.name for s in net.stages] == ["conv0", "conv1", "fc0"]
    assert net.weight_shapes() == {
        "conv0/kernel": (3, 3, 3, 16), "conv0/bias": (16,),
        "conv1/kernel": (3, 3, 16, 32), "conv1/bias": (32,),
        "fc0/kernel": (3 * 3 * 32, 64), "fc0/bias": (64,),
        "dense/kernel": (64, 5), "dense/bias": (5,),
    }  # fmt: skip
    assert net.n_neurons() == {"conv0": 14 * 14 * 16, "conv1": 3 * 3 * 32, "fc0": 64}
    macs = 14 * 14 * 16 * 27 + 3 * 3 * 32 * 144 + 64 * 288 + 5 * 64
    assert net.macs_per_image_step() == macs
    fan = net.fan_out()
    assert fan["conv1"] == [[64] * 3] * 3  # every position reaches all 64 dense units
    assert fan["fc0"] == [[5]]  # one position, the 5 readout units


def test_same_padding_keeps_the_size_and_counts_border_windows():
    net = _net([{"type": "conv", "filters": 4, "kernel": 3, "padding": "same"},
                {"type": "conv", "filters": 2, "kernel": 3, "padding": "same"}])  # fmt: skip
    assert net.stages[0].out_shape == (16, 16, 4) and net.stages[1].out_shape == (16, 16, 2)
    fan = net.fan_out()["conv0"]
    assert fan[0][0] == 4 * 2 and fan[5][5] == 9 * 2  # corner: 2x2 windows; interior: 3x3


def test_presets_are_layer_lists_of_the_same_kind():
    assert PRESETS["seed"] == (Conv(32, 3), Conv(64, 3), AvgPool(2), Conv(128, 3), AvgPool(2))
    assert parse_layers([{"type": "conv", "filters": 32, "kernel": 3}]) == (Conv(32, 3),)
    assert parse_layers([{"type": "dense", "units": 8}, {"type": "readout", "units": 5}]) == (
        Dense(8), Readout(5))  # fmt: skip


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [{"type": "conv", "filters": 8, "kernel": 20}],
            r"model.layers\[0\] \(conv\): a 20x20 kernel does not fit a 16x16x3 input",
        ),
        (
            [{"type": "conv", "filters": 8, "kernel": 3}, {"type": "avgpool", "size": 16}],
            r"model.layers\[1\] \(avgpool\): a 16x16 pool of a 14x14x8 input leaves nothing",
        ),
        ([{"type": "avgpool", "size": 2}], r"model.layers\[0\] \(avgpool\): .*must follow a conv"),
        (
            [{"type": "dense", "units": 8}, {"type": "conv", "filters": 8, "kernel": 3}],
            r"model.layers\[1\] \(conv\): a conv layer cannot follow a dense layer",
        ),
        (
            [{"type": "dense", "units": 8}, {"type": "readout", "units": 10}],
            r"model.layers\[1\] \(readout\): 10 units, but the dataset has 5 classes",
        ),
    ],
)
def test_a_spec_that_does_not_fit_names_the_layer(layers, message):
    with pytest.raises(ConfigError, match=message):
        _net(layers)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [{"type": "lstm", "units": 8}],
            r"model.layers\[0\]: unknown layer type 'lstm'; choose one of conv, avgpool, dense, "
            r"readout",
        ),
        ([{"type": "conv", "kernel": 3}], r"model.layers\[0\] \(conv\) needs filters"),
        (
            [{"type": "conv", "filters": 8, "kernel": 3, "stride": 2}],
            r"unknown key\(s\) stride; allowed: type, filters, kernel, strides, padding",
        ),
        (
            [{"type": "conv", "filters": 0, "kernel": 3}],
            r"model.layers\[0\].filters must be an integer >= 1, got 0",
        ),
        (
            [{"type": "conv", "filters": 8, "kernel": 3, "padding": "full"}],
            r"padding must be one of valid, same",
        ),
        (
            [{"type": "readout"}, {"type": "dense", "units": 3}],
            r"a readout can only be the last layer",
        ),
        ("conv", r"model.layers must be a list of layers"),
        ([{"units": 3}], r"must be a mapping with a type"),
    ],
)
def test_invalid_layer_lists_are_refused_naming_the_layer(layers, message):
    with pytest.raises(ConfigError, match=message):
        parse_layers(layers)


def test_model_layers_in_a_config_validate_before_anything_runs(tmp_path):
    good = (
        "model:\n  layers:\n    - {type: conv, filters: 8, kernel: 3}\n"
        "    - {type: dense, units: 16}\n"
    )
    (tmp_path / "good.yaml").write_text(good)
    cfg = load_config(tmp_path / "good.yaml")
    assert cfg.model.layers == (Conv(8, 3), Dense(16)) and cfg.model.network_name == "custom"
    assert cfg.to_dict()["model"]["layers"] == [
        {"type": "conv", "filters": 8, "kernel": 3, "strides": 1, "padding": "valid"},
        {"type": "dense", "units": 16},
    ]
    assert "image_shape" not in cfg.to_dict()["model"]  # bound from the data, not a key
    assert (
        load_config(tmp_path / "good.yaml", ["model.amplitude=0.02"]).model.layers
        == cfg.model.layers
    )
    (tmp_path / "bad.yaml").write_text(
        "model:\n  layers:\n    - {type: conv, filters: 8, kernel: 40}\n"
    )
    with pytest.raises(
        ConfigError, match=r"model.layers\[0\] \(conv\): a 40x40 kernel does not fit a 28x28x1"
    ):
        load_config(tmp_path / "bad.yaml")  # MNIST, the default dataset: checked at once
    on_strided = load_config(tmp_path / "good.yaml", ["model.preset=strided"])
    assert on_strided.model.net.stages == cfg.model.net.stages  # the layers replace a preset
    with pytest.raises(ConfigError, match="image_shape"):
        load_config(tmp_path / "good.yaml", ["model.image_shape=[16, 16, 3]"])  # not a key


def test_binding_to_a_dataset_checks_the_layers_against_its_shape(tmp_path):
    cfg = load_config("tiny", ["data.dataset=npz:/nowhere.npz",
                               "model.layers=[{type: conv, filters: 4, kernel: 9}]"])  # fmt: skip
    assert cfg.bind((16, 16, 3), 5).model.net.weight_shapes()["conv0/kernel"] == (9, 9, 3, 4)
    with pytest.raises(ConfigError, match=r"a 9x9 kernel does not fit a 8x8x1 input"):
        cfg.bind((8, 8, 1), 5)


@pytest.mark.parametrize(
    ("mode", "overrides", "kind", "smoothing"),
    [
        ("train", {}, nengo.LIF, None),
        ("train", {"lif_smoothing": 0.02}, nengo.LIF, 0.02),
        ("eval", {}, nengo.LIF, None),
        ("eval", {"layer_synapse": 0.004}, "FilteredLIF", None),
        ("eval", {"lif_smoothing": 0.02}, nengo.LIF, None),  # smoothing only trains
        ("rate", {"layer_synapse": 0.004}, nengo.LIFRate, None),
    ],
)
def test_choose_neurons_is_the_one_place_that_picks_them(mode, overrides, kind, smoothing):
    from snnjob.neurons import FilteredLIF, choose_neurons

    cfg = ModelConfig(amplitude=0.005, max_rates=200.0, **overrides)
    choice = choose_neurons(cfg, mode)
    expected = FilteredLIF if kind == "FilteredLIF" else kind
    assert type(choice.neuron_type) is expected
    assert choice.neuron_type.amplitude == 0.005
    assert choice.lif_smoothing == smoothing
    with pytest.raises(ValueError, match="mode must be one of"):
        choose_neurons(cfg, "spiking")
