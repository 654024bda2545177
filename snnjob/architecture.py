"""The model spec without TensorFlow: layer table, weight shapes, cost, classes, image shape.

Everything that can be said about the network without building it lives here, so the
driver, the parameter checks and the benchmark never load TensorFlow to learn a shape.
:mod:`snnjob.network` builds the Nengo/Keras graph from the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE_SHAPE = (28, 28, 1)
"""Height, width and channels of one input image."""
N_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
"""Length of one flattened input image (the input node's size)."""
N_CLASSES = 10
"""Number of output classes (MNIST digits)."""
PRESETS = ("seed", "strided")
"""Names of the network layouts in :data:`LAYERS`."""


@dataclass(frozen=True)
class ConvLayer:
    """One convolution followed by a LIF layer (and optionally a 2x2 average pool)."""

    name: str
    filters: int
    kernel: int
    strides: int
    pool: bool


LAYERS: dict[str, tuple[ConvLayer, ...]] = {
    # the classic NengoDL spiking-MNIST network: average pooling after conv1 and conv2
    "seed": (
        ConvLayer("conv0", 32, 3, 1, pool=False),
        ConvLayer("conv1", 64, 3, 1, pool=True),
        ConvLayer("conv2", 128, 3, 1, pool=True),
    ),
    # NengoDL 3's variant: stride-2 convolutions instead of pooling
    "strided": (
        ConvLayer("conv0", 32, 3, 1, pool=False),
        ConvLayer("conv1", 64, 3, 2, pool=False),
        ConvLayer("conv2", 128, 3, 2, pool=False),
    ),
}
"""Convolution layers per preset; every preset ends with a dense layer of N_CLASSES."""
DENSE = "dense"
"""Name of the final (readout) layer."""


def conv_layers(preset: str) -> tuple[ConvLayer, ...]:
    """The convolution layers of ``preset`` (``ValueError`` naming the presets if unknown)."""
    try:
        return LAYERS[preset]
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}") from None


def _walk(preset: str):
    """Yield ``(layer, (h, w, c) in, (h, w) after the conv)`` and return the final shape."""
    h, w, c = IMAGE_SHAPE
    for layer in conv_layers(preset):
        oh = (h - layer.kernel) // layer.strides + 1
        ow = (w - layer.kernel) // layer.strides + 1
        yield layer, (h, w, c), (oh, ow)
        h, w, c = oh, ow, layer.filters
        if layer.pool:
            h, w = h // 2, w // 2


def flat_size(preset: str) -> int:
    """Length of the vector the dense layer reads (after the last conv and pool)."""
    h, w, c = IMAGE_SHAPE
    for layer, _, (oh, ow) in _walk(preset):
        h, w, c = oh, ow, layer.filters
        if layer.pool:
            h, w = h // 2, w // 2
    return h * w * c


def weight_shapes(preset: str) -> dict[str, tuple[int, ...]]:
    """Shape of every parameter array of ``preset``, keyed ``<layer>/<weight>``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer, (_, _, c), _ in _walk(preset):
        shapes[f"{layer.name}/kernel"] = (layer.kernel, layer.kernel, c, layer.filters)
        shapes[f"{layer.name}/bias"] = (layer.filters,)
    shapes[f"{DENSE}/kernel"] = (flat_size(preset), N_CLASSES)
    shapes[f"{DENSE}/bias"] = (N_CLASSES,)
    return shapes


def macs_per_image_step(preset: str) -> int:
    """Multiply-accumulates of the weighted layers for one image and one timestep."""
    total = 0
    for layer, (_, _, c), (oh, ow) in _walk(preset):
        total += oh * ow * layer.filters * layer.kernel * layer.kernel * c
    return total + flat_size(preset) * N_CLASSES


def flops_per_image_step(preset: str) -> int:
    """Floating-point operations (2 per multiply-accumulate) for one image and one timestep."""
    return 2 * macs_per_image_step(preset)


def n_neurons(preset: str) -> dict[str, int]:
    """LIF neurons per layer (each convolution's output size)."""
    return {layer.name: oh * ow * layer.filters for layer, _, (oh, ow) in _walk(preset)}


def _axis_fan_out(n: int, *, pool: bool, kernel: int | None, strides: int = 1) -> list[int]:
    """Along one axis of a LIF layer's ``n`` positions: how many positions of the next
    weighted layer each one reaches (through an optional 2x2/2 average pool; ``kernel``
    None: a dense layer, which reads every position the pool keeps)."""
    pos = list(range(n))
    if pool:  # an odd trailing row or column is dropped by the pool: fan-out 0
        pos, n = [p // 2 if p // 2 < n // 2 else -1 for p in pos], n // 2
    if kernel is None:
        return [int(p >= 0) for p in pos]
    n_out = (n - kernel) // strides + 1
    return [
        sum(1 for o in range(n_out) if o * strides <= p <= o * strides + kernel - 1)
        if p >= 0
        else 0
        for p in pos
    ]


def fan_out(preset: str) -> dict[str, list[list[int]]]:
    """Synaptic targets one spike of each LIF neuron reaches, per layer, as an ``(h, w)`` grid
    (every channel of a position has the same fan-out; the ensemble's neurons are ordered
    ``(h, w, c)``).

    The targets are the next weighted layer's output units: a convolution's ``kernel x
    kernel`` window positions that cover the neuron (exactly, so fewer at the borders and
    with strides) times its filters, or the dense layer's ``N_CLASSES`` units. An average
    pool in between is linear, so the spike reaches the targets of its pool cell; the pool's
    own 4-to-1 accumulation is not counted as a synaptic operation.
    """
    layers = list(_walk(preset))
    grids: dict[str, list[list[int]]] = {}
    for i, (layer, _, (oh, ow)) in enumerate(layers):
        nxt = layers[i + 1][0] if i + 1 < len(layers) else None
        kernel = nxt.kernel if nxt else None
        strides = nxt.strides if nxt else 1
        targets = nxt.filters if nxt else N_CLASSES
        ys = _axis_fan_out(oh, pool=layer.pool, kernel=kernel, strides=strides)
        xs = _axis_fan_out(ow, pool=layer.pool, kernel=kernel, strides=strides)
        grids[layer.name] = [[y * x * targets for x in xs] for y in ys]
    return grids
