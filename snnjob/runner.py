"""One job, top to bottom: run folder, data, parameters, sweep, summary, plots.

Flow of one ``snnjob run`` (inputs checked by :func:`snnjob.preflight.check_inputs`, then
Ray connected by :func:`snnjob.session.connect`)::

    can the cluster ever run it (CPUs, GPUs per node)? parameters?  snnjob.preflight
    open OUT (config and parameters check, lock)                    snnjob.rundir
    -> load MNIST on the driver                                     snnjob.mnist
    -> params per (recipe, training seed): reuse                   snnjob.training
       OUT/params/[<recipe>/]seed-k.npz, or train on TrainerActors    snnjob.recipes
       (GPU when there is one; restarts resume from checkpoints); each set is swept,
       with its recipe's model config, as soon as it is ready, while the others train
    -> every (params, eval seed, shard) not yet in OUT/results over snnjob.sweep
       a pool of EvalWorkers (parameters and test set put once by the driver): ONE
       simulation of max(n_steps) per shard, read at every requested n_steps and at
       every step (the curve); written to Parquet as it lands       snnjob.results.store
    -> coverage check, counts summed over shards                   snnjob.results.summary
    -> rate-mode error, plots (docs/plots.md) and spike statistics per LIF layer
       (OUT/spikes) (diagnostics: a failure is logged, results are kept)
    -> summary.json: a RunSummary assembled by build_summary      snnjob.results.model
       (every entry labelled with its recipe, each recipe pooled) snnjob.results.byrecipe
       and written once by write_summary
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from snnjob.config import JobConfig
from snnjob.diagnostics import output_traces, rate_mode_errors
from snnjob.errors import SnnjobError
from snnjob.params import ParamSet
from snnjob.plan import plan_shards
from snnjob.pool import EvalService
from snnjob.preflight import check_feasible, check_params
from snnjob.recipes import Recipe, expand_recipes
from snnjob.results.convert import from_json
from snnjob.results.model import NetworkInfo, RateMode, RunSummary, SpikeEntry, SpikeLayer
from snnjob.results.runinfo import (
    EngineContract,
    EngineInfo,
    ParamsInfo,
    SweepStats,
    Timings,
)
from snnjob.rundir import RunDir, open_run_dir, record_command
from snnjob.session import cluster_info
from snnjob.sweep import run_sweep

log = logging.getLogger(__name__)


def run_job(
    cfg: JobConfig,
    out: str | Path,
    *,
    config_name: str = "",
    params_file: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: dict | None = None,
) -> RunSummary:
    """Train (unless ``params_file``), evaluate every sweep point, write summary and plots.

    ``command`` (the CLI's argv, overrides, ...) is added to ``OUT/command.json``.
    Returns the summary (:class:`~snnjob.results.model.RunSummary`; ``OUT/summary.json``
    holds its ``to_dict()``).
    """
    from snnjob.datasets import load_dataset
    from snnjob.preflight import bind_dataset
    from snnjob.results.summary import write_summary
    from snnjob.training import param_sets

    t_start = time.perf_counter()
    if cfg.model.image_shape is None:  # a bound config was checked when it was bound (CLI)
        cfg = bind_dataset(cfg)  # the network fits the dataset's images and classes
    identity = check_params(cfg, params_file, out=out, overwrite=overwrite)
    folder = RunDir(Path(out).expanduser().resolve())
    recipes = expand_recipes(cfg)
    training = params_file is None and (
        overwrite
        or not all(folder.params_file(s, r.slug).exists() for r in recipes for s in cfg.train.seeds)
    )
    check_feasible(cfg, cluster_info(), training=training)  # before anything waits on it
    with open_run_dir(out, cfg.to_dict(), params=identity, overwrite=overwrite) as run:
        if command is not None:
            record_command(run, command, fresh=overwrite)
        data = load_dataset(cfg.data.dataset, cfg.data.data_dir, download=cfg.data.download)
        cfg = bind_dataset(cfg, data.info)
        n_train = cfg.data.n_train or len(data.train_images)
        n_test = cfg.eval.n_images or len(data.test_images)
        train = data.train_images[:n_train], data.train_labels[:n_train]
        with EvalService(cfg, data.test_images[:n_test], data.test_labels[:n_test]) as service:
            # each parameter set is evaluated as soon as it is ready, while others train
            psets: list[ParamSet] = []
            sweeps: list[SweepStats] = []
            expected = 1 if params_file is not None else len(recipes) * len(cfg.train.seeds)
            ready = param_sets(cfg, run, *train, params_file=params_file, config_name=config_name,
                               progress=progress)  # fmt: skip
            with contextlib.closing(ready):  # an error here stops the trainers too
                for pset in ready:
                    psets.append(pset)
                    ready_s = time.perf_counter() - t_start
                    # trainings still to come: idle workers must not hold the CPUs that
                    # waiting training actors need (a full cluster would deadlock)
                    sweeps.append(run_sweep(cfg, run, pset, service, ready_s=ready_s,
                                            progress=progress,
                                            release=len(psets) < expected))  # fmt: skip
            order = [r.name for r in recipes]
            psets.sort(key=lambda p: (_rank(order, p.recipe), _rank(cfg.train.seeds, p.train_seed)))
            timings = merge_sweeps(sweeps)
            results = summarize_run(cfg, run, psets, n_test)
            known = {"dataset": data.info, "network": NetworkInfo.of(cfg.model.net)}
            plotted = build_summary(results, psets, recipes, **known)  # what the plots read
            redraw = timings.tasks > timings.skipped
            rate_mode, spikes = add_diagnostics(cfg, run, psets, service, plotted, redraw=redraw)
        summary = build_summary(
            results, psets, recipes, **known, rate_mode=rate_mode, spikes=spikes,
            config_name=config_name, engine=engine_summary(cfg, sweeps, _previous_engine(run)),
            timings=replace(timings, total_wall_time_s=time.perf_counter() - t_start),
            cluster=cluster_info(),
        )  # fmt: skip
        write_summary(run.summary, summary)
        return summary


def build_summary(
    results: RunSummary, psets: list[ParamSet], recipes: list[Recipe], **sections: Any
) -> RunSummary:
    """The run's summary: ``results`` (:func:`summarize_run`) with ``sections`` (the
    :class:`~snnjob.results.model.RunSummary` fields: ``dataset``, ``rate_mode``, ``spikes``,
    ``engine``, ``timings``, ...), the parameter sets described, every entry labelled with its
    recipe and each recipe pooled (:mod:`snnjob.results.byrecipe`)."""
    from snnjob.results.byrecipe import label_recipes, summarize_recipes

    summary = replace(results, params=tuple(_describe(p) for p in psets), **sections)
    summary = label_recipes(summary, {p.id: p.recipe for p in psets}, [r.name for r in recipes])
    return replace(summary, recipes=summarize_recipes(summary, [r.as_dict() for r in recipes]))


def engine_summary(
    cfg: JobConfig, sweeps: list[SweepStats], before: EngineInfo | None
) -> EngineInfo:
    """What ran the spiking evaluation: the engine asked for, the engines and cores that
    ran this invocation's shards, and the self-checks against NengoDL (with their cost)."""
    from snnjob.engines import unsupported
    from snnjob.engines.check import CONTRACT_AGREEMENT, MAX_RELATIVE_DIFF

    used = tuple(sorted({e for s in sweeps for e in s.engines or ()}))
    if not used and before is not None:  # nothing evaluated now: keep what ran then
        return replace(before, requested=cfg.eval.engine)
    checks = tuple(c for s in sweeps for c in s.engine_checks or ())
    return EngineInfo(
        requested=cfg.eval.engine,
        used=used,
        cores=tuple(sorted({c for s in sweeps for c in s.cores or ()})),
        rate_mode="nengo_dl" if unsupported(cfg.eval.engine, rate=True) else cfg.eval.engine,
        verify_images=cfg.eval.verify_images if cfg.eval.engine == "compiled" else 0,
        contract=EngineContract(agreement=CONTRACT_AGREEMENT, max_relative_diff=MAX_RELATIVE_DIFF),
        checks=checks,
        check_wall_time_s=sum(c.wall_time_s for c in checks),
        fallback=unsupported(cfg.eval.engine, net=cfg.model.net),
    )


