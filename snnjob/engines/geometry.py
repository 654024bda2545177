"""The compiled engine's view of a network's layers: :class:`LayerGeometry` (one weighted
layer, its LIF neurons and the pools after them) and what the compiled cores can run
(:func:`unsupported_geometry`). Imports nothing beyond the standard library, so that the
package's ``unsupported`` and a bare JAX machine (``scripts/gpu_check.py``) can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("conv", "dense")
PADDINGS = ("valid", "same")


@dataclass(frozen=True)
class LayerGeometry:
    """One weighted layer + its LIF neurons (+ the average pools after them): the fields of
    :class:`snnjob.architecture.Stage`, copied here so that a
    :class:`~snnjob.engines.program.Program` needs no snnjob module beyond this one.

    ``kind`` ``conv`` (``kernel x kernel``, ``strides``, ``padding`` ``valid``/``same`` as
    TensorFlow) or ``dense`` (reads its input flattened, ``(h, w, c)`` row-major; its
    ``out_shape`` is ``(1, 1, units)``); ``pools``: average-pool sizes (stride = size),
    applied to the spikes in order; ``pooled_shape``: what the next layer reads.
    """

    name: str
    in_shape: tuple[int, int, int]
    kernel: int
    strides: int
    out_shape: tuple[int, int, int]
    kind: str = "conv"
    padding: str = "valid"
    pools: tuple[int, ...] = ()

    @classmethod
    def from_stage(cls, stage) -> LayerGeometry:
        return cls(stage.name, tuple(stage.in_shape), int(stage.kernel), int(stage.strides),
                   tuple(stage.out_shape), stage.kind, stage.padding,
                   tuple(int(s) for s in stage.pools))  # fmt: skip

    @property
    def pooled_shape(self) -> tuple[int, int, int]:
        h, w, c = self.out_shape
        for size in self.pools:
            h, w = h // size, w // size
        return (h, w, c)

    @property
    def pads(self) -> tuple[int, int]:
        """Zero rows and columns before the input (TensorFlow's ``same``: half the total
        padding, rounded down; ``valid``: none)."""
        if self.kind != "conv" or self.padding != "same":
            return (0, 0)
        return tuple(  # type: ignore[return-value]
            max((o - 1) * self.strides + self.kernel - n, 0) // 2
            for n, o in zip(self.in_shape[:2], self.out_shape[:2])
        )

    @property
    def n_neurons(self) -> int:
        h, w, c = self.out_shape
        return h * w * c

    @property
    def n_inputs(self) -> int:
        h, w, c = self.in_shape
        return h * w * c

    def to_json(self) -> dict:
        return {**self.__dict__, "in_shape": list(self.in_shape),
                "out_shape": list(self.out_shape), "pools": list(self.pools)}  # fmt: skip

    @classmethod
    def from_json(cls, g: dict) -> LayerGeometry:
        g = dict(g)
        if "pool" in g:  # files of the first engine: a bool for one 2x2 pool
            g["pools"] = (2,) if g.pop("pool") else ()
        return cls(**{**g, "in_shape": tuple(g["in_shape"]), "out_shape": tuple(g["out_shape"]),
                      "pools": tuple(g.get("pools", ()))})  # fmt: skip


def unsupported_geometry(layers) -> str | None:
    """Why the compiled cores cannot run these layers (None: they can). Every stage of a
    valid :class:`snnjob.architecture.NetSpec` is supported; this guards the cores against
    layer kinds added to the spec before the cores learn them."""
    if not layers:
        return "a network without hidden LIF layers runs on nengo_dl"
    for i, g in enumerate(layers):
        if g.kind not in KINDS:
            return f"layer {g.name} is a {g.kind!r} layer (the compiled engine runs conv, dense)"
        if g.kind == "conv" and g.padding not in PADDINGS:
            return f"layer {g.name}: padding {g.padding!r} (the compiled engine runs valid, same)"
        if g.kind == "conv" and i > 0 and layers[i - 1].kind != "conv":
            return f"layer {g.name}: a convolution after a dense layer"
        if any(s < 1 for s in g.pools) or (g.pools and g.kind != "conv"):
            return f"layer {g.name}: pools {g.pools}"
    return None
