"""The fault matrix (docs/reliability.md): each fault injected into a real Ray run of the
tiny config and compared with a fault-free golden run of the same job: every (point,
shard) row read back from Parquet, no duplicates, per-image predictions identical. Each
test also proves the fault happened (the killed process is gone, the run's statistics
count the loss).

A node removed mid-sweep is in ``test_multinode.py``; the driver SIGKILLed mid-sweep then
re-run in ``test_runner.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from snnjob import cli
from snnjob.actors import FAULT_ENV
from snnjob.config import load_config
from snnjob.errors import RunDirError
from snnjob.mnist import load_mnist
from snnjob.params import load_params, save_params
from snnjob.results import check_coverage
from snnjob.results.store import read_predictions, read_results
from snnjob.runner import run_job
from snnjob.session import connect
from snnjob.train import train

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # starts Ray, trains, kills processes

# 400 test images in 8 shards x 2 evaluation seeds = 16 simulations, each read at 2 points
SWEEP = ["eval.n_steps=[5, 10]", "eval.seeds=[0, 1]", "eval.shard_size=50",
         "eval.minibatch_size=50"]  # fmt: skip
N_ROWS = 8 * 2 * 2


def tiny(mnist_dir: Path, *overrides: str):
    return load_config("tiny", [f"data.data_dir={mnist_dir}", *SWEEP, *overrides])


def cli_args(mnist_dir: Path, out: Path, *extra: str) -> list[str]:
    sets = [a for s in SWEEP for a in ("--set", s)]
    return ["run", "--config", "tiny", "--set", f"data.data_dir={mnist_dir}", *sets,
            "--out", str(out), "--no-progress", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def ray3():
    info = connect(None, num_cpus=3)  # 2 workers and room for a replacement
    yield info
    ray.shutdown()


@pytest.fixture(scope="module")
def params_file(mnist_dir, tmp_path_factory) -> Path:
    cfg = load_config("tiny", [f"data.data_dir={mnist_dir}"])
    mnist = load_mnist(mnist_dir, download=False)
    res = train(cfg.model, cfg.train, mnist.train_images[:2000], mnist.train_labels[:2000],
                seed=0, verbose=0)  # fmt: skip
    path = tmp_path_factory.mktemp("params") / "seed-0.npz"
    save_params(path, res.params, {"train_seed": 0, "config": cfg.to_dict()})
    return path


@pytest.fixture(scope="module")
def golden(ray3, params_file, mnist_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("golden") / "run"
    run_job(tiny(mnist_dir), out, params_file=params_file, progress=False)
    return out


def assert_same_as_golden(out: Path, golden: Path) -> None:
    """Complete, no duplicate (point, shard) row, the same counts and predictions."""
    key = ["params_id", "train_seed", "n_steps", "eval_seed", "shard_id"]
    rows, ref = read_results(out), read_results(golden)
    assert rows.num_rows == ref.num_rows == N_ROWS
    got = rows.select([*key, "n_errors", "n_images"]).to_pylist()
    assert len({tuple(r[k] for k in key) for r in got}) == N_ROWS  # no duplicates
    assert check_coverage(rows, 400) == {}
    order = [(k, "ascending") for k in key]
    assert (rows.select([*key, "n_errors"]).sort_by(order).to_pylist()
            == ref.select([*key, "n_errors"]).sort_by(order).to_pylist())  # fmt: skip
    order = [(k, "ascending") for k in ("n_steps", "eval_seed", "image_index")]
    a, b = read_predictions(out).sort_by(order), read_predictions(golden).sort_by(order)
    assert a.num_rows == b.num_rows == 2 * 2 * 400
    assert a["prediction"].to_pylist() == b["prediction"].to_pylist()
    np.testing.assert_array_equal(
        np.stack(a["output"].to_numpy(zero_copy_only=False)),
        np.stack(b["output"].to_numpy(zero_copy_only=False)),
    )


def pids_writing(out: Path) -> set[int]:
    """Worker pids in the result files written so far (this run's workers only)."""
    pids = set()
    for f in (out / "results").glob("*.parquet"):
        pids.update(pq.read_table(f, columns=["worker_pid"])["worker_pid"].to_pylist())
    return pids


def n_results(out: Path) -> int:
    folder = out / "results"
    return len(list(folder.glob("*.parquet"))) if folder.is_dir() else 0


def descendants_named(prefix: str) -> list[int]:
    """Pids of this process's descendants (its own Ray instance's workers, not another
    instance's) whose command line starts with ``prefix``."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    ours, found = {os.getpid()}, []
    for _ in range(8):  # a few generations: driver -> raylet -> worker
        ours |= {pid for pid, ppid in parent.items() if ppid in ours}
    for pid in sorted(ours):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(prefix.encode()):
                found.append(pid)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def in_thread(fn) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def test_a_worker_killed_mid_sweep_is_replaced_and_its_shards_finish(
    golden, params_file, mnist_dir, tmp_path
):
    out = tmp_path / "run"
    killed: list[int] = []

    def killer():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            if n_results(out) >= 2:
                pid = sorted(pids_writing(out))[0]
                os.kill(pid, signal.SIGKILL)  # it holds a running shard and a queued one
                killed.append(pid)
            time.sleep(0.02)

    thread = in_thread(killer)
    summary = run_job(tiny(mnist_dir, "resources.workers=2"), out, params_file=params_file,
                      progress=False)  # fmt: skip
    thread.join(timeout=5)
    assert killed and not alive(killed[0])
    t = summary.timings
    assert t.workers_lost == 1 and t.workers_replaced == 1
    assert t.shards_resubmitted >= 1  # the dead worker's shards ran elsewhere
    assert_same_as_golden(out, golden)


def test_chaos_random_worker_kills_through_a_whole_sweep(golden, params_file, mnist_dir, tmp_path):
    out = tmp_path / "run"
    rng = random.Random(20261129)
    killed: list[int] = []

    def chaos():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(killed) < 2 and n_results(out) < N_ROWS:
            time.sleep(rng.uniform(0.5, 2.0))
            live = sorted(p for p in pids_writing(out) if p not in killed and alive(p))
            if live:
                pid = rng.choice(live)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    thread = in_thread(chaos)
    summary = run_job(tiny(mnist_dir, "resources.workers=2"), out, params_file=params_file,
                      progress=False)  # fmt: skip
    thread.join(timeout=5)
    assert killed and not any(alive(p) for p in killed)
    assert summary.timings.workers_lost == len(killed)
    assert summary.timings.workers_replaced >= 1
    assert_same_as_golden(out, golden)


def test_every_attempt_of_one_shard_failing_stops_the_job_then_a_rerun_finishes(
    golden, params_file, mnist_dir, tmp_path
):
    out = tmp_path / "run"
    env = dict(os.environ, **{FAULT_ENV: "crash@100"})  # shard 2: its worker exits, always
    args = [sys.executable, "-m", "snnjob.cli",
            *cli_args(mnist_dir, out, "--params", str(params_file), "--num-cpus", "3")]  # fmt: skip
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    error = [ln for ln in proc.stderr.splitlines() if ln.startswith("snnjob: error:")]
    assert len(error) == 1, proc.stderr[-3000:]
    assert "shard 2 of p-" in error[0] and "failed 3 time(s)" in error[0], error
    assert "ActorDiedError" in error[0] or "RayActorError" in error[0], error
    assert "Traceback" not in proc.stderr
    assert not (out / "summary.json").exists()  # nothing looks complete
    rows = read_results(out)
    assert 0 < rows.num_rows < N_ROWS and 2 not in set(rows["shard_id"].to_pylist())

    assert cli.main(cli_args(mnist_dir, out, "--params", str(params_file),
                             "--address", ray.get_runtime_context().gcs_address)) == 0  # fmt: skip
    assert_same_as_golden(out, golden)


def test_a_shards_own_error_is_reported_not_retried(params_file, mnist_dir, tmp_path, capsys):
    out = tmp_path / "run"
    env = dict(os.environ, **{FAULT_ENV: "raise@150"})
    args = [sys.executable, "-m", "snnjob.cli",
            *cli_args(mnist_dir, out, "--params", str(params_file), "--num-cpus", "2")]  # fmt: skip
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "shard 3 of p-" in proc.stderr and "RuntimeError: fault injected" in proc.stderr
    assert not (out / "summary.json").exists()


def test_a_compiled_engine_that_disagrees_with_nengo_dl_fails_the_job(
    params_file, mnist_dir, tmp_path
):
    """The self-check: a compiled engine 3% off (fault hook ``skew``) is caught on the first
    shard's sample, and the job stops with one error naming both engines."""
    out = tmp_path / "run"
    env = dict(os.environ, **{FAULT_ENV: "skew"})
    args = [sys.executable, "-m", "snnjob.cli",
            *cli_args(mnist_dir, out, "--params", str(params_file), "--num-cpus", "2")]  # fmt: skip
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    error = [ln for ln in proc.stderr.splitlines() if ln.startswith("snnjob: error:")]
    assert len(error) == 1, proc.stderr[-3000:]
    assert "EngineMismatchError" in error[0], error
    assert "compiled engine disagrees with nengo_dl" in error[0], error
    assert "Traceback" not in proc.stderr
    assert not (out / "summary.json").exists()


def test_a_killed_trainer_resumes_from_its_checkpoint(ray3, mnist_dir, tmp_path):
    """SIGKILL the training actor after its first checkpoint: Ray restarts it, it resumes
    from epoch 1, and ends where an uninterrupted training ends."""
    over = ["train.epochs=3", "resources.trainer_cpus=1", "eval.seeds=[0]"]
    calm = tmp_path / "calm"
    run_job(tiny(mnist_dir, *over), calm, progress=False)

    out = tmp_path / "killed"
    first_ckpt = out / "checkpoints" / "seed-0" / "epoch-0001.npz"
    killed: list[int] = []

    def killer():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not first_ckpt.exists():
            time.sleep(0.02)
        for pid in descendants_named("ray::TrainerActor"):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    thread = in_thread(killer)
    run_job(tiny(mnist_dir, *over), out, progress=False)
    thread.join(timeout=5)
    assert len(killed) == 1 and not alive(killed[0])
    params, meta = load_params(out / "params" / "seed-0.npz")
    ref, ref_meta = load_params(calm / "params" / "seed-0.npz")
    assert meta["metrics"]["resumed_from_epoch"] >= 1  # the restart really resumed
    assert meta["metrics"]["epochs"] == ref_meta["metrics"]["epochs"] == 3
    assert meta["trained_on"]["pid"] != killed[0]
    for k in ref:  # the tolerance of test_train_eval's resume test
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-4, atol=1e-6)
    assert check_coverage(read_results(out), 400) == {}


