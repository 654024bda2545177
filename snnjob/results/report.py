"""Rendering of a summary (:class:`~snnjob.results.model.RunSummary`, or a ``summary.json``
dict, converted): Markdown tables (:func:`summary_markdown`, by tabulate), JSON
(:func:`summary_json`) and the points as CSV (:func:`summary_csv`); ``snnjob summary
--format markdown|json|csv``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from snnjob.results.convert import to_json
from snnjob.results.model import (
    Anytime,
    Point,
    RateMode,
    RecipeStepStats,
    RecipeSummary,
    RunSummary,
    StepStats,
    as_summary,
)
from snnjob.results.runinfo import EngineInfo

__all__ = ["FORMATS", "engine_line", "markdown_table", "render_summary", "summary_csv",
           "summary_json", "summary_markdown"]  # fmt: skip


def _pct(value: float) -> str:
    return f"{100.0 * value:.2f}"


def _ci(low: float, high: float) -> str:
    return f"{_pct(low)} – {_pct(high)}"


def _mean_ci(row: RecipeStepStats) -> str:
    if row.mean_ci95_low is None or row.mean_ci95_high is None:  # one training seed
        return "–"
    return _ci(row.mean_ci95_low, row.mean_ci95_high)


def markdown_table(header: list[str], rows: list[list[str]], *, left: int = 0) -> str:
    """A Markdown (pipe) table of text cells by tabulate: the first ``left`` columns
    left-aligned (names), the others right-aligned (numbers)."""
    from tabulate import tabulate

    align = ("left",) * left + ("right",) * (len(header) - left)
    return tabulate(rows, headers=header, tablefmt="pipe", disable_numparse=True, colalign=align)


def _recipe_column(rows: Sequence[Point | RateMode | Anytime]) -> bool:
    return len({r.recipe for r in rows}) > 1


def _points_table(points: Sequence[Point]) -> str:
    multi = len({p.params_id for p in points}) > 1
    recipe = _recipe_column(points)
    header = ["n_steps", "eval_seed", "train_seed", "n_images", "n_errors", "error %", "95% CI %"]
    rows = []
    for p in points:
        row = [
            str(p.n_steps),
            str(p.eval_seed),
            str(p.train_seed),
            str(p.n_images),
            str(p.n_errors),
            _pct(p.error),
            _ci(p.ci95_low, p.ci95_high),
        ]
        rows.append(([p.recipe] if recipe else []) + ([p.params_id] if multi else []) + row)
    front = (["recipe"] if recipe else []) + (["params_id"] if multi else [])
    return markdown_table(front + header, rows)


def _by_n_steps_table(by_n_steps: Sequence[StepStats]) -> str:
    return markdown_table(
        ["n_steps", "points", "mean error %", "std %", "min %", "max %"],
        [
            [
                str(b.n_steps),
                str(b.n_points),
                _pct(b.mean_error),
                _pct(b.std_error),
                _pct(b.min_error),
                _pct(b.max_error),
            ]
            for b in by_n_steps
        ],
    )


def _rate_mode_table(rate_mode: Sequence[RateMode]) -> str:
    front = ["recipe"] if _recipe_column(rate_mode) else []
    return markdown_table(
        front + ["train_seed", "n_images", "n_errors", "error %", "95% CI %"],
        [
            ([r.recipe] if front else [])
            + [str(r.train_seed), str(r.n_images), str(r.n_errors), _pct(r.error)]
            + [_ci(r.ci95_low, r.ci95_high)]
            for r in rate_mode
        ],
    )


def _recipe_tables(recipes: Sequence[RecipeSummary]) -> list[str]:
    """One table per recipe: error per n_steps across its training seeds."""
    parts = []
    for r in recipes:
        overrides = ", ".join(f"{k}={v}" for k, v in r.overrides.items()) or "the base config"
        seeds = ", ".join(str(s) for s in r.train_seeds)
        rate = r.rate_mode
        parts += [
            "",
            f"**Recipe {r.recipe}** ({overrides}; training seeds {seeds}"
            + (f"; rate-mode error {_pct(rate.error)}%" if rate else "")
            + ")",
            "",
            markdown_table(
                ["n_steps", "train seeds", "mean error %", "95% CI of mean %", "std %",
                 "min %", "max %", "pooled error %", "pooled 95% CI %"],
                [
                    [str(b.n_steps), str(b.n_train_seeds), _pct(b.mean_error),
                     _mean_ci(b), _pct(b.std_error), _pct(b.min_error),
                     _pct(b.max_error), _pct(b.error), _ci(b.ci95_low, b.ci95_high)]
                    for b in r.by_n_steps
                ],
            ),
        ]  # fmt: skip
    return parts


def _anytime_table(anytime: Sequence[Anytime]) -> str:
    front = ["recipe"] if _recipe_column(anytime) else []
    return markdown_table(
        front + ["train_seed", "eval_seed", "threshold", "mean steps", "error %", "95% CI %"],
        [
            ([a.recipe] if front else [])
            + [
                str(a.train_seed),
                str(a.eval_seed),
                f"{p.threshold:g}",
                f"{p.mean_steps:.2f}",
                _pct(p.error),
                _ci(p.ci95_low, p.ci95_high),
            ]
            for a in anytime
            for p in a.points
        ],
    )


def summary_markdown(summary: RunSummary | Mapping[str, Any]) -> str:
    """Render a summary as Markdown tables (points, per n_steps, rate mode and anytime
    points if present).

    Parameters
    ----------
    summary : RunSummary or Mapping[str, Any]
        Output of :func:`snnjob.results.summary.summarize`, or a ``summary.json`` dict
        (converted by :meth:`~snnjob.results.model.RunSummary.from_dict`; older formats,
        e.g. with ``"seed"`` points, are accepted).

    Returns
    -------
    str
        Markdown text ending with a newline. A ``params_id`` column is added when the summary
        holds more than one parameter set, a ``recipe`` column when more than one recipe,
        and a table per recipe in a recipe sweep (``summary.recipes``).
    """
    summary = as_summary(summary)
    parts = [
        "**Error per point** (errors summed over shards; 95% Wilson interval)",
        "",
        _points_table(summary.points),
        "",
        "**Error per n_steps** (across training and evaluation seeds)",
        "",
        _by_n_steps_table(summary.by_n_steps),
    ]
    recipes = summary.recipes
    # a recipe sweep, or one recipe trained with several seeds
    if any(r.overrides or len(r.train_seeds) > 1 for r in recipes):
        parts += [
            "",
            "**Per recipe**: mean over training seeds (each seed's errors summed over "
            "evaluation seeds) with its 95% Student-t interval (training-seed spread), "
            "std, min and max; pooled: all seeds' counts summed, with the Wilson interval "
            "of that count (test-image noise only)",
        ]
        parts += _recipe_tables(recipes)
    if summary.rate_mode:
        parts += [
            "",
            "**Rate-mode error** (same weights, LIFRate neurons, 1 step: before spiking)",
            "",
            _rate_mode_table(summary.rate_mode),
        ]
    if summary.anytime:
        parts += [
            "",
            "**Anytime** (each image stops at its first step whose output margin reaches the "
            "threshold)",
            "",
            _anytime_table(summary.anytime),
        ]
    if summary.engine is not None:
        parts += ["", engine_line(summary.engine)]
    return "\n".join(parts) + "\n"


def engine_line(engine: EngineInfo) -> str:
    """One line: the engine that ran and its self-checks against NengoDL (with their cost)."""
    used = ", ".join(engine.used or (engine.requested,))
    cores = f" ({', '.join(engine.cores)})" if engine.cores else ""
    if engine.fallback:
        cores += f" ({engine.requested} asked for; {engine.fallback})"
    checks = engine.checks
    if not checks:
        return f"**Engine**: {used}{cores}"
    worst = max(max(c.mismatches.values(), default=0) for c in checks)
    diff = max(c.max_abs_diff for c in checks)
    return (
        f"**Engine**: {used}{cores}; checked against nengo_dl on the first "
        f"{checks[0].n_images} images of {len(checks)} simulation(s): at most {worst} "
        f"differing prediction(s), largest output difference {diff:.2g}, "
        f"{engine.check_wall_time_s:.1f} s"
    )


def summary_json(summary: RunSummary | Mapping[str, Any]) -> str:
    """The whole summary (current format: :meth:`~snnjob.results.model.RunSummary.to_dict`)
    as indented JSON, ending with a newline."""
    return json.dumps(as_summary(summary).to_dict(), indent=2, allow_nan=False) + "\n"


def summary_csv(summary: RunSummary | Mapping[str, Any]) -> str:
    """The summary's points as CSV: one row per sweep point, a column per field of
    :class:`~snnjob.results.model.Point`; fractions as full-precision numbers."""
    rows = [to_json(p) for p in as_summary(summary).points]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(Point.__dataclass_fields__),
                            lineterminator="\n")  # fmt: skip
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


FORMATS = {"markdown": summary_markdown, "json": summary_json, "csv": summary_csv}
"""``snnjob summary --format`` choices and their renderers (markdown first: the default)."""


def render_summary(summary: RunSummary | Mapping[str, Any], fmt: str = "markdown") -> str:
    """``summary`` rendered as one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return FORMATS[fmt](summary)
