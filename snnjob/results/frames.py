"""A finished run's results as pandas DataFrames: :func:`load` (also ``snnjob.load``).

``load(OUT)`` checks the folder (it exists, it is a run, its ``summary.json`` and
``config.yaml`` parse, ``results/`` is there and covers every point's test images once, and
agrees with ``summary.json``), reads every dataset of the run through the store's readers
(:mod:`snnjob.results.store`, :mod:`~snnjob.results.curvestore`,
:mod:`~snnjob.results.spikestore`) and returns a :class:`RunResults`. Every problem is a
:class:`~snnjob.errors.ResultsError` saying what is wrong and how to fix it.

pandas is imported by the functions that build frames, so importing this module (for
:func:`check_run_folder`, used by ``snnjob summary``) stays light; Parquet is read only
through the store's readers (no pyarrow import of its own).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from snnjob.errors import ResultsError, RunDirError
from snnjob.results.model import BASE, Point, RunSummary
from snnjob.results.schema import (
    ANYTIME_DIR,
    CURVES_DIR,
    POINT_FIELDS,
    PREDICTIONS_DIR,
    RESULTS_DIR,
    SPIKE_COLUMNS,
    SPIKES_DIR,
)
from snnjob.results.summary import check_coverage, load_summary, summarize
from snnjob.rundir import RunDir

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ANYTIME_FRAME_COLUMNS",
    "CURVE_FRAME_COLUMNS",
    "POINT_FRAME_COLUMNS",
    "RunResults",
    "check_run_folder",
    "load",
    "resume_command",
]

POINT_FRAME_COLUMNS = ("params_id", "recipe", "params_sha256", "train_seed", "n_steps",
                       "eval_seed", "n_images", "n_errors", "error", "ci95_low", "ci95_high",
                       "n_shards", "eval_wall_time_s")  # fmt: skip
"""Columns of :attr:`RunResults.points`: one row per sweep point, counts summed over shards."""
CURVE_FRAME_COLUMNS = ("params_id", "recipe", "train_seed", "eval_seed", "step", "n_images",
                       "n_errors", "error", "ci95_low", "ci95_high")  # fmt: skip
"""Columns of :attr:`RunResults.curves`: one row per (simulation, step)."""
ANYTIME_FRAME_COLUMNS = ("params_id", "recipe", "train_seed", "eval_seed", "threshold",
                         "n_steps", "n_images", "n_errors", "error", "ci95_low", "ci95_high",
                         "mean_steps")  # fmt: skip
"""Columns of :attr:`RunResults.anytime`: one row per (simulation, threshold)."""

_SHARD_NAME_RE = re.compile(r"(?P<prefix>p-.+_t-\d+)_(?:n-\d+_)?(?P<rest>s-\d+_shard-\d+)\.parquet")


def resume_command(out: str | os.PathLike) -> str:
    """The command that finishes (or re-finishes) the run in ``out``: finished shards are
    skipped, missing ones evaluated, ``summary.json`` and the plots rewritten."""
    out = Path(out)
    return f"snnjob run --config {out / 'config.yaml'} --out {out}"


def _listing(path: Path) -> str:
    names = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
    if not names:
        return "it is empty"
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return "it holds " + ", ".join(names[:3]) + more


def check_run_folder(out: str | os.PathLike) -> tuple[Path, RunSummary]:
    """Check that ``out`` is a finished run's folder; return its path and loaded summary.

    Reads only ``summary.json`` and ``config.yaml`` (to tell a run from another app's
    folder; a damaged one is left to :func:`load`), so it is fast.

    Raises
    ------
    ResultsError
        If ``out`` does not exist, is a file, is not an snnjob run (no snnjob ``config.yaml``),
        holds an unfinished run (no ``summary.json``) or a damaged ``summary.json``.
    """
    path = Path(out)
    run = RunDir(path)
    if not path.exists():
        raise ResultsError(
            f"{out} does not exist: is it the output folder (--out) of a finished snnjob run?"
        )
    if not path.is_dir():
        raise ResultsError(
            f"{out} is a file: give the output folder (--out) of a finished snnjob run"
        )
    config = _parse_yaml(run.config) if run.config.is_file() else None
    if config is None or (isinstance(config, dict) and not {"model", "eval"} & config.keys()):
        raise ResultsError(
            f"{out} is not an snnjob run folder (no snnjob config.yaml; {_listing(path)}): "
            f"give the output folder (--out) of a finished `snnjob run`"
        )
    if not run.summary.is_file():
        raise ResultsError(
            f"{out} holds an unfinished snnjob run (no summary.json): finish it with "
            f"`{resume_command(out)}` (finished shards are skipped)"
        )
    try:
        summary = load_summary(run.summary)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).replace(f"{run.summary} is not an snnjob summary.json: ", "")
        raise ResultsError(
            f"{run.summary} is damaged ({reason}): rewrite it with `{resume_command(out)}` "
            f"(every finished shard is skipped; only the summary and plots are redone)"
        ) from None
    return path, summary


def _parse_yaml(path: Path) -> Any:
    """The YAML document in ``path``, or the exception that reading it raised."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return exc


