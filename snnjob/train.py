"""Rate-based training of the spiking network (Hunsberger & Eliasmith 2016).

NengoDL swaps each LIF population for its differentiable rate approximation while
training; every image is presented for one timestep; the loss is softmax
cross-entropy on the unfiltered output probe (plus, with ``train.rate_reg``, a pull of each
LIF layer's mean rate toward ``train.rate_target``); the optimiser is RMSProp. Each epoch
uses its own permutation of the training set drawn from the training seed, and a
checkpoint (weights + optimiser state + history) is written after every
``checkpoint_every`` epochs, so an interrupted training resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nengo
import numpy as np

from snnjob.atomic import write_atomic
from snnjob.backend import nengo_dl, tf
from snnjob.config import ModelConfig, TrainConfig
from snnjob.errors import ConfigError, ParamsError
from snnjob.messages import TrainProgress
from snnjob.network import build_network, layer_params, set_layer_params
from snnjob.params import Params
from snnjob.results.convert import FormatError, from_json, to_json
from snnjob.results.runinfo import EpochStats, TrainingMetrics

log = logging.getLogger(__name__)
_CKPT = re.compile(r"^epoch-(\d{4})\.npz$")


@dataclass
class TrainResult:
    """Output of :func:`train`: parameters and what happened on the way."""

    params: Params
    seed: int
    history: list[EpochStats] = field(default_factory=list)
    wall_time_s: float = 0.0
    resumed_from_epoch: int = 0
    device: str = "cpu"

    def metrics(self) -> TrainingMetrics:
        """The training as the parameter file's sidecar and ``summary.json`` record it."""
        last = self.history[-1] if self.history else None
        return TrainingMetrics(
            epochs=len(self.history),
            final_loss=last.loss if last else None,
            final_rate_accuracy=last.accuracy if last else None,
            history=tuple(self.history),
            train_wall_time_s=self.wall_time_s,
            resumed_from_epoch=self.resumed_from_epoch,
            device=self.device,
        )


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    checkpoint_dir: str | Path | None = None,
    device: str | None = None,
    verbose: int | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    tensorboard_dir: str | Path | None = None,
) -> TrainResult:
    """Train one network and return its parameters.

    Parameters
    ----------
    model_cfg, train_cfg
        Network and optimisation settings (``train_cfg.seeds`` is ignored: see ``seed``).
    images, labels
        Training set, images (N, pixels) float32 in [0, 1], labels (N,) class indices.
        Each epoch uses ``N // minibatch_size`` whole minibatches of a fresh permutation.
    seed
        Training seed: weight initialisation and data order.
    checkpoint_dir
        Where ``epoch-NNNN.npz`` checkpoints go; training resumes from the latest one.
    device
        ``"cpu"``, ``"gpu"`` or None (``train_cfg.device``; ``auto`` picks a visible GPU).
    verbose
        Keras progress output: 1 progress bar, 2 one line per epoch (default: 1 on a
        terminal, else 2), 0 silent.
    progress
        Called after every minibatch with a :class:`~snnjob.messages.TrainProgress`
        (epoch and batch counted from 1): what a live display shows.
    tensorboard_dir
        Where per-epoch TensorBoard scalars go (loss, accuracy, learning rate, images/s).
    """
    mb = train_cfg.minibatch_size
    n = len(images)
    if n < mb:
        raise ConfigError(
            f"training set has {n} images, fewer than train.minibatch_size={mb}; "
            "raise data.n_train or lower train.minibatch_size"
        )
    if len(labels) != n:
        raise ValueError(f"{n} images but {len(labels)} labels")
    tf_device = resolve_device(device or train_cfg.device)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2

    t0 = time.perf_counter()
    handles = build_network(model_cfg, mode="train", train_seed=seed, seed=seed)
    rate_probes = add_rate_probes(handles, model_cfg.amplitude) if train_cfg.rate_reg > 0 else {}
    with nengo_dl.Simulator(
        handles.net, minibatch_size=mb, seed=seed, device=tf_device, progress_bar=False
    ) as sim:
        loss = {handles.out_p: tf.losses.SparseCategoricalCrossentropy(from_logits=True)}
        loss.update(dict.fromkeys(rate_probes.values(), tf.losses.mse))
        weights = {handles.out_p: 1.0, **dict.fromkeys(rate_probes.values(), train_cfg.rate_reg)}
        sim.compile(
            optimizer=make_optimizer(train_cfg),
            loss=loss,
            loss_weights=weights,
            metrics={handles.out_p: "accuracy"},
        )
        optimizer = sim.keras_model.optimizer
        optimizer.build(sim.keras_model.trainable_variables)
        start_epoch, history = 0, []
        ckpt = latest_checkpoint(checkpoint_dir) if checkpoint_dir else None
        if ckpt is not None:
            start_epoch, history = _restore(ckpt, handles, optimizer)
            log.info("seed %d: resuming from %s (epoch %d)", seed, ckpt, start_epoch)

        n_used = (n // mb) * mb
        board = tf.summary.create_file_writer(str(tensorboard_dir)) if tensorboard_dir else None
        callbacks = []
        for epoch in range(start_epoch, train_cfg.epochs):
            if progress is not None:
                callbacks = [_Progress(progress, epoch + 1, train_cfg.epochs, n_used // mb)]
            order = np.random.default_rng([seed, epoch]).permutation(n)[:n_used]
            x = images[order][:, None, :]
            y = {handles.out_p: np.asarray(labels)[order][:, None, None]}
            target = np.full((n_used, 1, 1), train_cfg.rate_target, dtype=np.float32)
            y.update(dict.fromkeys(rate_probes.values(), target))
            te = time.perf_counter()
            optimizer.learning_rate.assign(epoch_learning_rate(train_cfg, epoch))
            fit = sim.fit({handles.inp: x}, y, epochs=1, shuffle=False, verbose=verbose,
                          callbacks=callbacks)  # fmt: skip
            stats = EpochStats(
                epoch=epoch + 1,
                loss=float(fit.history["loss"][-1]),
                accuracy=float(_metric(fit.history, "accuracy")),
                images=n_used,
                learning_rate=float(optimizer.learning_rate.numpy()),  # as the step used
                wall_time_s=time.perf_counter() - te,
            )
            history.append(stats)
            if board is not None:
                _write_scalars(board, stats)
            log.info(
                "seed %d epoch %d/%d: loss %.4f, rate-mode train accuracy %.4f (%.0f img/s)",
                seed, epoch + 1, train_cfg.epochs, stats.loss, stats.accuracy,
                n_used / stats.wall_time_s,
            )  # fmt: skip
            last = epoch + 1 == train_cfg.epochs
            if checkpoint_dir and ((epoch + 1) % train_cfg.checkpoint_every == 0 or last):
                _save_checkpoint(checkpoint_dir, epoch + 1, handles, optimizer, history)
                prune_checkpoints(checkpoint_dir, keep=train_cfg.keep_checkpoints)
        params = layer_params(handles)
    return TrainResult(
        params=params,
        seed=seed,
        history=history,
        wall_time_s=time.perf_counter() - t0,
        resumed_from_epoch=start_epoch,
        device=tf_device,
    )


class _Progress(tf.keras.callbacks.Callback):
    """Reports each finished minibatch to ``report`` (see :func:`train`'s ``progress``)."""

    def __init__(self, report, epoch: int, epochs: int, batches: int):
        super().__init__()
        self.report, self.epoch, self.epochs, self.batches = report, epoch, epochs, batches

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        self.report(TrainProgress(
            epoch=self.epoch, epochs=self.epochs, batch=batch + 1, batches=self.batches,
            loss=None if loss is None else float(loss),
        ))  # fmt: skip


def _write_scalars(board, stats: EpochStats) -> None:
    """One epoch's metrics as TensorBoard scalars (step = epoch)."""
    with board.as_default(step=stats.epoch):
        tf.summary.scalar("loss", stats.loss)
        tf.summary.scalar("accuracy", stats.accuracy)
        if stats.learning_rate is not None:
            tf.summary.scalar("learning_rate", stats.learning_rate)
        tf.summary.scalar("images_per_s", stats.images / stats.wall_time_s)
    board.flush()


def make_optimizer(train_cfg: TrainConfig) -> tf.optimizers.Optimizer:
    """RMSprop at ``train.learning_rate``, with decoupled weight decay on kernels only."""
    if not train_cfg.weight_decay:
        return tf.optimizers.RMSprop(train_cfg.learning_rate)
    opt = tf.optimizers.RMSprop(train_cfg.learning_rate, weight_decay=train_cfg.weight_decay)
    opt.exclude_from_weight_decay(var_names=["bias"])
    return opt


def epoch_learning_rate(train_cfg: TrainConfig, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (from 0) under ``train.lr_schedule``."""
    if train_cfg.lr_schedule == "cosine":
        return train_cfg.learning_rate * 0.5 * (1.0 + math.cos(math.pi * epoch / train_cfg.epochs))
    return train_cfg.learning_rate


def add_rate_probes(handles, amplitude: float) -> dict[str, nengo.Probe]:
    """Per LIF layer, a probe of its neurons' mean firing rate (Hz) on each image: the
    target of the rate regulariser (``train.rate_reg``). Training graphs only.

    The neurons output ``amplitude x rate`` (rate neurons while training), so the mean is
    divided by ``amplitude``. The mean is taken inside the graph (a TensorNode without
    weights): one number per image, and no new variable for the optimiser or checkpoints.
    """
    probes = {}
    with handles.net:
        for name, neurons in handles.lif.items():
            mean = nengo_dl.TensorNode(
                lambda x: tf.reduce_mean(x, axis=-1, keepdims=True) / amplitude,
                shape_in=(neurons.size_out,), shape_out=(1,), pass_time=False,
                label=f"{name}_rate",
            )  # fmt: skip
            nengo.Connection(neurons, mean, synapse=None)
            probes[name] = nengo.Probe(mean, label=f"{name}_rate_p")
    return probes


def resolve_device(device: str) -> str:
    """Map ``auto|cpu|gpu`` to a TensorFlow device string, falling back to the CPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise ConfigError(
            "train.device=gpu but TensorFlow sees no GPU here (TF 2.12 needs CUDA 11.8 and "
            "cuDNN 8.6); use train.device=auto to fall back to the CPU"
        )
    if device in ("gpu", "auto") and gpus:
        return "/gpu:0"
    return "/cpu:0"


def latest_checkpoint(checkpoint_dir: str | Path | None) -> Path | None:
    """The newest complete ``epoch-NNNN.npz`` in ``checkpoint_dir``, or None."""
    if checkpoint_dir is None or not Path(checkpoint_dir).is_dir():
        return None
    found = _checkpoints(checkpoint_dir)
    return found[-1] if found else None


def _checkpoints(checkpoint_dir: str | Path) -> list[Path]:
    """The ``epoch-NNNN.npz`` checkpoints in ``checkpoint_dir``, oldest epoch first."""
    found = sorted(
        (int(m.group(1)), p) for p in Path(checkpoint_dir).iterdir() if (m := _CKPT.match(p.name))
    )
    return [p for _, p in found]


def prune_checkpoints(checkpoint_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` checkpoints (by epoch); return what was deleted.

    Written by hand, not with ``tf.train.CheckpointManager(max_to_keep=k)``: that manager
    keeps TensorFlow's own checkpoint format, which only TensorFlow reads, while an
    ``epoch-NNNN.npz`` checkpoint holds the trained layers as plain arrays (readable with
    numpy alone, like a parameter file) and is written atomically by
    :func:`snnjob.atomic.write_atomic`.
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    old = _checkpoints(checkpoint_dir)[:-keep]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def _metric(history: dict[str, list[float]], name: str) -> float:
    for key, values in history.items():
        if key.endswith(name):
            return values[-1]
    return float("nan")


def _save_checkpoint(checkpoint_dir, epoch, handles, optimizer, history) -> Path:
    arrays = {f"param/{k}": v for k, v in layer_params(handles).items()}
    for i, var in enumerate(optimizer.variables):
        arrays[f"optimizer/{i:04d}"] = var.numpy()
    arrays.update(_history_arrays(history))
    path = Path(checkpoint_dir) / f"epoch-{epoch:04d}.npz"
    write_atomic(path, lambda f: np.savez(f, **arrays))
    return path


def _history_arrays(history: list[EpochStats]) -> dict[str, np.ndarray]:
    """A checkpoint's record of the epochs so far: ``history``, five numbers per epoch
    (what earlier versions' readers take), and ``history_json``, every field of every
    epoch exactly (a resumed training's history equals an uninterrupted one's:
    learning_rate was lost before); a string array, no pickle."""
    numbers = [[h.epoch, h.loss, h.accuracy, h.images, h.wall_time_s] for h in history]
    return {
        "history": np.array(numbers, dtype=np.float64).reshape(len(history), 5),
        "history_json": np.array(json.dumps(to_json(history))),
    }


def _history_of(arrays: dict[str, np.ndarray], path: Path) -> list[EpochStats]:
    """The epochs recorded in checkpoint ``path`` (see :func:`_history_arrays`)."""
    if "history_json" not in arrays:  # written before history_json: five numbers per epoch
        return [
            EpochStats(epoch=int(r[0]), loss=float(r[1]), accuracy=float(r[2]),
                       images=int(r[3]), wall_time_s=float(r[4]))
            for r in arrays["history"]
        ]  # fmt: skip
    try:
        data = json.loads(str(arrays["history_json"]))
        return list(from_json(tuple[EpochStats, ...], data, f"history of checkpoint {path}"))
    except (json.JSONDecodeError, FormatError) as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: Exception) -> ParamsError:
    return ParamsError(f"checkpoint {path} is unreadable ({exc}); delete it to retrain")


def _restore(path: Path, handles, optimizer) -> tuple[int, list[EpochStats]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    history = _history_of(arrays, path)  # checked before anything is restored
    params = {k[len("param/") :]: v for k, v in arrays.items() if k.startswith("param/")}
    set_layer_params(handles, params)
    opt_arrays = [arrays[k] for k in sorted(k for k in arrays if k.startswith("optimizer/"))]
    if len(opt_arrays) != len(optimizer.variables):
        raise ParamsError(
            f"checkpoint {path} holds {len(opt_arrays)} optimiser variables, the optimiser has "
            f"{len(optimizer.variables)}; it was written by another configuration — delete it"
        )
    for var, value in zip(optimizer.variables, opt_arrays):
        var.assign(value)
    return int(_CKPT.match(path.name).group(1)), history


__all__ = [
    "TrainResult",
    "add_rate_probes",
    "train",
    "resolve_device",
    "latest_checkpoint",
    "prune_checkpoints",
]
