"""Ray actors: thin adapters over :func:`snnjob.train.train` and :class:`SpikingEvaluator`.

Nothing here knows about files beyond the trainer's checkpoint folder; results come
back to the driver as plain numpy arrays and counts.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import numpy as np
import ray


def _limit_threads(n_threads: int) -> None:
    """Match TensorFlow's thread pools to the CPUs Ray reserved (call before any TF op)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n_threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, n_threads))
    except RuntimeError:  # already initialised in this process
        pass


def _node() -> str:
    """``<ip>/<node id prefix>``: unique per Ray node, even for several nodes on one host."""
    try:
        node_id = ray.get_runtime_context().get_node_id()
        return f"{ray.util.get_node_ip_address()}/{node_id[:12]}"
    except Exception:  # noqa: BLE001 - outside Ray
        return socket.gethostname()


@ray.remote
class TrainerActor:
    """Trains one network (one training seed); restarts resume from the last checkpoint."""

    def __init__(self, n_threads: int):
        _limit_threads(n_threads)

    def train(
        self,
        job: dict[str, Any],
        images: np.ndarray,
        labels: np.ndarray,
        *,
        seed: int,
        checkpoint_dir: str | None,
    ) -> dict[str, Any]:
        from snnjob.config import from_dict
        from snnjob.train import train

        cfg = from_dict(job)
        result = train(
            cfg.model, cfg.train, images, labels, seed=seed, checkpoint_dir=checkpoint_dir
        )
        return {
            "params": result.params,
            "metrics": result.metrics(),
            "node": _node(),
            "pid": os.getpid(),
        }


@ray.remote
class EvalWorker:
    """Holds one spiking simulator, rebuilt only when (params, n_steps, seed, minibatch) changes."""

    def __init__(self, model: dict[str, Any], n_threads: int, device: str | None = None):
        from snnjob.config import ModelConfig

        _limit_threads(n_threads)
        self.model_cfg = ModelConfig(**model)
        self.device = device
        self.key: tuple | None = None
        self.evaluator = None
        self.builds = 0
        self._hashes: dict[str, str] = {}

    def evaluate_shard(
        self,
        params_id: str,
        params: dict[str, np.ndarray],
        images: np.ndarray,
        labels: np.ndarray,
        *,
        start: int,
        stop: int,
        n_steps: int,
        seed: int,
        minibatch_size: int,
        unroll: int,
        keep_traces: int = 0,
        rate: bool = False,
    ) -> dict[str, Any]:
        """Evaluate test images ``start:stop``; return counts, predictions and timings.

        ``rate=True`` (with ``n_steps=1``): the rate-mode (``LIFRate``) error instead.
        """
        from snnjob.evaluate import SpikingEvaluator
        from snnjob.params import params_sha256

        key = (params_id, n_steps, seed, minibatch_size, unroll, rate)
        build_s = 0.0
        if key != self.key:
            if self.evaluator is not None:
                self.evaluator.close()
                self.evaluator = None
            t0 = time.perf_counter()
            self.evaluator = SpikingEvaluator(
                self.model_cfg,
                params,
                n_steps=n_steps,
                seed=seed,
                minibatch_size=minibatch_size,
                unroll=unroll,
                device=self.device,
                rate=rate,
            )
            build_s = time.perf_counter() - t0
            self.key = key
            self.builds += 1
        if params_id not in self._hashes:
            self._hashes[params_id] = params_sha256(params)
        res = self.evaluator.run(images[start:stop], labels[start:stop], keep_traces=keep_traces)
        return {
            "params_sha256": self._hashes[params_id],
            "predictions": res.predictions,
            "labels": res.labels,
            "outputs": res.outputs,
            "traces": res.traces,
            "n_images": res.n_images,
            "n_errors": res.n_errors,
            "wall_time_s": res.wall_time_s,
            "build_time_s": build_s,
            "node": _node(),
            "pid": os.getpid(),
        }

    def stats(self) -> dict[str, Any]:
        return {"builds": self.builds, "node": _node(), "pid": os.getpid()}
