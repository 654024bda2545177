"""The compiled engine's contract with NengoDL, and the check every job runs against it.

Contract (same parameters, same evaluation seed): predictions equal to the ``nengo_dl``
engine's on at least 99.95% of images at every ``n_steps``. The two engines add the same
float32 numbers in different orders (a convolution against the sum of the spikes that
reach it), so a neuron whose voltage lands within a rounding error of its threshold can
spike one step earlier or later; outputs then differ by a few thousandths
(docs/performance.md), and an image very near a decision boundary can change class.

The job's self-check: the first ``eval.verify_images`` test images of every (parameter set,
evaluation seed) run through both engines on a worker. It fails the job when, at any
readout step, more images than :func:`allowed_mismatches` change class, or an output moves
by more than :data:`MAX_RELATIVE_DIFF` of the output scale (far beyond what a flipped
spike does: a wrong number, not a rounding).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from snnjob.errors import SnnjobError
from snnjob.messages import EngineCheck

if TYPE_CHECKING:
    from snnjob.results.runinfo import CheckRow

CONTRACT_AGREEMENT = 0.9995
"""Fraction of images whose predictions the engines must share."""
MAX_RELATIVE_DIFF = 0.05
"""Largest |compiled - nengo_dl| output allowed, relative to the largest |output|."""


class EngineMismatchError(SnnjobError):
    """The compiled engine disagreed with NengoDL beyond the contract."""


def allowed_mismatches(n_images: int) -> int:
    """Images that may change class among ``n_images``: the contract's 0.05%, and at least
    one (on a sample of 50, one flip in a borderline image is within the contract's rate;
    two are not: at 0.05% per image that happens once in 3,000 checks)."""
    return max(1, n_images * 5 // 10_000)  # 0.05%, in integers (no float rounding)


def compare(
    compiled: dict[int, np.ndarray], reference: dict[int, np.ndarray], *, n_steps: int,
    wall_time_s: float = 0.0,
) -> EngineCheck:  # fmt: skip
    """Compare two engines' readouts (step -> (n, classes)) at every step both have."""
    steps = tuple(sorted(set(compiled) & set(reference)))
    mismatches, diff, scale, n = {}, 0.0, 0.0, 0
    for t in steps:
        a, b = np.asarray(compiled[t]), np.asarray(reference[t])
        n = len(b)
        mismatches[t] = int(np.count_nonzero(np.argmax(a, 1) != np.argmax(b, 1)))
        if n:
            diff = max(diff, float(np.max(np.abs(a - b))))
            scale = max(scale, float(np.max(np.abs(b))))
    return EngineCheck(n, int(n_steps), steps, mismatches, diff, scale, float(wall_time_s))


def verify(check: EngineCheck, *, what: str) -> None:
    """Raise :class:`EngineMismatchError` (naming both engines and the numbers) when
    ``check`` breaks the contract; ``what`` names the parameter set and seed."""
    allowed = allowed_mismatches(check.n_images)
    worst = max(check.mismatches, key=check.mismatches.get, default=None)
    too_many = worst is not None and check.mismatches[worst] > allowed
    too_far = check.max_abs_diff > MAX_RELATIVE_DIFF * max(check.output_scale, 1e-12)
    if not (too_many or too_far):
        return
    raise EngineMismatchError(
        f"the compiled engine disagrees with nengo_dl on {what}: over the first "
        f"{check.n_images} test images, "
        + (f"{check.mismatches[worst]} prediction(s) differ at n_steps {worst} "
           f"(at most {allowed} allowed); " if too_many else "")
        + f"largest output difference {check.max_abs_diff:.4g} (output scale "
        f"{check.output_scale:.4g}, at most {MAX_RELATIVE_DIFF:.0%} of it allowed). "
        "Re-run with --set eval.engine=nengo_dl for the reference results, and report this "
        "with the run's config.yaml"
    )  # fmt: skip


def check_row(check: EngineCheck, **keys) -> CheckRow:
    """One self-check as a ``summary.json`` row (``keys``: which parameter set and seed)."""
    from snnjob.results.runinfo import CheckRow

    return CheckRow(
        **keys, n_images=check.n_images, n_steps=check.n_steps,
        mismatches={str(t): k for t, k in check.mismatches.items()},
        max_abs_diff=check.max_abs_diff, output_scale=check.output_scale,
        wall_time_s=check.wall_time_s,
    )  # fmt: skip
