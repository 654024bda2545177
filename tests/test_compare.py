"""``snnjob.load``, ``snnjob summary --format`` and ``snnjob compare`` without Ray.

Run folders here are written by the real store writers (``write_shard`` with per-image
predictions, ``summarize``, ``write_json_atomic``, the resolved ``tiny`` config), with
predictions chosen so that every count is known by hand; ``tests/test_compare_runs.py``
does the same on runs made by the real pipeline (slow). The bad-input tables at the end
go through :func:`snnjob.cli.main` and :func:`snnjob.load`: one ``snnjob: error:`` line,
exit code 2, no traceback, a :class:`~snnjob.errors.ResultsError`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

import snnjob
from snnjob import cli
from snnjob.compare import (
    NotComparableError,
    compare_figure,
    compare_runs,
    comparison_markdown,
    mcnemar,
)
from snnjob.config import load_config
from snnjob.errors import ResultsError
from snnjob.plots.common import tagged
from snnjob.results import summarize, summary_markdown, wilson_interval, write_json_atomic
from snnjob.results.model import RunSummary
from snnjob.results.schema import PointKey
from snnjob.results.store import read_predictions, read_shard_rows, write_shard

N = 40  # test images per point, in two shards of 20
SHA = "ab" * 32
LABELS = np.random.default_rng(7).integers(0, 10, size=N)


def right(wrong: list[int] | range) -> np.ndarray:
    """Per image: classified correctly, except the images listed."""
    out = np.ones(N, dtype=bool)
    out[list(wrong)] = False
    return out


def write_run(out: Path, correct: dict[tuple[int, int], np.ndarray], *, labels=LABELS,
              params_id: str = "a", train_seed: int = 0, rate: tuple[int, int] | None = None
              ) -> Path:  # fmt: skip
    """A finished run folder: ``correct[(n_steps, eval_seed)]`` per image, 2 shards each."""
    n = len(labels)
    half = n // 2
    for (n_steps, eval_seed), ok in correct.items():
        point = PointKey(params_id, train_seed, n_steps, eval_seed)
        prediction = np.where(ok, labels, (labels + 1) % 10)
        for shard_id, (first, last) in enumerate([(0, half - 1), (half, n - 1)]):
            cut = slice(first, last + 1)
            row = {"params_sha256": SHA, "minibatch_size": 10, "first_index": first,
                   "last_index": last, "n_images": last - first + 1,
                   "n_errors": int((~ok[cut]).sum()), "wall_time_s": 0.5,
                   "worker_node": "127.0.0.1", "worker_pid": 1,
                   "finished_at": dt.datetime(2025, 1, 2, tzinfo=dt.UTC)}  # fmt: skip
            preds = {"image_index": np.arange(first, last + 1), "label": labels[cut],
                     "prediction": prediction[cut],
                     "output": np.zeros((last - first + 1, 10), np.float32)}  # fmt: skip
            write_shard(out, point=point, shard_id=shard_id, row=row, predictions=preds)
    summary = summarize(read_shard_rows(out)).to_dict()  # summary.json, by hand
    if rate is not None:
        low, high = wilson_interval(*rate)
        summary["rate_mode"] = [{"params_id": params_id, "recipe": "base",
                                 "train_seed": train_seed, "n_images": rate[1],
                                 "n_errors": rate[0], "error": rate[0] / rate[1],
                                 "ci95_low": low, "ci95_high": high}]  # fmt: skip
    write_json_atomic(out / "summary.json", summary)
    config = load_config("tiny", [f"eval.n_images={n}", "eval.shard_size=20"]).to_dict()
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return out


@pytest.fixture
def two_runs(tmp_path):
    """Run A and B on the same 40 images at n_steps 10 and 20; by hand:
    n_steps 10: A wrong on 0-4, B wrong on 0-1 -> b = 0, c = 3 (B better on 2, 3, 4);
    n_steps 20: A wrong on 0-9, B wrong on 10-29 -> b = 20, c = 10 (chi-square)."""
    a = write_run(tmp_path / "run-a", {(10, 0): right(range(5)), (20, 0): right(range(10))},
                  rate=(4, 40))  # fmt: skip
    b = write_run(tmp_path / "run-b", {(10, 0): right(range(2)), (20, 0): right(range(10, 30))},
                  params_id="b")  # fmt: skip
    return a, b


# ------------------------------------------------------------------------------ McNemar


@pytest.mark.parametrize(
    ("b", "c", "method", "p"),
    [
        (3, 0, "exact", 0.25),  # 2 * 0.5^3
        (0, 3, "exact", 0.25),
        (0, 0, "exact", 1.0),
        (6, 6, "exact", 1.0),
        (10, 2, "exact", 2 * (1 + 12 + 66) / 4096),  # 2 * P(X <= 2), X ~ Bin(12, 1/2)
        (24, 0, "exact", 2 * 0.5**24),  # b + c = 24 < 25: still exact
        (20, 10, "chi2", math.erfc(math.sqrt(2.7 / 2))),  # (|20 - 10| - 1)^2 / 30 = 2.7
        (25, 0, "chi2", math.erfc(math.sqrt(23.04 / 2))),  # 24^2 / 25
    ],
)
def test_mcnemar_by_hand(b, c, method, p):
    result = mcnemar(b, c)
    assert (result["b"], result["c"], result["method"]) == (b, c, method)
    assert result["p_value"] == pytest.approx(p, rel=1e-9)
    if method == "chi2":
        assert result["statistic"] == pytest.approx((abs(b - c) - 1) ** 2 / (b + c))


def test_mcnemar_refuses_negative_counts():
    with pytest.raises(ValueError, match="counts >= 0"):
        mcnemar(-1, 2)


# ------------------------------------------------------------------------------ load


def test_load_gives_the_parquet_and_summary_numbers(two_runs):
    a, _ = two_runs
    run = snnjob.load(a)
    on_disk = json.loads((a / "summary.json").read_text())
    assert run.summary == RunSummary.from_dict(on_disk)
    assert run.summary.to_dict() == on_disk
    assert run.config["eval"]["n_images"] == N
    assert list(run.points[["n_steps", "n_images", "n_errors"]].itertuples(index=False)) == [
        (10, 40, 5), (20, 40, 10),
    ]  # fmt: skip
    for row, point in zip(run.points.to_dict("records"), on_disk["points"]):
        assert row == {k: point[k] for k in row}
    assert run.points["n_shards"].tolist() == [2, 2]
    assert len(run.shards) == 4 and run.shards["n_errors"].sum() == 15
    preds = read_predictions(a).to_pandas()
    assert run.predictions.drop(columns="output").equals(preds.drop(columns="output"))
    for frame in (run.curves, run.anytime, run.spikes):  # not written by this run
        assert frame.empty and len(frame.columns) > 5


def test_best_point_and_its_tie_break(tmp_path):
    # n_steps 10 and 30 both make 2 errors: the tie goes to the fewest n_steps
    out = write_run(tmp_path / "r", {(30, 0): right([1, 2]), (10, 0): right([3, 4]),
                                     (20, 0): right(range(6))})  # fmt: skip
    run = snnjob.load(out)
    best = run.best()
    assert (best["n_steps"], best["n_errors"]) == (10, 2)
    assert run.best("error", "max")["n_steps"] == 20
    assert run.best(n_steps=30)["n_errors"] == 2
    with pytest.raises(ValueError, match="not columns of points"):
        run.best("accuracy")
    with pytest.raises(ValueError, match="no point"):
        run.best(n_steps=99)


# ------------------------------------------------------------------------------ summary


def test_summary_formats(two_runs, capsys):
    a, _ = two_runs
    on_disk = json.loads((a / "summary.json").read_text())
    assert cli.main(["summary", str(a)]) == 0
    assert capsys.readouterr().out == summary_markdown(on_disk) + "\n"
    assert cli.main(["summary", str(a), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == on_disk  # summary-v2: as written
    assert cli.main(["summary", str(a), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(int(r["n_steps"]), int(r["n_errors"]), float(r["error"])) for r in rows] == [
        (p["n_steps"], p["n_errors"], p["error"]) for p in on_disk["points"]
    ]
    assert float(rows[0]["ci95_high"]) == on_disk["points"][0]["ci95_high"]  # full precision


# ------------------------------------------------------------------------------ compare


def test_compare_table_tests_and_figure(two_runs, tmp_path, capsys):
    a, b = two_runs
    comparison = compare_runs([a, b])
    assert [(r["run"], r["n_steps"], r["n_errors"], r["n_images"]) for r in comparison.rows] == [
        ("run-a", 10, 5, 40), ("run-a", 20, 10, 40), ("run-b", 10, 2, 40), ("run-b", 20, 20, 40),
    ]  # fmt: skip
    assert comparison.rows[0]["rate_mode_error"] == 0.1
    assert comparison.rows[2]["rate_mode_error"] is None
    t10, t20 = comparison.tests
    assert (t10["n_steps"], t10["b"], t10["c"], t10["method"]) == (10, 0, 3, "exact")
    assert t10["p_value"] == pytest.approx(0.25) and not t10["significant"]
    assert (t20["b"], t20["c"], t20["method"]) == (20, 10, "chi2")
    assert t20["p_value"] == pytest.approx(math.erfc(math.sqrt(1.35)))
    assert comparison.notes == []
    text = comparison_markdown(comparison)
    assert ("n_steps 10: run-b gets 3 image(s) right that run-a gets wrong, and run-a 0 that "
            "run-b gets wrong; p = 0.25 (exact binomial): the difference is not significant "
            "at 5%.") in text  # fmt: skip
    fig = compare_figure(comparison)
    (line,) = tagged(fig, "error:run-a")
    assert np.asarray(line.get_xdata()).tolist() == [10, 20]
    assert np.asarray(line.get_ydata()).tolist() == pytest.approx([12.5, 25.0])
    (band,) = tagged(fig, "band:run-b")
    ys = band.get_paths()[0].vertices[:, 1]
    rows_b = comparison.rows[2:]
    assert ys.min() == pytest.approx(100 * min(r["ci95_low"] for r in rows_b))
    assert ys.max() == pytest.approx(100 * max(r["ci95_high"] for r in rows_b))
    (rate,) = tagged(fig, "rate-mode:run-a")
    assert np.asarray(rate.get_ydata()).tolist() == pytest.approx([10.0, 10.0])
    assert tagged(fig, "rate-mode:run-b") == []
    assert fig.axes[0].get_xscale() == "log"

    out = tmp_path / "figs"
    assert cli.main(["compare", str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(text) and f"figure: {(out / 'compare.png').resolve()}" in printed
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_seeds_are_paired_by_value_and_the_rest_noted(tmp_path):
    a = write_run(tmp_path / "a", {(10, 0): right([0]), (10, 1): right([1, 2])})
    b = write_run(tmp_path / "b", {(10, 1): right([]), (10, 2): right([5])}, params_id="b")
    comparison = compare_runs([a, b])
    (test,) = comparison.tests  # eval seed 1 with eval seed 1; seeds 0 and 2 have no partner
    assert (test["first_key"]["eval_seed"], test["other_key"]["eval_seed"]) == (1, 1)
    assert (test["b"], test["c"]) == (0, 2)
    (note,) = comparison.notes
    assert "p-a_t-0_s-0" in note and "p-b_t-0_s-2" in note and "not tested" in note
    # one simulation each: paired whatever their seeds
    c = write_run(tmp_path / "c", {(10, 5): right([])}, params_id="c", train_seed=3)
    d = write_run(tmp_path / "d", {(10, 0): right([])}, params_id="d")
    (test,) = compare_runs([d, c]).tests
    assert test["other_key"] == {"params_id": "c", "train_seed": 3, "eval_seed": 5}


def test_no_shared_n_steps_skips_the_test_with_a_note(tmp_path, capsys):
    a = write_run(tmp_path / "a", {(10, 0): right([0])})
    b = write_run(tmp_path / "b", {(30, 0): right([])}, params_id="b")
    assert cli.main(["compare", str(a), str(b), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "a and b share no n_steps ([10] and [30]): no paired test" in out
    assert "Paired test" not in out


# ------------------------------------------------------------------------------ bad input


def damage(name: str, text: str) -> Callable[[Path], Path]:
    def setup(run: Path) -> Path:
        (run / name).write_text(text)
        return run

    return setup


def remove(name: str) -> Callable[[Path], Path]:
    def setup(run: Path) -> Path:
        target = run / name
        if target.is_dir():
            for f in target.iterdir():
                f.unlink()
            target.rmdir()
        else:
            target.unlink()
        return run

    return setup


def foreign(run: Path) -> Path:
    other = run.parent / "other-app"
    other.mkdir()
    (other / "notes.txt").write_text("hello")
    (other / "summary.json").write_text('{"accuracy": 0.9}')
    (other / "model.ckpt").write_bytes(b"\0" * 16)
    return other


def foreign_with_config(run: Path) -> Path:
    other = foreign(run)
    (other / "config.yaml").write_text("optimizer: adam\nlr: 0.1\n")
    return other


def a_file(run: Path) -> Path:
    (run.parent / "a-file").write_text("x")
    return run.parent / "a-file"


def empty(run: Path) -> Path:
    (run.parent / "empty").mkdir()
    return run.parent / "empty"


def shard_file(kind: str) -> str:
    return f"{kind}/p-a_t-0_n-10_s-0_shard-00001.parquet"


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path], Path]  # gets a good run folder, returns the folder to give
    fragments: tuple[str, ...]
    summary_ok: bool = False  # `snnjob summary` reads summary.json only


CASES = [
    Case("missing-folder", lambda run: run.parent / "nope", ("does not exist", "--out")),
    Case("a-file", a_file, ("is a file", "output folder")),
    Case("empty-folder", empty, ("not an snnjob run folder", "it is empty")),
    Case(
        "foreign-folder",
        foreign,
        ("not an snnjob run folder", "notes.txt", "give the output folder"),
    ),  # fmt: skip
    Case(
        "foreign-folder-with-a-config",
        foreign_with_config,
        ("not an snnjob run folder", "model.ckpt", "give the output folder"),
    ),
    Case(
        "unfinished",
        remove("summary.json"),
        ("unfinished snnjob run", "snnjob run --config", "config.yaml"),
    ),  # fmt: skip
    Case(
        "truncated-summary",
        damage("summary.json", '{"points": [{"params_id"'),
        ("summary.json is damaged", "snnjob run --config"),
    ),  # fmt: skip
    Case(
        "not-a-summary",
        damage("summary.json", "[1, 2]"),
        ("summary.json is damaged", "'points' list"),
    ),  # fmt: skip
    Case(
        "garbage-results",
        damage(shard_file("results"), "garbage"),
        (
            "results/p-a_t-0_n-10_s-0_shard-00001.parquet is damaged",
            "Parquet",
            "delete it",
            "snnjob run --config",
        ),
        summary_ok=True,
    ),
    Case(
        "garbage-predictions",
        damage(shard_file("predictions"), "garbage"),
        (
            "predictions/p-a_t-0_n-10_s-0_shard-00001.parquet is damaged",
            "delete it and",
            "results/p-a_t-0_n-10_s-0_shard-00001.parquet",
        ),
        summary_ok=True,
    ),  # fmt: skip
    Case(
        "missing-results",
        remove("results"),
        ("results is missing", "snnjob run --config"),
        summary_ok=True,
    ),  # fmt: skip
    Case(
        "missing-shard",
        remove(shard_file("results")),
        ("do not cover", "images 20..39 are in no shard", "finish the run"),
        summary_ok=True,
    ),
    Case(
        "damaged-config",
        damage("config.yaml", "model: [unclosed"),
        ("config.yaml is damaged", "new --out"),
        summary_ok=True,
    ),  # fmt: skip
]


@pytest.fixture
def good_run(tmp_path):
    return write_run(tmp_path / "good", {(10, 0): right([0]), (20, 0): right([])})


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_load_refuses_bad_input(case, good_run):
    folder = case.setup(good_run)
    with pytest.raises(ResultsError) as info:
        snnjob.load(folder)
    for fragment in case.fragments:
        assert fragment in str(info.value)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("snnjob: error: "), err
    assert "Traceback" not in err
    return lines[0]


COMMANDS = {"summary": ["summary"], "summary-json": ["summary", "--format", "json"],
            "summary-csv": ["summary", "--format", "csv"], "compare": ["compare"]}  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_commands_refuse_bad_input(case, command, tmp_path, capsys):
    good = write_run(tmp_path / "good-first", {(10, 0): right([0])})
    folder = case.setup(write_run(tmp_path / "good", {(10, 0): right([0]), (20, 0): right([])}))
    argv = [*COMMANDS[command], *([str(good)] if command == "compare" else []), str(folder)]
    if command == "compare":
        argv += ["--out", str(tmp_path / "figs")]
    code = cli.main(argv)
    captured = capsys.readouterr()
    if case.summary_ok and command.startswith("summary"):
        assert code == 0 and captured.err == ""
        return
    line = one_error_line(captured.err)
    assert code == 2 and captured.out == ""
    for fragment in case.fragments:
        assert fragment in line
    assert not (tmp_path / "figs").exists()  # nothing written


MISMATCHED = [
    ("fewer-images", lambda tmp: write_run(tmp / "short", {(10, 0): right([0])[:20]},
                                           labels=LABELS[:20]),
     ("different test images (40 and 20 images)", "same eval.n_images")),
    ("other-labels", lambda tmp: write_run(tmp / "relabelled", {(10, 0): right([0])},
                                           labels=(LABELS + 1) % 10),
     ("different test data: image 0 is a", "40 labels differ", "same MNIST files")),
    ("same-run-twice", lambda tmp: tmp / "good", ("is given twice",)),
]  # fmt: skip


@pytest.mark.parametrize(("setup", "fragments"), [m[1:] for m in MISMATCHED],
                         ids=[m[0] for m in MISMATCHED])  # fmt: skip
def test_compare_refuses_runs_on_different_test_images(setup, fragments, tmp_path, capsys):
    good = write_run(tmp_path / "good", {(10, 0): right([1])})
    other = setup(tmp_path)
    assert cli.main(["compare", str(good), str(other), "--out", str(tmp_path / "f")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert all(fragment in line for fragment in fragments), line
    assert not (tmp_path / "f").exists()
    with pytest.raises(ResultsError) as info:
        compare_runs([good, other])
    assert isinstance(info.value, NotComparableError) == ("twice" not in fragments[0])


def test_compare_refuses_an_out_that_is_a_file(two_runs, tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    a, b = two_runs
    assert cli.main(["compare", str(a), str(b), "--out", str(tmp_path / "taken")]) == 2
    assert "is a file: give a folder for compare.png" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "argv",
    [["summary", "x", "--format", "xml"], ["compare"], ["compare", "a", "--out"]],
    ids=["unknown-format", "no-run", "out-without-folder"],
)
def test_a_bad_command_line_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2 and "error:" in capsys.readouterr().err


def test_one_run_alone_gets_its_table_and_figure_without_a_test(two_runs, tmp_path, capsys):
    a, _ = two_runs
    assert cli.main(["compare", str(a), "--out", str(tmp_path / "new" / "dir")]) == 0
    out = capsys.readouterr().out
    assert "| run-a |" in re.sub(r" {2,}", " ", out) and "Paired test" not in out
    assert (tmp_path / "new" / "dir" / "compare.png").is_file()


def test_a_recipe_sweep_gets_a_row_and_line_per_recipe_and_no_test(two_runs, tmp_path):
    a, _ = two_runs
    sweep = tmp_path / "sweep"
    write_run(sweep, {(10, 0): right([0, 1])}, params_id="r1")
    write_run(sweep, {(10, 0): right([2])}, params_id="r2")
    summary = json.loads((sweep / "summary.json").read_text())
    for p in summary["points"]:
        p["recipe"] = {"r1": "lr-high", "r2": "lr-low"}[p["params_id"]]
    write_json_atomic(sweep / "summary.json", summary)
    comparison = compare_runs([a, sweep])
    rows = [(r["run"], r["recipe"], r["n_steps"], r["n_errors"]) for r in comparison.rows]
    assert rows[2:] == [("sweep", "lr-high", 10, 2), ("sweep", "lr-low", 10, 1)]
    assert "| sweep | lr-low | 10 |" in re.sub(r" {2,}", " ", comparison_markdown(comparison))
    fig = compare_figure(comparison)
    assert [len(tagged(fig, f"error:sweep ({r})")) for r in ("lr-high", "lr-low")] == [1, 1]
    # at n_steps 10 the sweep has two simulations with a's seeds: none is paired
    assert comparison.tests == []
    assert "p-a_t-0_s-0, p-r1_t-0_s-0, p-r2_t-0_s-0" in comparison.notes[0]
