"""The one minibatch loop over images: :func:`minibatches` and :func:`over_time` (numpy only).

Every simulator that takes a fixed minibatch (NengoDL, a compiled JAX function) gets its
images from :func:`minibatches`: consecutive slices of ``size`` images, the last one padded
to ``size`` and the number of real images given, so that the caller drops the padding's
outputs. Copies of the batch's first image are the padding where it goes through the network
(NengoDL: a valid input), zeros where the caller's simulation keeps images apart (the JAX
core). :func:`over_time` presents each image constantly for ``n_steps`` steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple

import numpy as np

Pad = Literal["first", "zeros"] | None


class Batch(NamedTuple):
    """One minibatch: ``images[start : start + n_real]``, padded where asked for."""

    start: int  # index of its first image
    images: np.ndarray  # (size, ...) padded, or (n_real, ...) without padding
    n_real: int  # real images at the front; the rest is padding


def minibatches(images: np.ndarray, size: int, *, pad: Pad = "first") -> Iterator[Batch]:
    """Consecutive minibatches of ``size`` images, in order, covering every image once.

    ``pad``: how the last, shorter batch is filled up to ``size``: ``"first"``, with copies
    of its first image; ``"zeros"``, with zeros; None: left short.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"minibatch size must be >= 1, got {size}")
    if pad not in ("first", "zeros", None):
        raise ValueError(f"pad must be 'first', 'zeros' or None, got {pad!r}")
    for start in range(0, len(images), size):
        batch = images[start : start + size]
        real = len(batch)
        if real < size and pad == "first":
            batch = np.concatenate([batch, np.repeat(batch[:1], size - real, axis=0)])
        elif real < size and pad == "zeros":
            fill = np.zeros((size - real, *batch.shape[1:]), batch.dtype)
            batch = np.concatenate([batch, fill])
        yield Batch(start, batch, real)


def over_time(batch: np.ndarray, n_steps: int) -> np.ndarray:
    """``(n, n_steps, pixels)`` C-contiguous: each image of ``batch`` (n, pixels) presented
    constantly for ``n_steps`` steps (a simulator's input)."""
    n, pixels = batch.shape
    return np.ascontiguousarray(np.broadcast_to(batch[:, None, :], (n, int(n_steps), pixels)))
