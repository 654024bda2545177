"""TensorFlow and NengoDL, imported quietly: snnjob modules import them from here.

``snnjob`` sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the user set it. nengo_dl's import
forces it to 1 before it imports TensorFlow and starts a GPU-probe subprocess, so each
process would print TensorFlow's TF-TRT warning twice. Importing TensorFlow first lets it
load with snnjob's level; the probe's stderr (which inherits level 1) is filtered for that
one line while nengo_dl imports, and anything else it prints is passed on. Set
``TF_CPP_MIN_LOG_LEVEL=0`` to see everything.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings

# snnjob/__init__.py (which sets the level) has run before this module; TensorFlow must
# load before nengo_dl lowers the level.
import tensorflow as tf

from snnjob import TF_LOG_LEVEL

_NOISE = ("TF-TRT Warning: Could not find TensorRT",)


def _import_nengo_dl():
    if TF_LOG_LEVEL in ("0", "1") or "nengo_dl" in sys.modules:
        import nengo_dl

        return nengo_dl
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as err:
        os.dup2(err.fileno(), 2)
        try:
            import nengo_dl
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            err.seek(0)
            for line in err.read().decode(errors="replace").splitlines(keepends=True):
                if not any(n in line for n in _NOISE):
                    sys.stderr.write(line)
    return nengo_dl


nengo_dl = _import_nengo_dl()
# Every CPU-only simulator would warn; snnjob logs the devices it uses instead.
warnings.filterwarnings("ignore", message="No GPU support detected", category=UserWarning)
os.environ["TF_CPP_MIN_LOG_LEVEL"] = TF_LOG_LEVEL  # nengo_dl set 1; put snnjob's back

__all__ = ["nengo_dl", "tf"]


XLA_FLAGS = "--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit"
"""XLA auto-clustering of TensorFlow graphs, on the CPU too."""


def use_xla(enabled: bool) -> None:
    """Switch XLA auto-clustering on or off for the graphs this process builds from now on.

    TensorFlow reads ``TF_XLA_FLAGS`` when it first optimises a graph, so call this before
    the first simulator is built (evaluation workers do, in their constructor).
    """
    if enabled:
        os.environ["TF_XLA_FLAGS"] = XLA_FLAGS
    elif os.environ.get("TF_XLA_FLAGS") == XLA_FLAGS:
        del os.environ["TF_XLA_FLAGS"]
