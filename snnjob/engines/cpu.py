"""The compiled engine's CPU core: the whole spiking simulation of one image as one
compiled loop (numba), event-driven between layers. Needs numpy and numba only.

Per image and timestep, every LIF layer is updated in one pass over its neurons with
NengoDL's own LIF arithmetic (float32, the same operations in the same order as
``nengo_dl.neuron_builders.LIFBuilder.step``), and each spike is *scattered* into the next
weighted layer's input: ``kernel x kernel x filters`` multiply-adds per spike into a
convolution (``valid`` or TensorFlow's ``same`` padding, any stride), or one weight row
per spike into a dense layer or the readout, instead of a dense pass over every (mostly
silent) neuron. Average pools of any size (several in a row) sit in between: a pool cell's
sum is built from the spikes in the order TensorFlow adds them and divided by the cell's
size, as ``AveragePooling2D`` does. Convolutions, dense layers and pools are linear, so the
next layer receives ``W(pool(spikes))`` up to float rounding (summation order). The first
weighted layer's input, the image, is constant over time: it runs once per image.

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

# geometry table, one row per LIF layer (int64); G_KIND: 0 convolution, 1 dense
G_KIND, G_HIN, G_WIN, G_CIN, G_K, G_S, G_PT, G_PL, G_HOUT, G_WOUT, G_COUT, G_NPOOL = range(12)
# pool table (layers, pools, 2): each pool's size and its cells' offset in the scratch array
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
def _first_layer(img, geom, kernels, koff, biases, boff, out):
    """The first weighted layer of one (h, w, c) image, plus its bias: a convolution
    (zero padding outside the image) or a dense layer on the flat image."""
    cout = geom[0, G_COUT]
    if geom[0, G_KIND] == 1:
        for o in range(cout):
            out[o] = np.float32(0.0)
        for i in range(img.shape[0]):
            _axpy(out, 0, kernels, koff[0] + i * cout, img[i], cout)
    else:
        _conv_image(img, geom, kernels, koff, out)
    for p in range(out.shape[0] // cout):
        for co in range(cout):
            out[p * cout + co] += biases[boff[0] + co]


@njit(cache=True)
def _conv_image(img, geom, kernels, koff, out):
    """The first layer's convolution of one image, without its bias."""
    cout = geom[0, G_COUT]
    hin, win, cin = geom[0, G_HIN], geom[0, G_WIN], geom[0, G_CIN]
    k, s, pt, pl = geom[0, G_K], geom[0, G_S], geom[0, G_PT], geom[0, G_PL]
    hout = geom[0, G_HOUT]
    wout = geom[0, G_WOUT]
    for oy in range(hout):
        for ox in range(wout):
            o0 = (oy * wout + ox) * cout
            for co in range(cout):
                out[o0 + co] = np.float32(0.0)
            for dy in range(k):
                iy = oy * s + dy - pt
                if iy < 0 or iy >= hin:
                    continue
                for dx in range(k):
                    ix = ox * s + dx - pl
                    if ix < 0 or ix >= win:
                        continue
                    for ci in range(cin):
                        v = img[(iy * win + ix) * cin + ci]
                        w0 = koff[0] + ((dy * k + dx) * cin + ci) * cout
                        for co in range(cout):
                            out[o0 + co] += v * kernels[w0 + co]


