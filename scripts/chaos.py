#!/usr/bin/env python
r"""A seeded chaos soak of a real snnjob sweep, judged against a golden, undisturbed run.

    python scripts/chaos.py --out /tmp/chaos-short                      # defaults below
    python scripts/chaos.py --out /tmp/chaos-soak --seed 20261205 --rate 4.5 --duration 480 \
        --images 10000 --eval-seeds 24 --shard-size 500 --epochs 3        # docs/chaos.md
    python scripts/chaos.py --out /tmp/chaos-replay --replay /tmp/chaos-soak/schedule.json

On a local multi-node ``ray.cluster_utils.Cluster`` (a head without CPUs, ``--nodes`` worker
nodes of ``--cpus-per-node`` CPUs, all on 127.0.0.1, token authentication on), it runs the
same ``python -m snnjob.cli run ... --address <cluster>`` command twice, as a user would:

1. the golden run, undisturbed (``OUT/golden``);
2. the chaos run (``OUT/chaos``), while a seeded schedule SIGKILLs, at random times:
   evaluation workers (``worker``: a ``ray::EvalWorker`` process), the training actor
   (``trainer``: ``ray::TrainerActor``, once it has written a checkpoint), a whole worker
   node (``node``: ``cluster.remove_node``, then a fresh node is added) and the driver
   (``driver``: the ``snnjob run`` process itself, then the same command is run again).

Default job (options change it): the ``quick`` config trained for 2 epochs on 2,000
training images, evaluated on 2,000 test images at n_steps [10, 30] with 3 evaluation
seeds, shards of 200 images.

The schedule (seed, times, kinds, target picks) is printed and saved as
``OUT/schedule.json``, with the options it was made with: ``--replay`` runs it again.
Worker and node kills are a Poisson process of ``--rate`` per minute over ``--duration``
seconds of *evaluation*: their clock (and the driver kill's) runs while evaluation workers
exist, so that kills due during training or while a killed driver's command is run again
do not pile up into a burst. An event fires at its time, or as soon after as it has a
target, and at least ``--min-gap`` s after the previous kill: a trainer once it has written
a checkpoint (at most one trainer kill per driver, and a node hosting the trainer only
while Ray will still restart it); a node marked ``busy`` while it hosts an actor of the job
(``"busy": "worker"``: an evaluation worker); an event with ``after_results`` once that
many shards are written (the driver kill: mid-sweep or later). A target is picked by the
event's ``pick`` in [0, 1) among the live targets sorted by pid (nodes: in the order
added). Replayed, the same kills hit the same kinds of target at the same clock times and
states; pids and the exact moments differ.

Then ``scripts/chaosjudge.py`` compares the two run folders (rows lost, duplicates,
predictions, parameters, summary.json), and a report is printed and saved as
``OUT/report.json``, ending with the totals line
``Chaos: kills K (J kinds), rows lost 0, duplicates 0, predictions identical``.
Exit status 0 when the judge passes, 1 when it fails (or a run failed or hung), 2 on bad
options. See docs/chaos.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KINDS = ("worker", "trainer", "node", "driver")
ACTOR_NAMES = {"worker": "ray::EvalWorker", "trainer": "ray::TrainerActor"}
TRAINER_MAX_DEATHS = 2  # snnjob.training starts TrainerActors with max_restarts=2
RUN_OPTIONS = ("config", "sets", "train_images", "epochs", "images", "steps", "eval_seeds",
               "shard_size", "nodes", "cpus_per_node")  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Chaos soak: kill workers, trainers, nodes and the driver during a real "
        "sweep; judge the result against an undisturbed run of the same command.",
        epilog="Exit status: 0 the judge passed, 1 it failed (or a run failed or hung), "
        "2 bad options.",
    )
    p.add_argument("--out", type=Path, required=True, help="soak folder (golden/, chaos/, ...)")
    job = p.add_argument_group("the job (the same command for both runs)")
    job.add_argument("--config", default="quick", help="snnjob config (default quick)")
    job.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                     help="extra snnjob --set override (repeatable)")  # fmt: skip
    job.add_argument("--train-images", type=int, default=2000, help="data.n_train (2000)")
    job.add_argument("--epochs", type=int, default=2, help="train.epochs (2)")
    job.add_argument("--images", type=int, default=2000, help="eval.n_images (2000)")
    job.add_argument("--steps", default="10,30", help="eval.n_steps, comma-separated (10,30)")
    job.add_argument("--eval-seeds", type=int, default=3, help="evaluation seeds 0..N-1 (3)")
    job.add_argument("--shard-size", type=int, default=200, help="eval.shard_size (200)")
    job.add_argument("--nodes", type=int, default=3, help="worker nodes (3)")
    job.add_argument("--cpus-per-node", type=int, default=1, help="CPUs per worker node (1)")
    chaos = p.add_argument_group("the schedule")
    chaos.add_argument("--seed", type=int, default=None, help="schedule seed (default: random)")
    chaos.add_argument("--rate", type=float, default=6.0, help="worker/node kills per minute (6)")
    chaos.add_argument(
        "--duration",
        type=float,
        default=40.0,
        help="seconds of evaluation over which kills are drawn (40: the default job's)",
    )
    chaos.add_argument("--node-share", type=float, default=0.25,
                       help="share of the random kills that remove a node (0.25)")  # fmt: skip
    chaos.add_argument("--trainer-kills", type=int, default=1, help="trainer kills (1)")
    chaos.add_argument("--driver-kills", type=int, default=1, help="driver kills (1)")
    chaos.add_argument("--min-gap", type=float, default=4.0, help="seconds between kills (4)")
    chaos.add_argument(
        "--resume-delay",
        type=float,
        default=2.0,
        help="seconds before a killed driver's command is run again (2)",
    )
    chaos.add_argument("--replay", type=Path, help="run this schedule.json (and its options)")
    p.add_argument("--golden", type=Path, help="reuse this golden run folder (OUT/golden of an "
                   "earlier soak with the same options) instead of running one")  # fmt: skip
    p.add_argument("--timeout", type=float, default=None,
                   help="give up on the chaos run after this many seconds (a hang; default: "
                   "4x the golden run + duration + 300)")  # fmt: skip
    args = p.parse_args(argv)
    if args.replay is not None:
        saved = json.loads(args.replay.read_text())
        for name in RUN_OPTIONS:
            setattr(args, name, saved["options"][name])
    for name in ("train_images", "epochs", "images", "eval_seeds", "shard_size", "nodes",
                 "cpus_per_node"):  # fmt: skip
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.rate < 0 or args.duration < 0 or not 0 <= args.node_share <= 1:
        p.error("--rate and --duration must be >= 0, --node-share in [0, 1]")
    try:
        args.n_steps = sorted({int(s) for s in str(args.steps).split(",")})
    except ValueError:
        p.error(f"--steps {args.steps!r}: expected numbers separated by commas, e.g. 10,30")
    return args


# --------------------------------------------------------------------------------------------
# The command and the schedule
# --------------------------------------------------------------------------------------------


def job_overrides(opts: argparse.Namespace) -> list[str]:
    seeds = ", ".join(str(s) for s in range(opts.eval_seeds))
    return [
        "data.download=false",
        f"data.n_train={opts.train_images}",
        f"train.epochs={opts.epochs}",
        f"eval.n_images={opts.images}",
        f"eval.n_steps=[{', '.join(str(n) for n in opts.n_steps)}]",
        f"eval.seeds=[{seeds}]",
        f"eval.shard_size={opts.shard_size}",
        *opts.sets,
    ]


def driver_command(opts: argparse.Namespace, out: Path, address: str) -> list[str]:
    sets = [a for s in job_overrides(opts) for a in ("--set", s)]
    return [sys.executable, "-m", "snnjob.cli", "run", "--config", opts.config, *sets,
            "--out", str(out), "--address", address, "--no-progress"]  # fmt: skip


def make_schedule(opts: argparse.Namespace) -> dict[str, Any]:
    """Kill times (a Poisson process of ``rate`` per minute over ``duration``), kinds and
    target picks, from ``seed``; plus the trainer and driver kills."""
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    events = []
    t = 0.0
    while opts.rate > 0:
        t += rng.expovariate(opts.rate / 60.0)
        if t >= opts.duration:
            break
        if rng.random() < opts.node_share:  # a node that hosts a worker or the trainer
            events.append({"at_s": round(t, 2), "kind": "node", "busy": True})
        else:
            events.append({"at_s": round(t, 2), "kind": "worker"})
    for _ in range(opts.trainer_kills):  # fires once a checkpoint exists (see module doc)
        events.append({"at_s": round(rng.uniform(0, 5), 2), "kind": "trainer"})
    for _ in range(opts.driver_kills):
        at = rng.uniform(0.15, 0.6) * max(opts.duration, 10.0)
        events.append({"at_s": round(at, 2), "kind": "driver", "after_results": 1})
    events.sort(key=lambda e: e["at_s"])
    for i, e in enumerate(events, 1):
        e["n"] = i
        e["pick"] = round(rng.random(), 4)
    return {
        "version": 1,
        "seed": seed,
        "rate_per_min": opts.rate,
        "duration_s": opts.duration,
        "node_share": opts.node_share,
        "min_gap_s": opts.min_gap,
        "options": {name: getattr(opts, name) for name in RUN_OPTIONS},
        "events": events,
    }


def describe_schedule(schedule: dict[str, Any]) -> str:
    counts = {k: sum(e["kind"] == k for e in schedule["events"]) for k in KINDS}
    head = (f"schedule: seed {schedule['seed']}, {len(schedule['events'])} kills "
            f"({', '.join(f'{k} {n}' for k, n in counts.items() if n)}) over "
            f"{schedule['duration_s']:g} s of evaluation")  # fmt: skip
    lines = [f"  #{e['n']:<3} {e['at_s']:8.2f} s  {e['kind']:<7} pick {e['pick']:.4f}"
             for e in schedule["events"]]  # fmt: skip
    return "\n".join([head, *lines])


# --------------------------------------------------------------------------------------------
# Processes: this script's descendants (its own cluster and drivers, never another's)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int  # start time in clock ticks since boot: a pid reused later differs here


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of ``pid``, None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19])


def _start_time(pid: int) -> int | None:
    stat = _stat(pid)
    return stat[1] if stat else None


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time) of every process now."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def descendants(roots: set[int], table: dict[int, tuple[int, int]]) -> dict[int, int]:
    """pid -> start time of every live descendant of ``roots`` in ``table``."""
    found: dict[int, int] = {}
    frontier = set(roots)
    while frontier:
        frontier = {pid for pid, (ppid, _) in table.items() if ppid in frontier} - set(found)
        found.update({pid: table[pid][1] for pid in frontier})
    return found


def command_line(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


# --------------------------------------------------------------------------------------------
# The cluster and the driver
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """A ``ray.cluster_utils.Cluster`` on 127.0.0.1: a head without CPUs (GCS, the driver's
    node) and ``nodes`` worker nodes of ``cpus`` CPUs each."""

    def __init__(self, nodes: int, cpus: int):
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep every server on loopback
        os.environ.setdefault("RAY_AUTH_MODE", "token")
        import ray  # noqa: F401 - after the environment above
        from ray.cluster_utils import Cluster

        with contextlib.suppress(ImportError):
            from ray._private.authentication.authentication_token_setup import (
                ensure_token_if_auth_enabled,
            )

            ensure_token_if_auth_enabled()
        self.cpus = cpus
        self.cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False,
            "dashboard_port": _free_port()})  # fmt: skip
        self.nodes: list[Any] = []  # live worker nodes, in the order added
        self.added = 0
        for _ in range(nodes):
            self.add()
        self.cluster.wait_for_nodes()

    @property
    def address(self) -> str:
        return self.cluster.address

    def add(self) -> Any:
        node = self.cluster.add_node(num_cpus=self.cpus, node_ip_address="127.0.0.1")
        self.added += 1
        node.chaos_name = f"node-{self.added}"
        self.nodes.append(node)
        return node

    @staticmethod
    def processes(node: Any, table: dict[int, tuple[int, int]]) -> dict[int, int]:
        """pid -> start time of the node's own processes and their descendants (workers)."""
        own = {info.process.pid for infos in node.all_processes.values() for info in infos}
        found = {pid: table[pid][1] for pid in own if pid in table}
        found.update(descendants(set(found), table))
        return found

    def replace(self, node: Any) -> Any:
        """Remove ``node`` at once (no graceful stop), then add a fresh one."""
        self.cluster.remove_node(node, allow_graceful=False)
        self.nodes.remove(node)
        return self.add()

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            self.cluster.shutdown()


