"""The TensorFlow-free model spec (snnjob.architecture) and the neuron choice (snnjob.neurons)."""

from __future__ import annotations

import nengo
import pytest

from snnjob.architecture import (
    N_CLASSES,
    conv_layers,
    flops_per_image_step,
    macs_per_image_step,
    n_neurons,
    weight_shapes,
)
from snnjob.config import ModelConfig


def test_seed_network_is_the_classic_architecture():
    assert [(c.filters, c.kernel, c.strides, c.pool) for c in conv_layers("seed")] == [
        (32, 3, 1, False), (64, 3, 1, True), (128, 3, 1, True),
    ]  # fmt: skip
    shapes = weight_shapes("seed")
    assert shapes["conv0/kernel"] == (3, 3, 1, 32)
    assert shapes["conv2/kernel"] == (3, 3, 64, 128)
    assert shapes["dense/kernel"] == (5 * 5 * 128, N_CLASSES)  # 28-2=26 ->24/2=12 ->10/2=5
    assert n_neurons("seed") == {
        "conv0": 26 * 26 * 32,
        "conv1": 24 * 24 * 64,
        "conv2": 10 * 10 * 128,
    }


def test_cost_per_image_step():
    assert macs_per_image_step("seed") == 18_216_320  # 18.2 M MACs per image-step
    assert macs_per_image_step("strided") == 4_724_096
    assert flops_per_image_step("seed") == 2 * 18_216_320


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="unknown preset 'vgg'; choose one of seed, strided"):
        weight_shapes("vgg")


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