@njit(cache=True, inline="always")
def _pool(li, spikes, ns, geom, pools, alpha, pooled, cells, cells2):  # noqa: C901
    """Average-pool layer ``li``'s ``ns`` spikes (indices into its (h, w, c) neurons)
    through its pools; returns ``(cells, n)``: the last pool's touched cells (indices into
    its (h, w, c) output), their *sums* left in ``pooled`` at the last pool's offset.

    Each pool cell is the sum of its ``size x size`` inputs in row-major order, divided by
    ``size * size`` when read (TensorFlow's ``AvgPool``: trailing rows and columns that do
    not fill a cell are dropped). The first pool adds the spikes in neuron order, which is
    that order; a later pool sums its inputs' cells in that order (a dense pass over the
    few touched cells' windows), so several pools in a row round as TensorFlow's do."""
    zero = np.float32(0.0)
    cout = geom[li, G_COUT]
    hh = geom[li, G_HOUT]
    ww = geom[li, G_WOUT]
    s = pools[li, 0, 0]
    base = pools[li, 0, 1]
    hp = hh // s
    wp = ww // s
    nc = 0
    for j in range(ns):
        i = spikes[j]
        ch = i % cout
        xx = (i // cout) % ww
        yy = i // (cout * ww)
        if yy // s >= hp or xx // s >= wp:
            continue  # a trailing row/column the pool drops
        cell = ((yy // s) * wp + xx // s) * cout + ch
        if pooled[base + cell] == zero:
            cells[nc] = cell
            nc += 1
        pooled[base + cell] += alpha
    hh, ww = hp, wp
    for q in range(1, geom[li, G_NPOOL]):
        div = np.float32(s * s)  # the previous pool's
        s = pools[li, q, 0]
        nbase = pools[li, q, 1]
        hp = hh // s
        wp = ww // s
        n2 = 0
        for j in range(nc):  # mark the parents (a sum of positive values is never 0)
            cell = cells[j]
            ch = cell % cout
            xx = (cell // cout) % ww
            yy = cell // (cout * ww)
            if yy // s >= hp or xx // s >= wp:
                pooled[base + cell] = zero  # dropped
                continue
            parent = ((yy // s) * wp + xx // s) * cout + ch
            if pooled[nbase + parent] == zero:
                pooled[nbase + parent] = np.float32(-1.0)
                cells2[n2] = parent
                n2 += 1
        for j in range(n2):
            parent = cells2[j]
            ch = parent % cout
            px = (parent // cout) % wp
            py = parent // (cout * wp)
            acc = zero
            for dy in range(s):
                for dx in range(s):
                    child = base + ((py * s + dy) * ww + px * s + dx) * cout + ch
                    acc += pooled[child] / div
                    pooled[child] = zero
            pooled[nbase + parent] = acc
        cells, cells2 = cells2, cells
        nc, hh, ww, base = n2, hp, wp, nbase
    return cells, nc


@njit(cache=True, nogil=True)
def _simulate_one(  # noqa: C901 - one fused loop, on purpose
    img, n_steps, geom, pools, noff, kernels, koff, biases, boff, gain, bias, v0, rt0, dense_w,
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
    full = np.float32(math.expm1(-dt / tau_rc))
    count = counts.shape[0] > 0

    v = v0.copy()
    rt = rt0.copy()
    J = np.empty(n_total, np.float32)
    special = np.zeros(n_total, np.bool_)
    inc = np.zeros(n_total, np.float32)  # each layer's weighted input (no bias) this step
    filt = np.zeros(n_total, np.float32)  # its lowpass state (layer_synapse)
    spikes = np.empty(n_total, np.int64)
    pooled = np.zeros(n_total, np.float32)  # pool cells' sums (pooled layers)
    cells_a = np.empty(n_total, np.int64)
    cells_b = np.empty(n_total, np.int64)
    dense_inc = np.zeros(n_out, np.float32)
    dense_filt = np.zeros(n_out, np.float32)
    y = np.zeros(n_out, np.float32)  # the probe's filter state
    x0 = np.empty(noff[1], np.float32)
    _first_layer(img, geom, kernels, koff, biases, boff, x0)
    for i in range(noff[1]):
        J[i] = bias[i] + gain[i] * x0[i]

    for t in range(n_steps):
        for li in range(n_layers):
            start = noff[li]
            stop = noff[li + 1]
            cout = geom[li, G_COUT]
            # 1. input currents (layers > 0): bias + gain * (filtered) weighted input
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
            # 4. send the spikes on: through the pools (sums, divided when read), then
            #    into the next convolution, dense layer or the readout
            npool = geom[li, G_NPOOL]
            if npool > 0:
                cells, nc = _pool(li, spikes, ns, geom, pools, alpha, pooled, cells_a, cells_b)
                last = npool - 1
                base = pools[li, last, 1]
                div = np.float32(pools[li, last, 0] * pools[li, last, 0])
                w = geom[li, G_WOUT]
                for q in range(npool):
                    w //= pools[li, q, 0]
            else:
                cells, nc, base, div, w = spikes, ns, 0, one, geom[li, G_WOUT]
            nxt = li + 1
            target = 2 if nxt == n_layers else geom[nxt, G_KIND]  # 0 conv, 1 dense, 2 readout
            if target != 2:
                pt, pl, kn, sn = geom[nxt, G_PT], geom[nxt, G_PL], geom[nxt, G_K], geom[nxt, G_S]
                hn, wn, cn = geom[nxt, G_HOUT], geom[nxt, G_WOUT], geom[nxt, G_COUT]
                k0, i0 = koff[nxt], noff[nxt]
            for j in range(nc):
                cell = cells[j]
                if npool > 0:
                    value = pooled[base + cell] / div
                    pooled[base + cell] = zero
                else:
                    value = alpha
                if target == 0:
                    ch = cell % cout
                    xx = (cell // cout) % w
                    yy = cell // (cout * w)
                    _scatter(yy + pt, xx + pl, ch, value, hn, wn, kn, sn, cout, cn, kernels, k0,
                             inc, i0)  # fmt: skip
                elif target == 1:
                    _axpy(inc, i0, kernels, k0 + cell * cn, value, cn)
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
    images, n_steps, geom, pools, noff, kernels, koff, biases, boff, gain, bias, v0, rt0,
    dense_w, dense_b, consts, filtered, trace, counts,
):  # fmt: skip
    """Simulate ``images`` (n, pixels) one after the other (without the GIL: callers run
    several threads on separate slices); ``trace`` (n, n_steps, out); ``counts`` (n, neurons)
    or (n, 0) for no spike counts."""
    for j in range(images.shape[0]):
        _simulate_one(
            images[j], n_steps, geom, pools, noff, kernels, koff, biases, boff, gain, bias, v0,
            rt0, dense_w, dense_b, consts, filtered, trace[j], counts[j],
        )  # fmt: skip