@dataclass
class Invocation:
    """One run of the command (the first, or a re-run after the driver was killed)."""

    n: int
    proc: subprocess.Popen
    started_s: float
    log: Path
    killed: bool = False
    ended_s: float | None = None
    rc: int | None = None
    trainer_deaths: int = 0  # the trainer's deaths (its kills, and its nodes removed)
    trainer_killed: bool = False  # a trainer event fired: at most one per driver
    error: str = ""

    def record(self) -> dict[str, Any]:
        return {"n": self.n, "pid": self.proc.pid, "started_s": round(self.started_s, 2),
                "ended_s": None if self.ended_s is None else round(self.ended_s, 2),
                "rc": self.rc, "killed": self.killed, "log": str(self.log),
                "error": self.error}  # fmt: skip


def start_driver(command: list[str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as fh:  # the child keeps its own descriptor
        return subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)


def error_line(log: Path) -> str:
    with contextlib.suppress(OSError):
        lines = log.read_text(errors="replace").splitlines()
        errors = [ln for ln in lines if ln.startswith("snnjob: error:")]
        return (errors or lines[-1:] or [""])[-1][:2000]
    return ""


def run_golden(command: list[str], out: Path, logs: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    proc = start_driver(command, logs / "golden.log")
    rc = proc.wait()
    log = logs / "golden.log"
    return {"rc": rc, "wall_s": round(time.monotonic() - t0, 2), "out": str(out),
            "log": str(log), "error": error_line(log) if rc else ""}  # fmt: skip


# --------------------------------------------------------------------------------------------
# The chaos run
# --------------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """The processes at one moment: the table, and the job's actors by kind (by pid)."""

    table: dict[int, tuple[int, int]]
    actors: dict[str, list[Proc]]


@dataclass
class Chaos:
    """Runs the command on ``cluster`` while firing the schedule's events."""

    cluster: LocalCluster
    command: list[str]
    out: Path
    logs: Path
    schedule: dict[str, Any]
    resume_delay: float
    timeout: float
    runs: list[Invocation] = field(default_factory=list)
    fired: list[dict[str, Any]] = field(default_factory=list)
    unfired: list[dict[str, Any]] = field(default_factory=list)
    first_seen: dict[tuple[int, int], tuple[str, float]] = field(default_factory=dict)
    outcome: str = ""
    t0: float = 0.0
    eval_clock: float = 0.0

    def now(self) -> float:
        return time.monotonic() - self.t0

    def stop(self) -> None:
        """Kill a driver still running (the soak was interrupted)."""
        for run in self.runs:
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait()

    def clock(self, event: dict) -> float:
        """The clock an event's ``at_s`` is on: the trainer's, the run's; the others', the
        evaluation clock (seconds during which evaluation workers existed)."""
        return self.now() if event["kind"] == "trainer" else self.eval_clock

    def start(self) -> None:
        n = len(self.runs) + 1
        log = self.logs / f"chaos-{n}.log"
        self.runs.append(Invocation(n, start_driver(self.command, log), self.now(), log))
        print(f"[{self.now():7.1f} s] driver #{n} started (pid {self.runs[-1].proc.pid})",
              flush=True)  # fmt: skip

    def run(self) -> None:
        pending = [dict(e) for e in self.schedule["events"]]
        gap, last = float(self.schedule.get("min_gap_s", 0.0)), -1e9
        self.t0 = time.monotonic()
        self.start()
        tick = 0.0
        while True:
            snap = self.scan()
            if snap.actors["worker"]:  # the evaluation clock runs
                self.eval_clock += self.now() - tick
            tick = self.now()
            self.check_gone(snap, final=False)
            if not self.driver_step():
                break
            due = [e for e in pending if e["at_s"] <= self.clock(e)]
            if due and self.now() - last >= gap:
                event = self.try_fire(due, snap)
                if event is not None:
                    pending.remove(event)
                    last = self.now()
                    continue
            time.sleep(0.2)
        self.check_gone(self.scan(), final=True)  # before the cluster goes down
        self.unfired = pending

    def driver_step(self) -> bool:
        """Follow the driver: False once the run is over (done, failed or hung)."""
        run = self.runs[-1]
        rc = run.proc.poll()
        if rc is None:
            if self.now() > self.timeout:
                run.proc.kill()
                run.proc.wait()
                run.rc, run.ended_s = run.proc.returncode, self.now()
                self.outcome = f"hung: no result after {self.timeout:g} s (driver killed)"
                return False
            return True
        run.rc, run.ended_s = rc, self.now()
        if run.killed:
            time.sleep(self.resume_delay)  # the user looks, then runs the same command
            self.start()
            return True
        if rc == 0:
            self.outcome = "done"
        else:
            run.error = error_line(run.log)
            self.outcome = f"failed: driver #{run.n} exited {rc}: {run.error}"
        return False

    def scan(self) -> Snapshot:
        """The job's actor processes by kind; remembers when each was first seen."""
        table = process_table()
        actors: dict[str, list[Proc]] = {kind: [] for kind in ACTOR_NAMES}
        for pid, start in sorted(descendants({os.getpid()}, table).items()):
            cmd = command_line(pid)
            for kind, name in ACTOR_NAMES.items():
                if cmd.startswith(name):
                    actors[kind].append(Proc(pid, start))
                    self.first_seen.setdefault((pid, start), (kind, self.now()))
        return Snapshot(table, actors)

    def check_gone(self, snap: Snapshot, *, final: bool) -> None:
        """Note when every process of each kill is gone (``final``: those still alive now
        never went)."""
        for record in self.fired:
            if "gone" in record:
                continue
            alive = [
                k for k in record["killed"] if snap.table.get(k["pid"], (0, -1))[1] == k["start"]
            ]
            if not alive:
                record["gone"], record["gone_after_s"] = (
                    True,
                    round(self.now() - record["fired_s"], 2),
                )
            elif final:
                record["gone"], record["still_alive"] = False, [k["pid"] for k in alive]

    def candidates(self, event: dict, snap: Snapshot) -> list[Any]:
        run, kind = self.runs[-1], event["kind"]
        if run.proc.poll() is not None:
            return []  # between a driver's death and its re-run: nothing of the job to kill
        if event.get("after_results", 0) > self.results_written():
            return []
        if kind == "worker":
            return snap.actors["worker"]
        if kind == "trainer":
            ready = any((self.out / "checkpoints").rglob("epoch-*.npz"))
            again = run.trainer_killed or run.trainer_deaths >= TRAINER_MAX_DEATHS
            return snap.actors["trainer"] if ready and not again else []
        if kind == "node":
            return [n for n in self.cluster.nodes if self.may_remove(n, event, snap)]
        return [run]  # the driver

    def may_remove(self, node: Any, event: dict, snap: Snapshot) -> bool:
        """Whether ``node`` is a target of ``event``: with ``busy``, only while it hosts an
        actor of the job (``busy`` a kind: an actor of that kind); never when that would kill
        a trainer past its restarts."""
        pids = set(self.cluster.processes(node, snap.table))
        hosts = {kind for kind, found in snap.actors.items() for p in found if p.pid in pids}
        busy = event.get("busy")
        if (busy is True and not hosts) or (isinstance(busy, str) and busy not in hosts):
            return False
        return "trainer" not in hosts or self.runs[-1].trainer_deaths < TRAINER_MAX_DEATHS

    def results_written(self) -> int:
        folder = self.out / "results"
        return len(list(folder.glob("*.parquet"))) if folder.is_dir() else 0

    def try_fire(self, due: list[dict], snap: Snapshot) -> dict | None:
        for event in due:
            targets = self.candidates(event, snap)
            if targets:
                target = targets[min(int(event["pick"] * len(targets)), len(targets) - 1)]
                record = {**event, "fired_s": round(self.now(), 2), "driver": self.runs[-1].n,
                          "eval_clock_s": round(self.eval_clock, 2)}  # fmt: skip
                kill = {"node": self.kill_node, "driver": self.kill_driver}.get(
                    event["kind"], self.kill_actor
                )
                what = kill(record, target, snap)
                self.fired.append(record)
                print(f"[{self.now():7.1f} s] kill #{event['n']} ({event['kind']}, due "
                      f"{event['at_s']:.1f} s, clock {self.clock(event):.1f} s): {what}",
                      flush=True)  # fmt: skip
                return event
        return None

    def kill_actor(self, record: dict, target: Proc, snap: Snapshot) -> str:
        name = ACTOR_NAMES[record["kind"]]
        os.kill(target.pid, signal.SIGKILL)
        record["killed"] = [{"pid": target.pid, "start": target.start, "what": name}]
        if record["kind"] == "trainer":
            self.runs[-1].trainer_deaths += 1
            self.runs[-1].trainer_killed = True
        return f"{name} pid {target.pid}"

    def kill_node(self, record: dict, node: Any, snap: Snapshot) -> str:
        procs = self.cluster.processes(node, snap.table)
        hosted = sorted(kind for kind, found in snap.actors.items()
                        for p in found if p.pid in procs)  # fmt: skip
        self.runs[-1].trainer_deaths += "trainer" in hosted
        names = {p: command_line(p)[:60] for p in procs}
        name = node.chaos_name
        fresh = self.cluster.replace(node)
        record.update(node=name, fresh_node=fresh.chaos_name, hosted=hosted,
                      node_back_s=round(self.now(), 2))  # fmt: skip
        record["killed"] = [{"pid": p, "start": s, "what": names[p]}
                            for p, s in sorted(procs.items())]  # fmt: skip
        return (f"{name} ({len(procs)} processes; actors: {', '.join(hosted) or 'none'}); "
                f"{fresh.chaos_name} added")  # fmt: skip

    def kill_driver(self, record: dict, run: Invocation, snap: Snapshot) -> str:
        start = snap.table.get(run.proc.pid, (0, 0))[1]
        run.killed = True
        run.proc.send_signal(signal.SIGKILL)
        written = self.results_written()
        record.update(results_written=written)
        record["killed"] = [{"pid": run.proc.pid, "start": start, "what": "snnjob run"}]
        return f"driver #{run.n} pid {run.proc.pid} ({written} results files written)"


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


def recovery(chaos: Chaos, record: dict[str, Any], done: bool) -> dict[str, Any]:
    """Evidence that the job recovered from one kill."""
    kind, fired = record["kind"], record["fired_s"]
    gone = bool(record.get("gone"))
    out: dict[str, Any] = {"gone": gone, "gone_after_s": record.get("gone_after_s")}
    if kind in ACTOR_NAMES:
        later = [t for (kind_, t) in chaos.first_seen.values() if kind_ == kind and t > fired]
        if later:
            out["how"] = f"a new {ACTOR_NAMES[kind]} process appeared"
            out["after_s"] = round(min(later) - fired, 2)
        else:
            out["how"] = "no new process was needed (its work was done)" if done else "none"
    elif kind == "node":
        out["how"] = f"{record['fresh_node']} joined"
        out["after_s"] = round(record["node_back_s"] - fired, 2)
    else:
        resumed = [r for r in chaos.runs if r.started_s > fired]
        if resumed:
            out["how"] = f"the same command run again (driver #{resumed[0].n})"
            out["after_s"] = round(resumed[0].started_s - fired, 2)
        else:
            out["how"] = "none"
    out["recovered"] = gone and done and out["how"] != "none"
    return out


SCHEDULER_LINES = {
    "workers_lost": re.compile(r"snnjob\.scheduler: actor \d+ lost"),
    "workers_replaced": re.compile(r"snnjob\.scheduler: actor \d+ started to replace"),
    "shards_resubmitted": re.compile(r"snnjob\.scheduler: .* resubmitted to actor"),
    "shards_requeued_free": re.compile(r"snnjob\.scheduler: .* waited behind a crash"),
    "workers_not_replaced": re.compile(r"snnjob\.scheduler: actor \d+ not replaced"),
}


def scheduler_counts(logs: list[Path]) -> dict[str, int]:
    """What snnjob's scheduler logged over every driver of the chaos run."""
    counts = dict.fromkeys(SCHEDULER_LINES, 0)
    for log in logs:
        with contextlib.suppress(OSError):
            for line in log.read_text(errors="replace").splitlines():
                for name, pattern in SCHEDULER_LINES.items():
                    counts[name] += bool(pattern.search(line))
    return counts


def totals_line(kills: dict[str, int], verdict: dict[str, Any]) -> str:
    n, kinds = sum(kills.values()), sum(1 for v in kills.values() if v)
    same = "predictions identical" if verdict["predictions_identical"] else "predictions DIFFER"
    return (f"Chaos: kills {n} ({kinds} kinds), rows lost {verdict['rows_lost']}, "
            f"duplicates {verdict['duplicates']}, {same}")  # fmt: skip


def build_report(chaos: Chaos, golden: dict, verdict: dict, schedule: dict) -> dict[str, Any]:
    done = chaos.outcome == "done"
    events = [{**r, "recovery": recovery(chaos, r, done)} for r in chaos.fired]
    kills = {k: sum(e["kind"] == k for e in events) for k in KINDS}
    recovered = {k: sum(e["kind"] == k and e["recovery"]["recovered"] for e in events)
                 for k in KINDS}  # fmt: skip
    last = chaos.runs[-1].ended_s or chaos.now()
    failed = list(verdict["problems"])
    if not done:
        failed.insert(0, f"chaos run {chaos.outcome}")
    if not all(e["recovery"]["gone"] for e in events):
        failed.append("a killed process is still alive")
    return {
        "passed": not failed,
        "problems": failed,
        "seed": schedule["seed"],
        "kills": kills,
        "kills_total": sum(kills.values()),
        "kinds": sum(1 for v in kills.values() if v),
        "recoveries": recovered,
        "recoveries_total": sum(recovered.values()),
        "not_fired": [
            {"n": e["n"], "kind": e["kind"], "at_s": e["at_s"]} for e in chaos.unfired
        ],  # fmt: skip
        "golden_wall_s": golden["wall_s"],
        "chaos_wall_s": round(last, 2),
        "time_lost_s": round(last - golden["wall_s"], 2),
        "drivers": [r.record() for r in chaos.runs],
        "snnjob_log": scheduler_counts([r.log for r in chaos.runs]),
        "rows_lost": verdict["rows_lost"],
        "duplicates": verdict["duplicates"],
        "predictions_identical": verdict["predictions_identical"],
        "judge": verdict,
        "events": events,
        "totals": totals_line(kills, verdict),
    }


def print_report(report: dict[str, Any]) -> None:
    print("\nChaos report")
    for e in report["events"]:
        r = e["recovery"]
        after = f" after {r['after_s']:.1f} s" if "after_s" in r else ""
        print(f"  #{e['n']:<3} {e['fired_s']:7.1f} s {e['kind']:<7} gone={r['gone']!s:<5} "
              f"{r['how']}{after}")  # fmt: skip
    kinds = ", ".join(f"{k} {n}" for k, n in report["kills"].items())
    print(f"kills: {kinds}; recovered {report['recoveries_total']}/{report['kills_total']}")
    print("snnjob's scheduler, over every driver: " + ", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in report["snnjob_log"].items()))  # fmt: skip
    if report["not_fired"]:
        print(f"not fired (the run ended first): {len(report['not_fired'])}")
    print(
        f"drivers: {len(report['drivers'])}; wall {report['chaos_wall_s']:.1f} s against "
        f"{report['golden_wall_s']:.1f} s undisturbed: {report['time_lost_s']:+.1f} s lost"
    )
    for name, t in report["judge"]["tables"].items():
        print(
            f"  {name}: {t['rows']} rows (golden {t['golden_rows']}), lost {t['lost']}, "
            f"duplicates {t['duplicates']}, extra {t['extra']}, differing {t['differ']}"
        )
    p = report["judge"]["params"]
    print(
        f"  params: {p['identical']}/{p['files']} identical; resumed from epoch "
        f"{p.get('resumed_from_epoch')}"
    )
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}")
    print(report["totals"])


def default_timeout(opts: argparse.Namespace, golden_wall: float) -> float:
    if opts.timeout is not None:
        return opts.timeout
    return 4 * golden_wall + opts.duration + 300


def golden_run(opts, cluster: LocalCluster, logs: Path) -> tuple[Path, dict[str, Any]]:
    if opts.golden is not None:
        timing = opts.golden.parent / "golden.json"
        golden = json.loads(timing.read_text()) if timing.is_file() else {"wall_s": float("nan")}
        return opts.golden, {**golden, "reused": True}
    out = opts.out / "golden"
    golden = run_golden(driver_command(opts, out, cluster.address), out, logs)
    (opts.out / "golden.json").write_text(json.dumps(golden, indent=2))
    print(f"golden run: exit {golden['rc']} in {golden['wall_s']:.1f} s", flush=True)
    return out, golden


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    schedule = json.loads(opts.replay.read_text()) if opts.replay else make_schedule(opts)
    opts.out.mkdir(parents=True, exist_ok=True)
    if (opts.out / "chaos").exists():
        print(f"chaos.py: {opts.out / 'chaos'} exists: give a new --out", file=sys.stderr)
        return 2
    (opts.out / "schedule.json").write_text(json.dumps(schedule, indent=2))
    print(describe_schedule(schedule), flush=True)
    logs = opts.out / "logs"
    sys.path.insert(0, str(HERE))
    import chaosjudge

    cluster = LocalCluster(opts.nodes, opts.cpus_per_node)
    chaos = None
    try:
        print(f"cluster: {cluster.address}, {opts.nodes} node(s) x {opts.cpus_per_node} CPU",
              flush=True)  # fmt: skip
        golden_out, golden = golden_run(opts, cluster, logs)
        if golden.get("rc", 0) != 0:
            print(f"chaos.py: the golden run failed: {golden['error']}", file=sys.stderr)
            return 1
        chaos = Chaos(cluster, driver_command(opts, opts.out / "chaos", cluster.address),
                      opts.out / "chaos", logs, schedule, opts.resume_delay,
                      default_timeout(opts, golden["wall_s"]))  # fmt: skip
        chaos.run()
    finally:
        if chaos is not None:
            chaos.stop()
        cluster.shutdown()
    verdict = chaosjudge.judge(opts.out / "chaos", golden_out, resumed=len(chaos.runs) > 1)
    report = build_report(chaos, golden, verdict, schedule)
    (opts.out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print_report(report)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