def _rank(order, value) -> int:
    order = list(order)
    return order.index(value) if value in order else 0


def _last(values: list) -> Any:
    return next((v for v in reversed(values) if v is not None), None)


def merge_sweeps(sweeps: list[SweepStats]) -> Timings:
    """One job's sweep statistics from its per-parameter-set sweeps (the worker counters
    are the pool's, cumulative: the last sweep's); ``total_wall_time_s`` left at 0."""
    return Timings(
        tasks=sum(s.tasks for s in sweeps),
        skipped=sum(s.skipped for s in sweeps),
        workers=max((s.workers for s in sweeps), default=0),
        images_evaluated=sum(s.images_evaluated or 0 for s in sweeps),
        image_steps_simulated=sum(s.image_steps_simulated or 0 for s in sweeps),
        eval_wall_time_s=sum(s.eval_wall_time_s or 0.0 for s in sweeps),
        workers_lost=_last([s.workers_lost for s in sweeps]),
        workers_replaced=_last([s.workers_replaced for s in sweeps]),
        shards_resubmitted=_last([s.shards_resubmitted for s in sweeps]),
        worker_builds=_last([s.worker_builds for s in sweeps]),
        worker_peak_rss_mb=_last([s.worker_peak_rss_mb for s in sweeps]),
        first_shard=next((s.first_shard for s in sweeps if s.first_shard is not None), None),
        params_ready_wall_time_s=max((s.ready_s for s in sweeps), default=0.0),
        per_params=tuple(sweeps),
    )


