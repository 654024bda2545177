"""The judge of a chaos soak (``scripts/chaos.py``): a finished run folder against a golden,
undisturbed run of the same command.

What must hold (each failure is one line in ``problems``):

- every Parquet row of the golden run is present in the run exactly once, and no other:
  ``results/``, ``predictions/``, ``curves/``, ``anytime/``, ``spikes/``. Rows are counted
  twice: by reading every file as it is on disk (pyarrow, file by file, so that a row written
  twice under two names or twice into one file is seen), and through snnjob's own readers
  (:func:`~snnjob.results.store.read_results`, :func:`~snnjob.results.store.read_predictions`,
  :func:`~snnjob.results.curvestore.read_curve_rows`, ...), whose values are compared;
- :func:`~snnjob.results.check_coverage` finds nothing missing or overlapping;
- predictions identical image by image (label, prediction and the filtered output);
- the trained parameters identical array by array (bitwise: TF's CPU training in this
  project is deterministic, a resumed training included: measured in ``docs/chaos.md``);
- ``config.yaml`` and ``identity.yaml`` identical (but ``resources.address``);
- ``summary.json`` identical except the fields in :data:`SUMMARY_EXCLUDED`, each with its
  reason;
- no hidden temporary file left in a results folder.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import yaml

from snnjob.errors import RunDirError
from snnjob.params import load_params
from snnjob.results import check_coverage
from snnjob.results.curvestore import read_anytime_rows, read_curve_rows
from snnjob.results.schema import ANYTIME_DIR, CURVES_DIR, PREDICTIONS_DIR, RESULTS_DIR, SPIKES_DIR
from snnjob.results.spikestore import read_spikes
from snnjob.results.store import read_predictions, read_results

# folder -> (key columns, columns that differ between runs by nature: never compared)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    RESULTS_DIR: (
        ("params_id", "train_seed", "n_steps", "eval_seed", "shard_id"),
        ("wall_time_s", "worker_node", "worker_pid", "finished_at"),
    ),
    PREDICTIONS_DIR: (("params_id", "train_seed", "n_steps", "eval_seed", "image_index"), ()),
    CURVES_DIR: (("params_id", "train_seed", "eval_seed", "shard_id", "step"), ()),
    ANYTIME_DIR: (("params_id", "train_seed", "eval_seed", "shard_id", "threshold"), ()),
    SPIKES_DIR: (("params_id", "train_seed", "eval_seed", "layer"), ()),
}

# summary.json fields left out of the comparison: (path, reason). A path's parts are keys,
# "*" is every element of a list; "**.name" is a key of that name at any depth.
SUMMARY_EXCLUDED: tuple[tuple[str, str], ...] = (
    (
        "timings",
        "wall-clock times, and the counters (shards skipped, workers lost and "
        "replaced, shards resubmitted, simulator builds, peak RSS) of the last driver "
        "invocation only: a resumed run counts what it did itself",
    ),
    ("cluster", "the cluster when the run ended (the soak replaces nodes; Ray's start time)"),
    ("**.wall_time_s", "timings: a shard's, a point's or a self-check's wall time"),
    ("**.eval_wall_time_s", "timings: a point's summed shard wall times"),
    ("**.train_wall_time_s", "timings: a training's wall time"),
    ("engine.check_wall_time_s", "engine cost: the self-checks' summed wall time"),
    (
        "engine.checks",
        "the compiled engine's self-checks against NengoDL (engine cost): "
        "compared separately, check by check; a run resumed after a driver kill does not "
        "repeat the check of a first shard written before the kill",
    ),
    ("params.*.path", "the parameter file's absolute path, inside each run's own --out"),
    (
        "params.*.training.resumed_from_epoch",
        "the epoch a killed trainer resumed from "
        "(0 when undisturbed): reported as evidence of the resume",
    ),
)


def _drop(obj: Any, parts: list[str]) -> None:
    """Remove the field at ``parts`` (see :data:`SUMMARY_EXCLUDED`) from ``obj``, in place."""
    if not parts:
        return
    head, rest = parts[0], parts[1:]
    if head.startswith("**"):
        name = parts[1]
        _drop_everywhere(obj, name)
        return
    if head == "*" and isinstance(obj, list):
        for item in obj:
            _drop(item, rest)
    elif isinstance(obj, dict) and head in obj:
        if rest:
            _drop(obj[head], rest)
        else:
            del obj[head]


def _drop_everywhere(obj: Any, name: str) -> None:
    if isinstance(obj, dict):
        obj.pop(name, None)
        for value in obj.values():
            _drop_everywhere(value, name)
    elif isinstance(obj, list):
        for value in obj:
            _drop_everywhere(value, name)


def comparable_summary(summary: dict) -> dict:
    """``summary`` without the fields of :data:`SUMMARY_EXCLUDED`."""
    out = json.loads(json.dumps(summary))
    for path, _ in SUMMARY_EXCLUDED:
        _drop(out, path.split("."))
    return out


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON values differ (exactly; NaN equals NaN), as ``path: a != b`` lines."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(f"{where}: only in the {'golden run' if key in b else 'run'}")
            else:
                out += differences(a[key], b[key], where)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} entries != {len(b)} in the golden run"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    same = a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    )
    return [] if same else [f"{path}: {a!r} != {b!r} in the golden run"]


def _raw_keys(folder: Path, key: tuple[str, ...]) -> tuple[Counter, list[str]]:
    """Every row key of every visible Parquet file in ``folder``, read file by file as it is
    on disk; and the hidden (temporary) files left there."""
    counts: Counter = Counter()
    if not folder.is_dir():
        return counts, []
    hidden = sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
    for path in sorted(folder.glob("[!.]*.parquet")):
        table = pq.read_table(path, columns=list(key))
        columns = [table[name].to_pylist() for name in key]
        counts.update(zip(*columns))
    return counts, hidden


def _reader_rows(out: Path, folder: str) -> list[dict[str, Any]]:
    """The rows of ``folder`` as snnjob's readers return them."""
    if folder == RESULTS_DIR:
        return read_results(out).to_pylist()
    if folder == PREDICTIONS_DIR:
        table = read_predictions(out)
        rows = table.drop_columns(["output"]).to_pylist()
        outputs = np.stack(table["output"].to_numpy(zero_copy_only=False)) if rows else []
        for row, output in zip(rows, outputs):
            row["output"] = output.tobytes()  # bitwise
        return rows
    if folder == CURVES_DIR:
        return read_curve_rows(out)
    if folder == ANYTIME_DIR:
        return read_anytime_rows(out)
    rows = []
    spikes = out / SPIKES_DIR
    for path in sorted(spikes.glob("[!.]*.parquet")) if spikes.is_dir() else []:
        p, t, s = path.stem.split("_")
        found = read_spikes(out, p[2:], int(t[2:]), int(s[2:]))
        rows += found or []
    return rows


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def compare_table(run: Path, golden: Path, folder: str) -> dict[str, Any]:
    """Rows of one folder: lost, duplicated, extra and differing rows (see the module)."""
    key, ignored = TABLES[folder]
    raw, hidden = _raw_keys(run / folder, key)
    raw_golden, _ = _raw_keys(golden / folder, key)
    try:
        rows = {tuple(r[k] for k in key): r for r in _reader_rows(run, folder)}
        error = ""
    except RunDirError as exc:  # snnjob refuses the folder: a problem, not a crash
        rows, error = {}, str(exc)
    ref = {tuple(r[k] for k in key): r for r in _reader_rows(golden, folder)}
    differ = []
    for k in sorted(set(rows) & set(ref), key=str):
        a = {c: _hashable(v) for c, v in rows[k].items() if c not in ignored}
        b = {c: _hashable(v) for c, v in ref[k].items() if c not in ignored}
        if a != b:
            differ.append(k)
    return {
        "rows": sum(raw.values()),
        "golden_rows": sum(raw_golden.values()),
        "lost": len(set(raw_golden) - set(raw)),
        "lost_by_reader": len(set(ref) - set(rows)),
        "duplicates": sum(n - 1 for n in raw.values() if n > 1),
        "golden_duplicates": sum(n - 1 for n in raw_golden.values() if n > 1),
        "extra": len(set(raw) - set(raw_golden)),
        "differ": len(differ),
        "first_differing": [list(k) for k in differ[:3]],
        "hidden_files": hidden,
        "reader_error": error,
        "ignored_columns": list(ignored),
    }


