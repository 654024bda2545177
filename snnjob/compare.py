"""``snnjob compare RUN [RUN ...]``: several finished runs side by side.

- a table: per run (and recipe, in a recipe sweep) and ``n_steps``, the error pooled over the
  run's points at that ``n_steps`` (counts of every training and evaluation seed summed), its
  95% Wilson interval, the images counted, and the rate-mode error where the summary has one;
- a figure: error against ``n_steps`` (log axis), a line per run with its 95% band, the
  rate-mode errors as dotted reference lines;
- McNemar's paired test on the per-image predictions of each run against the first, per
  ``n_steps`` both have and per pair of matched simulations (see :func:`paired_tests`).

Runs evaluated on different test images (count, indices or labels differ) are refused with
a :class:`NotComparableError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnjob.errors import ResultsError
from snnjob.results.frames import RunResults, load
from snnjob.results.report import markdown_table
from snnjob.results.summary import wilson_interval

__all__ = ["EXACT_BELOW", "Comparison", "NotComparableError", "check_same_test_images",
           "compare_figure", "compare_runs",
           "comparison_markdown", "mcnemar", "paired_tests", "write_figure"]  # fmt: skip

EXACT_BELOW = 25
"""McNemar's test is exact (binomial) when fewer images than this are discordant, else the
chi-square approximation with continuity correction."""
ALPHA = 0.05
REPLICATE = ("params_id", "train_seed", "eval_seed")  # one simulation of the test set


class NotComparableError(ResultsError):
    """The runs given to ``snnjob compare`` were evaluated on different test images."""


@dataclass
class Comparison:
    """What :func:`compare_runs` found: ``runs`` (label, results) in the order given,
    ``rows`` (the table), ``tests`` (one McNemar test each) and ``notes`` (tests skipped)."""

    runs: list[tuple[str, RunResults]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    tests: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def mcnemar(b: int, c: int) -> dict[str, Any]:
    """McNemar's test of ``b`` images right only in the first of two classifiers against
    ``c`` right only in the second (two-sided).

    Exact binomial test (``scipy.stats.binomtest(b, b + c, 0.5)``) when ``b + c <
    EXACT_BELOW``, else chi-square with continuity correction, ``(|b - c| - 1)^2 / (b + c)``
    on 1 degree of freedom. Returns ``b``, ``c``, ``method`` (``"exact"`` or ``"chi2"``),
    ``statistic`` (None for the exact test) and ``p_value`` (1.0 when ``b = c = 0``).
    """
    from scipy.stats import binomtest, chi2

    b, c = int(b), int(c)
    if b < 0 or c < 0:
        raise ValueError(f"b and c must be counts >= 0, got {b} and {c}")
    n = b + c
    if n < EXACT_BELOW:
        p = 1.0 if n == 0 else float(binomtest(b, n, 0.5).pvalue)
        return {"b": b, "c": c, "method": "exact", "statistic": None, "p_value": min(p, 1.0)}
    statistic = (abs(b - c) - 1) ** 2 / n
    return {"b": b, "c": c, "method": "chi2", "statistic": statistic,
            "p_value": float(chi2.sf(statistic, 1))}  # fmt: skip


# ------------------------------------------------------------------------------------------
# Loading and checking
# ------------------------------------------------------------------------------------------


def _labels(paths: Sequence[str | os.PathLike]) -> list[str]:
    resolved = [Path(p).resolve() for p in paths]
    for i, path in enumerate(resolved):
        if path in resolved[:i]:
            raise ResultsError(f"{paths[i]} is given twice: name each run to compare once")
    names = [p.name for p in resolved]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def _test_set(results: RunResults) -> tuple[int, dict[int, int] | None]:
    """The number of test images and, with predictions, each image's label."""
    n_images = int(results.points["n_images"].max())
    preds = results.predictions
    if preds.empty:
        return n_images, None
    first = preds.drop_duplicates("image_index")
    return n_images, dict(zip(first["image_index"].tolist(), first["label"].tolist()))


