"""The chaos soak's short version: ``scripts/chaos.py`` on a real 2-node Ray cluster, with a
fixed schedule that SIGKILLs the training actor (after its first checkpoint), an evaluation
worker, a whole worker node and the driver (whose command is then run again), judged
against a golden, undisturbed run of the same command (``scripts/chaosjudge.py``).

The long soak (30+ kills) and its measured report: docs/chaos.md.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
# a few hundred images: 400 test images in shards of 50, 2 evaluation seeds, n_steps 10
# and 30; 3 epochs on 1,000 training images, so that the trainer is killed after a checkpoint
OPTIONS = {
    "config": "quick", "sets": ["eval.spike_stats_images=50"], "train_images": 1000,
    "epochs": 3, "images": 400, "steps": "10,30", "eval_seeds": 2, "shard_size": 50,
    "nodes": 2, "cpus_per_node": 1,
}  # fmt: skip
# each fires as soon as it has a target, at least 3 s after the previous kill: the trainer
# once it has written a checkpoint, a worker once there is one, a node while it hosts a
# worker, the driver once a shard is written
EVENTS = [
    {"n": 1, "at_s": 0.0, "kind": "trainer", "pick": 0.0},
    {"n": 2, "at_s": 0.0, "kind": "worker", "pick": 0.5},
    {"n": 3, "at_s": 0.0, "kind": "node", "pick": 0.0, "busy": "worker"},
    {"n": 4, "at_s": 0.0, "kind": "driver", "pick": 0.0, "after_results": 1},
]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    sys.path.insert(0, str(SCRIPTS))
    spec.loader.exec_module(module)
    return module


def alive(pid: int, start: int) -> bool:
    """Whether the process ``pid`` that started at ``start`` (clock ticks) still runs."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return int(fields[19]) == start


def test_a_schedule_is_seeded_and_saved_for_replay(tmp_path):
    chaos = load("chaos")
    args = ["--out", str(tmp_path), "--seed", "5", "--rate", "6", "--duration", "300"]
    a, b = chaos.make_schedule(chaos.parse_args(args)), chaos.make_schedule(chaos.parse_args(args))
    assert a == b and a["seed"] == 5
    kinds = [e["kind"] for e in a["events"]]
    assert kinds.count("driver") == kinds.count("trainer") == 1
    assert 15 <= kinds.count("worker") + kinds.count("node") <= 50  # about 6 a minute
    assert [e["n"] for e in a["events"]] == list(range(1, len(kinds) + 1))
    assert all(0 <= e["pick"] < 1 for e in a["events"])
    (tmp_path / "schedule.json").write_text(json.dumps(a))
    replay = chaos.parse_args(["--out", str(tmp_path / "r"), "--replay",
                               str(tmp_path / "schedule.json"), "--images", "7"])  # fmt: skip
    assert replay.images == 2000  # a replay runs the saved job, whatever else is given


def test_the_judge_compares_summaries_without_the_excluded_fields():
    judge = load("chaosjudge")
    golden = {
        "points": [{"n_errors": 3, "eval_wall_time_s": 1.0}],
        "timings": {"a": 1},
        "params": [{"path": "/a", "training": {"resumed_from_epoch": 0, "loss": 1.0}}],
    }
    same = {
        "points": [{"n_errors": 3, "eval_wall_time_s": 9.0}],
        "timings": {"a": 2},
        "params": [{"path": "/b", "training": {"resumed_from_epoch": 1, "loss": 1.0}}],
    }
    assert judge.differences(judge.comparable_summary(same), judge.comparable_summary(golden)) == []
    other = {**same, "points": [{"n_errors": 4, "eval_wall_time_s": 9.0}]}
    assert judge.differences(judge.comparable_summary(other), judge.comparable_summary(golden)) == [
        "points[0].n_errors: 4 != 3 in the golden run"
    ]  # fmt: skip


