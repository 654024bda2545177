"""The output folder of a run: every path inside ``OUT/``, the lock, the config check.

::

    OUT/
      config.yaml              the fully resolved config of the run
      identity.yaml            which parameters: "trained" or the --params file's sha256
      command.json             every `snnjob run` on this folder, oldest first: argv,
                               --set overrides, config, cwd, snnjob version, UTC time
      .snnjob.lock             held (flock) by the driver while it runs
      params/seed-<k>.npz      trained parameters (+ .json sidecar)
      checkpoints/seed-<k>/    per-epoch training checkpoints (resume)
      tensorboard/seed-<k>/    per-epoch training metrics as TensorBoard event files
      params/<recipe>/seed-<k>.npz, checkpoints/<recipe>/seed-<k>/, tensorboard/<recipe>/...
                               the same per recipe, with train.grid / train.recipes
      results/                 Parquet, one row per (sweep point, shard)
      predictions/             Parquet, one row per (sweep point, image)
      curves/                  Parquet, errors at every step, per (params, eval seed, shard)
      anytime/                 Parquet, errors and steps used when stopping early, same keys
      spikes/                  Parquet, spike statistics per LIF layer, per (params, eval seed)
      summary.json             counts summed over shards, intervals, timings
      plots/*.png              digits, outputs over time, error vs n_steps and vs synops,
                               confusion, firing rates (docs/plots.md)

No other module spells a path inside ``OUT/``: they ask a :class:`RunDir`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from snnjob.atomic import write_json_atomic, write_text_atomic
from snnjob.errors import RunDirError

log = logging.getLogger(__name__)

RESULTS = "results"
PREDICTIONS = "predictions"
CURVES = "curves"
ANYTIME = "anytime"
SPIKES = "spikes"
PARAMS = "params"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
PLOTS = "plots"
SUMMARY = "summary.json"
CONFIG = "config.yaml"
IDENTITY = "identity.yaml"
COMMAND = "command.json"
TRAINED = "trained"  # the identity of parameters trained by the run itself
LOCK = ".snnjob.lock"
PLOT_FILES = ("digits.png", "outputs_over_time.png", "error_vs_steps.png", "spike_rates.png",
              "confusion.png", "error_vs_synops.png", "spike_rate_histograms.png")  # fmt: skip

# What --overwrite deletes: everything a run produced (config.yaml, identity.yaml are
# rewritten). A folder holding none of these has nothing to protect.
_RUN_FILES = (RESULTS, PREDICTIONS, CURVES, ANYTIME, SPIKES, PARAMS, CHECKPOINTS, TENSORBOARD,
              PLOTS, SUMMARY)  # fmt: skip
# Config sections and keys that do not change results: a re-run may differ in these.
_RESULT_NEUTRAL = {("resources",), ("data", "data_dir"), ("data", "download"),
                   ("eval", "spike_stats_images"), ("eval", "verify_images"),
                   ("train", "keep_checkpoints")}  # fmt: skip
# Keys added after runs were made: what a run folder without them did (how its results came
# about), so that resuming it is allowed exactly when the new setting reproduces that.
_ADDED_KEYS = {
    ("eval", "xla"): False,
    ("eval", "anytime_thresholds"): [],
    ("eval", "engine"): "nengo_dl",
    ("train", "lr_schedule"): "constant",
    ("train", "weight_decay"): 0.0,
    ("train", "rate_reg"): 0.0,
    ("train", "rate_target"): 20.0,
    ("train", "grid"): {},
    ("train", "recipes"): [],
    ("model", "layers"): None,
    ("data", "dataset"): "mnist",
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
    def identity(self) -> Path:
        return self.path / IDENTITY

    @property
    def command(self) -> Path:
        return self.path / COMMAND

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

    def params_file(self, train_seed: int, recipe: str = "") -> Path:
        """Trained parameters of one training seed (of one recipe: its slug, "" for none)."""
        return self.params / recipe / f"seed-{train_seed}.npz"

    def checkpoint_dir(self, train_seed: int, recipe: str = "") -> Path:
        """Per-epoch checkpoints of one training seed (of one recipe: its slug)."""
        return self.checkpoints / recipe / f"seed-{train_seed}"

    def tensorboard_dir(self, train_seed: int, recipe: str = "") -> Path:
        """TensorBoard event files of one training seed (``--logdir OUT/tensorboard``)."""
        return self.path / TENSORBOARD / recipe / f"seed-{train_seed}"

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


def params_identity(sha256: str | None) -> str:
    """What identifies a run's parameters: :data:`TRAINED`, or the --params file's hash."""
    return TRAINED if sha256 is None else f"sha256:{sha256}"


def check_run_dir(
    out: str | Path, config: dict[str, Any], *, params: str = TRAINED, overwrite: bool = False
) -> Path:
    """Refuse, changing nothing, an ``out`` that :func:`open_run_dir` would refuse or fail on:
    a file, a folder that cannot be written (or created), one in use, one holding a
    different run. Returns the resolved path. Cheap: for checks before Ray starts."""
    path = Path(out).expanduser().resolve()
    if path.exists():
        if not path.is_dir():
            raise RunDirError(f"--out {path} is a file, not a folder; choose another --out")
        _check_writable(path, path)
        if (path / LOCK).exists():  # held by a running driver?
            _lock_folder(path, probe=True).close()
        if not overwrite:
            _refuse_a_different_run(path, config, params)
        return path
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(
            f"cannot create output folder {path}: {parent} is a file, not a folder; "
            "choose another --out"
        )
    _check_writable(parent, path)
    return path


def open_run_dir(
    out: str | Path, config: dict[str, Any], *, params: str = TRAINED, overwrite: bool = False
) -> RunDir:
    """Create and lock ``out``; refuse a folder that holds a run with a different config or
    different parameters (``params``: see :func:`params_identity`).

    ``config`` is the resolved config as a dict (``JobConfig.to_dict()``); it is written to
    ``OUT/config.yaml``, ``params`` to ``OUT/identity.yaml``. With ``overwrite``, the
    results of whatever run was there are deleted. A folder with no results, parameters or
    checkpoints yet (a run that failed early) is taken over without ``overwrite``.
    """
    path = Path(out).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {path} is a file, not a folder; choose another --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(
            f"cannot create output folder {path} ({exc.strerror or exc}); choose another --out"
        ) from None
    run = RunDir(path, _lock_folder(path))
    try:
        if not overwrite:
            _refuse_a_different_run(path, config, params)
        try:
            if overwrite:
                for name in _RUN_FILES:
                    target = path / name
                    if target.is_dir():
                        shutil.rmtree(target)
                    elif target.exists():
                        target.unlink()
            write_text_atomic(run.config, yaml.safe_dump(config, sort_keys=False))
            write_text_atomic(run.identity, yaml.safe_dump({"params": params}, sort_keys=False))
        except OSError as exc:
            raise RunDirError(f"cannot write in output folder {path}: {exc}") from None
    except BaseException:
        run.release()
        raise
    return run


def record_command(run: RunDir, command: dict[str, Any], *, fresh: bool = False) -> Path:
    """Append one invocation (argv, overrides, ...) to ``OUT/command.json``, a JSON list of
    every run on this folder, oldest first; ``fresh`` (``--overwrite``: that run's outputs
    are gone) starts a new list. A file that is not such a list is kept beside it, renamed
    ``command.json.unreadable``, and a new list started."""
    history: Any = []
    path = run.command
    if path.exists() and not fresh:
        try:
            history = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            history = None
        if not isinstance(history, list):
            kept = path.with_name(COMMAND + ".unreadable")
            log.warning("%s is not a list of commands; kept as %s", path, kept.name)
            try:
                os.replace(path, kept)
            except OSError as exc:
                raise RunDirError(f"cannot write in output folder {run.path}: {exc}") from None
            history = []
    return write_json_atomic(path, [*history, command])


def has_outputs(path: Path) -> bool:
    """Whether ``path`` holds anything a run produced (results, parameters, checkpoints...)."""
    for name in _RUN_FILES:
        target = path / name
        if target.is_file() or (target.is_dir() and any(target.iterdir())):
            return True
    return False


def _refuse_a_different_run(path: Path, config: dict[str, Any], params: str) -> None:
    if not (path / CONFIG).exists() or not has_outputs(path):
        return  # nothing to protect: a new folder, or a run that failed before any output
    diff = config_differences(_read_yaml(path / CONFIG), config)
    recorded = recorded_params(path)
    if recorded is not None and recorded != params:
        diff.append(f"parameters: {_describe(recorded)} -> {_describe(params)}")
    if diff:
        raise RunDirError(
            f"{path} holds a different run (its config or parameters differ):\n  "
            + "\n  ".join(diff)
            + "\nUse another --out, or --overwrite to delete that run's results."
        )


def _describe(params: str) -> str:
    return "trained by the run" if params == TRAINED else f"--params with {params}"


def recorded_params(path: Path) -> str | None:
    """The parameters identity recorded in ``path``; for a folder from before
    ``identity.yaml``: trained if it holds its own parameters or checkpoints (a --params
    run writes none), else the one parameter set its summary names; else None."""
    recorded = _read_yaml(path / IDENTITY).get("params")
    if isinstance(recorded, str):
        return recorded
    if any((path / PARAMS).rglob("*.npz")) or any((path / CHECKPOINTS).glob("*")):
        return TRAINED
    try:
        entries = json.loads((path / SUMMARY).read_text()).get("params") or []
    except (OSError, ValueError, AttributeError):
        entries = []
    if len(entries) == 1 and isinstance(entries[0], dict) and entries[0].get("sha256"):
        return params_identity(entries[0]["sha256"])
    return None


def _check_writable(folder: Path, out: Path) -> None:
    """Write (and drop at once) a nameless file in ``folder``: works as root too."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        where = "" if folder == out else f" (in {folder})"
        raise RunDirError(
            f"cannot write output folder {out}{where}: {exc.strerror or exc}; "
            "choose a folder you can write as --out, or fix its permissions"
        ) from None


def _lock_folder(path: Path, *, probe: bool = False) -> IO[str]:
    try:
        lock = open(path / LOCK, "r" if probe else "a")  # noqa: SIM115 - held while running
    except OSError as exc:
        raise RunDirError(
            f"cannot write output folder {path}: {exc.strerror or exc}; "
            "choose a folder you can write as --out, or fix its permissions"
        ) from None
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
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


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
