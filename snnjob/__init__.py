"""snnjob: train spiking neural networks with NengoDL and evaluate them at scale on Ray."""

import os as _os

# Silence TensorFlow's C++ start-up noise unless the user asked for it (must precede TF import).
TF_LOG_LEVEL = _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
