"""The compiled engine's CPU core: the whole spiking simulation of one image as one
compiled loop (numba), event-driven between layers. Needs numpy and numba only.

Per image and timestep, every LIF layer is updated in one pass over its neurons with
NengoDL's own LIF arithmetic (float32, the same operations in the same order as
``nengo_dl.neuron_builders.LIFBuilder.step``), and each spike is *scattered* into the next
weighted layer's input: ``kernel x kernel x filters`` multiply-adds per spike, instead of a
dense convolution over every (mostly silent) neuron. Convolutions and average pools are
linear, so the next layer receives exactly ``conv(pool(spikes))`` up to float rounding
(summation order). The first convolution's input, the image, is constant over time: it
runs once per image.

``layer_synapse`` (:class:`snnjob.neurons.FilteredLIF`) lowpass-filters each LIF layer's
spikes before they are sent on. The filter is linear and time-invariant, so it is applied
after the next layer's convolution instead (``conv(filter(s)) == filter(conv(s))``), which
keeps the input sparse; the readout filter is the probe's, ``y = a y + b x``, with the
coefficients NengoDL derives from Nengo's zero-order-hold discretisation.

Layout: every activation is a flat ``(h, w, c)`` array (the order of Nengo's neurons and of
Keras' channels-last tensors); kernels are Keras' ``(k, k, c_in, c_out)``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# geometry table, one row per LIF layer (int64):
G_HIN, G_WIN, G_CIN, G_K, G_S, G_HOUT, G_WOUT, G_COUT, G_POOL, G_HP, G_WP = range(11)
# float32 constants: dt, tau_rc, tau_ref, min_voltage, alpha, decay, 1 - decay, probe a, b
C_DT, C_TAU_RC, C_TAU_REF, C_VMIN, C_ALPHA, C_DECAY, C_DECAY1, C_PA, C_PB, C_LAG = range(10)
# (C_LAG: 1 when the probe has a synapse, an update that NengoDL's probe reads one step late)


@njit(cache=True, inline="always")
def _lif(J, v, rt, dt, tau_rc, tau_ref, vmin, full):
    """NengoDL's ``LIFBuilder.step`` for one neuron: (spiked, voltage, refractory time).

    ``full`` is ``expm1(-dt / tau_rc)``, the factor of every neuron out of its refractory
    period (``delta_t == dt``); it is computed per neuron only in a partial step.
    """
    zero = np.float32(0.0)
    one = np.float32(1.0)
    delta_t = dt - rt
    if delta_t >= dt:
        f = full
    elif delta_t <= zero:
        f = zero  # expm1(-0 / tau_rc) == 0
    else:
        f = np.float32(math.expm1(-delta_t / tau_rc))
    v = v + (v - J) * f
    if v > one:
        partial = -tau_rc * np.float32(math.log1p((one - v) / (J - one)))
        return True, zero, tau_ref - partial
    if v < vmin:
        v = vmin
    return False, v, rt - dt


@njit(cache=True, inline="always")
def _axpy(acc, a0, w, w0, value, n):
    """``acc[a0:a0 + n] += value * w[w0:w0 + n]``: unsigned indices (no negative-index
    wraparound, so LLVM vectorises) and the common widths as compile-time constants."""
    a0 = np.uint64(a0)
    w0 = np.uint64(w0)
    if n == 128:
        for co in range(np.uint64(128)):
            acc[a0 + co] += value * w[w0 + co]
    elif n == 64:
        for co in range(np.uint64(64)):
            acc[a0 + co] += value * w[w0 + co]
    elif n == 32:
        for co in range(np.uint64(32)):
            acc[a0 + co] += value * w[w0 + co]
    else:
        for co in range(np.uint64(n)):
            acc[a0 + co] += value * w[w0 + co]


@njit(cache=True, inline="always")
def _scatter(y, x, c, value, hout, wout, k, s, cin, cout, kernels, k0, inc, i0):  # noqa: C901
    """Add one input unit's ``value`` (at (y, x, c) of a convolution's input) to the
    convolution's output ``inc[i0:]`` ((h, w, c_out)) in every window that covers it;
    the kernel is ``kernels[k0:]`` ((k, k, c_in, c_out))."""
    if s == 1:  # no integer divisions in the common case
        for dy in range(k):
            oy = y - dy
            if oy < 0:
                break
            if oy >= hout:
                continue
            for dx in range(k):
                ox = x - dx
                if ox < 0:
                    break
                if ox >= wout:
                    continue
                _axpy(inc, i0 + (oy * wout + ox) * cout, kernels,
                      k0 + ((dy * k + dx) * cin + c) * cout, value, cout)  # fmt: skip
        return
    for dy in range(k):
        oy = y - dy
        if oy < 0:
            break
        if oy % s != 0 or oy // s >= hout:
            continue
        oy //= s
        for dx in range(k):
            ox = x - dx
            if ox < 0:
                break
            if ox % s != 0 or ox // s >= wout:
                continue
            ox //= s
            _axpy(inc, i0 + (oy * wout + ox) * cout, kernels, k0 + ((dy * k + dx) * cin + c) * cout,
                  value, cout)  # fmt: skip


@njit(cache=True)
def _conv_image(img, geom, kernels, koff, biases, boff, out):
    """The first convolution (dense, valid padding) of one (h, w, c) image, plus its bias."""
    win = geom[0, G_WIN]
    cin = geom[0, G_CIN]
    k = geom[0, G_K]
    s = geom[0, G_S]
    hout = geom[0, G_HOUT]
    wout = geom[0, G_WOUT]
    cout = geom[0, G_COUT]
    for oy in range(hout):
        for ox in range(wout):
            o0 = (oy * wout + ox) * cout
            for co in range(cout):
                out[o0 + co] = np.float32(0.0)
            for dy in range(k):
                for dx in range(k):
                    for ci in range(cin):
                        v = img[((oy * s + dy) * win + ox * s + dx) * cin + ci]
                        w0 = koff[0] + ((dy * k + dx) * cin + ci) * cout
                        for co in range(cout):
                            out[o0 + co] += v * kernels[w0 + co]
            for co in range(cout):
                out[o0 + co] += biases[boff[0] + co]


@njit(cache=True, nogil=True)
def _simulate_one(  # noqa: C901 - one fused loop, on purpose
    img, n_steps, geom, noff, kernels, koff, biases, boff, gain, bias, v0, rt0, dense_w,
    dense_b, consts, filtered, trace, counts,
):  # fmt: skip
    """Simulate one image for ``n_steps``: ``trace`` (n_steps, n_out) gets what NengoDL's
    filtered output probe reads at every step (with a synapse, the filter state before that
    step's update: step 1 reads 0); ``counts`` (neurons, or empty) gets each neuron's spikes."""
    n_layers = geom.shape[0]
    n_out = dense_b.shape[0]
    n_total = noff[n_layers]
    dt = consts[C_DT]
    tau_rc = consts[C_TAU_RC]
    tau_ref = consts[C_TAU_REF]
    vmin = consts[C_VMIN]
    alpha = consts[C_ALPHA]
    decay = consts[C_DECAY]
    decay1 = consts[C_DECAY1]
    pa = consts[C_PA]
    pb = consts[C_PB]
    lag = consts[C_LAG] > 0
    zero = np.float32(0.0)
    one = np.float32(1.0)
    quarter = np.float32(0.25)
    full = np.float32(math.expm1(-dt / tau_rc))
    count = counts.shape[0] > 0

    v = v0.copy()
    rt = rt0.copy()
    J = np.empty(n_total, np.float32)
    special = np.zeros(n_total, np.bool_)
    inc = np.zeros(n_total, np.float32)  # each layer's convolution output (no bias) this step
    filt = np.zeros(n_total, np.float32)  # its lowpass state (layer_synapse)
    spikes = np.empty(n_total, np.int64)
    pooled = np.zeros(n_total, np.float32)  # 2x2 sums of a layer's spikes (pooled layers)
    cells = np.empty(n_total, np.int64)
    dense_inc = np.zeros(n_out, np.float32)
    dense_filt = np.zeros(n_out, np.float32)
    y = np.zeros(n_out, np.float32)  # the probe's filter state
    x0 = np.empty(noff[1], np.float32)
    _conv_image(img, geom, kernels, koff, biases, boff, x0)
    for i in range(noff[1]):
        J[i] = bias[i] + gain[i] * x0[i]

    for t in range(n_steps):
        for li in range(n_layers):
            start = noff[li]
            stop = noff[li + 1]
            cout = geom[li, G_COUT]
            # 1. input currents (layers > 0): bias + gain * (filtered) convolution output
            if li > 0:
                cb = biases[boff[li] : boff[li] + cout]
                npos = (stop - start) // cout
                for p in range(np.uint64(npos)):
                    row = np.uint64(start) + p * np.uint64(cout)
                    for c in range(np.uint64(cout)):
                        i = row + c
                        a = inc[i]
                        inc[i] = zero
                        if filtered:
                            a = decay * filt[i] + decay1 * a
                            filt[i] = a
                        J[i] = bias[i] + gain[i] * (a + cb[c])
            # 2. the common case of every neuron, branch-free: out of its refractory period
            #    (or wholly in it), no spike; anything else is marked for the exact step
            for i in range(np.uint64(start), np.uint64(stop)):
                r = rt[i]
                vi = v[i]
                f = full if r <= zero else zero
                vn = vi + (vi - J[i]) * f
                sp = (vn > one) | ((r > zero) & (r < dt))
                special[i] = sp
                v[i] = vi if sp else max(vn, vmin)
                rt[i] = r if sp else r - dt
            # 3. the exact step where a neuron spikes or leaves its refractory period
            ns = 0
            for i in range(np.uint64(start), np.uint64(stop)):
                if special[i]:
                    sp, v[i], rt[i] = _lif(J[i], v[i], rt[i], dt, tau_rc, tau_ref, vmin, full)
                    if sp:
                        spikes[ns] = i - start
                        ns += 1
            if count:
                for j in range(ns):
                    counts[start + spikes[j]] += 1
            # 4. send the spikes on: through the pool (2x2 sums, as NengoDL's average pool
            #    adds them), then into the next convolution or the dense readout
            w = geom[li, G_WOUT]
            nc = ns
            if geom[li, G_POOL]:
                hp = geom[li, G_HP]
                wp = geom[li, G_WP]
                nc = 0
                for j in range(ns):
                    i = spikes[j]
                    ch = i % cout
                    xx = (i // cout) % w
                    yy = i // (cout * w)
                    if yy // 2 >= hp or xx // 2 >= wp:
                        continue  # an odd trailing row/column the pool drops
                    cell = ((yy // 2) * wp + xx // 2) * cout + ch
                    if pooled[cell] == zero:
                        cells[nc] = cell
                        nc += 1
                    pooled[cell] += alpha
                w = wp
            else:
                for j in range(ns):
                    cells[j] = spikes[j]
            for j in range(nc):
                cell = cells[j]
                if geom[li, G_POOL]:
                    value = pooled[cell] * quarter
                    pooled[cell] = zero
                else:
                    value = alpha
                if li + 1 < n_layers:
                    ch = cell % cout
                    xx = (cell // cout) % w
                    yy = cell // (cout * w)
                    nxt = li + 1
                    _scatter(yy, xx, ch, value, geom[nxt, G_HOUT], geom[nxt, G_WOUT],
                             geom[nxt, G_K], geom[nxt, G_S], cout, geom[nxt, G_COUT], kernels,
                             koff[nxt], inc, noff[nxt])  # fmt: skip
                else:
                    row = cell * n_out
                    for o in range(n_out):
                        dense_inc[o] += value * dense_w[row + o]
        for o in range(n_out):
            a = dense_inc[o]
            dense_inc[o] = zero
            if filtered:
                a = decay * dense_filt[o] + decay1 * a
                dense_filt[o] = a
            if lag:  # the probe reads the filter before this step's update
                trace[t, o] = y[o]
                y[o] = pa * y[o] + pb * (a + dense_b[o])
            else:  # no synapse: the probe reads the output itself
                trace[t, o] = a + dense_b[o]


@njit(cache=True, nogil=True)
def simulate(
    images, n_steps, geom, noff, kernels, koff, biases, boff, gain, bias, v0, rt0, dense_w,
    dense_b, consts, filtered, trace, counts,
):  # fmt: skip
    """Simulate ``images`` (n, pixels) one after the other (without the GIL: callers run
    several threads on separate slices); ``trace`` (n, n_steps, out); ``counts`` (n, neurons)
    or (n, 0) for no spike counts."""
    for j in range(images.shape[0]):
        _simulate_one(
            images[j], n_steps, geom, noff, kernels, koff, biases, boff, gain, bias, v0, rt0,
            dense_w, dense_b, consts, filtered, trace[j], counts[j],
        )  # fmt: skip
