"""Checks of a job's inputs before anything slow starts: Ray, the data load, training.

``snnjob run`` calls :func:`check_inputs` before it connects to Ray: the parameter file
(exists, plain arrays, finite floats, shapes, hash, network), the output folder (not a file,
writable, not in use, not holding a different run) and the dataset (a registry dataset's
files and IDX headers, an ``npz:`` file's arrays), whose image shape and classes the network
is bound to (:func:`bind_dataset`: a layer list that does not fit fails here, naming the
layer) -- milliseconds to a second, and nothing is written. The runner
calls :func:`check_feasible`, a pure function of :func:`snnjob.session.cluster_info` and
the config, before anything trains: a request no node can ever satisfy is refused instead
of waited on. No Ray, no TensorFlow here.
"""

from __future__ import annotations

from pathlib import Path

from snnjob.config import JobConfig
from snnjob.datasets import DatasetInfo
from snnjob.errors import ConfigError, ParamsError
from snnjob.params import check_trained_network, load_params
from snnjob.results.runinfo import ClusterInfo
from snnjob.rundir import TRAINED, RunDir, check_run_dir, params_identity


def check_inputs(
    cfg: JobConfig,
    out: str | Path,
    *,
    params_file: str | Path | None = None,
    overwrite: bool = False,
) -> str:
    """Refuse bad parameters, output folder or dataset; return the parameters' identity
    (see :func:`snnjob.rundir.params_identity`). An unbound ``cfg`` is bound here
    (:func:`bind_dataset`); a bound one was checked when it was bound."""
    if cfg.model.image_shape is None:
        cfg = bind_dataset(cfg)
    identity = check_params(cfg, params_file, out=out, overwrite=overwrite)
    check_run_dir(out, cfg.to_dict(), params=identity, overwrite=overwrite)
    return identity


def bind_dataset(cfg: JobConfig, info: DatasetInfo | None = None) -> JobConfig:
    """``cfg`` with its network bound to the dataset's image shape and classes, after the
    dataset's quick checks (``info``: the loaded dataset's, else :func:`check_dataset`'s);
    refuses ``data.n_train`` / ``eval.n_images`` beyond the dataset's size."""
    from snnjob.datasets import check_dataset

    d = cfg.data
    if info is None:  # a registry dataset's info is known even before it is downloaded
        info = check_dataset(d.dataset, d.data_dir, download=d.download)
    cfg.check_sizes(info.n_train, info.n_test)
    if info.n_classes > 127:  # predictions store labels as int8
        raise ConfigError(f"{d.dataset} has {info.n_classes} classes; snnjob handles at most 127")
    return cfg.bind(info.image_shape, info.n_classes)


def check_params(
    cfg: JobConfig, params_file: str | Path | None, *, out: str | Path, overwrite: bool = False
) -> str:
    """Load and check ``params_file`` for this config; return its identity (``trained``
    without one)."""
    if params_file is None:
        return TRAINED
    if cfg.train.grid or cfg.train.recipes:
        raise ConfigError(
            "--params evaluates one parameter set, but train.grid / train.recipes ask to train "
            "one per recipe; drop --params, or the recipe sweep"
        )
    path = Path(params_file).expanduser()
    own = RunDir(Path(out).expanduser().resolve()).params
    if overwrite and path.resolve().is_relative_to(own):
        raise ParamsError(
            f"--params {path} lies in {own}, which --overwrite deletes before it is read; "
            "copy it out of --out first"
        )
    _, meta = load_params(path, expected=cfg.model.net.weight_shapes())
    check_trained_network(meta, cfg.model, source=str(path))
    return params_identity(meta["sha256"])


def check_feasible(cfg: JobConfig, info: ClusterInfo, *, training: bool) -> None:
    """Refuse a job the cluster can never run (``info``: :func:`~snnjob.session.cluster_info`).

    Evaluation workers need ``resources.cpus_per_worker`` CPUs on one node and
    ``resources.gpus_per_worker`` GPUs; with ``training``, a trainer needs
    ``resources.trainer_cpus`` CPUs on one node, and ``train.device=gpu`` a GPU.
    """
    r = cfg.resources
    node_cpus, gpus = info.max_node_cpus, info.gpus
    problems = []
    if r.cpus_per_worker > node_cpus:
        problems.append(
            f"resources.cpus_per_worker={r.cpus_per_worker} but the largest node has "
            f"{node_cpus:g} CPU(s), so no evaluation worker can start; use "
            f"--cpus-per-worker {max(1, int(node_cpus))} or a node with more CPUs"
        )
    if r.gpus_per_worker > gpus:
        problems.append(
            f"resources.gpus_per_worker={r.gpus_per_worker:g} but the cluster has {gpus:g} "
            "GPU(s), so no evaluation worker can start; use --gpus-per-worker 0 (CPU "
            "workers) or add a GPU node"
        )
    if training and r.trainer_cpus is not None and r.trainer_cpus > node_cpus:
        problems.append(
            f"resources.trainer_cpus={r.trainer_cpus} but the largest node has {node_cpus:g} "
            f"CPU(s), so no trainer can start; use --set resources.trainer_cpus="
            f"{max(1, int(node_cpus))} (or null: as many as fit)"
        )
    if training and cfg.train.device == "gpu" and gpus == 0:
        problems.append(
            "train.device=gpu but the cluster has no GPU; use --set train.device=auto (GPU "
            "when there is one, else CPU) or add a GPU node"
        )
    if problems:
        raise ConfigError(
            f"the Ray cluster ({info.nodes} node(s), {info.cpus:g} CPU(s), {gpus:g} "
            "GPU(s)) can never run this job: "
            + "\n  ".join(problems)
            + ("" if info.cpus else " (nodes still starting? wait until `ray status` lists them)")
        )
