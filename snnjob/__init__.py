"""snnjob: train spiking neural networks with NengoDL and evaluate them at scale on Ray."""

import os as _os

# Silence TensorFlow's C++ start-up noise unless the user asked for it (must precede TF import).
TF_LOG_LEVEL = _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


def load(out):
    """Load a finished run's results as pandas DataFrames (``points``, ``predictions``,
    ``curves``, ``anytime``, ``spikes``, ...): :func:`snnjob.results.frames.load`.

    Raises :class:`snnjob.errors.ResultsError` when ``out`` is missing, not a run, or damaged.
    """
    from snnjob.results.frames import load as _load

    return _load(out)
