"""Job configuration: frozen dataclasses, YAML loading, ``--set`` overrides, validation.

A config has five sections (``model``, ``data``, ``train``, ``eval``, ``resources``).
Unknown keys are errors, and every error names the key and what is allowed.
Named configs ship inside the package (``snnjob/configs/<name>.yaml``).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from snnjob.architecture import PRESETS, LayerSpec, NetSpec, layer_to_dict, parse_layers
from snnjob.configfields import (  # noqa: F401 - available_configs, parse_override: API
    Parser,
    _read_raw,
    _reject_unknown,
    _set_dotted,
    available_configs,
    check_choice,
    check_non_negative,
    check_positive,
    check_seeds,
    coerce,
    parse_override,
)
from snnjob.engines import ENGINES
from snnjob.errors import ConfigError
from snnjob.recipes import expand_recipes, parse_grid, parse_recipes

DEVICES = ("auto", "cpu", "gpu")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class ModelConfig:
    """The spiking network.

    Parameters
    ----------
    preset
        ``seed``: conv32-LIF-conv64-LIF-avgpool2-conv128-LIF-avgpool2-readout (the classic
        NengoDL spiking-MNIST network); ``strided``: NengoDL 3's variant with stride-2
        convolutions instead of pooling (:data:`snnjob.architecture.PRESETS`).
    layers
        The hidden layers as a list (``conv``, ``avgpool``, ``dense``; see
        :mod:`snnjob.architecture` and docs/networks.md); given, it replaces ``preset``.
        The readout to the dataset's classes follows the last layer.
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

    ``image_shape`` and ``n_classes`` are not config keys: they come from the dataset
    (:meth:`JobConfig.bind`); unbound, they are the default dataset's.
    """

    preset: str = "seed"
    layers: tuple[LayerSpec, ...] | None = None
    amplitude: float = 0.01
    tau_rc: float = 0.02
    tau_ref: float = 0.002
    max_rates: float = 100.0
    intercepts: float = 0.0
    synapse: float = 0.1
    layer_synapse: float = 0.0
    lif_smoothing: float = 0.0
    train_noise: float = 0.0
    image_shape: tuple[int, ...] | None = field(default=None, metadata={"bound": True})
    n_classes: int | None = field(default=None, metadata={"bound": True})

    @property
    def hidden_layers(self) -> tuple[LayerSpec, ...]:
        """``layers``, or the preset's."""
        return self.layers if self.layers is not None else PRESETS[self.preset]

    @property
    def net(self) -> NetSpec:
        """The network: the layers bound to the dataset's image shape and classes."""
        if self.image_shape is None or self.n_classes is None:
            from snnjob.datasets import registered_info

            info = registered_info(DataConfig.dataset)
            return NetSpec(self.hidden_layers, info.image_shape, info.n_classes)
        return NetSpec(self.hidden_layers, tuple(self.image_shape), self.n_classes)

    @property
    def network_name(self) -> str:
        """The preset's name, or ``custom`` for ``model.layers``."""
        return "custom" if self.layers is not None else self.preset

    def validate(self) -> None:
        check_choice("model.preset", self.preset, PRESETS)
        # layers replace the preset (a base config may name one); they need a LIF layer
        if self.layers is not None and not any(x.type in ("conv", "dense") for x in self.layers):
            raise ConfigError(
                "model.layers needs at least one conv or dense layer (each is followed "
                "by LIF neurons), e.g. [{type: conv, filters: 16, kernel: 3}]"
            )
        if self.image_shape is not None:
            self.net  # noqa: B018 - the layers must fit the dataset's image shape
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
    """Which dataset, where it comes from and how much of it is used.

    ``dataset``: ``mnist``, ``fashion_mnist`` or ``npz:PATH`` (:mod:`snnjob.datasets`);
    ``data_dir`` (None: ``SNNJOB_DATA_DIR``, then the user cache, then download);
    ``n_train``: first N training images (None: all); ``download``: allow downloads.
    """

    dataset: str = "mnist"
    data_dir: str | None = None
    n_train: int | None = None
    download: bool = True

    def validate(self) -> None:
        from snnjob.datasets import check_dataset_name

        check_dataset_name(self.dataset)
        if self.n_train is not None:
            check_positive("data.n_train", self.n_train)


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
        if self.n_images is not None:
            check_positive("eval.n_images", self.n_images)
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
        if self.model.image_shape is None and not self.data.dataset.startswith("npz:"):
            from snnjob.datasets import registered_info

            info = registered_info(self.data.dataset)  # known sizes: check them now
            self.check_sizes(info.n_train, info.n_test)
            self.bind(info.image_shape, info.n_classes)
        return self

    def check_sizes(self, n_train: int, n_test: int) -> None:
        """Refuse ``data.n_train`` / ``eval.n_images`` beyond the dataset's split sizes."""
        checks = (("data.n_train", self.data.n_train, n_train, "training"),
                  ("eval.n_images", self.eval.n_images, n_test, "test"))  # fmt: skip
        for key, value, size, split in checks:
            if value is not None and value > size:
                raise ConfigError(
                    f"{key}={value} but {self.data.dataset} has {size} {split} images; use at "
                    f"most {size} (or null for all)"
                )

    def bind(self, image_shape: tuple[int, int, int], n_classes: int) -> JobConfig:
        """This config with the network bound to the dataset's image shape and classes
        (:class:`ConfigError` naming the layer if a layer list does not fit)."""
        model = dataclasses.replace(self.model, image_shape=tuple(image_shape), n_classes=n_classes)
        bound = dataclasses.replace(self, model=model)
        for recipe in expand_recipes(bound):
            recipe.config.model.net  # noqa: B018 - every recipe's network must fit
        return bound

    def to_dict(self) -> dict[str, Any]:
        out = _plain(dataclasses.asdict(self))
        for f in fields(ModelConfig):
            if f.metadata.get("bound"):
                del out["model"][f.name]
        out["train"]["grid"] = {key: list(values) for key, values in self.train.grid}
        out["train"]["recipes"] = [_plain(dict(recipe)) for recipe in self.train.recipes]
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# --------------------------------------------------------------------------- loading


def load_config(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> JobConfig:
    """Load a config by package name (``quick``) or file path, apply ``key=value`` overrides."""
    raw = _read_raw(str(name_or_path))
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(raw, key, value)
    return from_dict(raw)


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


def _build_section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"config section {name!r} must be a mapping, got {raw!r}")
    hints = _hints(cls)
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
    return {name: _hints(cls) for name, cls in sections.items()}


def _hints(cls: type) -> dict[str, Any]:
    """The keys a config file may set in section ``cls``, with their types (bound fields,
    which come from the dataset, are not keys)."""
    bound = {f.name for f in fields(cls) if f.metadata.get("bound")}
    hints = {k: v for k, v in typing.get_type_hints(cls).items() if k not in bound}
    if cls is ModelConfig:
        hints["layers"] = Parser(lambda value, key: parse_layers(value, key))
    return hints


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return layer_to_dict(obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
