"""Build the spiking network of a :class:`~snnjob.config.ModelConfig` (its ``net``).

The network is a Nengo network whose weighted layers are Keras layers inside
``nengo_dl.Layer`` TensorNodes and whose nonlinearities are Nengo LIF neurons.
The trainable weights live only in the named Keras layers (``conv0``, ``conv1``, ...,
``fc0``, ... for dense hidden layers, ``dense`` for the readout; see
:class:`snnjob.architecture.NetSpec`), so parameters move between simulators layer by layer
(see :mod:`snnjob.params`), never as NengoDL's raw variable list (which differs
between training and ``inference_only`` simulators).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nengo
import numpy as np

from snnjob.architecture import READOUT
from snnjob.backend import nengo_dl, tf
from snnjob.config import ModelConfig
from snnjob.neurons import choose_neurons
from snnjob.params import Params, check_compatible


@dataclass
class NetworkHandles:
    """What the simulators need from a built network."""

    net: nengo.Network
    inp: nengo.Node
    out_p: nengo.Probe  # unfiltered output (rate training, 1 timestep)
    out_p_filt: nengo.Probe  # output low-pass filtered by ``synapse`` (spiking evaluation)
    layers: dict[str, tf.keras.layers.Layer]  # the trainable Keras layers, by name
    # the LIF layers' neurons, keyed by the name of the convolution that drives them
    lif: dict[str, nengo.ensemble.Neurons] = field(default_factory=dict)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Expected shape of every parameter array, keyed ``<layer>/<weight>``."""
        return {key: tuple(var.shape) for key, var in _named_weights(self)}


def build_network(
    cfg: ModelConfig, *, mode: str = "eval", train_seed: int = 0, seed: int = 0
) -> NetworkHandles:
    """Build the network.

    Parameters
    ----------
    cfg
        Model configuration.
    mode
        ``"train"``: rate training graph (adds ``train_noise`` layers and SoftLIF smoothing
        when configured); ``"eval"``: spiking inference graph (``inference_only``);
        ``"rate"``: inference graph with ``LIFRate`` neurons (the rate approximation that
        training optimises, without noise or smoothing: run it for one step).
    train_seed
        Seeds the Keras weight initialisers, so one training seed gives one initial network.
    seed
        Seed of the Nengo network: it draws the LIF neurons' random initial states (the
        evaluation seed; NengoDL ignores the simulator's seed once the network has one).
    """
    neurons = choose_neurons(cfg, mode)
    spec = cfg.net
    layers: dict[str, tf.keras.layers.Layer] = {}
    lif: dict[str, nengo.ensemble.Neurons] = {}

    with nengo.Network(seed=seed) as net:
        net.config[nengo.Ensemble].max_rates = nengo.dists.Choice([cfg.max_rates])
        net.config[nengo.Ensemble].intercepts = nengo.dists.Choice([cfg.intercepts])
        net.config[nengo.Connection].synapse = None
        # Nengo objects add no representational power here: only Keras layers train.
        nengo_dl.configure_settings(stateful=False, trainable=None)
        net.config[nengo.Ensemble].trainable = False
        net.config[nengo.Connection].trainable = False
        if neurons.lif_smoothing is not None:
            nengo_dl.configure_settings(lif_smoothing=neurons.lif_smoothing)
        if mode in ("eval", "rate"):
            nengo_dl.configure_settings(inference_only=True)

        inp = nengo.Node(np.zeros(spec.n_pixels), label="input")
        x, shape = inp, spec.image_shape
        for i, stage in enumerate(spec.stages):
            init = tf.keras.initializers.GlorotUniform(seed=_layer_seed(train_seed, i))
            if stage.kind == "conv":
                weighted = tf.keras.layers.Conv2D(
                    stage.out_shape[2], stage.kernel, strides=stage.strides,
                    padding=stage.padding, kernel_initializer=init, name=stage.name,
                )  # fmt: skip
            else:
                if len(shape) > 1:  # the LIF neurons are a flat vector already: no reshape
                    shape = (int(np.prod(shape)),)
                weighted = tf.keras.layers.Dense(
                    stage.out_shape[2], kernel_initializer=init, name=stage.name
                )
            layers[stage.name] = weighted
            x = nengo_dl.Layer(weighted)(x, shape_in=shape)
            shape = stage.out_shape if stage.kind == "conv" else (stage.out_shape[2],)
            if mode == "train" and cfg.train_noise > 0:
                x = nengo_dl.Layer(_noise_layer(cfg.train_noise, train_seed, i))(x)
            x = lif[stage.name] = nengo_dl.Layer(neurons.neuron_type)(x)
            for size in stage.pools:
                avg = tf.keras.layers.AveragePooling2D(pool_size=size, strides=size)
                x = nengo_dl.Layer(avg)(x, shape_in=shape)
                shape = avg.compute_output_shape((1, *shape))[1:]
        init = tf.keras.initializers.GlorotUniform(seed=_layer_seed(train_seed, 99))
        dense = tf.keras.layers.Dense(spec.n_classes, kernel_initializer=init, name=READOUT)
        layers[READOUT] = dense
        out = nengo_dl.Layer(dense)(x)
        out_p = nengo.Probe(out, label="out_p")
        # (rate mode runs one step: no filter, as NengoDL warns a filter would only delay it)
        readout = None if mode == "rate" else cfg.synapse or None
        out_p_filt = nengo.Probe(out, synapse=readout, label="out_p_filt")

    return NetworkHandles(
        net=net, inp=inp, out_p=out_p, out_p_filt=out_p_filt, layers=layers, lif=lif
    )


def layer_params(handles) -> Params:
    """Current weights of the network's Keras layers as ``{"layer/weight": array}``."""
    return {key: np.array(var.numpy(), copy=True) for key, var in _named_weights(handles)}


def set_layer_params(handles, params: Params) -> None:
    """Assign ``params`` to the network's Keras layers, after checking every shape."""
    check_compatible(params, handles.weight_shapes())
    for key, var in _named_weights(handles):
        var.assign(params[key])


def _named_weights(handles: NetworkHandles):
    """``("<layer>/<weight>", variable)`` for every weight of the trainable Keras layers."""
    for name, layer in handles.layers.items():
        for var in layer.weights:
            yield f"{name}/{var.name.split('/')[-1].split(':')[0]}", var


def _layer_seed(train_seed: int, index: int) -> int:
    return int(train_seed) * 1000 + index


def _noise_layer(stddev: float, train_seed: int, index: int) -> tf.keras.layers.Layer:
    """Gaussian noise on a LIF layer's input; the layer only exists in training graphs."""
    return tf.keras.layers.GaussianNoise(stddev, seed=_layer_seed(train_seed, 50 + index))