def _read_config(out: str | os.PathLike) -> dict[str, Any]:
    path = RunDir(Path(out)).config
    config = _parse_yaml(path)
    if not isinstance(config, dict):
        why = config if isinstance(config, Exception) else "not a mapping of config sections"
        raise ResultsError(
            f"{path} is damaged ({str(why).splitlines()[0]}); the run's config cannot be "
            f"recovered from its folder: run the job again into a new --out"
        )
    return config


def _damaged(out: str | os.PathLike, exc: RunDirError) -> ResultsError:
    """A store error about an unreadable file, with the fix for that kind of file."""
    match = re.search(r"cannot read (\S+\.parquet) \((.*)\); ", str(exc))
    if match is None:
        return ResultsError(f"cannot load the run in {out}: {exc}")
    path = Path(match[1])
    why = match[2].replace(f"Could not open Parquet input source '{path}': ", "")
    folder = path.parent.name
    name = _SHARD_NAME_RE.fullmatch(path.name)
    again = "compute the spike statistics" if folder == SPIKES_DIR else "evaluate that shard"
    if folder == RESULTS_DIR or name is None:
        delete = "delete it"
    elif folder == PREDICTIONS_DIR:
        delete = f"delete it and {Path(out) / RESULTS_DIR / path.name}"
    else:  # curves/, anytime/: one file per simulation of a shard, for every n_steps
        pattern = f"{name['prefix']}_n-*_{name['rest']}.parquet"
        delete = f"delete it and {Path(out) / RESULTS_DIR / pattern}"
    return ResultsError(
        f"{path} is damaged ({why}): {delete}, then run `{resume_command(out)}` to {again} again"
    )