def check_same_test_images(runs: Sequence[tuple[str, RunResults]]) -> list[str]:
    """Refuse runs evaluated on different test images; return notes on what was not checked.

    Compared with the first run: the number of test images, and (where both saved
    predictions) the image indices and each image's label.
    """
    notes = []
    (name, first), *others = runs
    n_first, labels_first = _test_set(first)
    for other_name, other in others:
        n_other, labels_other = _test_set(other)
        if n_other != n_first:
            raise NotComparableError(
                f"{name} and {other_name} were evaluated on different test images ({n_first} "
                f"and {n_other} images): compare runs made with the same eval.n_images"
            )
        if labels_first is None or labels_other is None:
            notes.append(f"{name} or {other_name} saved no predictions: only the number of "
                         f"test images ({n_first}) was checked, not the images")  # fmt: skip
            continue
        if labels_first.keys() != labels_other.keys():
            extra = sorted(labels_first.keys() ^ labels_other.keys())
            raise NotComparableError(
                f"{name} and {other_name} were evaluated on different test images (image "
                f"{extra[0]} is in one run only): compare runs made with the same eval.n_images"
            )
        differ = [i for i in sorted(labels_first) if labels_first[i] != labels_other[i]]
        if differ:
            i = differ[0]
            raise NotComparableError(
                f"{name} and {other_name} were evaluated on different test data: image {i} is "
                f"a {labels_first[i]} in {name} and a {labels_other[i]} in {other_name} "
                f"({len(differ)} labels differ); compare runs that read the same MNIST files"
            )
    return notes


# ------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------


def _pooled(n_errors: int, n_images: int) -> dict[str, float]:
    low, high = wilson_interval(n_errors, n_images)
    return {"error": n_errors / n_images, "ci95_low": low, "ci95_high": high}


def error_rows(label: str, results: RunResults) -> list[dict[str, Any]]:
    """Per recipe and ``n_steps``: the run's points pooled (counts summed), with the
    recipe's rate-mode error pooled over its training seeds (None without one)."""
    points = results.points
    rows = []
    for recipe in dict.fromkeys(points["recipe"]):
        mine = [r for r in results.summary.rate_mode if r.recipe == recipe]
        rate_error = None
        if mine:
            rate_error = sum(r.n_errors for r in mine) / sum(r.n_images for r in mine)
        for n_steps, group in points[points["recipe"] == recipe].groupby("n_steps"):
            n_images, n_errors = int(group["n_images"].sum()), int(group["n_errors"].sum())
            rows.append({"run": label, "recipe": recipe, "n_steps": int(n_steps),
                         "n_points": len(group), "n_images": n_images, "n_errors": n_errors,
                         **_pooled(n_errors, n_images), "rate_mode_error": rate_error})  # fmt: skip
    return rows


# ------------------------------------------------------------------------------------------
# The paired test
# ------------------------------------------------------------------------------------------


def _replicates(results: RunResults) -> dict[int, dict[tuple, tuple[np.ndarray, np.ndarray]]]:
    """n_steps -> (params_id, train_seed, eval_seed) -> (image indices, correct), sorted."""
    out: dict[int, dict[tuple, tuple[np.ndarray, np.ndarray]]] = {}
    preds = results.predictions.sort_values("image_index", kind="stable")
    for (n_steps, *key), group in preds.groupby(["n_steps", *REPLICATE], sort=True):
        correct = group["label"].to_numpy() == group["prediction"].to_numpy()
        out.setdefault(int(n_steps), {})[tuple(key)] = (group["image_index"].to_numpy(), correct)
    return out


def _match(a: list[tuple], b: list[tuple]) -> tuple[list[tuple[tuple, tuple]], list[tuple]]:
    """Pair simulations: one each, or those with the same (train seed, eval seed) when
    that seed pair names one simulation on each side; also return the unpaired ones."""
    if len(a) == 1 and len(b) == 1:
        return [(a[0], b[0])], []
    by_seeds_a = {k[1:]: [x for x in a if x[1:] == k[1:]] for k in a}
    by_seeds_b = {k[1:]: [x for x in b if x[1:] == k[1:]] for k in b}
    pairs = [(by_seeds_a[s][0], by_seeds_b[s][0]) for s in by_seeds_a
             if len(by_seeds_a[s]) == 1 and len(by_seeds_b.get(s, [])) == 1]  # fmt: skip
    paired = {x for pair in pairs for x in pair}
    return pairs, [x for x in [*a, *b] if x not in paired]


