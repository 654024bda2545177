"""The job driver: train on Ray actors, broadcast parameters, shard the spiking sweep.

Flow of one ``snnjob run``::

    prepare OUT (config check, lock)  ->  load MNIST (driver)
    -> params per training seed: reuse OUT/params/seed-k.npz, or TrainerActor.train
       (one actor per seed, GPU when the cluster has one, checkpoints, restarts resume)
    -> ray.put(params) by the DRIVER (an object put by an actor dies with it)
    -> ray.put(test set) once
    -> every (point, shard) not yet in OUT/results submitted at once over an EvalWorker pool
    -> each finished shard written to Parquet as it arrives (driver-side: no shared FS)
    -> summary.json (counts summed over shards) and plots

Everything here is plain Python over :mod:`snnjob.train`/:mod:`snnjob.evaluate`; the
actors in :mod:`snnjob.actors` are thin adapters.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import logging
import os
import shutil
import stat
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from snnjob.atomic import write_text_atomic
from snnjob.config import JobConfig
from snnjob.errors import ConfigError, ParamsError, RunDirError, SnnjobError

log = logging.getLogger(__name__)

# Sections that do not change results: a re-run may differ in these.
_RESULT_NEUTRAL = {("resources",), ("data", "data_dir"), ("data", "download")}
_RUN_FILES = ("results", "predictions", "params", "checkpoints", "plots", "summary.json")


# --------------------------------------------------------------------------- Ray connection


def connect(address: str | None = None, *, num_cpus: int | None = None) -> dict[str, Any]:
    """Start a local Ray instance (default) or join ``address`` (``auto`` or ``HOST:PORT``).

    A local instance runs with token authentication (``RAY_AUTH_MODE=token``; Ray writes the
    token to ``~/.ray/auth_token``, which is made private) and its dashboard on 127.0.0.1.
    """
    local = address in (None, "", "local")
    if local and "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"  # read by Ray's core when it first loads
        if "ray" in sys.modules:  # Ray already loaded (e.g. under pytest): re-read the mode
            _reload_ray_auth_config()
    import ray

    warnings.filterwarnings("ignore", message=".*Pydantic v1.*")
    # Ray 2.55 announces a future change of CUDA_VISIBLE_DEVICES handling on every init;
    # snnjob relies on today's behaviour (CPU-only workers see no GPU), so the tip is noise.
    warnings.filterwarnings(
        "ignore", message="Tip: In future versions of Ray", category=FutureWarning
    )
    if ray.is_initialized():
        return _cluster_info()
    if local:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            logging_level=logging.WARNING,
        )
        _make_token_private()
    else:
        if num_cpus is not None:
            raise ConfigError("--num-cpus only applies to a local Ray instance (no --address)")
        ray.init(address=address, logging_level=logging.WARNING)
    info = _cluster_info()
    log.info(
        "Ray: %d node(s), %g CPU(s), %g GPU(s)%s",
        info["nodes"], info["cpus"], info["gpus"],
        f", dashboard http://{info['dashboard']}" if info.get("dashboard") else "",
    )  # fmt: skip
    return info


def _reload_ray_auth_config() -> None:
    try:
        from ray._raylet import AuthenticationTokenLoader, Config

        AuthenticationTokenLoader.instance().reset_cache()
        Config.initialize("")
    except ImportError:  # pragma: no cover - other Ray versions
        log.warning("could not switch on Ray token authentication after Ray was imported")


def _make_token_private() -> None:
    for path in (os.environ.get("RAY_AUTH_TOKEN_PATH"), Path.home() / ".ray" / "auth_token"):
        if path and Path(path).is_file():
            mode = stat.S_IMODE(Path(path).stat().st_mode)
            if mode & 0o077:
                os.chmod(path, 0o600)


def _cluster_info() -> dict[str, Any]:
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    res = ray.cluster_resources()
    ctx = ray.get_runtime_context()
    return {
        "nodes": len(nodes),
        "cpus": float(res.get("CPU", 0)),
        "gpus": float(res.get("GPU", 0)),
        "max_node_cpus": max((n["Resources"].get("CPU", 0) for n in nodes), default=0),
        "dashboard": getattr(ctx, "dashboard_url", None) or None,
    }


# --------------------------------------------------------------------------- run folder


@dataclass
class RunDir:
    """The output folder of a run and the lock that keeps two drivers out of it."""

    path: Path
    _lock: Any = None

    @property
    def results(self) -> Path:
        return self.path / "results"

    @property
    def params(self) -> Path:
        return self.path / "params"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def prepare_run_dir(out: str | Path, cfg: JobConfig, *, overwrite: bool = False) -> RunDir:
    """Create/lock ``out``; refuse a folder holding a run with a different config."""
    path = Path(out).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"cannot create output folder {path}: {exc}") from None
    lock = open(path / ".snnjob.lock", "w")  # noqa: SIM115 - held for the run's lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RunDirError(
            f"{path} is in use by another snnjob run; wait for it or choose another --out"
        ) from None
    run = RunDir(path, lock)
    old = path / "config.yaml"
    if old.exists() and not overwrite:
        try:
            previous = yaml.safe_load(old.read_text()) or {}
        except yaml.YAMLError:
            previous = {}
        diff = config_differences(previous, cfg.to_dict())
        if diff:
            run.release()
            raise RunDirError(
                f"{path} holds a run with a different config:\n  "
                + "\n  ".join(diff)
                + "\nUse another --out, or --overwrite to delete that run's results."
            )
    if overwrite:
        for name in _RUN_FILES:
            target = path / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    write_text_atomic(old, cfg.to_yaml())
    return run


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys whose values differ, ignoring settings that cannot change results."""
    out = []
    for section in sorted(set(old) | set(new)):
        if (section,) in _RESULT_NEUTRAL:
            continue
        a, b = old.get(section) or {}, new.get(section) or {}
        for key in sorted(set(a) | set(b)):
            if (section, key) in _RESULT_NEUTRAL:
                continue
            if a.get(key) != b.get(key):
                out.append(f"{section}.{key}: {a.get(key)!r} -> {b.get(key)!r}")
    return out


