"""Which Ray ``snnjob run`` uses, as ``ray.init()`` decides: ``--address`` when given
(``local``: a new private instance whatever the environment), else ``RAY_ADDRESS`` (which
Ray sets for every ``ray job submit`` job), else a new private instance.

The decision is a pure function (:func:`snnjob.session.ray_target`), tested as a table; a
bad or unreachable ``RAY_ADDRESS`` is refused before Ray starts, naming the variable and
the way out; one slow test joins a real ``ray start --head`` through ``RAY_ADDRESS`` alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
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

from snnjob.cli import main
from snnjob.errors import ConfigError, SnnjobError
from snnjob.session import connect, ray_target


@pytest.mark.parametrize(
    ("flag", "env", "address", "source"),
    [
        (None, {}, None, "default"),
        ("", {}, None, "default"),
        (None, {"RAY_ADDRESS": ""}, None, "default"),
        (None, {"RAY_ADDRESS": "10.0.0.5:6379"}, "10.0.0.5:6379", "RAY_ADDRESS"),
        (None, {"RAY_ADDRESS": " 10.0.0.5:6379 "}, "10.0.0.5:6379", "RAY_ADDRESS"),
        (None, {"RAY_ADDRESS": "auto"}, "auto", "RAY_ADDRESS"),
        (None, {"RAY_ADDRESS": "local"}, None, "RAY_ADDRESS"),
        ("local", {"RAY_ADDRESS": "10.0.0.5:6379"}, None, "--address"),
        ("local", {}, None, "--address"),
        ("auto", {"RAY_ADDRESS": "10.0.0.5:6379"}, "auto", "--address"),
        ("10.0.0.9:6379", {"RAY_ADDRESS": "10.0.0.5:6379"}, "10.0.0.9:6379", "--address"),
        ("10.0.0.9:6379", {}, "10.0.0.9:6379", "--address"),
    ],
    ids=["nothing", "empty-flag", "empty-env", "env", "env-spaces", "env-auto", "env-local",
         "local-beats-env", "local", "auto-flag", "flag-beats-env", "flag"],
)  # fmt: skip
def test_which_ray(flag, env, address, source):
    choice = ray_target(flag, env)
    assert (choice.address, choice.source) == (address, source)
    assert choice.reason  # logged: which one and why
    if flag == "local" and env:
        assert "RAY_ADDRESS=10.0.0.5:6379 ignored" in choice.reason
    if source == "RAY_ADDRESS" and address:
        assert "ray job submit" in choice.reason and "--address local" in choice.reason


def test_the_decision_reads_only_its_arguments(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert ray_target(None, {}).address is None


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        ("http://127.0.0.1:8265", ["RAY_ADDRESS 'http://127.0.0.1:8265' is a URL (http://)",
                                   "use `ray job submit`", "unset RAY_ADDRESS",
                                   "--address local"]),
        ("10.0.0.5", ["RAY_ADDRESS '10.0.0.5' has no port", "--address local"]),
        ("{closed}", ["cannot reach a Ray cluster at 127.0.0.1:{port} (RAY_ADDRESS) "
                      "(connection refused)", "--address local"]),
    ],
    ids=["jobs-api-url", "no-port", "nothing-there"],
)  # fmt: skip
def test_a_bad_ray_address_is_refused_before_ray(
    monkeypatch, capsys, tmp_path, closed_port, value, fragments
):
    value = value.replace("{closed}", f"127.0.0.1:{closed_port}")
    monkeypatch.setenv("RAY_ADDRESS", value)
    out = tmp_path / "out"
    code = main(["run", "--config", "tiny", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("snnjob: error: "), err
    for fragment in fragments:
        assert fragment.replace("{port}", str(closed_port)) in lines[0], lines[0]
    assert not out.exists()
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


def test_num_cpus_with_ray_address_says_how_to_run_locally(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    with pytest.raises(ConfigError, match="RAY_ADDRESS=10.0.0.5:6379 joins a cluster; drop "
                       "--num-cpus, or add --address local"):  # fmt: skip
        connect(None, num_cpus=2)


def test_address_local_ignores_ray_address_up_to_ray_init(monkeypatch):
    """``--address local`` with RAY_ADDRESS set takes the local path: --num-cpus is allowed
    (a cluster would refuse it), nothing probes RAY_ADDRESS's cluster, and the local
    instance is started the usual way (stopped here, at its loopback-only setup)."""
    import ray

    import snnjob.session

    if ray.is_initialized():
        pytest.skip("Ray is already up in this process: connect() would return at once")

    class Started(Exception):
        pass

    def probe(*args, **kwargs):
        raise AssertionError(f"probed {args}: the local path must not reach RAY_ADDRESS")

    def loopback_only():
        raise Started

    monkeypatch.setenv("RAY_ADDRESS", "no-such-host.invalid:6379")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # as connect() sets it, restored after
    monkeypatch.setattr(snnjob.session, "_tcp_problem", probe)
    monkeypatch.setattr(snnjob.session, "_loopback_only", loopback_only)
    with pytest.raises(Started):
        connect("local", num_cpus=2)
    monkeypatch.undo()
    monkeypatch.setenv("RAY_ADDRESS", "no-such-host.invalid:6379")
    with pytest.raises(SnnjobError, match=r"no-such-host.invalid:6379 \(RAY_ADDRESS\)"):
        connect(None)


# ------------------------------------------------------------------ a real head


@pytest.fixture
def head():
    """A token-protected single-node head (``ray start --head``) on 127.0.0.1, in its own
    PID namespace (stopping it stops nothing else), all ports free ones."""
    if shutil.which("unshare") is None:
        missing_or_fail("unshare missing", " (util-linux; see scripts/install_system_deps.sh)")
    if os.geteuid() != 0:
        missing_or_fail("the head runs in a PID namespace, which needs root", "")
    root = Path(tempfile.mkdtemp(prefix="snnj", dir="/tmp"))  # short: Ray's socket paths
    (root / "home").mkdir()
    token = generate_auth_token(root / "home")
    names = [*RAY_PORT_NAMES, "autoscaler_metrics", "dashboard_metrics"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(root / "home"),
           "RAY_TMPDIR": str(root / "ray"), "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # node IP 127.0.0.1
           "AUTOSCALER_METRIC_PORT": str(ports["autoscaler_metrics"]),
           "DASHBOARD_METRIC_PORT": str(ports["dashboard_metrics"])}  # fmt: skip
    for var in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_API_SERVER_ADDRESS"):
        env.pop(var, None)
    cmd = [str(RAY), "start", "--head", "--block", f"--port={ports['gcs']}",
           "--dashboard-host=127.0.0.1", f"--dashboard-port={ports['dashboard']}",
           *ray_port_flags(ports), "--num-cpus=1", "--disable-usage-stats"]  # fmt: skip
    log = (root / "head.log").open("w")
    proc = subprocess.Popen([*UNSHARE_PID, *cmd], env=env, stdout=log,
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
        logging.getLogger(__name__).info("head up after %.1f s", time.monotonic() - t0)
        yield {"address": f"127.0.0.1:{ports['gcs']}", "env": env, "root": root}
    finally:
        # SIGKILL unshare: --kill-child kills the namespace's init, so the whole head ends
        proc.kill()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


JOIN = """
import logging, ray
from snnjob.session import connect
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
info = connect(None)
print("GCS", ray.get_runtime_context().gcs_address, info.nodes, flush=True)
ray.shutdown()
"""


@pytest.mark.slow  # starts a Ray head
def test_ray_address_alone_joins_that_cluster(head, tmp_path):
    """What a `ray job submit` job's driver sees: RAY_ADDRESS set, no --address."""
    env = {**head["env"], "RAY_ADDRESS": head["address"], "RAY_TMPDIR": str(tmp_path / "ray")}
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", JOIN], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    print(f"joined through RAY_ADDRESS in {time.monotonic() - t0:.1f} s: {done.stdout.strip()}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"GCS {head['address']} 1" in done.stdout.splitlines(), done.stdout
    assert f"Ray: joined {head['address']} (from RAY_ADDRESS" in done.stderr, done.stderr
    assert "private local instance" not in done.stderr