def summarize_run(cfg: JobConfig, run: RunDir, psets: list[ParamSet], n_test: int) -> RunSummary:
    """Check that this job's points are complete in ``OUT/results``; sum their counts
    (``points``, ``by_n_steps``, ``curves``, ``anytime``)."""
    from snnjob.results.curves import summarize_anytime, summarize_curves
    from snnjob.results.curvestore import read_anytime_rows, read_curve_rows
    from snnjob.results.store import read_shard_rows
    from snnjob.results.summary import check_coverage, summarize

    tasks = plan_shards(cfg, psets, n_test)
    wanted = {p for t in tasks for p in t.points}
    rows = [r for r in read_shard_rows(run.path) if _point_of(r) in wanted]
    problems = check_coverage(rows, n_test, expected=wanted)
    if problems:
        lines = [f"{k.slug}: {'; '.join(v)}" for k, v in problems.items()]
        raise SnnjobError("incomplete or inconsistent results:\n  " + "\n  ".join(lines))
    sims = {(p.params_id, p.train_seed, p.eval_seed) for p in wanted}
    curve_rows = [
        r for r in read_curve_rows(run.path)
        if (r["params_id"], r["train_seed"], r["eval_seed"]) in sims
    ]  # fmt: skip
    curves, missing = summarize_curves(curve_rows, n_test)
    thresholds = set(cfg.eval.anytime_thresholds)
    anytime_rows = [
        r for r in read_anytime_rows(run.path)
        if (r["params_id"], r["train_seed"], r["eval_seed"]) in sims
        and r["threshold"] in thresholds
    ]  # fmt: skip
    anytime, missing_anytime = summarize_anytime(anytime_rows, n_test)
    for line in missing + missing_anytime:
        log.warning("%s; the summary and plot leave it out", line)
    return replace(summarize(rows), curves=tuple(curves), anytime=tuple(anytime))


