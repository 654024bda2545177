"""Spike counts of the LIF layers: the diagnostic pass behind ``OUT/spikes`` (and rate probes).

:func:`count_spikes` simulates the evaluation's network (same neurons, same evaluation seed,
so the same initial states) on a few test images and counts every neuron's spikes, reduced
inside the graph: each LIF layer gets two probes that keep only the last step
(``keep_history=False``), so memory is ``minibatch x neurons``, whatever ``n_steps``:

- ``acc``: the neurons' output through a discrete integrator ``z / (z - 1)``. A probe's
  synapse is an update, so at the last step ``T`` it holds ``sum(output[1..T-1])``;
- ``last``: the output at step ``T``.

A LIF spike is one step of ``amplitude / dt`` (at most one per step), so with plain LIF
neurons the count is ``(acc + last) * dt / amplitude``. :class:`~snnjob.neurons.FilteredLIF`
outputs its spikes lowpass-filtered, ``f[t] = a f[t-1] + (1 - a) s[t]`` from ``f[0] = 0``;
summing over ``t`` gives ``sum(s) = sum(f) + a / (1 - a) f[T] = acc + last / (1 - a)``:
the spikes, not the filtered values, are counted. Counts are rounded to integers (the
float32 sums are within 1e-3 of them; the tests compare them with a per-step probe).

:func:`rate_mode_rates`: mean rates of each layer with ``LIFRate`` neurons (what training
optimises), for checking the rate regulariser of :mod:`snnjob.train`.
"""

from __future__ import annotations

import time

import nengo
import numpy as np

from snnjob.backend import nengo_dl
from snnjob.batches import minibatches, over_time
from snnjob.config import ModelConfig
from snnjob.evaluate import unroll_for
from snnjob.messages import SpikeCounts
from snnjob.network import build_network, set_layer_params
from snnjob.neurons import FilteredLIF
from snnjob.params import Params

_INTEGRATOR = nengo.LinearFilter([1, 0], [1, -1], analog=False)  # y[t] = y[t-1] + x[t]


def count_spikes(
    model_cfg: ModelConfig,
    params: Params,
    images: np.ndarray,
    *,
    n_steps: int,
    seed: int,
    minibatch_size: int = 50,
    unroll: int = 10,
    device: str | None = None,
) -> SpikeCounts:
    """Spikes of every LIF neuron on ``images`` (N, pixels), each shown for ``n_steps`` steps.

    The result does not depend on ``minibatch_size`` (every image starts from the same
    state, as in :class:`~snnjob.evaluate.SpikingEvaluator`).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 2 or len(images) == 0:
        raise ValueError(f"images must have shape (N, pixels) with N >= 1, got {images.shape}")
    t0 = time.perf_counter()
    handles = build_network(model_cfg, mode="eval", seed=seed)
    probes = {}
    with handles.net:
        nengo_dl.configure_settings(keep_history=True)
        for name, neurons in handles.lif.items():
            acc = nengo.Probe(neurons, synapse=_INTEGRATOR, label=f"{name}_acc")
            last = nengo.Probe(neurons, label=f"{name}_last")
            handles.net.config[acc].keep_history = False
            handles.net.config[last].keep_history = False
            probes[name] = (acc, last, neurons.ensemble.neuron_type)
    mb = int(minibatch_size)
    n = len(images)
    counts = {name: np.zeros(neurons.size_out, np.int64) for name, neurons in handles.lif.items()}
    active = dict.fromkeys(handles.lif, 0)
    with nengo_dl.Simulator(
        handles.net,
        minibatch_size=mb,
        seed=seed,
        unroll_simulation=unroll_for(n_steps, unroll),
        device=device,
        progress_bar=False,
    ) as sim:
        set_layer_params(handles, params)
        for _, batch, real in minibatches(images, mb):  # the padding is dropped below
            out = sim.predict_on_batch({handles.inp: over_time(batch, n_steps)})
            for name, (acc, last, neuron_type) in probes.items():
                per_image = _spikes(out[acc][:real, -1], out[last][:real, -1], neuron_type, sim.dt)
                counts[name] += per_image.sum(axis=0)
                active[name] += int(np.count_nonzero(per_image))
        dt = float(sim.dt)
    return SpikeCounts(
        n_images=n, n_steps=int(n_steps), dt=dt, counts=counts, active=active,
        wall_time_s=time.perf_counter() - t0,
    )  # fmt: skip


def _spikes(acc: np.ndarray, last: np.ndarray, neuron_type, dt: float) -> np.ndarray:
    """Per image and neuron, the spike count from the two probes (see the module docstring)."""
    total = acc.astype(np.float64)
    if isinstance(neuron_type, FilteredLIF):
        total += last / (1.0 - np.exp(-dt / neuron_type.tau_out))
    else:
        total += last
    return np.rint(total * dt / neuron_type.amplitude).astype(np.int64)


def rate_mode_rates(
    model_cfg: ModelConfig, params: Params, images: np.ndarray, *, minibatch_size: int = 100
) -> dict[str, float]:
    """Mean firing rate (Hz) of each LIF layer with ``LIFRate`` neurons (one step), averaged
    over neurons and ``images`` (padding of the last minibatch excluded)."""
    handles = build_network(model_cfg, mode="rate")
    with handles.net:
        probes = {name: nengo.Probe(neurons) for name, neurons in handles.lif.items()}
    images = np.asarray(images, dtype=np.float32)
    sums = dict.fromkeys(probes, 0.0)
    mb, n = int(minibatch_size), len(images)
    with nengo_dl.Simulator(handles.net, minibatch_size=mb, progress_bar=False) as sim:
        set_layer_params(handles, params)
        for _, batch, real in minibatches(images, mb):
            out = sim.predict_on_batch({handles.inp: over_time(batch, 1)})
            for name, p in probes.items():
                sums[name] += float(out[p][:real, -1].mean(axis=1).sum())
    return {name: s / n / model_cfg.amplitude for name, s in sums.items()}
