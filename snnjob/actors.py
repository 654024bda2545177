"""Ray actors: thin adapters over :func:`snnjob.train.train` and :class:`SpikingEvaluator`.

Messages in and out are the dataclasses of :mod:`snnjob.messages`; the validated config
objects travel as they are. Nothing here knows about files beyond the trainer's checkpoint
folder; results come back to the driver as numpy arrays and counts.
"""

from __future__ import annotations

import atexit
import os
import socket
import time

import numpy as np
import ray

from snnjob.config import JobConfig, ModelConfig
from snnjob.messages import (
    EngineCheck,
    ShardOutcome,
    ShardRequest,
    SpikeRequest,
    TrainOutcome,
    TrainProgress,
    WorkerStats,
    WorkRequest,
)


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


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM, Linux; 0 where unavailable)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


FAULT_ENV = "SNNJOB_INJECT_FAULT"


def _injected_fault(request: ShardRequest, evaluator=None) -> None:
    """Test hook for the fault matrix: with ``SNNJOB_INJECT_FAULT=crash@K`` in the
    environment Ray starts workers with, every attempt at the shard that starts at test image
    ``K`` kills its worker process (a lost worker); ``raise@K`` raises in the shard's code;
    ``skew`` makes the compiled engine's neurons 3% too sensitive (a wrong engine, for the
    self-check against NengoDL to catch)."""
    spec = os.environ.get(FAULT_ENV, "")
    if spec == "skew" and evaluator is not None and evaluator.engine == "compiled":
        evaluator.core.gain = evaluator.core.gain * np.float32(1.03)
        return
    kind, _, start = spec.partition("@")
    if not start or int(start) != request.start or request.rate:
        return
    if kind == "crash":
        os._exit(17)
    if kind == "raise":
        raise RuntimeError(f"fault injected by {FAULT_ENV}={spec}")


@ray.remote
class TrainerActor:
    """Trains one network (one training seed); restarts resume from the last checkpoint.

    Started with ``max_concurrency=2`` so that :meth:`progress` answers while
    :meth:`train` runs (it reads what the training loop last wrote).
    """

    def __init__(self, n_threads: int):
        _limit_threads(n_threads)
        self._progress: TrainProgress | None = None

    def train(
        self,
        cfg: JobConfig,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        seed: int,
        checkpoint_dir: str | None,
        tensorboard_dir: str | None = None,
    ) -> TrainOutcome:
        from snnjob.train import train

        self._progress = None

        def report(state: TrainProgress) -> None:
            self._progress = state

        result = train(
            cfg.model, cfg.train, images, labels, seed=seed, checkpoint_dir=checkpoint_dir,
            verbose=0, progress=report, tensorboard_dir=tensorboard_dir,
        )  # fmt: skip
        return TrainOutcome(result.params, result.metrics(), _node(), os.getpid())

    def progress(self) -> TrainProgress | None:
        """Where training is (None before the first minibatch)."""
        return self._progress


