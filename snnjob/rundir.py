"""The output folder of a run: every path inside ``OUT/``, the lock, the config check.

::

    OUT/
      config.yaml              the fully resolved config of the run
      .snnjob.lock             held (flock) by the driver while it runs
      params/seed-<k>.npz      trained parameters (+ .json sidecar)
      checkpoints/seed-<k>/    per-epoch training checkpoints (resume)
      results/                 Parquet, one row per (sweep point, shard)
      predictions/             Parquet, one row per (sweep point, image)
      curves/                  Parquet, errors at every step, per (params, eval seed, shard)
      spikes/                  Parquet, spike statistics per LIF layer, per (params, eval seed)
      summary.json             counts summed over shards, intervals, timings
      plots/*.png              digits, outputs over time, error vs n_steps

No other module spells a path inside ``OUT/``: they ask a :class:`RunDir`.
"""

from __future__ import annotations

import fcntl
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from snnjob.atomic import write_text_atomic
from snnjob.errors import RunDirError

RESULTS = "results"
PREDICTIONS = "predictions"
CURVES = "curves"
SPIKES = "spikes"
PARAMS = "params"
CHECKPOINTS = "checkpoints"
PLOTS = "plots"
SUMMARY = "summary.json"
CONFIG = "config.yaml"
LOCK = ".snnjob.lock"
PLOT_FILES = ("digits.png", "outputs_over_time.png", "error_vs_steps.png", "spike_rates.png")

# What --overwrite deletes: everything a run produced (config.yaml is rewritten).
_RUN_FILES = (RESULTS, PREDICTIONS, CURVES, PARAMS, CHECKPOINTS, PLOTS, SUMMARY, SPIKES)
# Config sections and keys that do not change results: a re-run may differ in these.
_RESULT_NEUTRAL = {("resources",), ("data", "data_dir"), ("data", "download"),
                   ("eval", "spike_stats_images")}  # fmt: skip
# Keys added after runs were made: what a run folder without them did (how its results came
# about), so that resuming it is allowed exactly when the new setting reproduces that.
_ADDED_KEYS = {
    ("eval", "xla"): False,
    ("train", "rate_reg"): 0.0,
    ("train", "rate_target"): 20.0,
}


@dataclass
class RunDir:
    """Paths of one run folder; :func:`open_run_dir` creates and locks it."""

    path: Path
    _lock: IO[str] | None = None

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def results(self) -> Path:
        return self.path / RESULTS

    @property
    def predictions(self) -> Path:
        return self.path / PREDICTIONS

    @property
    def curves(self) -> Path:
        return self.path / CURVES

    @property
    def spikes(self) -> Path:
        return self.path / SPIKES

    @property
    def params(self) -> Path:
        return self.path / PARAMS

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def plots(self) -> Path:
        return self.path / PLOTS

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY

    def params_file(self, train_seed: int) -> Path:
        """Trained parameters of one training seed."""
        return self.params / f"seed-{train_seed}.npz"

    def checkpoint_dir(self, train_seed: int) -> Path:
        """Per-epoch checkpoints of one training seed."""
        return self.checkpoints / f"seed-{train_seed}"

    def plot(self, name: str) -> Path:
        """One of :data:`PLOT_FILES`."""
        if name not in PLOT_FILES:
            raise ValueError(f"unknown plot {name!r}; one of {', '.join(PLOT_FILES)}")
        return self.plots / name

    def release(self) -> None:
        """Release the lock (the folder stays)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def open_run_dir(out: str | Path, config: dict[str, Any], *, overwrite: bool = False) -> RunDir:
    """Create and lock ``out``; refuse a folder that holds a run with a different config.

    ``config`` is the resolved config as a dict (``JobConfig.to_dict()``); it is written to
    ``OUT/config.yaml``. With ``overwrite``, the results of whatever run was there are deleted.
    """
    path = Path(out).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"cannot create output folder {path}: {exc}") from None
    run = RunDir(path, _lock_folder(path))
    try:
        if run.config.exists() and not overwrite:
            diff = config_differences(_read_yaml(run.config), config)
            if diff:
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
        write_text_atomic(run.config, yaml.safe_dump(config, sort_keys=False))
    except BaseException:
        run.release()
        raise
    return run


def _lock_folder(path: Path) -> IO[str]:
    lock = open(path / LOCK, "w")  # noqa: SIM115 - held for the run's lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RunDirError(
            f"{path} is in use by another snnjob run; wait for it or choose another --out"
        ) from None
    return lock


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return {}


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``section.key: old -> new`` for every value that differs, ignoring settings that
    cannot change results (resources, where the data is read from)."""
    out = []
    for section in sorted(set(old) | set(new)):
        if (section,) in _RESULT_NEUTRAL:
            continue
        a, b = old.get(section) or {}, new.get(section) or {}
        for key in sorted(set(a) | set(b)):
            if (section, key) in _RESULT_NEUTRAL:
                continue
            before = a.get(key, _ADDED_KEYS.get((section, key)))
            if before != b.get(key):
                out.append(f"{section}.{key}: {before!r} -> {b.get(key)!r}")
    return out