def add_diagnostics(
    cfg, run, psets, service, summary: RunSummary, *, redraw: bool
) -> tuple[tuple[RateMode, ...], tuple[SpikeEntry, ...]]:
    """Rate-mode error (reused from the last summary when nothing changed), plots and spike
    statistics (``eval.spike_stats_images`` > 0); returns ``(rate_mode, spikes)``.

    Diagnostics never lose finished results: a failure is logged and the job goes on.
    """
    rate_mode: tuple[RateMode, ...] = ()
    try:
        previous = None if redraw else _previous_rate_mode(run, psets, len(service.images))
        rate_mode = previous or _rate_rows(rate_mode_errors(cfg, psets, service))
    except Exception as exc:  # noqa: BLE001
        log.warning("rate-mode evaluation failed: %s", exc)
    summary = replace(summary, rate_mode=rate_mode)
    drawn = ["outputs_over_time.png"] + (["confusion.png"] if cfg.eval.save_predictions else [])
    try:
        if redraw or not all(run.plot(name).exists() for name in drawn):
            make_plots(cfg, run, psets, service, summary)
    except Exception as exc:  # noqa: BLE001
        log.warning("plotting failed: %s", exc)
    spikes: tuple[SpikeEntry, ...] = ()
    if cfg.eval.spike_stats_images > 0:
        try:
            spikes = spike_statistics(cfg, run, psets, service)
            spike_plots(cfg, run, psets, replace(summary, spikes=spikes))
        except Exception as exc:  # noqa: BLE001
            log.warning("spike statistics or their plots failed: %s", exc)
    return rate_mode, spikes


def _rate_rows(rows: list[dict[str, Any]]) -> tuple[RateMode, ...]:
    return tuple(from_json(RateMode, r, f"rate_mode[{i}]") for i, r in enumerate(rows))


def spike_plots(cfg, run, psets, summary: RunSummary) -> None:
    """spike_rates.png, spike_rate_histograms.png and error_vs_synops.png (beside each
    recipe's rate-network MACs per image)."""
    from snnjob.plots import plot_error_vs_synops, plot_spike_histograms, plot_spike_rates

    plot_spike_rates(run.plot("spike_rates.png"), summary.spikes)
    plot_spike_histograms(run.plot("spike_rate_histograms.png"), summary.spikes)
    macs = {p.recipe: (p.model or cfg.model).net.macs_per_image_step() for p in psets}
    plot_error_vs_synops(run.plot("error_vs_synops.png"), summary, macs)


def spike_statistics(cfg, run, psets, service) -> tuple[SpikeEntry, ...]:
    """Per parameter set, spike statistics of each LIF layer on the first
    ``eval.spike_stats_images`` test images, at the longest ``n_steps`` and the first
    evaluation seed: ``OUT/spikes`` (reused when it holds these parameters and settings)."""
    from snnjob.diagnostics import spike_counts
    from snnjob.results.spikestore import read_spikes, spike_rows, write_spikes

    k = min(cfg.eval.spike_stats_images, len(service.images))
    n_steps, seed = max(cfg.eval.n_steps), cfg.eval.seeds[0]
    entries = []
    for p in psets:
        rows = read_spikes(run.path, p.id, p.train_seed, seed)  # spikes-v1: no histogram
        if (
            not rows
            or any("rate_hist_counts" not in r for r in rows)
            or {(r["params_sha256"], r["n_images"], r["n_steps"]) for r in rows}
            != {(p.sha256, k, n_steps)}
        ):
            counts = spike_counts(cfg, p, service, n_steps=n_steps, eval_seed=seed, k=k)
            net = (p.model or cfg.model).net
            rows = spike_rows(net, counts, params_id=p.id, params_sha256=p.sha256,
                              train_seed=p.train_seed, eval_seed=seed)  # fmt: skip
            write_spikes(run.path, rows)
        # a layer keeps the statistics, not the row's keys (params, seeds, images, steps)
        layers = tuple(from_json(SpikeLayer, r, f"spikes of {p.id}") for r in rows)
        for r in layers:
            log.info(
                "spikes, training seed %d, %s: %.1f Hz mean, %.1f%% silent, %.0f spikes and "
                "%.3g synops per image-step", p.train_seed, r.layer, r.mean_rate_hz,
                100 * r.silent_fraction, r.spikes_per_image_step, r.synops_per_image_step,
            )  # fmt: skip
        entries.append(SpikeEntry(params_id=p.id, recipe=p.recipe, train_seed=p.train_seed,
                                  eval_seed=seed, n_images=k, n_steps=n_steps,
                                  layers=layers))  # fmt: skip
    return tuple(entries)