@dataclass(eq=False, repr=False)
class RunResults:
    """One run's results (see :func:`load`); DataFrames are pandas, one row per entry.

    Attributes
    ----------
    path, config, summary : pathlib.Path, dict, RunSummary
        The run folder, its ``config.yaml`` (the resolved config as saved) and its
        ``summary.json`` as a :class:`~snnjob.results.model.RunSummary` (read by
        :func:`~snnjob.results.summary.load_summary`, older formats upgraded;
        ``summary.to_dict()`` gives the JSON).
    points : pandas.DataFrame
        One row per sweep point, computed from ``results/`` by
        :func:`~snnjob.results.summary.summarize` (counts summed over shards, ``error`` =
        ``n_errors / n_images``, Wilson 95% interval ``ci95_low``..``ci95_high``); columns
        :data:`POINT_FRAME_COLUMNS` (``recipe``: ``"base"`` without a recipe sweep). Sorted by
        ``train_seed, n_steps, eval_seed, params_id``.
    shards : pandas.DataFrame
        ``results/``: one row per (point, shard), the Parquet columns
        (:data:`~snnjob.results.schema.SHARD_COLUMNS`).
    predictions : pandas.DataFrame
        ``predictions/``: one row per (point, image), the Parquet columns
        (:data:`~snnjob.results.schema.PREDICTION_COLUMNS`; ``output`` holds a numpy array
        per row: ``numpy.stack(df.output)``). Empty when the run saved none.
    curves : pandas.DataFrame
        ``curves/`` summed over shards: the error at every step of each simulation;
        :data:`CURVE_FRAME_COLUMNS`. Empty for runs from before curves.
    anytime : pandas.DataFrame
        ``anytime/`` summed over shards: error and mean steps used per threshold;
        :data:`ANYTIME_FRAME_COLUMNS`. Empty without ``eval.anytime_thresholds``.
    spikes : pandas.DataFrame
        ``spikes/``: one row per LIF layer of each (parameter set, evaluation seed), the
        Parquet columns (:data:`~snnjob.results.schema.SPIKE_COLUMNS`; the histogram columns
        are empty for ``spikes-v1`` files). Empty without spike statistics.
    """

    path: Path
    config: dict[str, Any]
    summary: RunSummary
    points: pd.DataFrame
    shards: pd.DataFrame
    predictions: pd.DataFrame
    curves: pd.DataFrame
    anytime: pd.DataFrame
    spikes: pd.DataFrame

    def best(self, metric: str = "error", mode: str = "min", **where: Any) -> pd.Series:
        """The best sweep point: the row of :attr:`points` with the lowest (``mode="min"``)
        or highest (``"max"``) ``metric``, among the rows whose columns equal ``where``
        (e.g. ``best(n_steps=10)``).

        Ties go to the point with the fewest ``n_steps`` (the cheapest), then the lowest
        ``ci95_high`` (the most images), then the table's order (``train_seed``,
        ``n_steps``, ``eval_seed``, ``params_id``).

        Raises
        ------
        ValueError
            If ``metric`` or a ``where`` key is not a column of :attr:`points`, ``metric``
            is not numeric, ``mode`` is neither ``"min"`` nor ``"max"``, or no row matches.
        """
        points = self.points
        unknown = sorted({metric, *where} - set(points.columns))
        if unknown:
            raise ValueError(f"{unknown} are not columns of points: {list(points.columns)}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if metric in ("params_id", "recipe", "params_sha256"):
            raise ValueError(f"metric must be a numeric column of points, got {metric!r}")
        for name, value in where.items():
            points = points[points[name] == value]
        if points.empty:
            raise ValueError(f"no point of {self.path} has {where}")
        order = points.assign(_rank=range(len(points)))
        order = order.sort_values(
            [metric, "n_steps", "ci95_high", "_rank"],
            ascending=[mode == "min", True, True, True],
            kind="stable",
        )
        return points.loc[order.index[0]]

    def __repr__(self) -> str:
        return (
            f"RunResults({str(self.path)!r}: {len(self.points)} points, "
            f"{len(self.predictions)} predictions, {len(self.curves)} curve steps, "
            f"{len(self.anytime)} anytime rows, {len(self.spikes)} spike rows)"
        )


def load(out: str | os.PathLike) -> RunResults:
    """Load a finished run's results (``snnjob.load``).

    Parameters
    ----------
    out : str or os.PathLike
        The run's output folder (its ``--out``).

    Returns
    -------
    RunResults
        Its config, summary and DataFrames (see there); datasets the run did not write
        (predictions, curves, anytime, spikes) are empty frames with their columns.

    Raises
    ------
    ResultsError
        With what is wrong and how to fix it, if ``out`` is missing, not a run folder, an
        unfinished run, or damaged (``summary.json``/``config.yaml`` unreadable,
        ``results/`` missing or not covering the test set, a Parquet file unreadable,
        ``summary.json`` disagreeing with ``results/``).
    """
    import pandas as pd

    from snnjob.results.store import read_predictions, read_results

    path, summary = check_run_folder(out)
    config = _read_config(out)
    if not (path / RESULTS_DIR).is_dir():
        raise ResultsError(
            f"{path / RESULTS_DIR} is missing: the run's results are gone (summary.json alone "
            f"is not enough); evaluate them again with `{resume_command(out)}`"
        )
    try:
        shards = read_results(path)
        predictions = read_predictions(path).to_pandas()
    except RunDirError as exc:
        raise _damaged(out, exc) from None
    if shards.num_rows == 0:
        raise ResultsError(
            f"{path / RESULTS_DIR} holds no results: evaluate them with `{resume_command(out)}`"
        )
    rows = shards.to_pylist()
    n_images = _check_points(out, rows, summary)
    recipes = {p.params_id: p.recipe for p in summary.points}
    points = pd.DataFrame([vars(p) for p in summarize(rows).points])
    points["recipe"] = points["params_id"].map(recipes).fillna(BASE)
    curves, anytime = _curve_frames(out, n_images, recipes)
    return RunResults(
        path=path,
        config=config,
        summary=summary,
        points=points[list(POINT_FRAME_COLUMNS)],
        shards=shards.to_pandas(),
        predictions=predictions,
        curves=curves,
        anytime=anytime,
        spikes=_spike_frame(out),
    )


def _check_points(out, rows: list[dict[str, Any]], summary: RunSummary) -> int:
    """Check coverage and agreement with summary.json; return the test-set size."""
    sizes = [p.n_images for p in summary.points if p.n_images > 0]
    if not sizes:  # a summary without points: the largest point in results/
        totals: dict[tuple, int] = {}
        for r in rows:
            key = tuple(r[k] for k in POINT_FIELDS)
            totals[key] = totals.get(key, 0) + r["n_images"]
        sizes = list(totals.values())
    n_images = max(sizes)
    problems = check_coverage(rows, n_images)
    if problems:
        point, found = next(iter(problems.items()))
        raise ResultsError(
            f"the results in {Path(out) / RESULTS_DIR} do not cover the {n_images} test images "
            f"of point {point.slug} once ({found[0]}): finish the run with "
            f"`{resume_command(out)}`, or remove the files it did not write"
        )
    on_disk = {_key(p): p.n_errors for p in summarize(rows).points}
    recorded = {_key(p): p.n_errors for p in summary.points}
    if on_disk != recorded:  # (params_id, train_seed, n_steps, eval_seed) -> n_errors
        differ = sorted(set(on_disk.items()) ^ set(recorded.items()), key=str)[0]
        raise ResultsError(
            f"{RunDir(Path(out)).summary} disagrees with {Path(out) / RESULTS_DIR} (e.g. point "
            f"{dict(zip(POINT_FIELDS, differ[0]))}): rewrite the summary with "
            f"`{resume_command(out)}`"
        )
    return n_images


def _key(p: Point) -> tuple[str, int, int, int]:
    return p.params_id, p.train_seed, p.n_steps, p.eval_seed


def _curve_frames(out, n_images: int, recipes: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``curves/`` and ``anytime/`` summed over shards, one row per step / threshold."""
    import pandas as pd

    from snnjob.results.curves import summarize_anytime, summarize_curves
    from snnjob.results.curvestore import read_anytime_rows, read_curve_rows

    try:
        curves, curve_problems = summarize_curves(read_curve_rows(out), n_images)
        anytime, anytime_problems = summarize_anytime(read_anytime_rows(out), n_images)
    except RunDirError as exc:
        raise _damaged(out, exc) from None
    problems = curve_problems + anytime_problems
    if problems:
        raise ResultsError(
            f"the files in {Path(out) / CURVES_DIR} or {Path(out) / ANYTIME_DIR} are incomplete "
            f"({problems[0]}): finish the run with `{resume_command(out)}`"
        )
    curve_rows = [
        {"params_id": c.params_id, "train_seed": c.train_seed, "eval_seed": c.eval_seed,
         "recipe": recipes.get(c.params_id, BASE), "step": i + 1, "n_images": c.n_images,
         "n_errors": c.n_errors[i], "error": c.error[i], "ci95_low": c.ci95_low[i],
         "ci95_high": c.ci95_high[i]}
        for c in curves
        for i in range(len(c.n_errors))
    ]  # fmt: skip
    anytime_rows = [
        {"params_id": a.params_id, "train_seed": a.train_seed, "eval_seed": a.eval_seed,
         "n_images": a.n_images, "n_steps": a.n_steps, "recipe": recipes.get(a.params_id, BASE),
         **vars(p)}
        for a in anytime
        for p in a.points
    ]  # fmt: skip
    return (
        pd.DataFrame(curve_rows, columns=list(CURVE_FRAME_COLUMNS)),
        pd.DataFrame(anytime_rows, columns=list(ANYTIME_FRAME_COLUMNS)),
    )


def _spike_frame(out) -> pd.DataFrame:
    """``spikes/``: every file, read by :func:`snnjob.results.spikestore.read_spike_rows`."""
    import pandas as pd

    from snnjob.results.spikestore import read_spike_rows

    try:
        rows = read_spike_rows(out)
    except RunDirError as exc:
        raise _damaged(out, exc) from None
    return pd.DataFrame(rows, columns=[c.name for c in SPIKE_COLUMNS])
