"""Rendering of a :func:`snnjob.results.summary.summarize` result: Markdown tables
(:func:`summary_markdown`, by tabulate), JSON (:func:`summary_json`) and the points as CSV
(:func:`summary_csv`); ``snnjob summary --format markdown|json|csv``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from snnjob.results.summary import upgrade_summary

__all__ = ["FORMATS", "markdown_table", "render_summary", "summary_csv", "summary_json",
           "summary_markdown"]  # fmt: skip


def _pct(value: float) -> str:
    return f"{100.0 * value:.2f}"


def _ci(row: Mapping[str, Any]) -> str:
    return f"{_pct(row['ci95_low'])} – {_pct(row['ci95_high'])}"


def _mean_ci(row: Mapping[str, Any]) -> str:
    if row.get("mean_ci95_low") is None:  # one training seed (or an older summary)
        return "–"
    return f"{_pct(row['mean_ci95_low'])} – {_pct(row['mean_ci95_high'])}"


def markdown_table(header: list[str], rows: list[list[str]], *, left: int = 0) -> str:
    """A Markdown (pipe) table of text cells by tabulate: the first ``left`` columns
    left-aligned (names), the others right-aligned (numbers)."""
    from tabulate import tabulate

    align = ("left",) * left + ("right",) * (len(header) - left)
    return tabulate(rows, headers=header, tablefmt="pipe", disable_numparse=True, colalign=align)


def _recipe_column(rows: list[Mapping[str, Any]]) -> bool:
    return len({r.get("recipe") for r in rows}) > 1


def _points_table(points: list[Mapping[str, Any]]) -> str:
    multi = len({p["params_id"] for p in points}) > 1
    recipe = _recipe_column(points)
    header = ["n_steps", "eval_seed", "train_seed", "n_images", "n_errors", "error %", "95% CI %"]
    rows = []
    for p in points:
        row = [
            str(p["n_steps"]),
            str(p["eval_seed"]),
            str(p["train_seed"]),
            str(p["n_images"]),
            str(p["n_errors"]),
            _pct(p["error"]),
            _ci(p),
        ]
        rows.append(([p["recipe"]] if recipe else []) + ([p["params_id"]] if multi else []) + row)
    front = (["recipe"] if recipe else []) + (["params_id"] if multi else [])
    return markdown_table(front + header, rows)


def _by_n_steps_table(by_n_steps: list[Mapping[str, Any]]) -> str:
    return markdown_table(
        ["n_steps", "points", "mean error %", "std %", "min %", "max %"],
        [
            [
                str(b["n_steps"]),
                str(b["n_points"]),
                _pct(b["mean_error"]),
                _pct(b["std_error"]),
                _pct(b["min_error"]),
                _pct(b["max_error"]),
            ]
            for b in by_n_steps
        ],
    )


def _rate_mode_table(rate_mode: list[Mapping[str, Any]]) -> str:
    front = ["recipe"] if _recipe_column(rate_mode) else []
    return markdown_table(
        front + ["train_seed", "n_images", "n_errors", "error %", "95% CI %"],
        [
            ([r["recipe"]] if front else [])
            + [str(r["train_seed"]), str(r["n_images"]), str(r["n_errors"]), _pct(r["error"])]
            + [_ci(r)]
            for r in rate_mode
        ],
    )


def _recipe_tables(recipes: list[Mapping[str, Any]]) -> list[str]:
    """One table per recipe: error per n_steps across its training seeds."""
    parts = []
    for r in recipes:
        overrides = ", ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "the base config"
        seeds = ", ".join(str(s) for s in r["train_seeds"])
        rate = r.get("rate_mode")
        parts += [
            "",
            f"**Recipe {r['recipe']}** ({overrides}; training seeds {seeds}"
            + (f"; rate-mode error {_pct(rate['error'])}%" if rate else "")
            + ")",
            "",
            markdown_table(
                ["n_steps", "train seeds", "mean error %", "95% CI of mean %", "std %",
                 "min %", "max %", "pooled error %", "pooled 95% CI %"],
                [
                    [str(b["n_steps"]), str(b["n_train_seeds"]), _pct(b["mean_error"]),
                     _mean_ci(b), _pct(b["std_error"]), _pct(b["min_error"]),
                     _pct(b["max_error"]), _pct(b["error"]), _ci(b)]
                    for b in r["by_n_steps"]
                ],
            ),
        ]  # fmt: skip
    return parts


def _anytime_table(anytime: list[Mapping[str, Any]]) -> str:
    front = ["recipe"] if _recipe_column(anytime) else []
    return markdown_table(
        front + ["train_seed", "eval_seed", "threshold", "mean steps", "error %", "95% CI %"],
        [
            ([a["recipe"]] if front else [])
            + [
                str(a["train_seed"]),
                str(a["eval_seed"]),
                f"{p['threshold']:g}",
                f"{p['mean_steps']:.2f}",
                _pct(p["error"]),
                _ci(p),
            ]
            for a in anytime
            for p in a["points"]
        ],
    )


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """Render a summary as Markdown tables (points, per n_steps, rate mode and anytime
    points if present).

    Parameters
    ----------
    summary : Mapping[str, Any]
        Output of :func:`snnjob.results.summary.summarize` (or the same structure loaded back
        from JSON; summaries in the older format with ``"seed"`` points are accepted).

    Returns
    -------
    str
        Markdown text ending with a newline. A ``params_id`` column is added when the summary
        holds more than one parameter set, a ``recipe`` column when more than one recipe,
        and a table per recipe in a recipe sweep (``summary["recipes"]``).
    """
    summary = upgrade_summary(summary)
    parts = [
        "**Error per point** (errors summed over shards; 95% Wilson interval)",
        "",
        _points_table(summary["points"]),
        "",
        "**Error per n_steps** (across training and evaluation seeds)",
        "",
        _by_n_steps_table(summary["by_n_steps"]),
    ]
    recipes = summary.get("recipes") or []
    # a recipe sweep, or one recipe trained with several seeds
    if any(r["overrides"] or len(r["train_seeds"]) > 1 for r in recipes):
        parts += [
            "",
            "**Per recipe**: mean over training seeds (each seed's errors summed over "
            "evaluation seeds) with its 95% Student-t interval (training-seed spread), "
            "std, min and max; pooled: all seeds' counts summed, with the Wilson interval "
            "of that count (test-image noise only)",
        ]
        parts += _recipe_tables(recipes)
    if summary.get("rate_mode"):
        parts += [
            "",
            "**Rate-mode error** (same weights, LIFRate neurons, 1 step: before spiking)",
            "",
            _rate_mode_table(summary["rate_mode"]),
        ]
    if summary.get("anytime"):
        parts += [
            "",
            "**Anytime** (each image stops at its first step whose output margin reaches the "
            "threshold)",
            "",
            _anytime_table(summary["anytime"]),
        ]
    if summary.get("engine"):
        parts += ["", engine_line(summary["engine"])]
    return "\n".join(parts) + "\n"


def engine_line(engine: Mapping[str, Any]) -> str:
    """One line: the engine that ran and its self-checks against NengoDL (with their cost)."""
    used = ", ".join(engine.get("used") or [engine.get("requested", "?")])
    cores = f" ({', '.join(engine['cores'])})" if engine.get("cores") else ""
    checks = engine.get("checks") or []
    if not checks:
        return f"**Engine**: {used}{cores}"
    worst = max(max(c["mismatches"].values(), default=0) for c in checks)
    diff = max(c["max_abs_diff"] for c in checks)
    return (
        f"**Engine**: {used}{cores}; checked against nengo_dl on the first "
        f"{checks[0]['n_images']} images of {len(checks)} simulation(s): at most {worst} "
        f"differing prediction(s), largest output difference {diff:.2g}, "
        f"{engine.get('check_wall_time_s', 0.0):.1f} s"
    )


def summary_json(summary: Mapping[str, Any]) -> str:
    """The whole summary (current format) as indented JSON, ending with a newline."""
    return json.dumps(upgrade_summary(summary), indent=2, allow_nan=False) + "\n"


def summary_csv(summary: Mapping[str, Any]) -> str:
    """The summary's points as CSV: one row per sweep point, a header of every key the
    points have (in order of first appearance); fractions as full-precision numbers."""
    points = upgrade_summary(summary)["points"]
    names = list(dict.fromkeys(key for p in points for key in p))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(points)
    return buffer.getvalue()


FORMATS = {"markdown": summary_markdown, "json": summary_json, "csv": summary_csv}
"""``snnjob summary --format`` choices and their renderers (markdown first: the default)."""


def render_summary(summary: Mapping[str, Any], fmt: str = "markdown") -> str:
    """``summary`` rendered as one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return FORMATS[fmt](summary)
