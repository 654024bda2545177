"""A local run is closed to the network and token-protected; a cluster refuses a bad token.

- ``snnjob.session.connect()`` (no address) is run in a fresh process: every TCP/UDP socket
  that this Ray session's processes listen on (the driver and all its descendants: GCS,
  raylet, dashboard and agents, autoscaler monitor, workers) is bound to loopback, the
  token file is 0600, and a client without the token or with a wrong one is refused
  with one ``snnjob: error:`` line.
- A head started with ``ray start --head`` and ``RAY_AUTH_MODE=token`` (in its own PID
  namespace, as in ``test_jobs_api.py``, so stopping it stops nothing else) refuses
  ``snnjob run --address`` without a token, with a wrong one and with a missing token
  file, each with one ``snnjob: error:`` line naming what to set; the right token joins.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from clusterutil import (
    RAY,
    RAY_PORT_NAMES,
    REPO,
    UNSHARE_PID,
    free_ports,
    generate_auth_token,
    missing_or_fail,
    ray_port_flags,
)

pytestmark = pytest.mark.slow  # starts Ray

# Runs in a fresh process: a local session, some workers, then every listening socket of
# the process tree; then `snnjob run --address` against this session with bad tokens.
LOCAL_SESSION = textwrap.dedent(
    """
    import dataclasses, json, os, subprocess, sys, time
    from snnjob.session import connect

    info = connect(None, num_cpus=1)
    import ray
    import psutil  # Ray's vendored copy (ray/thirdparty_files), on sys.path once Ray loads

    @ray.remote(num_cpus=0)
    def pid():
        return os.getpid()

    @ray.remote(num_cpus=0)
    class Actor:
        def pid(self):
            return os.getpid()

    actor = Actor.remote()
    ray.get([pid.remote(), pid.remote(), actor.pid.remote()])  # start workers
    time.sleep(3)  # agents and metrics servers finish starting
    me = psutil.Process()
    sockets = []
    for proc in [me, *me.children(recursive=True)]:
        try:
            name, conns = proc.name(), proc.net_connections(kind="inet")
        except psutil.Error:
            continue
        for c in conns:
            tcp = c.type == 1  # SOCK_STREAM
            if (tcp and c.status == psutil.CONN_LISTEN) or (not tcp and not c.raddr):
                sockets.append([name, proc.pid, "tcp" if tcp else "udp", c.laddr.ip,
                                c.laddr.port])
    gcs = ray.get_runtime_context().gcs_address
    print("SOCKETS " + json.dumps({"info": dataclasses.asdict(info), "sockets": sockets,
                                       "gcs": gcs}), flush=True)
    refusals = {}
    for case, changes in json.loads(sys.argv[1]).items():
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
        env.update(HOME=sys.argv[3], **changes)  # not this session's HOME (its token)
        try:
            run = subprocess.run(
                [sys.executable, "-m", "snnjob.cli", "run", "--config", "tiny",
                 "--out", sys.argv[2], "--address", gcs],
                env=env, capture_output=True, text=True, timeout=60,
            )
            refusals[case] = [run.returncode, run.stderr]
        except subprocess.TimeoutExpired:
            refusals[case] = [None, "still running after 60 s"]
    print("REFUSALS " + json.dumps(refusals), flush=True)
    ray.shutdown()
    """
)


def is_loopback(ip: str) -> bool:
    import ipaddress

    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on a dual-stack socket
    return addr.is_loopback or (mapped is not None and mapped.is_loopback)


def clean_env(root: Path) -> dict[str, str]:
    """This repository on the path, a fresh HOME, Ray's files under ``root``."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(root / "home"),
           "RAY_TMPDIR": str(root / "ray"), "RAY_USAGE_STATS_ENABLED": "0"}  # fmt: skip
    for var in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH",
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"):  # fmt: skip
        env.pop(var, None)
    (root / "home").mkdir(parents=True, exist_ok=True)
    return env


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("snnjob: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def root():
    path = Path(tempfile.mkdtemp(prefix="snnj", dir="/tmp"))  # short: Ray's socket paths
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_local_run_listens_on_loopback_only_and_wants_the_token(root):
    env = clean_env(root)
    # The autoscaler's and dashboard's Prometheus ports are fixed (44217, 44227) for every
    # Ray on a machine; free ones, so these servers start (and are checked) even when
    # another Ray holds the defaults.
    env["AUTOSCALER_METRIC_PORT"], env["DASHBOARD_METRIC_PORT"] = map(str, free_ports(2))
    wrong = root / "wrong_token"
    wrong.write_text("0" * 64)
    wrong.chmod(0o600)
    out = root / "out"
    client_home = root / "client_home"
    client_home.mkdir()
    bad = {
        "no-token": {},
        "wrong-token": {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(wrong)},
    }
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", LOCAL_SESSION, json.dumps(bad), str(out), str(client_home)],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = {x.split(" ", 1)[0]: x.split(" ", 1)[1] for x in proc.stdout.splitlines() if " " in x}
    assert "SOCKETS" in lines, proc.stderr[-3000:]
    result = json.loads(lines["SOCKETS"])
    print(f"local session up and checked in {time.monotonic() - t0:.1f} s")
    for row in result["sockets"]:
        print("listening:", *row)

    sockets = result["sockets"]
    names = {name for name, *_ in sockets}
    assert {"gcs_server", "raylet"} <= names, names  # the check saw Ray's servers
    assert len(sockets) >= 6, sockets
    exposed = [row for row in sockets if not is_loopback(row[3])]
    assert exposed == [], f"listening beyond loopback: {exposed}"
    assert result["info"]["dashboard"].startswith("127.0.0.1:")
    assert result["gcs"].startswith("127.0.0.1:")

    token = root / "home" / ".ray" / "auth_token"
    assert token.is_file(), "a local run wrote no token: token auth is off"
    assert oct(token.stat().st_mode & 0o777) == "0o600"
    assert proc.returncode == 0 and "REFUSALS" in lines, proc.stderr[-3000:]
    for case, (code, stderr) in json.loads(lines["REFUSALS"]).items():
        print(f"{case}: exit {code}: {stderr.strip()}")
        assert code == 2, stderr
        assert "refused this client" in one_error_line(stderr), stderr
        assert token.read_text().strip() not in stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def head():
    """A token-protected single-node head (``ray start --head``) on 127.0.0.1 only."""
    if shutil.which("unshare") is None:
        missing_or_fail("unshare missing", " (util-linux; see scripts/install_system_deps.sh)")
    if os.geteuid() != 0:
        missing_or_fail("the head runs in a PID namespace, which needs root", "")
    root = Path(tempfile.mkdtemp(prefix="snnj", dir="/tmp"))
    env = clean_env(root)
    token = generate_auth_token(root / "home")
    names = [*RAY_PORT_NAMES, "autoscaler_metrics", "dashboard_metrics"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    head_env = {
        **env,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # node IP 127.0.0.1: nothing on the network
        "AUTOSCALER_METRIC_PORT": str(ports["autoscaler_metrics"]),
        "DASHBOARD_METRIC_PORT": str(ports["dashboard_metrics"]),
    }
    cmd = [str(RAY), "start", "--head", "--block", f"--port={ports['gcs']}",
           "--dashboard-host=127.0.0.1", f"--dashboard-port={ports['dashboard']}",
           *ray_port_flags(ports), "--num-cpus=1", "--disable-usage-stats"]  # fmt: skip
    log = (root / "head.log").open("w")
    proc = subprocess.Popen([*UNSHARE_PID, *cmd], env=head_env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        t0 = time.monotonic()
        while True:  # until the GCS port accepts connections
            assert proc.poll() is None, (root / "head.log").read_text()[-3000:]
            assert time.monotonic() - t0 < 180, "GCS not up after 180 s"
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", ports["gcs"]), timeout=1),
            ):
                break
            time.sleep(1)
        print(f"head's GCS up after {time.monotonic() - t0:.1f} s")
        # The client side: its own HOME (no token there) and no token settings.
        client_root = root / "client"
        yield {"address": f"127.0.0.1:{ports['gcs']}", "token": token,
               "env": clean_env(client_root), "root": root}  # fmt: skip
    finally:
        # SIGKILL unshare: --kill-child kills the namespace's init, so the whole head ends
        # (and nothing outside its PID namespace is touched).
        proc.kill()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def snnjob_run(head, env_changes: dict[str, str], tmp_path: Path):
    out = tmp_path / "out"
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "snnjob.cli", "run", "--config", "tiny", "--out", str(out),
         "--address", head["address"]],
        cwd=tmp_path, env={**head["env"], **env_changes}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    return proc, time.monotonic() - t0, out


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no-token", "RAY_AUTH_MODE is not 'token' here, so no token was sent"),
        ("wrong-token", "wrong_token is not the cluster's"),
        ("token-file-missing", "no_such_token is missing or empty"),
        ("no-token-anywhere", "home/.ray/auth_token is missing or empty"),
    ],
    ids=["no-token", "wrong-token", "token-file-missing", "no-token-anywhere"],
)
def test_cluster_refuses_a_client_without_its_token(head, tmp_path, case, expected):
    wrong = tmp_path / "wrong_token"
    wrong.write_text("0" * 64)
    wrong.chmod(0o600)
    changes = {
        "no-token": {},
        "wrong-token": {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(wrong)},
        "token-file-missing": {"RAY_AUTH_MODE": "token",
                               "RAY_AUTH_TOKEN_PATH": str(tmp_path / "no_such_token")},
        "no-token-anywhere": {"RAY_AUTH_MODE": "token"},
    }[case]  # fmt: skip
    proc, elapsed, out = snnjob_run(head, changes, tmp_path)
    print(f"{case}: exit {proc.returncode} after {elapsed:.1f} s: {proc.stderr.strip()}")
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = one_error_line(proc.stderr)
    assert expected in line, line
    assert "RAY_AUTH_TOKEN_PATH" in line and "RAY_AUTH_MODE=token" in line, line
    assert head["token"].read_text().strip() not in proc.stderr + proc.stdout
    assert not out.exists()
    # The refusal is one GCS call (or none); the rest is starting Python and importing Ray,
    # which takes many times longer on a loaded machine (tests/test_connect.py bounds the
    # in-process time of the network checks).
    assert elapsed < 90


def test_cluster_accepts_the_right_token(head, tmp_path):
    """The control: the same head, the same loopback address, the right token joins."""
    env = {**head["env"], "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(head["token"])}
    code = "from snnjob.session import connect; print('NODES', connect(%r).nodes)"
    proc = subprocess.run(
        [sys.executable, "-c", code % head["address"]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    print(f"right token: exit {proc.returncode}: {proc.stdout.strip()} {proc.stderr[-2000:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "NODES 1" in proc.stdout, proc.stdout
