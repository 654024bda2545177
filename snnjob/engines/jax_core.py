"""The compiled engine's JAX core: the whole spiking network as one jitted program (dense).

Where the CPU core (:mod:`snnjob.engines.cpu`) is event-driven, this core is dense: every
step updates every LIF neuron of every layer and runs every convolution over the whole
(mostly silent) activation, which is what an accelerator does well. One jitted function
per (batch size, ``n_steps``) runs ``jax.lax.scan`` over time of one fused step of the
whole network; the first weighted layer's input, the image, is constant, so it runs once
per image, outside the scan.

The semantics are the CPU core's, which are NengoDL's (see :mod:`snnjob.engines.cpu`):

- NengoDL's ``LIFBuilder.step`` in float32, the same operations in the same order;
- within a step, spikes travel through every layer (layer ``i + 1`` reads layer ``i``'s
  output of the same step); ``J = bias + gain * (W(input) + layer bias)``, ``W`` a
  convolution (``valid`` or ``same`` padding, TensorFlow's, with strides) or a dense layer
  on the flattened ``(h, w, c)`` input;
- an average pool of size ``s`` is the sum of its ``s x s`` values divided by ``s * s``
  (TensorFlow's ``AvgPool``), trailing rows/columns that do not fill a cell dropped; several
  pools run one after the other;
- ``layer_synapse`` (``tau_out > 0``) lowpass-filters each layer's output,
  ``f = decay * f + (1 - decay) * x``; as in the CPU core the filter runs on the next
  layer's weighted input (without its bias), which is the same linear map;
- the output probe with a synapse reads its filter ``y = a y + b x`` *before* the step's
  update (step 1 reads 0: NengoDL's one-step lag, ``Program.probe_lag``); without one it
  reads the readout ``x`` itself.

Convolutions, dense layers and the readout run at ``Precision.HIGHEST`` (true float32, no
TF32 on a GPU). Memory is bounded: the scan carries only the network's state (plus
per-neuron spike counts when asked); the probe trace is its only per-step output, and
images run in chunks of ``batch_size``.

Imports numpy, jax, :mod:`snnjob.batches`, :mod:`snnjob.engines.program` and
:mod:`snnjob.engines.geometry` only (no TensorFlow, Nengo or numba), so it runs on a GPU
machine that has JAX alone.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from snnjob.batches import minibatches
from snnjob.engines.geometry import unsupported_geometry
from snnjob.engines.program import Program

HIGHEST = jax.lax.Precision.HIGHEST
_DIMS = ("NHWC", "HWIO", "NHWC")
_EXPM1_TAYLOR = tuple(np.float32(1.0 / f) for f in (5040, 720, 120, 24, 6, 2))


def expm1(x):
    """``expm1`` in float32, rounded as well as the CPU core's (libm's ``expm1f``).

    XLA's float32 ``expm1`` (on the CPU) is off by an ulp for most arguments of the LIF
    update (~80% of ``[-0.05, 0]``, against <1% for libm's), and an ulp in a voltage can
    move a spike by a step. For ``|x| <= 0.1`` (every full step while ``tau_rc >= 10 dt``,
    and the partial ones) this is ``x + x^2 p(x)``, ``p`` the Taylor series to ``x^7``:
    the tail is under 5% of ``x``, so its float32 rounding is below 0.03 ulp of the result,
    which is rounded once; XLA's ``expm1`` elsewhere. Plain multiply-adds: the same on
    every backend (up to fused multiply-adds).
    """
    p = _EXPM1_TAYLOR[0]
    for c in _EXPM1_TAYLOR[1:]:
        p = c + x * p
    return jnp.where(jnp.abs(x) <= np.float32(0.1), x + (x * x) * p, jnp.expm1(x))


class JaxCore:
    """A :class:`Program` as one jitted JAX function on ``device`` (None: JAX's default).

    ``batch_size``: images per jitted call (default 1000 on an accelerator, 50 on the CPU);
    a larger request runs in chunks, the last one padded, so one compilation serves all.
    """

    name = "jax"

    def __init__(self, program: Program, device=None, *, batch_size: int | None = None):
        self.program = program
        self.device = device if device is not None else jax.devices()[0]
        if batch_size is None:
            batch_size = 50 if self.device.platform == "cpu" else 1000
        self.batch_size = max(1, int(batch_size))
        p = program
        c = p.float32_constants()
        self.filtered = bool(p.tau_out > 0)
        self.probe_lag = bool(getattr(p, "probe_lag", True))
        self._consts = {k: np.float32(v) for k, v in c.items()}
        why = unsupported_geometry(p.layers)
        if why is not None:
            raise ValueError(f"the JAX core cannot run this program: {why}")
        self._geometry = list(p.layers)
        f32 = lambda a, shape=None: np.asarray(a, np.float32).reshape(  # noqa: E731
            shape if shape is not None else np.shape(a)
        )
        params = {
            "kernels": [f32(k) for k in p.kernels],
            "conv_biases": [f32(b) for b in p.conv_biases],
            "gains": [f32(a, _shape(g)) for a, g in zip(p.gains, p.layers)],
            "biases": [f32(a, _shape(g)) for a, g in zip(p.biases, p.layers)],
            "v0": [f32(a, _shape(g)) for a, g in zip(p.voltages, p.layers)],
            "rt0": [f32(a, _shape(g)) for a, g in zip(p.refractory, p.layers)],
            "dense_w": f32(p.dense_kernel),
            "dense_b": f32(p.dense_bias),
        }
        self._params = jax.device_put(params, self.device)
        self._n_neurons = int(sum(g.n_neurons for g in p.layers))
        self._fn = jax.jit(self._simulate, static_argnames=("n_steps", "count_spikes"))

    @property
    def n_neurons(self) -> int:
        return self._n_neurons

    # ---- the program ----

    def _lif(self, J, v, rt):
        """NengoDL's ``LIFBuilder.step``: (spiked, voltage, refractory time)."""
        c = self._consts
        dt, tau_rc = c["dt"], c["tau_rc"]
        delta_t = jnp.clip(dt - rt, np.float32(0.0), dt)
        dv = (v - J) * expm1(-delta_t / tau_rc)
        v = v + dv
        spiked = v > np.float32(1.0)
        partial_ref = -tau_rc * jnp.log1p((np.float32(1.0) - v) / (J - np.float32(1.0)))
        rt = jnp.where(spiked, c["tau_ref"] - partial_ref, rt - dt)
        v = jnp.where(spiked, np.float32(0.0), jnp.maximum(v, c["min_voltage"]))
        return spiked, v, rt

    @staticmethod
    def _weighted(x, kernel, g):
        """Layer ``g``'s weights on its input ``x`` (no bias): a convolution of the
        ``(n, h, w, c)`` input, or a dense layer on it flattened (row-major)."""
        if g.kind == "dense":
            return jnp.dot(x.reshape(x.shape[0], -1), kernel, precision=HIGHEST)
        x = x.reshape((x.shape[0], *g.in_shape))
        return jax.lax.conv_general_dilated(
            x, kernel, window_strides=(g.strides, g.strides), padding=g.padding.upper(),
            dimension_numbers=_DIMS, precision=HIGHEST,
        )  # fmt: skip

    @staticmethod
    def _pool(x, size):
        """``size x size`` average pool, stride ``size``: the values' sum divided by
        ``size * size`` (trailing rows/cols that do not fill a cell dropped)."""
        n, h, w, ch = x.shape
        hp, wp = h // size, w // size
        x = x[:, : size * hp, : size * wp, :].reshape(n, hp, size, wp, size, ch)
        return x.sum(axis=(2, 4)) / np.float32(size * size)

    def _initial_state(self, params, n: int, count_spikes: bool) -> dict:
        """The scan's carry for ``n`` images: only state (and the spike counts if asked)."""
        geo = self._geometry
        n_out = params["dense_b"].shape[0]
        n_filt = len(geo) - 1 if self.filtered else 0  # the layer filters' states
        carry = {
            "v": [jnp.broadcast_to(a, (n, *a.shape)) for a in params["v0"]],
            "rt": [jnp.broadcast_to(a, (n, *a.shape)) for a in params["rt0"]],
            "filt": [jnp.zeros((n, *_shape(geo[i])), jnp.float32) for i in range(1, 1 + n_filt)],
            "dense_filt": jnp.zeros((n, n_out if self.filtered else 0), jnp.float32),
            "y": jnp.zeros((n, n_out if self.probe_lag else 0), jnp.float32),
        }
        if count_spikes:
            carry["counts"] = [jnp.zeros((n, *_shape(g)), jnp.int32) for g in geo]
        return carry

    def _readout(self, params, carry, new, out):
        """The dense layer (and its filter) and the probe; returns what the probe reads."""
        c = self._consts
        n = out.shape[0]
        a = jnp.dot(out.reshape(n, -1), params["dense_w"], precision=HIGHEST)
        if self.filtered:
            a = c["decay"] * carry["dense_filt"] + c["decay1"] * a
        new["dense_filt"] = a if self.filtered else carry["dense_filt"]
        x = a + params["dense_b"]
        if not self.probe_lag:  # no synapse: the probe reads the output itself
            new["y"] = carry["y"]
            return x
        y = carry["y"]  # the probe reads its filter before this step's update
        new["y"] = c["probe_a"] * y + c["probe_b"] * x
        return y

    def _simulate(self, params, images, *, n_steps: int, count_spikes: bool):
        c = self._consts
        alpha, decay, decay1 = c["alpha"], c["decay"], c["decay1"]
        geo = self._geometry
        n = images.shape[0]

        # layer 0's input current is constant: its weights run once per image
        x0 = self._weighted(images, params["kernels"][0], geo[0]) + params["conv_biases"][0]
        J0 = params["biases"][0] + params["gains"][0] * x0

        def step(carry, _):
            new = {"v": [], "rt": [], "filt": [], "counts": []}
            out = None
            for i, g in enumerate(geo):
                if i == 0:
                    J = J0
                else:
                    a = self._weighted(out, params["kernels"][i], g)
                    if self.filtered:
                        a = decay * carry["filt"][i - 1] + decay1 * a
                        new["filt"].append(a)
                    J = params["biases"][i] + params["gains"][i] * (a + params["conv_biases"][i])
                spiked, vi, rti = self._lif(J, carry["v"][i], carry["rt"][i])
                new["v"].append(vi)
                new["rt"].append(rti)
                if count_spikes:
                    new["counts"].append(carry["counts"][i] + spiked.astype(jnp.int32))
                out = jnp.where(spiked, alpha, np.float32(0.0))
                for size in g.pools:
                    out = self._pool(out, size)
            if not count_spikes:
                del new["counts"]
            return new, self._readout(params, carry, new, out)

        carry = self._initial_state(params, n, count_spikes)
        carry, trace = jax.lax.scan(step, carry, None, length=n_steps)
        trace = jnp.swapaxes(trace, 0, 1)
        if count_spikes:
            counts = jnp.concatenate([cnt.reshape(n, -1) for cnt in carry["counts"]], axis=1)
            return trace, counts
        return trace, None

    # ---- running ----

    def run(
        self, images: np.ndarray, n_steps: int, *, count_spikes: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(trace, counts)``: the probe's output (n, n_steps, classes) float32 and, with
        ``count_spikes``, each image's spikes per neuron (n, neurons) int32."""
        images = np.ascontiguousarray(images, np.float32).reshape(len(images), -1)
        n = len(images)
        n_steps = int(n_steps)
        n_out = self.program.n_classes
        trace = np.empty((n, n_steps, n_out), np.float32)
        counts = np.zeros((n, self.n_neurons), np.int32) if count_spikes else None
        if n == 0 or n_steps == 0:
            return trace, counts
        bs = min(self.batch_size, n)
        pending = None  # one chunk in flight while the next is dispatched

        def collect(item):
            start, stop, (tr, cnt) = item
            trace[start:stop] = np.asarray(tr)[: stop - start]
            if count_spikes:
                counts[start:stop] = np.asarray(cnt)[: stop - start]

        # the last chunk padded with zeros: one compilation per (bs, n_steps)
        for start, chunk, real in minibatches(images, bs, pad="zeros"):
            x = jax.device_put(chunk, self.device)
            result = self._fn(self._params, x, n_steps=n_steps, count_spikes=count_spikes)
            if pending is not None:
                collect(pending)
            pending = (start, start + real, result)
        collect(pending)
        return trace, counts


def _shape(g) -> tuple[int, ...]:
    """A layer's neurons as an array: ``(h, w, c)`` for a convolution, ``(units,)`` dense."""
    return tuple(g.out_shape) if g.kind == "conv" else (int(g.out_shape[2]),)
