"""The training side of a job: reuse finished parameter files, train the rest on Ray actors.

One :class:`~snnjob.actors.TrainerActor` per missing (recipe, training seed) (GPU when the
cluster has one), as many at once as resources allow; each finished training is saved to
``OUT/params/seed-<k>.npz`` (``OUT/params/<recipe slug>/seed-<k>.npz`` in a recipe sweep,
:mod:`snnjob.recipes`) as soon as it lands, before the others finish, and the actor is
killed to free its CPUs. An actor that dies restarts and resumes from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import ray

from snnjob.config import JobConfig
from snnjob.errors import ConfigError
from snnjob.messages import TrainOutcome, TrainProgress
from snnjob.params import (
    ParamSet,
    check_trained_network,
    load_params,
    save_params,
    sidecar_path,
)
from snnjob.recipes import Recipe, expand_recipes
from snnjob.results.convert import FormatError, from_json, to_json
from snnjob.results.runinfo import TrainingMetrics
from snnjob.rundir import RunDir
from snnjob.session import cluster_info

log = logging.getLogger(__name__)


def param_sets(
    cfg: JobConfig,
    run: RunDir,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    *,
    params_file: str | Path | None = None,
    config_name: str = "",
    progress: bool = True,
) -> Iterator[ParamSet]:
    """Yield each parameter set as soon as it is ready, so that the caller can evaluate it
    while the others still train: ``params_file``, else the finished trainings in ``run``
    (once the missing ones have started training), then the rest in the order their
    training actors finish.

    A driver thread waits on the training actors, saves each result and kills each finished
    actor at once: its CPUs (or GPU) go to evaluation workers even while the caller is busy
    (waiting for the caller to free them could deadlock a full cluster). In turn the caller
    releases its idle evaluation workers while trainings are still to come
    (:meth:`snnjob.sweep.EvalService.release`).
    """
    if params_file is not None:
        yield _given(cfg, Path(params_file))
        return
    reused, pending = [], []
    for recipe in expand_recipes(cfg):
        for seed in cfg.train.seeds:
            path = run.params_file(seed, recipe.slug)
            # the sidecar is written last: a .npz without one is a save that a killed driver
            # did not finish, trained again (at once, from the training's last checkpoint)
            if path.exists() and sidecar_path(path).exists():
                params, meta = load_params(path, expected=recipe.model.net.weight_shapes())
                log.info("training seed %d: reusing %s", seed, path)
                metrics = metrics_of(meta, source=str(path))
                reused.append(_param_set(recipe, seed, params, meta["sha256"], path, metrics))
            else:
                pending.append((recipe, seed))
    if not pending:
        yield from reused
        return
    ready: queue.Queue = queue.Queue()
    stop = threading.Event()

    def save(recipe: Recipe, seed: int, outcome: TrainOutcome) -> ParamSet:
        path = run.params_file(seed, recipe.slug)
        side = save_params(
            path,
            outcome.params,
            {
                "config": recipe.config.to_dict(),
                "config_name": config_name,
                "recipe": recipe.name,
                "recipe_overrides": dict(recipe.overrides),
                "train_seed": seed,
                "metrics": to_json(outcome.metrics),
                "trained_on": {"node": outcome.node, "pid": outcome.pid},
            },
        )
        return _param_set(recipe, seed, outcome.params, side["sha256"], path, outcome.metrics)

    def wait_for_trainers() -> None:
        try:
            for (recipe, seed), outcome in train_on_actors(
                cfg, run, train_images, train_labels, pending, stop=stop, progress=progress
            ):
                ready.put(save(recipe, seed, outcome))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            ready.put(exc)
        ready.put(None)

    thread = threading.Thread(target=wait_for_trainers, name="snnjob-trainers", daemon=True)
    thread.start()
    try:
        yield from reused  # evaluated while the rest train
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()  # the caller stopped early (an error): the thread kills the trainers
        thread.join(timeout=30)


def _given(cfg: JobConfig, params_file: Path) -> ParamSet:
    """The ``--params`` file's parameter set, checked against this config's network."""
    params, meta = load_params(params_file, expected=cfg.model.net.weight_shapes())
    check_trained_network(meta, cfg.model, source=str(params_file))
    seed = int(meta.get("train_seed", 0))
    metrics = metrics_of(meta, source=str(params_file))
    return ParamSet(seed, params, meta["sha256"], params_file, metrics, model=cfg.model)


def metrics_of(meta: Mapping[str, Any], *, source: str) -> TrainingMetrics | None:
    """The training metrics of a parameter file's sidecar ``meta``; None where it has none,
    or other ones (a parameter file from elsewhere: its metrics are not ours)."""
    data = meta.get("metrics")
    if not data:
        return None
    if isinstance(data, Mapping) and not set(data) & {f.name for f in fields(TrainingMetrics)}:
        log.warning("training metrics of %s left out: none of them are snnjob's", source)
        return None
    try:
        return from_json(TrainingMetrics, data, f"training metrics of {source}")
    except FormatError as exc:
        log.warning("training metrics left out: %s", exc)
        return None


def _param_set(
    recipe: Recipe, seed: int, params, sha256: str, path: Path, metrics: TrainingMetrics | None
) -> ParamSet:
    return ParamSet(seed, params, sha256, path, metrics, recipe=recipe.name, slug=recipe.slug,
                    model=recipe.config.model)  # fmt: skip


def train_on_actors(
    cfg: JobConfig,
    run: RunDir,
    images: np.ndarray,
    labels: np.ndarray,
    jobs: list[tuple[Recipe, int]],
    *,
    stop: threading.Event | None = None,
    progress: bool = True,
) -> Iterator[tuple[tuple[Recipe, int], TrainOutcome]]:
    """One TrainerActor per (recipe, seed), each with its recipe's config, as many at once
    as resources allow; yields as each ends (each actor killed first, to free its
    resources); ``stop`` set: kill them all, return. ``progress``: a live bar per training
    (epoch, minibatch, loss, ETA) on stderr."""
    if not jobs:
        return
    from snnjob.actors import TrainerActor

    info = cluster_info()
    use_gpu = cfg.train.device in ("auto", "gpu") and info.gpus > 0
    if cfg.train.device == "gpu" and info.gpus == 0:
        raise ConfigError(
            "train.device=gpu but the Ray cluster has no GPU; use train.device=auto (GPU when "
            "there is one, else CPU) or add a GPU node"
        )
    cpus = cfg.resources.trainer_cpus or max(
        1, int(min(info.max_node_cpus, info.cpus // len(jobs)))
    )
    names = [f"{r.name} seed {s}" if r.slug else f"seed {s}" for r, s in jobs]
    log.info("training %s on %s (%d CPU(s) each)", ", ".join(names),
             "GPU" if use_gpu else "CPU", cpus)  # fmt: skip
    images_ref, labels_ref = ray.put(images), ray.put(labels)
    actors, refs = {}, {}
    for i, (recipe, seed) in enumerate(jobs):
        actor = TrainerActor.options(
            num_cpus=cpus,
            num_gpus=1 if use_gpu else 0,
            max_restarts=2,
            max_task_retries=2,
            max_concurrency=2,  # progress() answers while train() runs
        ).remote(cpus)
        actors[i] = actor
        ckpt = str(run.checkpoint_dir(seed, recipe.slug))
        board = str(run.tensorboard_dir(seed, recipe.slug))
        call = actor.train.remote(
            recipe.config, images_ref, labels_ref, seed=seed, checkpoint_dir=ckpt,
            tensorboard_dir=board,
        )  # fmt: skip
        refs[call] = i
    display = TrainingDisplay([f"train {name}" for name in names], enabled=progress)
    try:
        remaining = list(refs)
        while remaining and not (stop is not None and stop.is_set()):
            done, remaining = ray.wait(remaining, num_returns=1, timeout=1.0)
            if display.enabled:
                display.update({s: a.progress.remote() for s, a in actors.items()})
            if not done:
                continue
            i = refs[done[0]]
            outcome: TrainOutcome = ray.get(done[0])
            m = outcome.metrics
            accuracy = m.final_rate_accuracy
            log.info(
                "training %s done: %d epochs, %.0f s, rate-mode train accuracy %.4f",
                names[i], m.epochs, m.train_wall_time_s,
                accuracy if accuracy is not None else float("nan"),
            )  # fmt: skip
            ray.kill(actors.pop(i))  # free its CPUs/GPU for the others
            display.finish(i, m)
            yield jobs[i], outcome
    finally:
        display.close()
        for actor in actors.values():
            ray.kill(actor)


class TrainingDisplay:
    """A live tqdm bar per training seed: epoch, minibatch, loss and ETA, from the
    actors' :meth:`~snnjob.actors.TrainerActor.progress` (polled about once a second).

    ``min_interval``: seconds between redraws of a bar within one epoch (default: none on
    a terminal; 30 when stderr is a file or pipe, so that a log gets a line per bar every
    half minute and at each new epoch instead of one a second)."""

    def __init__(
        self, labels: list[str], *, enabled: bool = True, min_interval: float | None = None
    ):
        from tqdm import tqdm

        self.enabled = enabled
        if min_interval is None:
            min_interval = 0.0 if sys.stderr.isatty() else 30.0
        self.min_interval = min_interval
        self._drawn: dict[int, tuple[int, float]] = {}  # bar -> (epoch, time) last drawn
        self.bars = {
            i: tqdm(total=0, desc=label, unit="batch", position=i, disable=not enabled,
                    leave=True, dynamic_ncols=True)
            for i, label in enumerate(labels)
        }  # fmt: skip

    def update(self, refs: dict[int, ray.ObjectRef]) -> None:
        """Show the latest state of each actor that answers within a second."""
        if not refs:
            return
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=1.0)
        for key, ref in refs.items():
            if ref in ready:
                with contextlib.suppress(ray.exceptions.RayError):  # restarting: next time
                    self.show(key, ray.get(ref))

    def show(self, key: int, state: TrainProgress | None) -> None:
        """Move bar ``key`` (a training's index) to ``state`` (None: no minibatch yet)."""
        if state is None:
            return
        bar = self.bars[key]
        bar.total = state.epochs * state.batches
        bar.n = (state.epoch - 1) * state.batches + state.batch
        loss = state.loss
        bar.set_postfix_str(
            f"epoch {state.epoch}/{state.epochs}"
            + (f", loss {loss:.4f}" if loss is not None else ""),
            refresh=False,
        )
        epoch, now = state.epoch, time.monotonic()
        last = self._drawn.get(key)
        if last is None or last[0] != epoch or now - last[1] >= self.min_interval:
            self._drawn[key] = (epoch, now)
            bar.refresh()

    def finish(self, key: int, metrics: TrainingMetrics) -> None:
        """Fill bar ``key``: its training ended with ``metrics``."""
        bar = self.bars[key]
        if bar.total:
            bar.n = bar.total
        loss = metrics.final_loss
        bar.set_postfix_str(f"done, loss {loss:.4f}" if loss is not None else "done")

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