def test_trainers_are_gone_before_evaluation_which_uses_the_drivers_copy(ray3, mnist_dir, tmp_path):
    """Every trainer is killed as soon as its parameters land (its CPUs go to evaluation):
    the sweep runs on the driver's broadcast copy, identical to evaluating the saved file."""
    trained = tmp_path / "trained"
    run_job(tiny(mnist_dir), trained, progress=False)
    params_path = trained / "params" / "seed-0.npz"
    _, meta = load_params(params_path)
    assert not alive(meta["trained_on"]["pid"])  # the training actor's process is gone
    again = tmp_path / "from-file"
    run_job(tiny(mnist_dir), again, params_file=params_path, progress=False)
    assert_same_as_golden(trained, again)


SPILL_SCRIPT = """
import json, sys, threading, time
import numpy as np, ray
from ray._private.internal_api import memory_summary
from snnjob.config import load_config
from snnjob.runner import run_job

spill_dir, out, params, overrides = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20,
         _system_config={"object_spilling_config": json.dumps(
             {"type": "filesystem", "params": {"directory_path": spill_dir}})})
held, done = [], threading.Event()

def pressure():  # keeps 120 MB live in an 80 MB store through the sweep: objects spill
    while not done.is_set():
        held.append(ray.put(np.ones(10 * 2**20 // 8)))
        del held[:-12]
        time.sleep(0.5)

threading.Thread(target=pressure, daemon=True).start()
run_job(load_config("tiny", overrides), out, params_file=params, progress=False)
done.set()
address = ray.get_runtime_context().gcs_address
print("SUMMARY", json.dumps(memory_summary(address, stats_only=True)))
"""