@ray.remote
class EvalWorker:
    """Holds one simulator, rebuilt only when a request's :attr:`simulator_key` changes;
    built from the request's model config (its parameter set's), else ``model``. Every
    call is :meth:`run` with a typed request (:data:`~snnjob.messages.WorkRequest`)."""

    def __init__(self, model: ModelConfig, n_threads: int, *, xla: bool = False):
        t0 = time.perf_counter()
        # on a GPU worker TensorFlow (the reference engine) and JAX (the compiled one) share
        # the device: neither may take all of its memory up front
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        _limit_threads(n_threads)
        self.n_threads = int(n_threads)
        self.gpu = bool(ray.get_gpu_ids())  # the compiled engine runs on it (JAX)
        import snnjob.evaluate  # noqa: F401 - TensorFlow and NengoDL, before the first request
        from snnjob.backend import use_xla

        use_xla(xla)  # before the first simulator is built
        self.xla = xla

        self.import_s = time.perf_counter() - t0
        self.ready_at = time.time()
        self.model = model
        self.key: tuple | None = None
        self.evaluator = None
        self.builds = 0
        self._hashes: dict[str, str] = {}
        atexit.register(self.close)  # a simulator left open warns when the process exits

    def run(
        self,
        request: WorkRequest,
        params: dict[str, np.ndarray],
        images: np.ndarray,
        labels: np.ndarray,
    ) -> ShardOutcome:
        """The worker's one call: what it does is the request's type. A
        :class:`~snnjob.messages.ShardRequest` evaluates its images (counts, predictions,
        timings), a :class:`~snnjob.messages.SpikeRequest` counts their spikes."""
        match request:
            case ShardRequest():
                return self._evaluate(request, params, images, labels)
            case SpikeRequest():
                return self._count_spikes(request, params, images)
            case _:
                raise TypeError(f"an EvalWorker runs a ShardRequest or a SpikeRequest, "
                                f"not {type(request).__name__}")  # fmt: skip

    def _evaluate(self, request: ShardRequest, params, images, labels) -> ShardOutcome:
        """Evaluate ``images[request.start:request.stop]`` on the worker's simulator (rebuilt
        when the request's :attr:`~snnjob.messages.ShardRequest.simulator_key` changes)."""
        from snnjob.params import params_sha256

        _injected_fault(request)
        build_s = 0.0
        if request.simulator_key != self.key:
            self.close()
            t0 = time.perf_counter()
            self.evaluator = self._evaluator(request, params)
            _injected_fault(request, self.evaluator)
            build_s = time.perf_counter() - t0
            self.key = request.simulator_key
            self.builds += 1
        if request.params_id not in self._hashes:
            self._hashes[request.params_id] = params_sha256(params)
        window = slice(request.start, request.stop)
        res = self.evaluator.run(
            images[window],
            labels[window],
            readouts=request.readouts,
            keep_traces=request.keep_traces,
            anytime=request.anytime,
        )
        check = None
        if self.evaluator.engine == "compiled" and request.verify_images > 0:
            check = self._check(request, params, images[window], labels[window], res)
        return ShardOutcome(
            result=res, params_sha256=self._hashes[request.params_id], node=_node(),
            pid=os.getpid(), build_time_s=build_s, engine=self.evaluator.engine,
            core=getattr(self.evaluator, "core_name", ""), check=check,
        )  # fmt: skip

    def _evaluator(self, request: ShardRequest, params: dict[str, np.ndarray], **overrides):
        from snnjob.engines.factory import make_evaluator

        settings = dict(
            n_steps=request.n_steps, seed=request.eval_seed,
            minibatch_size=request.minibatch_size, unroll=request.unroll, rate=request.rate,
            threads=self.n_threads, gpu=self.gpu,
        )  # fmt: skip
        return make_evaluator(
            overrides.pop("engine", request.engine), request.model or self.model, params,
            **{**settings, **overrides},
        )  # fmt: skip

    def _check(self, request, params, images, labels, res) -> EngineCheck:
        """Run the shard's first ``request.verify_images`` images through NengoDL too and
        compare (:mod:`snnjob.engines.check`): the job fails on a disagreement."""
        from snnjob.engines.check import compare, verify

        n = min(request.verify_images, len(images))
        t0 = time.perf_counter()
        reference = self._evaluator(
            request, params, engine="nengo_dl", minibatch_size=min(n, request.minibatch_size)
        )
        try:
            ref = reference.run(images[:n], labels[:n], readouts=request.readouts)
        finally:
            reference.close()
        mine = {t: out[:n] for t, out in res.readouts.items()}
        check = compare(mine, ref.readouts, n_steps=request.n_steps,
                        wall_time_s=time.perf_counter() - t0)  # fmt: skip
        verify(check, what=f"parameter set {request.params_id}, evaluation seed "
                           f"{request.eval_seed}")  # fmt: skip
        return check

    def _count_spikes(self, request: SpikeRequest, params, images) -> ShardOutcome:
        """Spikes of every LIF neuron on ``images[request.start:request.stop]`` (a simulator of
        its own, built and closed here; the sweep's simulator stays)."""
        from snnjob.params import params_sha256
        from snnjob.spikes import count_spikes

        window = images[request.start : request.stop]
        if request.engine == "compiled":  # counted in the simulation itself
            from snnjob.engines.compiled import spike_counts

            counts = spike_counts(
                request.model or self.model, params, window, n_steps=request.n_steps,
                seed=request.eval_seed, threads=self.n_threads, gpu=self.gpu,
            )  # fmt: skip
        else:
            counts = count_spikes(
                request.model or self.model, params, window,
                n_steps=request.n_steps, seed=request.eval_seed,
                minibatch_size=request.minibatch_size, unroll=request.unroll,
            )  # fmt: skip
        return ShardOutcome(
            result=counts, params_sha256=params_sha256(params), node=_node(), pid=os.getpid(),
            engine="compiled" if request.engine == "compiled" else "nengo_dl",
        )  # fmt: skip

    def close(self) -> None:
        """Close the simulator (also at process exit)."""
        if self.evaluator is not None:
            self.evaluator.close()
            self.evaluator = None

    def stats(self) -> WorkerStats:
        return WorkerStats(
            self.builds, _node(), os.getpid(), self.import_s, self.ready_at, _peak_rss_mb()
        )