def paired_tests(
    first: tuple[str, RunResults], other: tuple[str, RunResults]
) -> tuple[list[dict[str, Any]], list[str]]:
    """McNemar's test (:func:`mcnemar`) of ``other`` against ``first``, image by image.

    For each ``n_steps`` both runs have, simulations (parameter set, training seed,
    evaluation seed) are paired: when each run has one, those two; otherwise those with the
    same training and evaluation seeds (a seed pair that names several parameter sets, as in
    a recipe sweep, is not paired). Each pair is one test over every test image (``b``:
    images only ``first`` classifies correctly, ``c``: only ``other``); nothing is pooled
    over seeds, so each image counts once per test. Returns ``(tests, notes)``; a note says
    why a test was skipped (no predictions, no shared ``n_steps``, unpaired simulations).
    """
    (name_a, a), (name_b, b) = first, other
    for name, run in first, other:
        if run.predictions.empty:
            return [], [f"{name} saved no per-image predictions: no paired test with it"]
    reps_a, reps_b = _replicates(a), _replicates(b)
    shared = sorted(reps_a.keys() & reps_b.keys())
    if not shared:
        return [], [f"{name_a} and {name_b} share no n_steps ({sorted(reps_a)} and "
                    f"{sorted(reps_b)}): no paired test"]  # fmt: skip
    tests, notes = [], []
    for n_steps in shared:
        pairs, unpaired = _match(sorted(reps_a[n_steps]), sorted(reps_b[n_steps]))
        if unpaired:
            names = ", ".join("p-{}_t-{}_s-{}".format(*k) for k in unpaired)
            notes.append(f"n_steps {n_steps}: {names} left unpaired (their seeds do not "
                         f"match one simulation on each side): not tested")  # fmt: skip
        for key_a, key_b in pairs:
            (index_a, right_a), (index_b, right_b) = reps_a[n_steps][key_a], reps_b[n_steps][key_b]
            if not np.array_equal(index_a, index_b):
                notes.append(f"n_steps {n_steps}: {name_a} and {name_b} have predictions for "
                             f"different images (an unfinished shard?): not tested")  # fmt: skip
                continue
            result = mcnemar(np.sum(right_a & ~right_b), np.sum(~right_a & right_b))
            tests.append({"first": name_a, "other": name_b, "n_steps": n_steps,
                          "first_key": dict(zip(REPLICATE, key_a)),
                          "other_key": dict(zip(REPLICATE, key_b)), "n_images": len(index_a),
                          **result, "significant": result["p_value"] < ALPHA})  # fmt: skip
    return tests, notes


def compare_runs(paths: Sequence[str | os.PathLike]) -> Comparison:
    """Load runs (:func:`snnjob.results.frames.load`), check that they were evaluated on the
    same test images, and compute the table and the paired tests (each run against the
    first). Raises :class:`~snnjob.errors.ResultsError` (or :class:`NotComparableError`)."""
    if not paths:
        raise ResultsError("name at least one run folder to compare")
    runs = [(label, load(path)) for label, path in zip(_labels(paths), paths)]
    comparison = Comparison(runs=runs, notes=check_same_test_images(runs))
    for label, results in runs:
        comparison.rows += error_rows(label, results)
    for other in runs[1:]:
        tests, notes = paired_tests(runs[0], other)
        comparison.tests += tests
        comparison.notes += notes
    return comparison


# ------------------------------------------------------------------------------------------
# Text and figure
# ------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100.0 * value:.2f}"


def _seeds(key: Mapping[str, Any]) -> str:
    return f"{key['train_seed']}/{key['eval_seed']}"


def verdict(test: Mapping[str, Any]) -> str:
    """One plain sentence on a paired test."""
    how = "exact binomial" if test["method"] == "exact" else "chi-square, continuity-corrected"
    return (
        f"n_steps {test['n_steps']}: {test['other']} gets {test['c']} image(s) right that "
        f"{test['first']} gets wrong, and {test['first']} {test['b']} that {test['other']} "
        f"gets wrong; p = {test['p_value']:.3g} ({how}): the difference is "
        f"{'' if test['significant'] else 'not '}significant at 5%."
    )


