"""What the compiled engine simulates: the network as plain arrays (a :class:`Program`).

:func:`build_program` builds the evaluation network exactly as the ``nengo_dl`` engine does
(:func:`snnjob.network.build_network`, same evaluation seed) and runs Nengo's own builder
over it, as ``nengo_dl.Simulator`` does, without creating a TensorFlow simulator. The
layers are the config's :class:`~snnjob.architecture.NetSpec` stages (as
:class:`~snnjob.engines.geometry.LayerGeometry`: conv or dense, padding, pools). Every
number the simulation needs is read from that built model: each LIF layer's gains and
biases, its neurons' initial voltages and refractory times (drawn by Nengo from the
evaluation seed), and the neuron type's constants; the output probe's filter coefficients
come from Nengo's zero-order-hold discretisation, as NengoDL's ``LowpassBuilder`` derives
them. Nothing of Nengo's random draws is re-implemented here.

A :class:`Program` is numpy only: it can be saved (``.npz``, no pickle) and run where
TensorFlow is not installed (the JAX core on a GPU machine).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snnjob.engines.geometry import LayerGeometry

DT = 0.001  # the simulator timestep snnjob uses everywhere (NengoDL's default)
READOUT = "dense"  # the readout layer's name (snnjob.architecture.READOUT)


@dataclass
class Program:
    """The spiking network of one (parameter set, evaluation seed), as float32 arrays."""

    layers: list[LayerGeometry]
    kernels: list[np.ndarray]  # per layer: conv (k, k, c_in, c_out), dense (inputs, units)
    conv_biases: list[np.ndarray]  # per layer (c_out,) or (units,): the weighted layer's bias
    gains: list[np.ndarray]  # per layer (n_neurons,)
    biases: list[np.ndarray]  # per layer (n_neurons,): the neurons' bias currents
    voltages: list[np.ndarray]  # per layer (n_neurons,): initial voltages
    refractory: list[np.ndarray]  # per layer (n_neurons,): initial refractory times
    dense_kernel: np.ndarray  # (features, classes)
    dense_bias: np.ndarray  # (classes,)
    dt: float
    tau_rc: float
    tau_ref: float
    min_voltage: float
    amplitude: float
    tau_out: float  # layer_synapse; 0: plain LIF
    probe_a: float  # probe filter y = a * y + b * x (NengoDL's LowpassBuilder coefficients)
    probe_b: float
    probe_lag: bool = True  # a synapse on the probe: NengoDL's probe reads it one step late
    meta: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return int(self.dense_bias.shape[0])

    @property
    def n_pixels(self) -> int:
        h, w, c = self.layers[0].in_shape
        return h * w * c

    def float32_constants(self) -> dict[str, np.float32]:
        """The constants as NengoDL computes them in float32 (``alpha = amplitude / dt``;
        the layer filter's ``decay = exp(-dt / tau_out)``, as ``FilteredLIFBuilder``)."""
        f = np.float32
        dt = f(self.dt)
        decay = np.exp(-dt / f(self.tau_out)) if self.tau_out > 0 else f(0.0)
        return {
            "dt": dt, "tau_rc": f(self.tau_rc), "tau_ref": f(self.tau_ref),
            "min_voltage": f(self.min_voltage), "alpha": f(self.amplitude) / dt,
            "decay": f(decay), "decay1": f(1.0) - f(decay),
            "probe_a": f(self.probe_a), "probe_b": f(self.probe_b),
        }  # fmt: skip

    # ---- files (npz + JSON header, no pickle) ----

    _SCALARS = ("dt", "tau_rc", "tau_ref", "min_voltage", "amplitude", "tau_out", "probe_a",
                "probe_b", "probe_lag")  # fmt: skip
    _PER_LAYER = ("kernels", "conv_biases", "gains", "biases", "voltages", "refractory")

    def save(self, path: str | Path) -> None:
        header = {
            "layers": [g.to_json() for g in self.layers],
            **{k: getattr(self, k) for k in self._SCALARS},
            "meta": self.meta,
        }
        arrays = {"header": np.frombuffer(json.dumps(header).encode(), np.uint8)}
        for key in self._PER_LAYER:
            for i, a in enumerate(getattr(self, key)):
                arrays[f"{key}_{i}"] = a
        arrays["dense_kernel"], arrays["dense_bias"] = self.dense_kernel, self.dense_bias
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Program:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(z["header"].tobytes().decode())
            layers = [LayerGeometry.from_json(g) for g in header["layers"]]
            per_layer = {
                key: [z[f"{key}_{i}"] for i in range(len(layers))] for key in cls._PER_LAYER
            }
            return cls(
                layers=layers, **per_layer, dense_kernel=z["dense_kernel"],
                dense_bias=z["dense_bias"], **{k: header[k] for k in cls._SCALARS},
                meta=header.get("meta", {}),
            )  # fmt: skip


def probe_coefficients(tau: float, dt: float = DT) -> tuple[float, float]:
    """``(a, b)`` of NengoDL's lowpass probe filter ``y = a y + b x`` (``LowpassBuilder``:
    Nengo's zero-order-hold ``cont2discrete``, its delay removed; a pass-through when
    ``tau <= 0.03 dt``, and for no synapse)."""
    import nengo
    from nengo.utils.filter_design import cont2discrete

    if tau <= 0.03 * dt:
        return 0.0, 1.0
    syn = nengo.Lowpass(tau)
    num, den, _ = cont2discrete((syn.num, syn.den), dt, method="zoh")
    num = num.flatten()
    num = num[1:] if num[0] == 0 else num
    return float(-den[1]), float(num[0])


def build_program(model_cfg, params: dict[str, np.ndarray], seed: int) -> Program:
    """The evaluation network of ``model_cfg`` with ``params`` and evaluation ``seed``, read
    from Nengo's built model (see the module docstring). Imports Nengo, NengoDL and TF."""
    import nengo
    from nengo.rc import rc as nengo_rc

    from snnjob.backend import nengo_dl
    from snnjob.network import build_network
    from snnjob.params import check_compatible

    spec = model_cfg.net
    check_compatible(params, spec.weight_shapes())
    handles = build_network(model_cfg, mode="eval", seed=seed)
    saved = nengo_rc.get("precision", "bits")
    nengo_rc.set("precision", "bits", "32")  # as nengo_dl.Simulator does for float32
    try:
        model = nengo_dl.builder.NengoModel(
            dt=DT, builder=nengo_dl.builder.NengoBuilder(), fail_fast=False
        )
        model.build(handles.net)
    finally:
        nengo_rc.set("precision", "bits", saved)

    layers = [LayerGeometry.from_stage(st) for st in spec.stages]
    gains, biases, voltages, refractory = [], [], [], []
    neuron_type = None
    for g in layers:
        neurons = handles.lif[g.name]
        built = model.params[neurons.ensemble]
        sig = model.sig[neurons]
        gains.append(np.asarray(built.gain, np.float32))
        biases.append(np.asarray(built.bias, np.float32))
        voltages.append(np.array(sig["voltage"].initial_value, np.float32))
        refractory.append(np.array(sig["refractory_time"].initial_value, np.float32))
        neuron_type = neurons.ensemble.neuron_type
        if len(gains[-1]) != g.n_neurons:
            raise AssertionError(f"{g.name}: {len(gains[-1])} neurons, expected {g.n_neurons}")
    if not isinstance(neuron_type, nengo.LIF):
        raise TypeError(f"the compiled engine simulates LIF neurons, not {neuron_type}")
    probe_syn = handles.out_p_filt.synapse
    a, b = probe_coefficients(probe_syn.tau) if probe_syn is not None else (0.0, 1.0)
    f32 = lambda x: np.ascontiguousarray(x, dtype=np.float32)  # noqa: E731
    return Program(
        layers=layers,
        kernels=[f32(params[f"{g.name}/kernel"]) for g in layers],
        conv_biases=[f32(params[f"{g.name}/bias"]) for g in layers],
        gains=gains, biases=biases, voltages=voltages, refractory=refractory,
        dense_kernel=f32(params[f"{READOUT}/kernel"]),
        dense_bias=f32(params[f"{READOUT}/bias"]),
        dt=float(model.dt), tau_rc=float(neuron_type.tau_rc), tau_ref=float(neuron_type.tau_ref),
        min_voltage=float(neuron_type.min_voltage), amplitude=float(neuron_type.amplitude),
        tau_out=float(getattr(neuron_type, "tau_out", 0.0)), probe_a=a, probe_b=b,
        probe_lag=probe_syn is not None,
        meta={"preset": model_cfg.network_name, "net": spec.describe(), "eval_seed": int(seed)},
    )  # fmt: skip
