"""FilteredLIF: the spike train of plain LIF neurons, lowpass-filtered inside the neuron."""

from __future__ import annotations

import nengo
import numpy as np
import pytest

from snnjob.backend import nengo_dl
from snnjob.neurons import FilteredLIF

DT = 0.001
TAU = 0.005
N_STEPS = 60


def _net(neuron_type):
    """A constant input driving 40 neurons whose random initial states come from the seed."""
    with nengo.Network(seed=3) as net:
        stim = nengo.Node(np.linspace(-1, 1, 40))
        ens = nengo.Ensemble(40, 1, neuron_type=neuron_type, max_rates=nengo.dists.Choice([100]),
                             intercepts=nengo.dists.Choice([0]))  # fmt: skip
        nengo.Connection(stim, ens.neurons, synapse=None)
        probe = nengo.Probe(ens.neurons)
    return net, probe


def _lowpass(spikes, tau=TAU):
    decay = np.exp(-DT / tau)
    out, state = np.zeros_like(spikes), np.zeros(spikes.shape[1:])
    for t in range(len(spikes)):
        state = decay * state + (1 - decay) * spikes[t]
        out[t] = state
    return out


def _run_dl(neuron_type):
    net, probe = _net(neuron_type)
    with nengo_dl.Simulator(net, dt=DT, progress_bar=False) as sim:
        sim.run_steps(N_STEPS)
        return sim.data[probe]


def _run_ref(neuron_type):
    net, probe = _net(neuron_type)
    with nengo.Simulator(net, dt=DT, progress_bar=False) as sim:
        sim.run_steps(N_STEPS)
        return sim.data[probe]


@pytest.mark.parametrize("run", [_run_dl, _run_ref], ids=["nengo_dl", "nengo"])
def test_output_is_the_lowpass_filtered_lif_spike_train(run):
    kwargs = dict(amplitude=0.01)
    spikes = run(nengo.LIF(**kwargs))
    filtered = run(FilteredLIF(tau_out=TAU, **kwargs))
    assert spikes.max() > 0, "the test input must make some neurons spike"
    assert np.count_nonzero(spikes) > 50
    np.testing.assert_allclose(filtered, _lowpass(spikes), rtol=1e-5, atol=1e-7)


def test_nengo_dl_uses_the_tensorflow_builder_not_the_python_fallback():
    import warnings

    net, _ = _net(FilteredLIF(tau_out=TAU))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*native TensorFlow implementation")
        with nengo_dl.Simulator(net, progress_bar=False):
            pass


def test_tau_out_must_be_positive():
    with pytest.raises(nengo.exceptions.ValidationError, match="tau_out"):
        FilteredLIF(tau_out=0)