def comparison_markdown(comparison: Comparison) -> str:
    """The table, the paired tests (a table and a sentence each) and the notes."""
    recipes = any(len({r["recipe"] for r in comparison.rows if r["run"] == label}) > 1
                  for label, _ in comparison.runs)  # fmt: skip
    header = ["run", *(["recipe"] if recipes else []), "n_steps", "points", "n images",
              "n errors", "error %", "95% CI %", "rate-mode error %"]  # fmt: skip
    rows = [[r["run"], *([r["recipe"]] if recipes else []), str(r["n_steps"]),
             str(r["n_points"]), str(r["n_images"]), str(r["n_errors"]), _pct(r["error"]),
             f"{_pct(r['ci95_low'])} – {_pct(r['ci95_high'])}", _pct(r["rate_mode_error"])]
            for r in comparison.rows]  # fmt: skip
    parts = ["**Error per run and n_steps** (each run's points at that n_steps pooled; 95% "
             "Wilson interval)", "", markdown_table(header, rows, left=1 + recipes)]  # fmt: skip
    if comparison.tests:
        parts += ["", "**Paired test** (McNemar on per-image predictions; b: images only the "
                  "first run gets right, c: only the other)", "", markdown_table(
                      ["runs", "n_steps", "seeds (train/eval)", "n images", "b", "c", "test",
                       "p", "at 5%"],
                      [[f"{t['first']} vs {t['other']}", str(t["n_steps"]),
                        f"{_seeds(t['first_key'])} vs {_seeds(t['other_key'])}",
                        str(t["n_images"]), str(t["b"]), str(t["c"]), t["method"],
                        f"{t['p_value']:.3g}",
                        "significant" if t["significant"] else "not significant"]
                       for t in comparison.tests], left=1), ""]  # fmt: skip
        parts += [f"- {verdict(t)}" for t in comparison.tests]
    if comparison.notes:
        parts += ["", "Notes:", *[f"- {note}" for note in comparison.notes]]
    return "\n".join(parts) + "\n"


def compare_figure(comparison: Comparison):
    """Error (%) against ``n_steps`` (log axis): a line per run (and recipe) through its
    pooled errors (``gid="error:<label>"``) with its 95% band (``"band:<label>"``), and
    its rate-mode error as a dotted horizontal line (``"rate-mode:<label>"``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    lines = list(dict.fromkeys((r["run"], r["recipe"]) for r in comparison.rows))
    several = len({recipe for _, recipe in lines}) > 1
    for i, (run, recipe) in enumerate(lines):
        rows = [r for r in comparison.rows if (r["run"], r["recipe"]) == (run, recipe)]
        label = f"{run} ({recipe})" if several else run
        colour = f"C{i % 10}"
        x = np.array([r["n_steps"] for r in rows], dtype=np.float64)
        y, low, high = (100.0 * np.array([r[k] for r in rows])
                        for k in ("error", "ci95_low", "ci95_high"))  # fmt: skip
        ax.plot(x, y, marker="o", color=colour, label=label, gid=f"error:{label}")
        if len(x) > 1:
            ax.fill_between(x, low, high, color=colour, alpha=0.15, lw=0, gid=f"band:{label}")
        else:
            bars = ax.errorbar(x, y, yerr=[y - low, high - y], fmt="none", capsize=4, color=colour)
            bars.lines[2][0].set_gid(f"band:{label}")
        rate = rows[0]["rate_mode_error"]
        if rate is not None:
            ax.axhline(100.0 * rate, color=colour, ls=":", lw=1.5, gid=f"rate-mode:{label}",
                       label=f"{label}: rate mode (no spikes) {100.0 * rate:.2f}%")  # fmt: skip
    steps = sorted({r["n_steps"] for r in comparison.rows})
    ax.set_xscale("log")
    ax.set_xticks(steps, [str(n) for n in steps], minor=False)
    ax.xaxis.set_minor_formatter("")
    ax.set_xlabel("timesteps per image (n_steps)")
    ax.set_ylabel("test error (%)")
    ax.set_title("Spiking test error vs. presentation time (95% Wilson interval)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def write_figure(comparison: Comparison, path: str | os.PathLike) -> Path:
    """Draw :func:`compare_figure` into the PNG file ``path`` (atomically); return it."""
    from snnjob.plots.common import save_png

    return save_png(compare_figure(comparison), path)
