"""Every neuron model of the network, and the one function that picks it for a mode.

"Where do I change the neuron model?" -- here: :func:`choose_neurons` decides, per mode
(rate training, spiking evaluation, rate-mode evaluation), which Nengo neuron type the LIF
layers use and which rate approximation NengoDL trains through.

``FilteredLIF``: LIF neurons whose output is their own lowpass-filtered spike train.
``model.layer_synapse`` puts a lowpass filter on the spikes each LIF layer sends on. As a
Nengo ``Lowpass`` synapse on the outgoing connection, NengoDL 3.6 ran spiking evaluation
several times slower and in several times the memory (docs/performance.md). Each LIF
layer has one outgoing connection, so filtering inside the neuron is the same filter: three
elementwise operations merged into the neurons' own step. One difference: a Nengo synapse
is an update operator, so its output arrives one step later, once per layer; this filter's
output is used in the step it is computed.

The filter is the zero-order-hold discretisation of ``1 / (tau s + 1)``::

    filtered[t] = a * filtered[t-1] + (1 - a) * spikes[t],   a = exp(-dt / tau_out)

Its DC gain is 1, so a neuron firing at rate r still delivers ``amplitude * r`` on
average: the rate approximation that training optimises (one step of ``LIFRate``, or
``LIF``'s own rate-mode training step) is unchanged. The filter starts at 0 each run.

Importing this module registers the TensorFlow builder with NengoDL (NengoDL looks up a
neuron type's builder by its exact class, so a subclass of ``LIF`` needs its own entry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import nengo
import numpy as np
from nengo.dists import Choice
from nengo.params import NumberParam

from snnjob.backend import nengo_dl, tf

if TYPE_CHECKING:
    from snnjob.config import ModelConfig


class FilteredLIF(nengo.LIF):
    """Spiking LIF neuron whose output is its spike train lowpass-filtered by ``tau_out``.

    Parameters
    ----------
    tau_out
        Time constant (s) of the output filter; must be positive.
    tau_rc, tau_ref, min_voltage, amplitude, initial_state
        As for :class:`nengo.LIF`.
    """

    state = {**nengo.LIF.state, "filtered": Choice([0])}
    spiking = True

    tau_out = NumberParam("tau_out", low=0, low_open=True)

    def __init__(
        self,
        tau_out=0.005,
        tau_rc=0.02,
        tau_ref=0.002,
        min_voltage=0,
        amplitude=1,
        initial_state=None,
    ):
        super().__init__(
            tau_rc=tau_rc,
            tau_ref=tau_ref,
            min_voltage=min_voltage,
            amplitude=amplitude,
            initial_state=initial_state,
        )
        self.tau_out = tau_out

    def step(self, dt, J, output, voltage, refractory_time, filtered):
        """Nengo (NumPy) reference step: LIF spikes, then the output filter."""
        super().step(dt, J, output, voltage, refractory_time)
        decay = np.exp(-dt / self.tau_out)
        filtered *= decay
        filtered += (1 - decay) * output
        output[...] = filtered


class FilteredLIFBuilder(nengo_dl.neuron_builders.LIFBuilder):
    """NengoDL builder for :class:`FilteredLIF`: ``LIFBuilder``'s step plus the filter.

    Training (``training_step``) is ``LIFBuilder``'s rate approximation, untouched.
    """

    def build_pre(self, signals, config):
        super().build_pre(signals, config)
        tau_out = signals.op_constant(
            [op.neurons for op in self.ops],
            [op.J.shape[0] for op in self.ops],
            "tau_out",
            signals.dtype,
        )
        self.decay = tf.exp(-signals.dt / tau_out)

    def step(self, J, dt, voltage, refractory_time, filtered):
        spikes, voltage, refractory_time = super().step(J, dt, voltage, refractory_time)
        filtered = self.decay * filtered + (self.one - self.decay) * spikes
        return filtered, voltage, refractory_time, filtered


nengo_dl.neuron_builders.SimNeuronsBuilder.TF_NEURON_IMPL[FilteredLIF] = FilteredLIFBuilder

__all__ = ["FilteredLIF", "FilteredLIFBuilder"]


MODES = ("train", "eval", "rate")
"""What a network is built for: rate training, spiking evaluation, rate-mode evaluation."""


@dataclass(frozen=True)
class NeuronChoice:
    """The LIF layers' neurons for one mode, and how NengoDL trains through them.

    Attributes
    ----------
    neuron_type
        The Nengo neuron type of every LIF layer.
    lif_smoothing
        SoftLIF ``sigma`` of the rate approximation NengoDL uses when it trains through
        LIF neurons (``configure_settings(lif_smoothing=...)``); None: plain LIFRate.
    """

    neuron_type: nengo.neurons.NeuronType
    lif_smoothing: float | None = None


def choose_neurons(cfg: ModelConfig, mode: str) -> NeuronChoice:
    """The one place that decides which neuron model a network uses.

    - ``"train"``: ``nengo.LIF``; NengoDL trains through its rate approximation, LIFRate, or
      SoftLIF (Hunsberger & Eliasmith 2016) when ``cfg.lif_smoothing > 0``;
    - ``"eval"``: spiking ``nengo.LIF``, or :class:`FilteredLIF` when
      ``cfg.layer_synapse > 0``;
    - ``"rate"``: ``nengo.LIFRate`` (what training optimised, run for one step).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    kwargs = dict(tau_rc=cfg.tau_rc, tau_ref=cfg.tau_ref, amplitude=cfg.amplitude)
    if mode == "rate":
        return NeuronChoice(nengo.LIFRate(**kwargs))
    if mode == "eval" and cfg.layer_synapse > 0:
        return NeuronChoice(FilteredLIF(tau_out=cfg.layer_synapse, **kwargs))
    smoothing = cfg.lif_smoothing if mode == "train" and cfg.lif_smoothing > 0 else None
    return NeuronChoice(nengo.LIF(**kwargs), lif_smoothing=smoothing)