def make_plots(cfg, run, psets, service, summary: RunSummary) -> None:
    """digits.png, outputs_over_time.png, (several n_steps) error_vs_steps.png and (with
    saved predictions) confusion.png at the longest n_steps."""
    from snnjob.plots import (
        plot_confusion,
        plot_digits,
        plot_error_vs_steps,
        plot_outputs_over_time,
    )

    k = min(16, len(service.images))
    images, labels = service.images[:k], service.labels[:k]
    n_steps = max(cfg.eval.n_steps)
    out = output_traces(cfg, psets[0], service, n_steps=n_steps, eval_seed=cfg.eval.seeds[0], k=k)
    data = summary.dataset
    if data is None:
        raise ValueError("the summary names no dataset (image shape, classes) to plot")
    shape, names = data.image_shape, list(data.class_names)
    plot_digits(run.plot("digits.png"), images, labels, predictions=out.predictions, n=k,
                image_shape=shape, class_names=names)  # fmt: skip
    plot_outputs_over_time(run.plot("outputs_over_time.png"), images, out.traces, labels,
                           n=min(5, k), image_shape=shape, class_names=names)  # fmt: skip
    if len(cfg.eval.n_steps) > 1 or summary.curves:
        plot_error_vs_steps(run.plot("error_vs_steps.png"), summary)
    if cfg.eval.save_predictions:
        matrices = confusion_matrices(run, psets, n_steps, cfg.eval.seeds, data.n_classes)
        plot_confusion(run.plot("confusion.png"), matrices, n_steps=n_steps, class_names=names)


def confusion_matrices(run, psets, n_steps: int, eval_seeds, n_classes: int) -> dict[str, Any]:
    """Per recipe ("" without a recipe sweep), the confusion counts at ``n_steps`` summed
    over its parameter sets and ``eval_seeds``, from ``OUT/predictions``."""
    import numpy as np

    from snnjob.plots import confusion_counts
    from snnjob.results.store import read_predictions

    table = read_predictions(run.path)
    names = ("params_id", "n_steps", "eval_seed", "label", "prediction")
    col = {name: table.column(name).to_numpy() for name in names}
    keep = (col["n_steps"] == n_steps) & np.isin(col["eval_seed"], list(eval_seeds))
    several = len({p.recipe for p in psets}) > 1
    out: dict[str, Any] = {}
    for p in psets:
        mine = keep & (col["params_id"] == p.id)
        counts = confusion_counts(col["label"][mine], col["prediction"][mine], n_classes)
        key = p.recipe if several else ""
        out[key] = out.get(key, 0) + counts
    return out


def _previous_rate_mode(
    run: RunDir, psets: list[ParamSet], n_images: int
) -> tuple[RateMode, ...] | None:
    """The last summary's ``rate_mode`` rows, if they cover exactly these parameter sets."""
    from snnjob.results.summary import load_summary

    try:
        rows = load_summary(run.summary).rate_mode
    except (OSError, ValueError):
        return None
    wanted = [(p.id, p.train_seed, n_images) for p in psets]
    if [(r.params_id, r.train_seed, r.n_images) for r in rows] != wanted:
        return None
    return rows


def _previous_engine(run: RunDir) -> EngineInfo | None:
    """The last summary's ``engine`` section (for a re-run that evaluates nothing)."""
    from snnjob.results.summary import load_summary

    try:
        return load_summary(run.summary).engine
    except (OSError, ValueError):
        return None


def _point_of(row: dict):
    from snnjob.results import PointKey

    return PointKey.from_mapping(row)


def _describe(p: ParamSet) -> ParamsInfo:
    """A parameter set as the summary lists it (its training metrics, if its file has any)."""
    path = str(p.path) if p.path else None
    return ParamsInfo(train_seed=p.train_seed, params_id=p.id, recipe=p.recipe, sha256=p.sha256,
                      path=path, training=p.metrics)  # fmt: skip
