"""``snnjob run --dry-run``: what a run would do, and about how long it would take, without
starting Ray, loading data or training.

The estimate scales throughputs measured by ``scripts/benchmark.py --quick`` on the
reference machine (2-core AMD EPYC, seed network; ``docs/measured/bench.json``) by the
network's multiply-accumulates per image and step, and divides by the CPUs the run gets.
It is a rough guide (machines differ by 1.5-3x); what a run really took is in its
``summary.json`` (``timings``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from snnjob.config import JobConfig
from snnjob.plan import shard_bounds
from snnjob.recipes import expand_recipes
from snnjob.rundir import RunDir

# Measured on the reference machine, seed network (bench.json, medians of 3 rounds):
# evaluation image-steps/s per CPU and training images/s per CPU.
REFERENCE_PRESET = "seed"  # the throughputs below were measured on it, with MNIST
EVAL_IMAGE_STEPS_PER_CPU_S = {"compiled": 6357.0, "nengo_dl": 648.0}  # engine_stream1, plain/2
TRAIN_IMAGES_PER_CPU_S = 184.0  # snnjob_train 368.7 images/s on 2 CPUs
# Seconds before the first shard runs, whatever the network: Ray's start, the workers'
# imports and simulator builds (snnjob_ray2: total_s 25.7 - run_s 13.2, rounded). Not scaled by the
# network's size, so a small network's estimate is not "<1 s".
STARTUP_S = 13.0


@dataclass(frozen=True)
class Network:
    """One network the run evaluates: a recipe's training seed, or the given --params."""

    recipe: str
    train_seed: int | None  # None: --params
    name: str  # the preset, or "custom"
    macs: int  # multiply-accumulates per image-step
    train: bool  # False: --params, or already trained in OUT (resumed)


@dataclass(frozen=True)
class DryRun:
    """The plan of one ``snnjob run``: trainings, networks, shards, image-steps, estimate."""

    out: Path
    networks: tuple[Network, ...]
    epochs: int
    n_train: int
    n_test: int
    n_steps: tuple[int, ...]
    eval_seeds: tuple[int, ...]
    shard_size: int
    engine: str
    verify_images: int
    cpus: int

    @property
    def trainings(self) -> int:
        return sum(n.train for n in self.networks)

    @property
    def shards(self) -> int:
        per_simulation = len(shard_bounds(self.n_test, self.shard_size))
        return len(self.networks) * len(self.eval_seeds) * per_simulation

    @property
    def points(self) -> int:
        return len(self.networks) * len(self.eval_seeds) * len(self.n_steps)

    @property
    def image_steps(self) -> int:
        """Simulated image-steps: each simulation runs the longest n_steps once."""
        return len(self.networks) * len(self.eval_seeds) * self.n_test * max(self.n_steps)

    def _scale(self, macs: int) -> float:
        from snnjob.config import ModelConfig

        return ModelConfig(preset=REFERENCE_PRESET).net.macs_per_image_step() / macs

    def estimate_s(self) -> dict[str, float]:
        """Rough seconds for start-up, training, evaluation and the NengoDL self-check on
        ``cpus`` (start-up: once per run, on any number of CPUs)."""
        train_cpu_s = sum(
            self.epochs * self.n_train / (TRAIN_IMAGES_PER_CPU_S * self._scale(n.macs))
            for n in self.networks
            if n.train
        )
        rate = EVAL_IMAGE_STEPS_PER_CPU_S[self.engine]
        per_network = len(self.eval_seeds) * self.n_test * max(self.n_steps)
        eval_cpu_s = sum(per_network / (rate * self._scale(n.macs)) for n in self.networks)
        check_cpu_s = 0.0
        if self.engine == "compiled" and self.verify_images:
            sample = len(self.eval_seeds) * min(self.verify_images, self.n_test) * max(self.n_steps)
            nengo = EVAL_IMAGE_STEPS_PER_CPU_S["nengo_dl"]
            check_cpu_s = sum(sample / (nengo * self._scale(n.macs)) for n in self.networks)
        return {
            "startup_s": STARTUP_S,
            "train_s": train_cpu_s / self.cpus,
            "eval_s": eval_cpu_s / self.cpus,
            "check_s": check_cpu_s / self.cpus,
        }

    def text(self) -> str:
        est = self.estimate_s()
        total = sum(est.values())
        lines = [
            f"dry run: nothing started; the run would write {self.out}",
            f"  trainings     {self.trainings} ({self.epochs} epoch(s) x {self.n_train:,} "
            f"images each)"
            if self.trainings
            else "  trainings     0",
            f"  networks      {len(self.networks)}: "
            + ", ".join(_network_name(n) for n in self.networks),
            f"  evaluation    engine {self.engine}; n_steps {list(self.n_steps)}; "
            f"eval seeds {list(self.eval_seeds)}; {self.n_test:,} test images",
            f"  sweep         {self.points} point(s) from {self.shards} shard(s) of up to "
            f"{self.shard_size} images",
            f"  image-steps   {self.image_steps:,} (each simulation runs "
            f"{max(self.n_steps)} steps once, read at every n_steps)",
            f"  estimate      about {_duration(total)} on {self.cpus} CPU(s): start-up "
            f"{_duration(est['startup_s'])}, training {_duration(est['train_s'])}, evaluation "
            f"{_duration(est['eval_s'])}, NengoDL self-check {_duration(est['check_s'])}",
            "                (from throughput measured on a 2-core reference machine; "
            "machines differ by 1.5-3x)",
        ]
        return "\n".join(lines)


def _network_name(n: Network) -> str:
    seed = "--params" if n.train_seed is None else f"seed {n.train_seed}"
    state = "" if n.train or n.train_seed is None else " (trained)"
    return f"{n.recipe}/{seed}{state}" if n.recipe else f"{n.name} {seed}{state}"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "<1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def plan_run(
    cfg: JobConfig, out: str | Path, *, params_file: str | Path | None = None,
    num_cpus: int | None = None, info=None,
) -> DryRun:  # fmt: skip
    """The plan of ``snnjob run`` with this config and folder (``num_cpus``: the CPUs the
    run gets; default this machine's)."""
    from snnjob.preflight import bind_dataset

    if info is None:
        from snnjob.datasets import check_dataset

        d = cfg.data
        info = check_dataset(d.dataset, d.data_dir, download=d.download)
    cfg = bind_dataset(cfg, info)
    folder = RunDir(Path(out).expanduser())
    if params_file is not None:
        m = cfg.model
        networks = [Network("", None, m.network_name, m.net.macs_per_image_step(), train=False)]
    else:
        networks = [
            Network(r.name, s, r.config.model.network_name,
                    r.config.model.net.macs_per_image_step(),
                    train=cfg.train.epochs > 0 and not folder.params_file(s, r.slug).exists())
            for r in expand_recipes(cfg)
            for s in cfg.train.seeds
        ]  # fmt: skip
    return DryRun(
        out=Path(out),
        networks=tuple(networks),
        epochs=cfg.train.epochs,
        n_train=cfg.data.n_train or info.n_train,
        n_test=cfg.eval.n_images or info.n_test,
        n_steps=tuple(sorted(set(cfg.eval.n_steps))),
        eval_seeds=tuple(cfg.eval.seeds),
        shard_size=cfg.eval.effective_shard_size,
        engine=cfg.eval.engine,
        verify_images=cfg.eval.verify_images,
        cpus=max(1, num_cpus or os.cpu_count() or 1),
    )
