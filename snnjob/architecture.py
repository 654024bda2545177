"""The network as data, without TensorFlow: layer specs, shapes, weights, cost, fan-out.

A network is a list of hidden layers -- convolutions (:class:`Conv`), average pools
(:class:`AvgPool`) and dense layers (:class:`Dense`) -- each convolution and dense layer
followed by LIF neurons, then a dense readout to the dataset's classes. ``model.layers``
in a config is that list in YAML; ``model.preset`` names one of :data:`PRESETS`, which are
lists of the same kind. A :class:`NetSpec` binds a list to an input shape and a number of
classes (both from the dataset) and derives everything that can be said without building
the network: every layer's shape, the weight shapes, multiply-accumulates, neuron counts
and each neuron's synaptic fan-out. Invalid lists fail here, naming the layer.

:mod:`snnjob.network` builds the Nengo/Keras graph from a :class:`NetSpec`; the compiled
engine (:mod:`snnjob.engines.program`) reads the same stages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from snnjob.errors import ConfigError

PADDINGS = ("valid", "same")
READOUT = "dense"
"""Name of the readout layer (its weights are ``dense/kernel`` and ``dense/bias``)."""
DENSE = READOUT  # the name parameter files have always used


@dataclass(frozen=True)
class Conv:
    """A 2-D convolution (Keras ``Conv2D``: ``filters`` of ``kernel x kernel``), then LIF."""

    type: str = field(default="conv", init=False)
    filters: int = 32
    kernel: int = 3
    strides: int = 1
    padding: str = "valid"


@dataclass(frozen=True)
class AvgPool:
    """A ``size x size`` average pool with stride ``size`` (on the LIF layer before it)."""

    type: str = field(default="avgpool", init=False)
    size: int = 2


@dataclass(frozen=True)
class Dense:
    """A dense hidden layer of ``units`` LIF neurons (it flattens what comes in)."""

    type: str = field(default="dense", init=False)
    units: int = 64


@dataclass(frozen=True)
class Readout:
    """The readout, declared: optional, last, and its ``units`` must equal the dataset's
    classes (the readout is added whether declared or not)."""

    type: str = field(default="readout", init=False)
    units: int = 10


LayerSpec = Conv | AvgPool | Dense | Readout
_TYPES: dict[str, type] = {"conv": Conv, "avgpool": AvgPool, "dense": Dense, "readout": Readout}

PRESETS: dict[str, tuple[LayerSpec, ...]] = {
    # the classic NengoDL spiking-MNIST network: average pooling after conv1 and conv2
    "seed": (Conv(32, 3), Conv(64, 3), AvgPool(2), Conv(128, 3), AvgPool(2)),
    # NengoDL 3's variant: stride-2 convolutions instead of pooling
    "strided": (Conv(32, 3), Conv(64, 3, strides=2), Conv(128, 3, strides=2)),
}
"""Named layer lists (``model.preset``); each ends with a readout to the classes."""


def preset_layers(preset: str) -> tuple[LayerSpec, ...]:
    """The layer list of ``preset`` (:class:`ConfigError` naming the presets if unknown)."""
    try:
        return PRESETS[preset]
    except KeyError:
        raise ConfigError(
            f"model.preset={preset!r} is not a preset; choose one of {', '.join(PRESETS)}, "
            "or give the layers as model.layers"
        ) from None


def layer_to_dict(layer: LayerSpec) -> dict[str, Any]:
    """The YAML form of one layer (``{"type": "conv", "filters": 32, ...}``)."""
    return asdict(layer)


def parse_layers(value: Any, key: str = "model.layers") -> tuple[LayerSpec, ...]:
    """YAML list of layer mappings -> layer specs; every error names the layer.

    A last entry ``{type: readout, units: K}`` is allowed; :class:`NetSpec` checks it
    against the dataset's classes.
    """
    if value is None:
        return None  # type: ignore[return-value]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigError(
            f"{key} must be a list of layers, e.g. [{{type: conv, filters: 16, kernel: 3}}, "
            f"{{type: dense, units: 64}}]; got {value!r}"
        )
    layers: list[LayerSpec] = []
    for i, raw in enumerate(value):
        where = f"{key}[{i}]"
        if isinstance(raw, (Conv, AvgPool, Dense, Readout)):
            layers.append(raw)
            continue
        if not isinstance(raw, Mapping) or "type" not in raw:
            raise ConfigError(
                f"{where} must be a mapping with a type ({', '.join(_TYPES)}), got {raw!r}"
            )
        kind = raw["type"]
        if kind not in _TYPES:
            raise ConfigError(
                f"{where}: unknown layer type {kind!r}; choose one of {', '.join(_TYPES)}"
            )
        if kind == "readout" and i != len(value) - 1:
            raise ConfigError(f"{where}: a readout can only be the last layer")
        cls = _TYPES[kind]
        allowed = [f for f in cls.__dataclass_fields__ if f != "type"]
        _check_keys(where, raw, ("type", *allowed))
        kwargs = {}
        for name in allowed:
            if name in raw:
                kwargs[name] = _value(f"{where}.{name}", raw[name], name)
        missing = [n for n in _REQUIRED[kind] if n not in raw]
        if missing:
            raise ConfigError(f"{where} ({kind}) needs {', '.join(missing)}")
        layers.append(cls(**kwargs))
    return tuple(layers)


_REQUIRED = {"conv": ("filters", "kernel"), "avgpool": (), "dense": ("units",), "readout": ()}


def _check_keys(where: str, raw: Mapping, allowed: Sequence[str]) -> None:
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(allowed)}"
        )


def _value(key: str, value: Any, name: str) -> Any:
    if name == "padding":
        if value not in PADDINGS:
            raise ConfigError(f"{key} must be one of {', '.join(PADDINGS)}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be an integer >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class Stage:
    """One weighted hidden layer and its LIF neurons, with the pools that follow them.

    ``in_shape`` is what the weights read (``(h, w, c)``; a dense layer flattens it),
    ``out_shape`` the LIF layer's (dense: ``(1, 1, units)``), ``pools`` the average-pool
    sizes applied to the spikes in order, ``pooled_shape`` what the next layer reads.
    """

    name: str
    kind: str  # "conv" or "dense"
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: int = 1
    strides: int = 1
    padding: str = "valid"
    pools: tuple[int, ...] = ()
    pooled_shape: tuple[int, int, int] = (1, 1, 1)

    @property
    def n_neurons(self) -> int:
        return math.prod(self.out_shape)

    @property
    def n_weights_in(self) -> int:
        """Inputs per output unit (the kernel's fan-in)."""
        c = self.in_shape[2]
        return self.kernel * self.kernel * c if self.kind == "conv" else math.prod(self.in_shape)

    @property
    def pool(self) -> bool:
        """True when exactly one 2x2 pool follows (the shape the first engines supported)."""
        return self.pools == (2,)


def _conv_out(n: int, kernel: int, strides: int, padding: str) -> int:
    if padding == "same":
        return -(-n // strides)
    return (n - kernel) // strides + 1


@dataclass(frozen=True)
class NetSpec:
    """A layer list bound to an input shape and a number of classes."""

    layers: tuple[LayerSpec, ...]
    image_shape: tuple[int, int, int]
    n_classes: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "image_shape", tuple(int(v) for v in self.image_shape))
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Readout) and layer.units != self.n_classes:
                raise ConfigError(
                    f"model.layers[{i}] (readout): {layer.units} units, but the dataset has "
                    f"{self.n_classes} classes; drop the readout entry (it is added to fit the "
                    "classes) or set its units to the number of classes"
                )
        self.stages  # noqa: B018 - validates the list against the shapes

    @property
    def n_pixels(self) -> int:
        return math.prod(self.image_shape)

    @property
    def stages(self) -> tuple[Stage, ...]:
        return _stages(self.layers, self.image_shape)

    @property
    def readout_in(self) -> int:
        """Length of the vector the readout reads."""
        stages = self.stages
        return math.prod(stages[-1].pooled_shape) if stages else self.n_pixels

    def describe(self) -> str:
        """One line, e.g. ``conv32k3-conv64k3-pool2-conv128k3-pool2-dense10``."""
        parts = []
        for layer in self.layers:
            if isinstance(layer, Conv):
                s = f"/s{layer.strides}" if layer.strides != 1 else ""
                p = "same" if layer.padding == "same" else ""
                parts.append(f"conv{layer.filters}k{layer.kernel}{s}{p}")
            elif isinstance(layer, AvgPool):
                parts.append(f"pool{layer.size}")
            elif isinstance(layer, Dense):
                parts.append(f"dense{layer.units}")
        return "-".join([*parts, f"readout{self.n_classes}"])

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of every parameter array, keyed ``<layer>/<weight>``."""
        shapes: dict[str, tuple[int, ...]] = {}
        for st in self.stages:
            if st.kind == "conv":
                shapes[f"{st.name}/kernel"] = (
                    st.kernel,
                    st.kernel,
                    st.in_shape[2],
                    st.out_shape[2],
                )
            else:
                shapes[f"{st.name}/kernel"] = (math.prod(st.in_shape), st.out_shape[2])
            shapes[f"{st.name}/bias"] = (st.out_shape[2],)
        shapes[f"{READOUT}/kernel"] = (self.readout_in, self.n_classes)
        shapes[f"{READOUT}/bias"] = (self.n_classes,)
        return shapes

    def macs_per_image_step(self) -> int:
        """Multiply-accumulates of the weighted layers for one image and one timestep."""
        total = sum(st.n_neurons * st.n_weights_in for st in self.stages)
        return total + self.readout_in * self.n_classes

    def flops_per_image_step(self) -> int:
        """Floating-point operations (2 per multiply-accumulate) per image and timestep."""
        return 2 * self.macs_per_image_step()

    def n_neurons(self) -> dict[str, int]:
        """LIF neurons per hidden layer."""
        return {st.name: st.n_neurons for st in self.stages}

    def fan_out(self) -> dict[str, list[list[int]]]:
        """Synaptic targets one spike of each LIF neuron reaches, per layer, as an ``(h, w)``
        grid (every channel of a position has the same fan-out; neurons are ordered
        ``(h, w, c)``; a dense layer's grid is ``1 x units``... one row of one cell per
        position, so ``(1, 1)``).

        The targets are the next weighted layer's output units: a convolution's window
        positions that cover the neuron (exactly, so fewer at the borders, with strides and
        with ``same`` padding's zero border) times its filters, or every unit of a dense
        layer or the readout. An average pool in between is linear, so the spike reaches
        the targets of its pool cell; a pool's own accumulation is not counted.
        """
        stages = self.stages
        grids: dict[str, list[list[int]]] = {}
        for i, st in enumerate(stages):
            nxt = stages[i + 1] if i + 1 < len(stages) else None
            oh, ow, _ = st.out_shape
            if nxt is None or nxt.kind == "dense":
                targets = nxt.out_shape[2] if nxt else self.n_classes
                ys = _axis_fan_out(oh, pools=st.pools, kernel=None)
                xs = _axis_fan_out(ow, pools=st.pools, kernel=None)
            else:
                targets = nxt.out_shape[2]
                ys = _axis_fan_out(oh, pools=st.pools, kernel=nxt.kernel, strides=nxt.strides,
                                   padding=nxt.padding)  # fmt: skip
                xs = _axis_fan_out(ow, pools=st.pools, kernel=nxt.kernel, strides=nxt.strides,
                                   padding=nxt.padding)  # fmt: skip
            grids[st.name] = [[y * x * targets for x in xs] for y in ys]
        return grids

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": [layer_to_dict(layer) for layer in self.layers],
            "image_shape": list(self.image_shape),
            "n_classes": self.n_classes,
            "description": self.describe(),
        }


def _stages(layers: tuple[LayerSpec, ...], image_shape: tuple[int, int, int]) -> tuple[Stage, ...]:
    key = (layers, image_shape)
    hit = _STAGE_CACHE.get(key)
    if hit is None:
        hit = _STAGE_CACHE[key] = _stages_uncached(layers, image_shape)
    return hit


_STAGE_CACHE: dict[tuple, tuple[Stage, ...]] = {}


def _stages_uncached(layers, image_shape) -> tuple[Stage, ...]:
    h, w, c = image_shape
    stages: list[Stage] = []
    counts = {"conv": 0, "dense": 0}
    flat = False
    for i, layer in enumerate(layers):
        where = f"model.layers[{i}] ({layer.type})"
        if isinstance(layer, Readout):
            continue  # checked against the classes by NetSpec
        if isinstance(layer, AvgPool):
            if not stages:
                raise ConfigError(f"{where}: an average pool must follow a conv layer")
            if flat:
                raise ConfigError(f"{where}: an average pool cannot follow a dense layer")
            nh, nw = h // layer.size, w // layer.size
            if nh < 1 or nw < 1:
                raise ConfigError(
                    f"{where}: a {layer.size}x{layer.size} pool of a {h}x{w}x{c} input leaves "
                    "nothing; use a smaller size or fewer layers before it"
                )
            h, w = nh, nw
            last = stages[-1]
            stages[-1] = Stage(**{**last.__dict__, "pools": (*last.pools, layer.size),
                                  "pooled_shape": (h, w, c)})  # fmt: skip
            continue
        if isinstance(layer, Conv):
            if flat:
                raise ConfigError(f"{where}: a conv layer cannot follow a dense layer")
            oh = _conv_out(h, layer.kernel, layer.strides, layer.padding)
            ow = _conv_out(w, layer.kernel, layer.strides, layer.padding)
            if oh < 1 or ow < 1:
                raise ConfigError(
                    f"{where}: a {layer.kernel}x{layer.kernel} kernel does not fit a {h}x{w}x{c} "
                    "input; use a smaller kernel, padding: same, or fewer layers before it"
                )
            name = f"conv{counts['conv']}"
            counts["conv"] += 1
            st = Stage(name, "conv", (h, w, c), (oh, ow, layer.filters), layer.kernel,
                       layer.strides, layer.padding, (), (oh, ow, layer.filters))  # fmt: skip
            h, w, c = oh, ow, layer.filters
        else:
            name = f"fc{counts['dense']}"
            counts["dense"] += 1
            st = Stage(name, "dense", (h, w, c), (1, 1, layer.units),
                       pooled_shape=(1, 1, layer.units))  # fmt: skip
            h, w, c, flat = 1, 1, layer.units, True
        stages.append(st)
    return tuple(stages)


def _axis_fan_out(
    n: int, *, pools: tuple[int, ...], kernel: int | None, strides: int = 1, padding: str = "valid"
) -> list[int]:
    """Along one axis of a LIF layer's ``n`` positions: how many positions of the next
    weighted layer each one reaches (through average pools; ``kernel`` None: a dense layer,
    which reads every position the pools keep)."""
    pos = list(range(n))
    for size in pools:  # trailing rows/columns a pool drops have fan-out 0
        pos = [p // size if p >= 0 and p // size < n // size else -1 for p in pos]
        n = n // size
    if kernel is None:
        return [int(p >= 0) for p in pos]
    n_out = _conv_out(n, kernel, strides, padding)
    offset = max((n_out - 1) * strides + kernel - n, 0) // 2 if padding == "same" else 0
    return [
        sum(
            1
            for o in range(n_out)
            if o * strides - offset <= p <= o * strides - offset + kernel - 1
        )
        if p >= 0
        else 0
        for p in pos
    ]
