"""Job configuration: frozen dataclasses, YAML loading, ``--set`` overrides, validation.

A config has five sections (``model``, ``data``, ``train``, ``eval``, ``resources``).
Unknown keys are errors, and every error names the key and what is allowed.
Named configs ship inside the package (``snnjob/configs/<name>.yaml``).
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from snnjob.architecture import PRESETS
from snnjob.configfields import (
    check_choice,
    check_non_negative,
    check_positive,
    check_seeds,
    coerce,
    load_yaml,
)
from snnjob.engines import ENGINES
from snnjob.errors import ConfigError
from snnjob.recipes import expand_recipes, parse_grid, parse_recipes

DEVICES = ("auto", "cpu", "gpu")
LR_SCHEDULES = ("constant", "cosine")
MNIST_TRAIN, MNIST_TEST = 60_000, 10_000


@dataclass(frozen=True)
class ModelConfig:
    """The spiking network.

    Parameters
    ----------
    preset
        ``seed``: conv32-LIF-conv64-LIF-avgpool2-conv128-LIF-avgpool2-dense10 (the classic
        NengoDL spiking-MNIST network); ``strided``: NengoDL 3's variant with stride-2
        convolutions instead of pooling.
    amplitude, tau_rc, tau_ref, max_rates, intercepts
        LIF neuron parameters (``tau_rc``, ``tau_ref`` in seconds; ``max_rates`` in Hz).
    synapse
        Time constant (s) of the lowpass filter on the spiking output probe.
    layer_synapse
        Time constant (s) of a lowpass filter on the spikes each LIF layer sends on, in
        spiking evaluation only (0: none, as in the classic notebook). Without it each
        spike reaches the next layer as a one-step current pulse, which pushes high-gain
        neurons far past threshold and loses the excess charge; a few ms smooths the
        pulses. Training (one step of rates) never uses it; its DC gain is 1. It runs
        inside the neurons (:class:`snnjob.neurons.FilteredLIF`), at no measurable cost.
    lif_smoothing
        SoftLIF smoothing ``sigma`` used by the rate approximation during training
        (Hunsberger & Eliasmith 2016); 0 disables it.
    train_noise
        Standard deviation of Gaussian noise added to each LIF layer's input during
        training only (H&E 2016 noise model); 0 disables it.

    Neuron gains and biases follow from ``max_rates`` and ``intercepts``; the neurons'
    random initial states come from the evaluation seed (``eval.seeds``).
    """

    preset: str = "seed"
    amplitude: float = 0.01
    tau_rc: float = 0.02
    tau_ref: float = 0.002
    max_rates: float = 100.0
    intercepts: float = 0.0
    synapse: float = 0.1
    layer_synapse: float = 0.0
    lif_smoothing: float = 0.0
    train_noise: float = 0.0

    def validate(self) -> None:
        check_choice("model.preset", self.preset, PRESETS)
        check_positive("model.amplitude", self.amplitude)
        check_positive("model.tau_rc", self.tau_rc)
        check_non_negative("model.tau_ref", self.tau_ref)
        check_positive("model.max_rates", self.max_rates)
        if self.tau_ref > 0 and self.max_rates >= 1.0 / self.tau_ref:
            raise ConfigError(
                f"model.max_rates={self.max_rates} Hz is not reachable with "
                f"model.tau_ref={self.tau_ref} s; use max_rates < {1.0 / self.tau_ref:g}"
            )
        if not -1.0 <= self.intercepts < 1.0:
            raise ConfigError(f"model.intercepts must be in [-1, 1), got {self.intercepts}")
        check_non_negative("model.synapse", self.synapse)
        check_non_negative("model.layer_synapse", self.layer_synapse)
        check_non_negative("model.lif_smoothing", self.lif_smoothing)
        check_non_negative("model.train_noise", self.train_noise)


@dataclass(frozen=True)
class DataConfig:
    """Where MNIST comes from and how much of it is used.

    ``data_dir`` (None: ``SNNJOB_DATA_DIR``, then the user cache, then download);
    ``n_train``: first N training images (None: all 60,000); ``download``: allow downloads.
    """

    data_dir: str | None = None
    n_train: int | None = None
    download: bool = True

    def validate(self) -> None:
        if self.n_train is not None and not 1 <= self.n_train <= MNIST_TRAIN:
            raise ConfigError(
                f"data.n_train must be between 1 and {MNIST_TRAIN} (or null for all), "
                f"got {self.n_train}"
            )


@dataclass(frozen=True)
class TrainConfig:
    """Rate-based training (one timestep per image, softmax cross-entropy, RMSProp).

    ``epochs`` 0 skips training and evaluates the initial weights ("error before training").
    ``seeds``: one trained network per seed (weight initialisation and data order).
    ``device``: ``auto`` uses a GPU when the cluster has one, else the CPU.
    ``lr_schedule``: ``constant`` (the notebook) or ``cosine`` (epoch ``e`` of ``E`` trains at
    ``learning_rate * (1 + cos(pi * e / E)) / 2``: full rate first, near zero last).
    ``weight_decay``: decoupled weight decay (0: off) on the convolution and dense kernels,
    not their biases: each step multiplies a kernel by ``1 - learning_rate * weight_decay``
    (Keras' RMSprop ``weight_decay``).
    ``rate_reg``: weight of a firing-rate regulariser (0: off): per LIF layer, the squared
    difference between the layer's mean rate on an image (Hz, rate neurons) and
    ``rate_target`` (Hz), added to the loss.
    ``grid`` (key -> values, crossed) and ``recipes`` (a list of override mappings): a
    recipe sweep, one network per recipe and seed (:mod:`snnjob.recipes`); stored as
    tuples of ``(section.key, value)`` pairs, written out as YAML mappings.
    """

    epochs: int = 10
    seeds: tuple[int, ...] = (0,)
    minibatch_size: int = 200
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    device: str = "auto"
    checkpoint_every: int = 1
    keep_checkpoints: int = 2
    rate_reg: float = 0.0
    rate_target: float = 20.0
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    recipes: tuple[tuple[tuple[str, Any], ...], ...] = ()

    def validate(self) -> None:
        check_non_negative("train.epochs", self.epochs)
        check_seeds("train.seeds", self.seeds)
        check_positive("train.minibatch_size", self.minibatch_size)
        check_positive("train.learning_rate", self.learning_rate)
        check_choice("train.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_non_negative("train.weight_decay", self.weight_decay)
        check_choice("train.device", self.device, DEVICES)
        check_positive("train.checkpoint_every", self.checkpoint_every)
        check_positive("train.keep_checkpoints", self.keep_checkpoints)
        check_non_negative("train.rate_reg", self.rate_reg)
        check_non_negative("train.rate_target", self.rate_target)


@dataclass(frozen=True)
class EvalConfig:
    """Spiking evaluation sweep: every ``n_steps`` x ``seeds`` (x training seeds) point.

    ``n_images``: first N test images (None: all 10,000). ``shard_size``: images per Ray
    task (rounded up to a multiple of ``minibatch_size``). ``unroll``: the largest divisor
    of ``n_steps`` not above it is used as NengoDL's ``unroll_simulation``. ``xla``: compile
    the simulation step with XLA auto-clustering on the evaluation workers (faster on CPU,
    not bit-exact: outputs move by float rounding; see docs/performance.md).
    ``anytime_thresholds``: margins of the filtered output (top-1 minus top-2) at which an
    image stops early (:mod:`snnjob.anytime`); one anytime point each (empty: off).
    ``spike_stats_images``: spike statistics per LIF layer (``OUT/spikes``) on the first N
    test images at the longest ``n_steps`` and the first evaluation seed; 0: off.
    ``engine``: ``compiled`` (the whole simulation as one compiled program, checked against
    NengoDL in every job) or ``nengo_dl`` (the NengoDL simulator, the reference; ``unroll``
    and ``xla`` apply to it only). ``verify_images``: with the compiled engine, the first N
    test images of every (parameter set, evaluation seed) also run through NengoDL on the
    worker, and a disagreement beyond the engine's contract fails the job; 0: no check.
    """

    n_steps: tuple[int, ...] = (30,)
    seeds: tuple[int, ...] = (0,)
    n_images: int | None = None
    minibatch_size: int = 50
    shard_size: int = 1000
    unroll: int = 1
    save_predictions: bool = True
    xla: bool = True
    anytime_thresholds: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
    spike_stats_images: int = 200
    engine: str = "compiled"
    verify_images: int = 50

    def validate(self) -> None:
        if not self.n_steps:
            raise ConfigError("eval.n_steps must list at least one number of timesteps")
        for n in self.n_steps:
            if n <= 0:
                raise ConfigError(f"eval.n_steps must be numbers of timesteps > 0, got {n}")
        if len(set(self.n_steps)) != len(self.n_steps):
            raise ConfigError(f"eval.n_steps has duplicates: {list(self.n_steps)}")
        check_seeds("eval.seeds", self.seeds)
        if self.n_images is not None and not 1 <= self.n_images <= MNIST_TEST:
            raise ConfigError(
                f"eval.n_images must be between 1 and {MNIST_TEST} (or null for all), "
                f"got {self.n_images}"
            )
        check_positive("eval.minibatch_size", self.minibatch_size)
        check_positive("eval.shard_size", self.shard_size)
        check_positive("eval.unroll", self.unroll)
        check_non_negative("eval.spike_stats_images", self.spike_stats_images)
        check_choice("eval.engine", self.engine, ENGINES)
        check_non_negative("eval.verify_images", self.verify_images)
        for t in self.anytime_thresholds:
            if not 0 <= t < float("inf"):
                raise ConfigError(f"eval.anytime_thresholds must be finite and >= 0, got {t}")
        if list(self.anytime_thresholds) != sorted(set(self.anytime_thresholds)):
            raise ConfigError(
                f"eval.anytime_thresholds must be increasing without duplicates, got "
                f"{list(self.anytime_thresholds)}"
            )

    @property
    def effective_shard_size(self) -> int:
        """Shard length rounded up to a whole number of minibatches."""
        mb = self.minibatch_size
        return -(-self.shard_size // mb) * mb


@dataclass(frozen=True)
class ResourcesConfig:
    """Ray resources. ``workers`` None: as many as the cluster's CPUs allow."""

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: int = 1
    gpus_per_worker: float = 0.0
    trainer_cpus: int | None = None

    def validate(self) -> None:
        if self.workers is not None:
            check_positive("resources.workers", self.workers)
        check_positive("resources.cpus_per_worker", self.cpus_per_worker)
        check_non_negative("resources.gpus_per_worker", self.gpus_per_worker)
        if self.trainer_cpus is not None:
            check_positive("resources.trainer_cpus", self.trainer_cpus)


@dataclass(frozen=True)
class JobConfig:
    """A whole job: one of each section."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)

    def validate(self) -> JobConfig:
        for f in fields(self):
            getattr(self, f.name).validate()
        expand_recipes(self)  # every recipe's config validates too
        return self

    def to_dict(self) -> dict[str, Any]:
        out = _plain(dataclasses.asdict(self))
        out["train"]["grid"] = {key: list(values) for key, values in self.train.grid}
        out["train"]["recipes"] = [dict(recipe) for recipe in self.train.recipes]
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# --------------------------------------------------------------------------- loading


def available_configs() -> list[str]:
    """Names of the configs shipped with the package."""
    root = resources.files("snnjob") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_config(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> JobConfig:
    """Load a config by package name (``quick``) or file path, apply ``key=value`` overrides."""
    raw = _read_raw(str(name_or_path))
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(raw, key, value)
    return from_dict(raw)


def parse_override(item: str) -> tuple[str, Any]:
    """Parse ``section.key=value``; the value is YAML (``[10, 30]``, ``null``, ``1e-3``)."""
    if "=" not in item:
        raise ConfigError(f"--set expects section.key=value, got {item!r}")
    key, text = item.split("=", 1)
    key = key.strip()
    if key.count(".") != 1:
        raise ConfigError(f"--set key must look like section.key (e.g. eval.n_steps), got {key!r}")
    try:
        value = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"--set {key}: value {text!r} is not valid YAML ({_yaml_problem(exc)}); "
            "quote it for the shell, e.g. --set 'eval.n_steps=[10, 30]'"
        ) from None
    return key, value


def from_dict(raw: dict[str, Any]) -> JobConfig:
    """Build and validate a JobConfig from a plain dict (unknown keys are errors)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {type(raw).__name__}")
    sections = {f.name: f for f in fields(JobConfig)}
    _reject_unknown("", raw, sections)
    built = {}
    for name in sections:
        section_cls = typing.get_type_hints(JobConfig)[name]
        built[name] = _build_section(name, section_cls, raw.get(name) or {})
    return JobConfig(**built).validate()


def _read_raw(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        text = path.read_text()
        origin = str(path)
    else:
        names = available_configs()
        if name_or_path not in names:
            hint = difflib.get_close_matches(name_or_path, names, n=1)
            raise ConfigError(
                f"unknown config {name_or_path!r}; shipped configs: {', '.join(names)}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + "; or give a path to a .yaml file"
            )
        text = (resources.files("snnjob") / "configs" / f"{name_or_path}.yaml").read_text()
        origin = f"snnjob/configs/{name_or_path}.yaml"
    try:
        raw = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{origin} is not valid YAML: {_yaml_problem(exc)}; fix it there"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin} must be a mapping of sections (model, data, train, ...)")
    return raw


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what the YAML parser found wrong, and where."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    section, name = key.split(".")
    sec = raw.setdefault(section, {})
    if sec is None:
        sec = raw[section] = {}
    if not isinstance(sec, dict):
        raise ConfigError(f"config section {section!r} must be a mapping")
    sec[name] = value


def _reject_unknown(prefix: str, raw: dict[str, Any], allowed: typing.Iterable[str]) -> None:
    allowed = list(allowed)
    for key in raw:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            raise ConfigError(
                f"unknown config key '{prefix}{key}'"
                + (f" (did you mean '{prefix}{hint[0]}'?)" if hint else "")
                + f"; allowed: {', '.join(prefix + a for a in allowed)}"
            )


def _build_section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"config section {name!r} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    _reject_unknown(f"{name}.", raw, hints)
    special = {"grid": parse_grid, "recipes": parse_recipes} if cls is TrainConfig else {}
    kwargs = {
        key: special[key](value, _recipe_hints()) if key in special
        else coerce(f"{name}.{key}", value, hints[key])
        for key, value in raw.items()
    }  # fmt: skip
    return cls(**kwargs)


def _recipe_hints() -> dict[str, dict[str, Any]]:
    """Types of the keys a recipe may set (:mod:`snnjob.recipes`)."""
    sections = {"model": ModelConfig, "train": TrainConfig}
    return {name: typing.get_type_hints(cls) for name, cls in sections.items()}


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