# --------------------------------------------------------------------------- parameters


@dataclass
class ParamSet:
    """One trained parameter set, broadcast to the workers through the object store."""

    train_seed: int
    params: dict[str, np.ndarray]
    sha256: str
    path: Path | None
    metrics: dict[str, Any] = field(default_factory=dict)
    ref: Any = None  # driver-owned ObjectRef

    @property
    def id(self) -> str:
        return self.sha256[:12]


def obtain_params(
    cfg: JobConfig,
    run: RunDir,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    *,
    params_file: str | Path | None = None,
    config_name: str = "",
) -> list[ParamSet]:
    """Load ``params_file``, reuse finished trainings in ``run``, train the rest on actors."""
    from snnjob.network import expected_weight_shapes
    from snnjob.params import load_params, save_params

    expected = expected_weight_shapes(cfg.model)
    if params_file is not None:
        params, meta = load_params(params_file, expected=expected)
        trained = (meta.get("config") or {}).get("model", {}).get("preset", cfg.model.preset)
        if trained != cfg.model.preset:
            raise ParamsError(
                f"{params_file} was trained for model.preset={trained!r} but this config uses "
                f"{cfg.model.preset!r} (same shapes, different network); "
                f"add --set model.preset={trained}"
            )
        seed = int(meta.get("train_seed", 0))
        return [ParamSet(seed, params, meta["sha256"], Path(params_file), meta.get("metrics", {}))]

    sets: dict[int, ParamSet] = {}
    pending = []
    for seed in cfg.train.seeds:
        path = run.params / f"seed-{seed}.npz"
        if path.exists():
            params, meta = load_params(path, expected=expected)
            log.info("training seed %d: reusing %s", seed, path)
            sets[seed] = ParamSet(seed, params, meta["sha256"], path, meta.get("metrics", {}))
        else:
            pending.append(seed)
    if pending:  # each finished training is saved at once, before the others finish
        for seed, out in train_on_actors(cfg, run, train_images, train_labels, pending):
            path = run.params / f"seed-{seed}.npz"
            side = save_params(
                path,
                out["params"],
                {
                    "config": cfg.to_dict(),
                    "config_name": config_name,
                    "train_seed": seed,
                    "metrics": out["metrics"],
                    "trained_on": {"node": out["node"], "pid": out["pid"]},
                },
            )
            sets[seed] = ParamSet(seed, out["params"], side["sha256"], path, out["metrics"])
    return [sets[s] for s in cfg.train.seeds]