def test_a_small_object_store_spills_and_the_sweep_is_identical(
    golden, params_file, mnist_dir, tmp_path
):
    out, spill = tmp_path / "run", tmp_path / "spill"
    overrides = [f"data.data_dir={mnist_dir}", *SWEEP]
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SPILL_SCRIPT), str(spill), str(out),
         str(params_file), json.dumps(overrides)],
        capture_output=True, text=True, timeout=600, env=dict(os.environ),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.split("SUMMARY", 1)[1])
    assert "Spilled" in summary, summary  # objects really went to disk
    assert_same_as_golden(out, golden)


def test_a_full_disk_stops_with_a_clear_error_and_resume_finishes(
    golden, params_file, mnist_dir, tmp_path
):
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                             capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        out, filler = mnt / "run", mnt / "filler"

        def fill_up():
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and n_results(out) < 4:
                time.sleep(0.01)
            st = os.statvfs(mnt)
            # the disk is full from here on
            with open(filler, "wb") as fh, contextlib.suppress(OSError):
                fh.write(b"\0" * (st.f_bavail * st.f_frsize))

        thread = in_thread(fill_up)
        with pytest.raises(RunDirError, match=r"No space left on device.*re-run the same"):
            run_job(tiny(mnist_dir), out, params_file=params_file, progress=False)
        thread.join(timeout=5)
        kept = read_results(out)
        assert 4 <= kept.num_rows < N_ROWS  # finished shards kept, readable
        assert not (out / "summary.json").exists()
        assert not [p for p in (out / "results").iterdir() if p.name.startswith(".")]
        filler.unlink()  # space is back
        summary = run_job(tiny(mnist_dir), out, params_file=params_file, progress=False)
        assert summary.timings.skipped >= kept.num_rows // 2 - 1
        assert_same_as_golden(out, golden)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_second_driver_on_the_same_out_is_refused_and_the_first_finishes(
    golden, params_file, mnist_dir, tmp_path, capsys
):
    out = tmp_path / "run"
    address = ray.get_runtime_context().gcs_address
    first = subprocess.Popen(
        [sys.executable, "-m", "snnjob.cli",
         *cli_args(mnist_dir, out, "--params", str(params_file), "--address", address)],
        env=dict(os.environ, RAY_AUTH_MODE="token"), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while (
        time.monotonic() < deadline and first.poll() is None and not (out / "config.yaml").exists()
    ):
        time.sleep(0.05)
    assert first.poll() is None, first.stderr.read()[-3000:]
    assert cli.main(cli_args(mnist_dir, out, "--params", str(params_file),
                             "--address", address)) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "snnjob: error:" in err and "in use" in err, err
    assert first.wait(timeout=300) == 0, first.stderr.read()[-3000:]
    assert_same_as_golden(out, golden)