def test_the_judge_finds_lost_duplicated_and_differing_rows(tmp_path):
    """Three shards in the golden run; in the run, shard 0's predictions written twice into
    its file, one prediction of shard 1 changed, shard 2 missing."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from snnjob.results import PointKey
    from snnjob.results.store import write_shard

    judge = load("chaosjudge")
    point = PointKey(params_id="p", train_seed=0, n_steps=10, eval_seed=0)

    def shard(out, i, wrong=False):
        rng = np.random.default_rng(i)
        label = rng.integers(0, 10, size=5)
        prediction = label.copy()
        prediction[0] = (label[0] + 1) % 10 if wrong else label[0]
        row = {"params_sha256": "0" * 64, "minibatch_size": 5, "first_index": 5 * i,
               "last_index": 5 * i + 4, "n_images": 5, "n_errors": int(wrong),
               "wall_time_s": 1.0, "worker_node": "n", "worker_pid": 1,
               "finished_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}  # fmt: skip
        output = rng.random((5, 10)).astype(np.float32)
        preds = {"image_index": np.arange(5 * i, 5 * i + 5), "label": label,
                 "prediction": prediction, "output": output}  # fmt: skip
        return write_shard(out, point=point, shard_id=i, row=row, predictions=preds)

    golden, run = tmp_path / "golden", tmp_path / "run"
    for i in range(3):
        shard(golden, i)
    shard(run, 0)
    shard(run, 1, wrong=True)
    twice = next((run / "predictions").glob("*shard-00000*"))
    table = pq.read_table(twice)
    pq.write_table(pa.concat_tables([table, table]), twice)

    verdict = judge.judge(run, golden)
    results, predictions = verdict["tables"]["results"], verdict["tables"]["predictions"]
    assert not verdict["passed"] and not verdict["predictions_identical"]
    assert (results["lost"], results["duplicates"], results["differ"]) == (1, 0, 1)
    assert (predictions["lost"], predictions["duplicates"], predictions["differ"]) == (5, 5, 1)
    assert verdict["rows_lost"] == 1 + 5 and verdict["duplicates"] == 5
    assert verdict["coverage_problems"] == 1  # images 10..14 are in no shard


@pytest.mark.slow  # starts a Ray cluster, trains, kills processes
def test_chaos_kills_of_four_kinds_lose_no_row(mnist_dir, tmp_path):
    schedule = {"version": 1, "seed": 0, "rate_per_min": 0, "duration_s": 0,
                "min_gap_s": 3.0, "options": OPTIONS, "events": EVENTS}  # fmt: skip
    (tmp_path / "schedule.json").write_text(json.dumps(schedule))
    out = tmp_path / "soak"
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "chaos.py"), "--out", str(out),
         "--replay", str(tmp_path / "schedule.json"), "--timeout", "400"],
        env=dict(os.environ, SNNJOB_DATA_DIR=str(mnist_dir)), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["passed"] and report["problems"] == []
    assert report["kills"] == {"worker": 1, "trainer": 1, "node": 1, "driver": 1}
    assert report["rows_lost"] == 0 and report["duplicates"] == 0
    assert report["predictions_identical"]
    totals = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"Chaos: kills 4 \(4 kinds\), rows lost 0, duplicates 0, predictions identical", totals
    ), totals
    for event in report["events"]:  # every kill happened: the processes are gone
        assert event["killed"], event
        assert not any(alive(k["pid"], k["start"]) for k in event["killed"]), event
        assert event["recovery"]["gone"] and event["recovery"]["recovered"], event
    node = next(e for e in report["events"] if e["kind"] == "node")
    assert len(node["killed"]) >= 2 and "worker" in node["hosted"]  # the raylet, ..., a worker
    driver = next(e for e in report["events"] if e["kind"] == "driver")
    assert driver["results_written"] >= 1
    assert len(report["drivers"]) == 2 and report["drivers"][0]["killed"]
    assert report["drivers"][1]["rc"] == 0
    # the killed trainer resumed from its checkpoint; its parameters are bitwise the golden's
    params = report["judge"]["params"]
    assert params["identical"] == params["files"] == 1
    assert params["resumed_from_epoch"]["params/seed-0.npz"] >= 1
    tables = report["judge"]["tables"]
    assert tables["results"]["rows"] == tables["results"]["golden_rows"] == 8 * 2 * 2
    assert tables["predictions"]["rows"] == 400 * 2 * 2


@pytest.mark.slow  # starts Ray twice, trains
def test_a_driver_killed_between_the_parameters_and_their_sidecar_resumes(mnist_dir, tmp_path):
    """The parameters are saved as ``seed-0.npz`` then its sidecar ``seed-0.json`` (written
    last: it marks a complete set). A driver killed between the two left a folder whose
    re-run stopped with "has no sidecar ... an incomplete write"; now the set is trained again
    (at once: from the training's last checkpoint), identical, and the run finishes."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "snnjob.cli", "run", "--config", "tiny",
               "--set", f"data.data_dir={mnist_dir}", "--out", str(out), "--num-cpus", "2",
               "--address", "local", "--no-progress"]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    sidecar = out / "params" / "seed-0.json"
    before = json.loads(sidecar.read_text())
    sidecar.unlink()  # what a SIGKILL between the two writes leaves

    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    after = json.loads(sidecar.read_text())
    assert after["sha256"] == before["sha256"]  # the same parameters, bitwise
    assert after["metrics"]["resumed_from_epoch"] == before["metrics"]["epochs"] == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["timings"]["skipped"] == summary["timings"]["tasks"]  # no shard redone
