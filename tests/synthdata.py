"""A synthetic dataset for tests: 16x16x3 colour images of 5 named classes, as an ``.npz``
(the format of ``data.dataset: npz:PATH``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ["red-tl", "green-tr", "blue-bl", "red-br", "grey-centre"]


def write_dataset(path: Path, *, n_train: int = 1000, n_test: int = 300, seed: int = 0) -> None:
    """Five classes, each a bright 5x5 patch in its own corner/centre and colour on noise."""
    rng = np.random.default_rng(seed)
    spots = [(0, 0, 0), (0, 11, 1), (11, 0, 2), (11, 11, 0), (6, 6, None)]

    def draw(n):
        labels = np.arange(n) % len(CLASSES)
        rng.shuffle(labels)
        x = rng.uniform(0.0, 0.3, size=(n, 16, 16, 3))
        for i, k in enumerate(labels):
            y0, x0, c = spots[k]
            x[i, y0 : y0 + 5, x0 : x0 + 5, slice(None) if c is None else c] = 0.9
        return (x * 255).astype(np.uint8), labels.astype(np.int64)

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
             class_names=np.array(CLASSES))  # fmt: skip