def train_on_actors(
    cfg: JobConfig,
    run: RunDir,
    images: np.ndarray,
    labels: np.ndarray,
    seeds: list[int],
) -> Iterator[tuple[int, dict[str, Any]]]:
    """One TrainerActor per seed, as many at once as resources allow; yields as each ends."""
    import ray

    from snnjob.actors import TrainerActor

    info = _cluster_info()
    use_gpu = cfg.train.device in ("auto", "gpu") and info["gpus"] > 0
    if cfg.train.device == "gpu" and info["gpus"] == 0:
        raise ConfigError(
            "train.device=gpu but the Ray cluster has no GPU; use train.device=auto (GPU when "
            "there is one, else CPU) or add a GPU node"
        )
    cpus = cfg.resources.trainer_cpus or max(
        1, int(min(info["max_node_cpus"], info["cpus"] // len(seeds)))
    )
    log.info("training seeds %s on %s (%d CPU(s) each)", seeds, "GPU" if use_gpu else "CPU", cpus)
    images_ref, labels_ref = ray.put(images), ray.put(labels)
    actors, refs = {}, {}
    for seed in seeds:
        actor = TrainerActor.options(
            num_cpus=cpus,
            num_gpus=1 if use_gpu else 0,
            max_restarts=2,
            max_task_retries=2,
            name=None,
        ).remote(cpus)
        actors[seed] = actor
        ckpt = str(run.checkpoints / f"seed-{seed}")
        refs[actor.train.remote(cfg.to_dict(), images_ref, labels_ref, seed=seed,
                                checkpoint_dir=ckpt)] = seed  # fmt: skip
    try:
        remaining = list(refs)
        while remaining:
            done, remaining = ray.wait(remaining, num_returns=1)
            seed = refs[done[0]]
            out = ray.get(done[0])
            m = out["metrics"]
            log.info(
                "training seed %d done: %d epochs, %.0f s, rate-mode train accuracy %.4f",
                seed, m["epochs"], m["train_wall_time_s"],
                m["final_rate_accuracy"] if m["final_rate_accuracy"] is not None else float("nan"),
            )  # fmt: skip
            ray.kill(actors.pop(seed))  # free its CPUs/GPU for the others
            yield seed, out
    finally:
        for actor in actors.values():
            ray.kill(actor)


# --------------------------------------------------------------------------- sweep


@dataclass(frozen=True)
class ShardTask:
    pset: ParamSet
    n_steps: int
    eval_seed: int
    shard_id: int
    start: int
    stop: int

    @property
    def point(self):
        from snnjob.results import PointKey

        return PointKey(self.pset.id, self.pset.train_seed, self.n_steps, self.eval_seed)


def plan_shards(cfg: JobConfig, psets: list[ParamSet], n_images: int) -> list[ShardTask]:
    """Every (params, n_steps, eval seed) x shard, point-major (workers rebuild less)."""
    from snnjob.data import shard_bounds

    bounds = shard_bounds(n_images, cfg.eval.effective_shard_size)
    return [
        ShardTask(p, n, s, i, a, b)
        for p in psets
        for n in cfg.eval.n_steps
        for s in cfg.eval.seeds
        for i, (a, b) in enumerate(bounds)
    ]


def pool_size(cfg: JobConfig, info: dict[str, Any], n_tasks: int) -> int:
    r = cfg.resources
    if r.workers is not None:
        return max(1, min(r.workers, n_tasks))
    n = int(info["cpus"] // r.cpus_per_worker)
    if r.gpus_per_worker > 0:
        n = min(n, int(info["gpus"] // r.gpus_per_worker))
    if n < 1:
        raise ConfigError(
            f"the cluster ({info['cpus']:g} CPUs, {info['gpus']:g} GPUs) cannot fit one worker "
            f"of resources.cpus_per_worker={r.cpus_per_worker}, "
            f"resources.gpus_per_worker={r.gpus_per_worker}"
        )
    return max(1, min(n, n_tasks))


class EvalPool:
    """EvalWorker actors, started on first use and killed by :meth:`close`."""

    def __init__(self, cfg: JobConfig):
        self.cfg = cfg
        self.workers: list[Any] = []

    def ensure(self, n: int) -> list[Any]:
        from snnjob.actors import EvalWorker

        r = self.cfg.resources
        while len(self.workers) < n:
            self.workers.append(
                EvalWorker.options(
                    num_cpus=r.cpus_per_worker,
                    num_gpus=r.gpus_per_worker,
                    max_restarts=0,  # a lost worker's shards go to live workers instead
                    scheduling_strategy="SPREAD",
                ).remote(dict(self.cfg.model.__dict__), r.cpus_per_worker)
            )
        return self.workers[:n]

    def builds(self, *, skip: set[int] = frozenset()) -> int:
        """Simulator builds over the live workers (for the run's statistics)."""
        import ray

        live = [w for i, w in enumerate(self.workers) if i not in skip]
        return sum(s["builds"] for s in ray.get([w.stats.remote() for w in live], timeout=30))

    def forget(self, indices: set[int]) -> None:
        """Drop dead workers (killing them in case they come back)."""
        import ray

        for i in sorted(indices, reverse=True):
            ray.kill(self.workers.pop(i))

    def close(self) -> None:
        import ray

        for w in self.workers:
            ray.kill(w)
        self.workers = []


def run_sweep(
    cfg: JobConfig,
    run: RunDir,
    psets: list[ParamSet],
    test_images: np.ndarray,
    test_labels: np.ndarray,
    *,
    pool: EvalPool,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate every missing (point, shard) on an EvalWorker pool; write each as it lands."""
    import ray

    from snnjob.results import completed_shards, write_shard

    tasks = plan_shards(cfg, psets, len(test_images))
    done_keys = completed_shards(run.path)
    todo = [t for t in tasks if (t.point, t.shard_id) not in done_keys]
    stats = {"tasks": len(tasks), "skipped": len(tasks) - len(todo), "workers": 0}
    if not todo:
        log.info("all %d shards already written; nothing to evaluate", len(tasks))
        return stats
    info = _cluster_info()
    n_workers = pool_size(cfg, info, len(todo))
    workers = pool.ensure(n_workers)
    stats["workers"] = n_workers
    log.info(
        "evaluating %d of %d shards (%d already written) on %d worker(s)",
        len(todo), len(tasks), stats["skipped"], n_workers,
    )  # fmt: skip
    broadcast(psets)
    images_ref, labels_ref = ray.put(np.ascontiguousarray(test_images)), ray.put(test_labels)

    def submit(task: ShardTask, worker):
        return worker.evaluate_shard.remote(
            task.pset.id, task.pset.ref, images_ref, labels_ref,
            start=task.start, stop=task.stop, n_steps=task.n_steps, seed=task.eval_seed,
            minibatch_size=cfg.eval.minibatch_size, unroll=cfg.eval.unroll,
        )  # fmt: skip

    # Every task is in flight at once, round-robin over the pool (point-major order, so a
    # worker rebuilds its simulator only when the point changes). A worker that dies (its
    # node lost) fails its queued tasks at once; they are resubmitted to live workers.
    inflight = {
        submit(t, workers[i % n_workers]): (t, i % n_workers, 0) for i, t in enumerate(todo)
    }
    dead: set[int] = set()
    bar = _progress_bar(len(tasks), stats["skipped"], enabled=progress)
    t0, images_done = time.perf_counter(), 0
    try:
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            ref = ready[0]
            task, w, attempt = inflight.pop(ref)
            try:
                out = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                dead.add(w)
                alive = [i for i in range(n_workers) if i not in dead]
                if attempt >= 2 or not alive:
                    raise SnnjobError(
                        f"shard {task.shard_id} of {task.point.slug} failed {attempt + 1} "
                        f"time(s) and {len(alive)} worker(s) are left: {exc}"
                    ) from exc
                load = {i: 0 for i in alive}
                for _, wi, _ in inflight.values():
                    if wi in load:
                        load[wi] += 1
                target = min(alive, key=load.__getitem__)
                log.warning("worker %d lost; shard %s resubmitted to worker %d",
                            w, task.shard_id, target)  # fmt: skip
                inflight[submit(task, workers[target])] = (task, target, attempt + 1)
                continue
            _check_hash(task.pset, out)
            write_shard(
                run.path,
                point=task.point,
                shard_id=task.shard_id,
                row=_shard_row(task, cfg, out),
                predictions=_predictions(task, out) if cfg.eval.save_predictions else None,
            )
            images_done += out["n_images"]
            bar.update(1)
            rate = images_done / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix_str(f"{rate:.1f} img/s, {rate * task.n_steps:.0f} img-steps/s")
    finally:
        bar.close()
        stats["eval_wall_time_s"] = time.perf_counter() - t0
        stats["images_evaluated"] = images_done
        stats["workers_lost"] = len(dead)
        with contextlib.suppress(Exception):  # statistics only
            stats["worker_builds"] = pool.builds(skip=dead)
        pool.forget(dead)
    return stats


def broadcast(psets: list[ParamSet]) -> None:
    """Put each parameter set into the object store once, owned by the driver."""
    import ray

    for p in psets:
        if p.ref is None:
            p.ref = ray.put(p.params)


def _check_hash(pset: ParamSet, out: dict[str, Any]) -> None:
    if out["params_sha256"] != pset.sha256:
        raise SnnjobError(
            f"worker {out['node']}:{out['pid']} evaluated parameters with sha256 "
            f"{out['params_sha256']}, expected {pset.sha256}: the broadcast was corrupted"
        )


def _shard_row(task: ShardTask, cfg: JobConfig, out: dict[str, Any]) -> dict[str, Any]:
    return {
        "params_sha256": task.pset.sha256,
        "minibatch_size": cfg.eval.minibatch_size,
        "first_index": task.start,
        "last_index": task.stop - 1,
        "n_images": out["n_images"],
        "n_errors": out["n_errors"],
        "wall_time_s": out["wall_time_s"] + out["build_time_s"],
        "worker_node": out["node"],
        "worker_pid": out["pid"],
        "finished_at": _dt.datetime.now(_dt.UTC),
    }


def _predictions(task: ShardTask, out: dict[str, Any]) -> dict[str, np.ndarray]:
    return {
        "image_index": np.arange(task.start, task.stop, dtype=np.int64),
        "label": out["labels"],
        "prediction": out["predictions"],
        "output": out["outputs"],
    }


def _progress_bar(total: int, initial: int, *, enabled: bool):
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(
        total=total,
        initial=initial,
        unit="shard",
        desc="spiking eval",
        disable=not enabled,
        mininterval=0.5 if tty else 10.0,
        dynamic_ncols=tty,
    )


# --------------------------------------------------------------------------- whole job


def run_job(
    cfg: JobConfig,
    out: str | Path,
    *,
    config_name: str = "",
    params_file: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train (unless ``params_file``), evaluate every sweep point, write summary and plots.

    Ray must be connected (:func:`connect`). Returns the summary dict (also written to
    ``OUT/summary.json``).
    """
    from snnjob.data import load_mnist

    t_start = time.perf_counter()
    run = prepare_run_dir(out, cfg, overwrite=overwrite)
    try:
        mnist = load_mnist(cfg.data.data_dir, download=cfg.data.download)
        n_train = cfg.data.n_train or len(mnist.train_images)
        n_test = cfg.eval.n_images or len(mnist.test_images)
        test_images, test_labels = mnist.test_images[:n_test], mnist.test_labels[:n_test]
        t0 = time.perf_counter()
        psets = obtain_params(
            cfg, run, mnist.train_images[:n_train], mnist.train_labels[:n_train],
            params_file=params_file, config_name=config_name,
        )  # fmt: skip
        train_s = time.perf_counter() - t0
        pool = EvalPool(cfg)
        try:
            sweep = run_sweep(
                cfg, run, psets, test_images, test_labels, pool=pool, progress=progress
            )
            summary = finish(cfg, run, psets, test_images, test_labels, n_test, pool=pool,
                             redraw=sweep["tasks"] > sweep["skipped"])  # fmt: skip
        finally:
            pool.close()
        summary.update(
            {
                "config_name": config_name,
                "params": [
                    {
                        "train_seed": p.train_seed,
                        "params_id": p.id,
                        "sha256": p.sha256,
                        "path": str(p.path) if p.path else None,
                        "training": p.metrics,
                    }
                    for p in psets
                ],  # fmt: skip
                "timings": {
                    "total_wall_time_s": time.perf_counter() - t_start,
                    "train_phase_wall_time_s": train_s,
                    **{k: v for k, v in sweep.items()},
                },
                "cluster": _cluster_info(),
            }
        )
        from snnjob.results import write_json_atomic

        write_json_atomic(run.path / "summary.json", summary)
        return summary
    finally:
        run.release()


def finish(cfg, run, psets, test_images, test_labels, n_test, *, pool, redraw=True):
    """Check coverage, summarise counts, draw plots."""
    from snnjob.results import check_coverage, read_results, summarize

    table = read_results(run.path)
    wanted = {t.point for t in plan_shards(cfg, psets, n_test)}
    problems = check_coverage(table, n_test, expected=wanted)
    problems = {k: v for k, v in problems.items() if k in wanted}
    if problems:
        lines = [f"{k.slug}: {'; '.join(v)}" for k, v in problems.items()]
        raise SnnjobError("incomplete or inconsistent results:\n  " + "\n  ".join(lines))
    keep = [p for p in table.to_pylist() if _point_of(p) in wanted]
    import pyarrow as pa

    from snnjob.results import SHARD_SCHEMA

    summary = summarize(pa.Table.from_pylist(keep, schema=SHARD_SCHEMA))
    try:
        previous = None if redraw else _previous_rate_mode(run, psets, len(test_images))
        summary["rate_mode"] = previous or rate_mode_errors(
            cfg, psets, test_images, test_labels, pool=pool
        )
    except Exception as exc:  # noqa: BLE001 - a diagnostic must not lose finished results
        log.warning("rate-mode evaluation failed: %s", exc)
    try:
        if redraw or not (run.plots / "outputs_over_time.png").exists():
            make_plots(cfg, run, psets, test_images, test_labels, summary, pool=pool)
    except Exception as exc:  # noqa: BLE001 - plots must not lose finished results
        log.warning("plotting failed: %s", exc)
    return summary


def _previous_rate_mode(run, psets, n_images) -> list[dict] | None:
    """The last summary's ``rate_mode`` rows, if they cover exactly these parameter sets."""
    import json

    try:
        rows = json.loads((run.path / "summary.json").read_text()).get("rate_mode") or []
    except (OSError, ValueError):
        return None
    wanted = [(p.id, p.train_seed, n_images) for p in psets]
    if [(r["params_id"], r["train_seed"], r["n_images"]) for r in rows] != wanted:
        return None
    return rows


def rate_mode_errors(cfg, psets, test_images, test_labels, *, pool: EvalPool) -> list[dict]:
    """Each parameter set's test error with ``LIFRate`` neurons (one step, no spikes).

    What training achieved before any spiking: the gap to the spiking error at ``n_steps``
    is the cost of spiking. Sharded over the pool like the sweep; counts are summed.
    """
    import ray

    from snnjob.data import shard_bounds
    from snnjob.results import wilson_interval

    broadcast(psets)
    bounds = shard_bounds(len(test_images), cfg.eval.effective_shard_size)
    workers = pool.ensure(min(len(bounds) * len(psets), max(1, len(pool.workers))))
    images_ref, labels_ref = ray.put(np.ascontiguousarray(test_images)), ray.put(test_labels)
    t0 = time.perf_counter()
    refs = {
        p.id: [
            workers[(k * len(bounds) + i) % len(workers)].evaluate_shard.remote(
                p.id,
                p.ref,
                images_ref,
                labels_ref,
                start=a,
                stop=b,
                n_steps=1,
                seed=0,
                minibatch_size=cfg.eval.minibatch_size,
                unroll=1,
                rate=True,
            )
            for i, (a, b) in enumerate(bounds)
        ]
        for k, p in enumerate(psets)
    }
    rows = []
    for p in psets:
        outs = ray.get(refs[p.id])
        for out in outs:
            _check_hash(p, out)
        n = sum(o["n_images"] for o in outs)
        n_err = sum(o["n_errors"] for o in outs)
        low, high = wilson_interval(n_err, n)
        rows.append({
            "params_id": p.id, "train_seed": p.train_seed, "n_images": n, "n_errors": n_err,
            "error": n_err / n, "ci95_low": low, "ci95_high": high,
        })  # fmt: skip
        log.info("rate-mode (LIFRate, 1 step) test error, training seed %d: %.2f%% (%d/%d)",
                 p.train_seed, 100 * n_err / n, n_err, n)  # fmt: skip
    log.debug("rate-mode evaluation took %.1f s", time.perf_counter() - t0)
    return rows


def _point_of(row):
    from snnjob.results import PointKey

    return PointKey(row["params_id"], row["train_seed"], row["n_steps"], row["eval_seed"])


def make_plots(cfg, run, psets, test_images, test_labels, summary, *, pool: EvalPool) -> None:
    """digits.png, outputs_over_time.png and (several n_steps) error_vs_steps.png."""
    import ray

    from snnjob.plots import plot_digits, plot_error_vs_steps, plot_outputs_over_time

    pset, n_steps, seed = psets[0], max(cfg.eval.n_steps), cfg.eval.seeds[0]
    k = min(16, len(test_images))
    broadcast(psets)
    (worker,) = pool.ensure(1)
    out = ray.get(
        worker.evaluate_shard.remote(
            pset.id,
            pset.ref,
            test_images[:k],
            test_labels[:k],
            start=0,
            stop=k,
            n_steps=n_steps,
            seed=seed,
            minibatch_size=cfg.eval.minibatch_size,
            unroll=cfg.eval.unroll,
            keep_traces=k,
        )  # fmt: skip
    )
    plot_digits(run.plots / "digits.png", test_images[:k], test_labels[:k],
                predictions=out["predictions"], n=k)  # fmt: skip
    plot_outputs_over_time(
        run.plots / "outputs_over_time.png", test_images[:k], out["traces"], test_labels[:k],
        n=min(5, k),
    )  # fmt: skip
    if len(cfg.eval.n_steps) > 1:
        plot_error_vs_steps(run.plots / "error_vs_steps.png", summary)
