"""What every evaluation engine shares: the result type and the minibatch loop (numpy only).

An engine simulates a minibatch of images and returns the filtered output probe at every
step, ``(n, n_steps, classes)``; :class:`Evaluator` turns those into readouts at the
requested steps, the error at every step, the anytime counts and the first images' traces,
one minibatch at a time, so memory is ``minibatch x n_steps x classes`` whatever the number
of images. The same code reads both engines' outputs, so they are compared like for like.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from snnjob.anytime import anytime_counts
from snnjob.batches import minibatches


@dataclass
class EvalResult:
    """Per-image outcome of a spiking evaluation, plus counts (never a rate).

    One simulation of ``n_steps`` steps is read at every requested ``readout`` step: every
    image starts from the same state and the network is causal, so the filtered output at
    step ``t`` is the output of a run of ``t`` steps.
    """

    labels: np.ndarray  # (n,) int64
    readouts: dict[int, np.ndarray]  # step -> (n, classes) float32 filtered output there
    step_errors: np.ndarray  # (n_steps,) int64: errors when reading at step 1, 2, ...
    wall_time_s: float
    traces: np.ndarray | None = None  # (k, n_steps, classes) outputs of the first k images
    first_batch_s: float = 0.0  # wall time of the first minibatch (tracing included)
    anytime_errors: np.ndarray | None = None  # (k,) int64 errors per anytime threshold
    anytime_steps: np.ndarray | None = None  # (k,) int64 steps used, summed over images

    @property
    def n_steps(self) -> int:
        return int(len(self.step_errors))

    @property
    def outputs(self) -> np.ndarray:
        """(n, classes) filtered output at the last step."""
        return self.readouts[self.n_steps]

    @property
    def predictions(self) -> np.ndarray:
        """(n,) int64 argmax of the output at the last step."""
        return self.predictions_at(self.n_steps)

    def predictions_at(self, step: int) -> np.ndarray:
        return np.argmax(self.readouts[step], axis=1).astype(np.int64)

    @property
    def n_images(self) -> int:
        return int(len(self.labels))

    @property
    def n_errors(self) -> int:
        return int(self.step_errors[-1])

    def errors_at(self, step: int) -> int:
        """Errors when reading the output at ``step`` (1..n_steps)."""
        return int(self.step_errors[step - 1])


class Evaluator:
    """One engine's simulator of one (parameter set, evaluation seed, ``n_steps``).

    Subclasses set ``n_steps``, ``minibatch_size``, ``n_pixels``, ``n_classes`` and implement
    :meth:`simulate`. ``engine`` names the engine (``summary.json`` records it).
    """

    engine = "?"
    fallback: str | None = None  # why the engine asked for could not run it (factory)
    n_steps: int
    minibatch_size: int
    n_pixels: int
    n_classes: int
    pad_batches = True  # the simulator takes whole minibatches only (NengoDL)

    def simulate(self, batch: np.ndarray) -> np.ndarray:
        """``(n, n_steps, classes)`` float32: the filtered output probe of ``batch`` (n, pixels)
        at every step (``n == minibatch_size`` where :attr:`pad_batches`)."""
        raise NotImplementedError

    def run(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        readouts: tuple[int, ...] = (),
        keep_traces: int = 0,
        anytime: tuple[float, ...] = (),
    ) -> EvalResult:
        """Evaluate ``images`` (N, pixels) against ``labels`` (N,), one minibatch at a time.

        ``readouts``: the steps (1..n_steps) whose filtered outputs to return, besides the
        last one, which is always read. The error at every step comes for free, and so do
        the ``anytime`` thresholds' errors and steps used (:mod:`snnjob.anytime`).
        """
        images = np.asarray(images, dtype=np.float32)
        labels = np.asarray(labels, dtype=np.int64)
        if images.ndim != 2 or images.shape[1] != self.n_pixels:
            raise ValueError(f"images must have shape (N, {self.n_pixels}), got {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        steps = sorted({*map(int, readouts), self.n_steps})
        if steps[0] < 1 or steps[-1] > self.n_steps:
            raise ValueError(f"readout steps must be within 1..{self.n_steps}, got {readouts}")
        n, mb = len(images), self.minibatch_size
        outputs = {t: np.empty((n, self.n_classes), dtype=np.float32) for t in steps}
        step_errors = np.zeros(self.n_steps, dtype=np.int64)
        any_errors = np.zeros(len(anytime), dtype=np.int64)
        any_steps = np.zeros(len(anytime), dtype=np.int64)
        traces = []
        first_batch_s = 0.0
        t0 = time.perf_counter()
        pad = "first" if self.pad_batches else None  # copies of the first image, dropped
        for start, batch, real in minibatches(images, mb, pad=pad):
            filt = self.simulate(batch)[:real]  # (real, n_steps, classes)
            if start == 0:
                first_batch_s = time.perf_counter() - t0
            for t in steps:
                outputs[t][start : start + real] = filt[:, t - 1]
            batch_labels = labels[start : start + real]
            wrong = np.argmax(filt, axis=2) != batch_labels[:, None]
            step_errors += np.count_nonzero(wrong, axis=0)
            if anytime:
                errors, used = anytime_counts(filt, batch_labels, anytime)
                any_errors += errors
                any_steps += used
            if len(traces) * mb < keep_traces:
                traces.append(filt[: keep_traces - start].astype(np.float32))
        return EvalResult(
            labels=labels,
            readouts=outputs,
            step_errors=step_errors,
            wall_time_s=time.perf_counter() - t0,
            traces=np.concatenate(traces) if traces else None,
            first_batch_s=first_batch_s,
            anytime_errors=any_errors if anytime else None,
            anytime_steps=any_steps if anytime else None,
        )

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
