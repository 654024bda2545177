"""Run a :class:`~snnjob.engines.program.Program` on the CPU core (numpy + numba only)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from snnjob.engines import cpu
from snnjob.engines.geometry import LayerGeometry, unsupported_geometry
from snnjob.engines.program import Program


class CpuCore:
    """A program packed into the flat arrays of :func:`snnjob.engines.cpu.simulate`."""

    name = "cpu"

    def __init__(self, program: Program, *, threads: int = 1):
        self.program = program
        self.threads = max(1, int(threads))
        p = program
        why = unsupported_geometry(p.layers)
        if why is not None:
            raise ValueError(f"the CPU core cannot run this program: {why}")
        self.geom, self.pools = geometry_tables(p.layers)
        self.noff = np.concatenate([[0], np.cumsum([g.n_neurons for g in p.layers])]).astype(
            np.int64
        )
        self.kernels, self.koff = _flat(p.kernels)
        self.conv_biases, self.boff = _flat(p.conv_biases)
        self.gain = np.concatenate(p.gains).astype(np.float32)
        self.bias = np.concatenate(p.biases).astype(np.float32)
        self.v0 = np.concatenate(p.voltages).astype(np.float32)
        self.rt0 = np.concatenate(p.refractory).astype(np.float32)
        self.dense_w = np.ascontiguousarray(p.dense_kernel, np.float32).ravel()
        self.dense_b = np.ascontiguousarray(p.dense_bias, np.float32)
        c = p.float32_constants()
        self.consts = np.array(
            [c["dt"], c["tau_rc"], c["tau_ref"], c["min_voltage"], c["alpha"], c["decay"],
             c["decay1"], c["probe_a"], c["probe_b"], np.float32(p.probe_lag)],
            np.float32,
        )  # fmt: skip
        self.filtered = bool(p.tau_out > 0)

    @property
    def n_neurons(self) -> int:
        return int(self.noff[-1])

    def run(
        self, images: np.ndarray, n_steps: int, *, count_spikes: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(trace, counts)``: the probe's output (n, n_steps, classes) float32 and, with
        ``count_spikes``, each image's spikes per neuron (n, neurons) int32. Images are
        split over :attr:`threads` threads (the compiled loop releases the GIL)."""
        images = np.ascontiguousarray(images, np.float32)
        n = len(images)
        trace = np.empty((n, int(n_steps), len(self.dense_b)), np.float32)
        counts = np.zeros((n, self.n_neurons if count_spikes else 0), np.int32)

        def part(a: int, b: int) -> None:
            cpu.simulate(
                images[a:b], int(n_steps), self.geom, self.pools, self.noff, self.kernels,
                self.koff, self.conv_biases, self.boff, self.gain, self.bias, self.v0, self.rt0,
                self.dense_w, self.dense_b, self.consts, self.filtered, trace[a:b], counts[a:b],
            )  # fmt: skip

        threads = min(self.threads, n)
        if threads <= 1:
            part(0, n)
        else:
            bounds = np.linspace(0, n, threads + 1).astype(int)
            with ThreadPoolExecutor(threads) as pool:
                for f in [pool.submit(part, a, b) for a, b in zip(bounds[:-1], bounds[1:])]:
                    f.result()
        return trace, (counts if count_spikes else None)


def geometry_tables(layers: list[LayerGeometry]) -> tuple[np.ndarray, np.ndarray]:
    """``(geom, pools)``: one :mod:`~snnjob.engines.cpu` geometry row per layer (``G_*``
    columns) and each layer's pools, ``(layers, max pools, 2)``: size, and the offset of the
    pool's cells in the core's scratch array (a layer's pools one after the other; every
    layer reuses the array, which is smaller than its neurons)."""
    n_pools = max([len(g.pools) for g in layers] + [1])
    pools = np.zeros((len(layers), n_pools, 2), np.int64)
    geom = []
    for li, g in enumerate(layers):
        h, w, c = g.out_shape
        offset = 0
        for q, size in enumerate(g.pools):
            h, w = h // size, w // size
            pools[li, q] = (size, offset)
            offset += h * w * c
        pt, pl = g.pads
        kind = 0 if g.kind == "conv" else 1
        geom.append([kind, *g.in_shape, g.kernel, g.strides, pt, pl, *g.out_shape, len(g.pools)])
    return np.asarray(geom, np.int64), pools


def _flat(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.concatenate([[0], np.cumsum([a.size for a in arrays])]).astype(np.int64)
    return np.concatenate([np.ravel(a) for a in arrays]).astype(np.float32), offsets