def compare_params(run: Path, golden: Path) -> dict[str, Any]:
    """Each trained parameter file of the golden run against the run's, array by array."""
    out: dict[str, Any] = {"files": 0, "identical": 0, "differ": [], "missing": []}
    for path in sorted((golden / "params").rglob("*.npz")) if (golden / "params").is_dir() else []:
        rel = path.relative_to(golden)
        out["files"] += 1
        if not (run / rel).is_file():
            out["missing"].append(str(rel))
            continue
        (a, meta), (b, ref_meta) = load_params(run / rel), load_params(path)
        same = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        if same and meta["sha256"] == ref_meta["sha256"]:
            out["identical"] += 1
        else:
            worst = max((float(np.max(np.abs(a[k] - b[k]))) for k in a if k in b), default=None)
            out["differ"].append({"file": str(rel), "max_abs_diff": worst})
        out.setdefault("resumed_from_epoch", {})[str(rel)] = meta.get("metrics", {}).get(
            "resumed_from_epoch"
        )
    return out


def compare_checks(summary: dict, ref: dict) -> dict[str, Any]:
    """The engine's self-checks: each one the run made equals the golden run's (but time)."""

    def by_sim(s: dict) -> dict:
        checks = (s.get("engine") or {}).get("checks") or []
        return {
            (c["params_id"], c["train_seed"], c["eval_seed"]): {
                k: v for k, v in c.items() if k != "wall_time_s"
            }
            for c in checks
        }

    mine, theirs = by_sim(summary), by_sim(ref)
    return {
        "checks": len(mine),
        "golden_checks": len(theirs),
        "not_repeated": len(set(theirs) - set(mine)),
        "unexpected": len(set(mine) - set(theirs)),
        "differ": [list(k) for k in mine if k in theirs and mine[k] != theirs[k]],
    }


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def judge(run: str | Path, golden: str | Path, *, resumed: bool = False) -> dict[str, Any]:
    """Compare ``run`` with ``golden``; ``problems`` lists every failure (empty: passed).

    ``resumed``: the run's driver was killed and re-run (a self-check of a shard written
    before the kill may then be missing: it is not repeated)."""
    run, golden = Path(run), Path(golden)
    problems: list[str] = []
    tables = {folder: compare_table(run, golden, folder) for folder in TABLES}
    for folder, t in tables.items():
        for what in ("lost", "lost_by_reader", "duplicates", "extra", "differ"):
            if t[what]:
                problems.append(f"{folder}: {t[what]} row(s) {what.replace('_', ' ')}")
        if t["reader_error"]:
            problems.append(f"{folder}: snnjob cannot read it: {t['reader_error']}")
        if t["hidden_files"]:
            problems.append(f"{folder}: temporary files left: {t['hidden_files'][:3]}")
        if not t["golden_rows"] and folder != SPIKES_DIR:
            problems.append(f"{folder}: the golden run has no rows (nothing to compare)")
    n_images = _n_images(golden)
    coverage = check_coverage(read_results(run), n_images) if n_images else {}
    problems += [f"coverage: {k.slug}: {'; '.join(v)}" for k, v in coverage.items()]
    params = compare_params(run, golden)
    problems += [f"params: {d['file']} differs (max |diff| {d['max_abs_diff']})"
                 for d in params["differ"]]  # fmt: skip
    problems += [f"params: {m} missing" for m in params["missing"]]
    for name in ("config.yaml", "identity.yaml"):
        a, b = _yaml(run / name), _yaml(golden / name)
        for doc in (a, b):
            if isinstance(doc, dict) and isinstance(doc.get("resources"), dict):
                doc["resources"].pop("address", None)  # the cluster joined, not the job
        problems += [f"{name}: {d}" for d in differences(a, b)]
    summary, ref = _load(run / "summary.json"), _load(golden / "summary.json")
    if summary is None or ref is None:
        problems.append("summary.json missing in the " + ("run" if summary is None else "golden"))
        summary_diff: list[str] = []
        checks: dict[str, Any] = {}
    else:
        summary_diff = differences(comparable_summary(summary), comparable_summary(ref))
        problems += [f"summary.json: {d}" for d in summary_diff[:20]]
        checks = compare_checks(summary, ref)
        if checks["differ"] or checks["unexpected"] or (checks["not_repeated"] and not resumed):
            problems.append(f"summary.json: engine self-checks differ: {checks}")
    prediction_rows = tables[PREDICTIONS_DIR]
    return {
        "passed": not problems,
        "problems": problems,
        "tables": tables,
        "rows_lost": sum(max(t["lost"], t["lost_by_reader"]) for t in tables.values()),
        "duplicates": sum(t["duplicates"] for t in tables.values()),
        "predictions_identical": (
            prediction_rows["rows"] == prediction_rows["golden_rows"] > 0
            and not prediction_rows["differ"]
            + prediction_rows["lost"]
            + prediction_rows["extra"]
            + prediction_rows["duplicates"]
        ),
        "coverage_problems": len(coverage),
        "params": params,
        "engine_checks": checks,
        "summary_differences": summary_diff,
        "summary_excluded": [{"field": p, "why": why} for p, why in SUMMARY_EXCLUDED],
    }


def _n_images(golden: Path) -> int | None:
    """The test images of the golden run's sweep (its last shard's last image + 1)."""
    last = read_results(golden)["last_index"].to_pylist()
    return max(last) + 1 if last else None


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
