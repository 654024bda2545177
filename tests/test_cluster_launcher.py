"""End to end through Ray's cluster launcher, on this one machine, with the shipped config.

What runs (real tools, no mocks):

* an ``sshd`` (Debian ``openssh-server``) listening on 127.0.0.1 on a free port, key auth
  only, with a host key and an authorized key made here. It runs in its own PID namespace
  (``unshare --pid``), so the ``ray stop`` that ``ray up``/``ray down`` run on the "node"
  stops only this test's Ray, never other Ray instances on the machine; it sets the node's
  ``HOME`` to a temporary folder, so the node's ``~/snnjob-src``, ``~/.ray/auth_token``,
  ``~/.bashrc`` and ``~/snnjob-venv`` are the test's, not root's;
* ``ray up -y`` with a copy of ``ray_config.yaml`` adapted only in addresses (head
  127.0.0.1, no workers), user/key (root, the test's key;
  an ``ssh_proxy_command`` reaches the test's sshd port, since the launcher has no port
  setting), local paths, cluster name and Ray's ports (free ones, so it cannot collide with
  other Ray instances). Setup and start commands are the shipped ones: they run
  ``cluster/node_setup.sh`` and ``scripts/setup_env.sh`` on the node; the node's
  ``~/snnjob-venv`` is an overlay over the venv running this test (so it is reused, and
  nothing done on the node can change the shared venv);
* checks that the dashboard/Jobs API listens on 127.0.0.1 only and rejects requests without
  the token, also through the SSH tunnel of ``ray dashboard``;
* ``ray submit <cfg> scripts/run_job.py -- --config tiny --out ~/runs/tiny``, then
  ``ray rsync-down`` of the run folder and checks of summary.json / config.yaml / results;
* ``ray down -y`` (always), then the PID namespace is ended.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import yaml
from clusterutil import (
    RAY,
    RAY_PORT_NAMES,
    REPO,
    UNSHARE_PID,
    VENV,
    free_ports,
    generate_auth_token,
    http_status,
    listeners,
    missing_or_fail,
    namespace_init,
    pid_namespace,
    ray_port_flags,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

INSTALL_HINT = "; install them with scripts/install_system_deps.sh (as root)"
REQUIRED_TOOLS = ("ssh", "ssh-keygen", "rsync", "unshare", "ss")

# A byte relay used as the SSH ProxyCommand: connects to the test's sshd port.
PROXY = """\
import os, selectors, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
sel = selectors.DefaultSelector()
sel.register(0, selectors.EVENT_READ)
sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj == 0:
            data = os.read(0, 65536)
            if data:
                s.sendall(data)
            else:
                s.shutdown(socket.SHUT_WR)
                sel.unregister(0)
        else:
            data = s.recv(65536)
            if not data:
                sys.exit(0)
            os.write(1, data)
"""


def require_cluster_tools() -> None:
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if not Path("/usr/sbin/sshd").exists():
        missing.append("sshd (openssh-server)")
    if missing:
        missing_or_fail(f"cluster tools missing: {', '.join(missing)}", INSTALL_HINT)
    if os.geteuid() != 0:
        missing_or_fail("the launcher test needs root (own sshd + PID namespace)", INSTALL_HINT)


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def overlay_venv(dst: Path) -> None:
    """A venv at ``dst`` that sees the packages of the venv running this test.

    The node's ``~/snnjob-venv`` must not be the shared venv itself: ``setup_env.sh`` on the
    node may reinstall snnjob (editable, from the node's copy) or rebuild the venv, and that
    must never touch the shared one. This overlay has its own (empty) site-packages plus the
    shared one via ``site.addsitedir``, the shared venv's stamps (so ``setup_env.sh`` reuses
    it), and the shared console scripts re-pointed at its own python.
    """
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(dst)], check=True)
    pyver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    shared_site = VENV / "lib" / pyver / "site-packages"
    (dst / "lib" / pyver / "site-packages" / "_snnjob_test_overlay.pth").write_text(
        f"import site; site.addsitedir({str(shared_site)!r})\n"
    )
    for stamp in VENV.glob(".snnjob-*"):
        shutil.copy(stamp, dst / stamp.name)
    shebang = f"#!{VENV / 'bin' / 'python'}".encode()
    for script in (VENV / "bin").iterdir():
        target = dst / "bin" / script.name
        if target.exists() or not script.is_file():
            continue
        head = script.read_bytes()[:200]
        if head.startswith(shebang):
            body = script.read_bytes().split(b"\n", 1)[1]
            target.write_bytes(f"#!{dst / 'bin' / 'python'}\n".encode() + body)
            target.chmod(0o755)


class Launcher:
    """Runs the ray CLI on the "laptop" side and keeps a log of every command."""

    def __init__(self, root: Path, cfg: Path, env: dict[str, str]):
        self.root, self.cfg, self.env = root, cfg, env
        self.log = root / "launcher.log"
        self.timings: dict[str, float] = {}

    def ray(self, name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        t0 = time.monotonic()
        proc = subprocess.run(
            [str(RAY), *args],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.timings[name] = time.monotonic() - t0
        with self.log.open("a") as f:
            f.write(f"\n===== ray {' '.join(args)} -> {proc.returncode}\n")
            f.write(proc.stdout + proc.stderr)
        return proc

    def check(self, name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        proc = self.ray(name, *args, timeout=timeout)
        assert proc.returncode == 0, (
            f"`ray {' '.join(args)}` failed ({proc.returncode}); full log {self.log}:\n"
            + (proc.stdout + proc.stderr)[-6000:]
        )
        return proc


def adapt_config(
    src: Path,
    dst: Path,
    *,
    cluster_name: str,
    key: Path,
    token: Path,
    proxy_command: str,
    ports: dict[str, int],
) -> dict:
    """Copy of the shipped config for this machine: addresses, user/key, paths, ports."""
    cfg = yaml.safe_load(src.read_text())
    cfg["cluster_name"] = cluster_name
    cfg["provider"]["head_ip"] = "127.0.0.1"
    cfg["provider"]["worker_ips"] = []
    cfg["auth"]["ssh_user"] = "root"
    cfg["auth"]["ssh_private_key"] = str(key)
    cfg["auth"]["ssh_proxy_command"] = proxy_command
    mounts = {}
    for remote, local in cfg["file_mounts"].items():
        if local == ".":
            local = str(REPO)
        elif local == "~/.ray/auth_token":
            local = str(token)
        mounts[remote] = local
    cfg["file_mounts"] = mounts
    extra = "".join(f" {flag}" for flag in ray_port_flags(ports))
    head = []
    for cmd in cfg["head_start_ray_commands"]:
        if " start --head" in cmd:
            assert "--port=6379" in cmd and "--dashboard-port=8265" in cmd, cmd
            cmd = cmd.replace("--port=6379", f"--port={ports['gcs']}")
            cmd = cmd.replace("--dashboard-port=8265", f"--dashboard-port={ports['dashboard']}")
            cmd += extra
        head.append(cmd)
    cfg["head_start_ray_commands"] = head
    dst.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg


@pytest.fixture
def node(mnist_dir):
    """An SSH-reachable "node" on 127.0.0.1 in its own PID namespace, plus a "laptop" home."""
    require_cluster_tools()
    # Short path: Ray's unix sockets live under RAY_TMPDIR (limit ~107 characters).
    root = Path(tempfile.mkdtemp(prefix="snnc", dir="/tmp"))
    laptop, node_home, sshd_dir = root / "laptop", root / "node", root / "sshd"
    for d in (laptop / ".ssh", node_home, sshd_dir, root / "tmp", root / "ray-local"):
        d.mkdir(parents=True)
    os.chmod(root, 0o700)

    key = laptop / ".ssh" / "id_ed25519"
    host_key = sshd_dir / "ssh_host_ed25519_key"
    for path, comment in ((key, "snnjob-test-laptop"), (host_key, "snnjob-test-host")):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
        )
    shutil.copy(key.with_suffix(".pub"), sshd_dir / "authorized_keys")

    # The cluster token, made the documented way, into the laptop's ~/.ray (mode 0600).
    token = generate_auth_token(laptop)

    (node_home / ".bashrc").write_text("# a fresh node's ~/.bashrc\n")
    # The node's venv: an overlay over the (up-to-date) venv running this test.
    overlay_venv(node_home / "snnjob-venv")

    port, autoscaler_metrics, dashboard_metrics = free_ports(3)
    base_python = getattr(sys, "_base_executable", sys.executable)
    node_env = {
        "HOME": node_home,
        "RAY_TMPDIR": root / "ray-node",
        "TMPDIR": root / "tmp",
        "SNNJOB_PYTHON": base_python,
        "SNNJOB_DATA_DIR": mnist_dir,
        # Ray replaces a 127.0.0.1 node address by the host's routable one unless this is 0
        # (meant for single-node macOS/Windows; on Linux it just keeps Ray on loopback):
        # the test's single-node cluster then talks to 127.0.0.1 only.
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        # Prometheus ports Ray otherwise fixes at 44217/44227 for every head on a machine.
        "AUTOSCALER_METRIC_PORT": autoscaler_metrics,
        "DASHBOARD_METRIC_PORT": dashboard_metrics,
    }
    (sshd_dir / "sshd_config").write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {sshd_dir / 'authorized_keys'}",
                f"PidFile {sshd_dir / 'sshd.pid'}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "AllowUsers root",
                "X11Forwarding no",
                "AllowTcpForwarding local",
                "SetEnv " + " ".join(f"{k}={v}" for k, v in node_env.items()),
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
    subprocess.run(["/usr/sbin/sshd", "-t", "-f", str(sshd_dir / "sshd_config")], check=True)
    sshd_log = (sshd_dir / "sshd.log").open("w")
    sshd = subprocess.Popen(
        UNSHARE_PID + ["/usr/sbin/sshd", "-D", "-e", "-f", str(sshd_dir / "sshd_config")],
        stdout=sshd_log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    ok = False
    try:
        wait_for_port(port, 15, sshd)
        init_pid = namespace_init(sshd)
        (root / "proxy.py").write_text(PROXY)
        yield {
            "root": root,
            "laptop": laptop,
            "node_home": node_home,
            "key": key,
            "token": token,
            "proxy_command": f"{sys.executable} {root / 'proxy.py'} 127.0.0.1 {port}",
            "sshd_port": port,
            "namespace": pid_namespace(init_pid),
        }
        ok = True
    finally:
        # unshare ignores SIGTERM while it waits; SIGKILL it, and --kill-child SIGKILLs the
        # namespace's init (sshd), which ends every process left in the namespace.
        sshd.kill()
        sshd.wait(timeout=30)
        sshd_log.close()
        if ok and not os.environ.get("SNNJOB_KEEP_CLUSTER_TMP"):
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"cluster test files kept in {root}")


def test_ray_up_submit_rsync_down(node, mnist_dir, tmp_path):
    root = node["root"]
    names = [*RAY_PORT_NAMES, "tunnel"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    cfg_path = root / "ray_config.yaml"
    adapt_config(
        REPO / "ray_config.yaml",
        cfg_path,
        cluster_name=f"snnjob-test-{uuid.uuid4().hex[:8]}",
        key=node["key"],
        token=node["token"],
        proxy_command=node["proxy_command"],
        ports=ports,
    )
    env = {
        **os.environ,
        "HOME": str(node["laptop"]),
        "RAY_TMPDIR": str(root / "ray-local"),
        "TMPDIR": str(root / "tmp"),
        "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}",
        "RAY_USAGE_STATS_ENABLED": "0",  # the launcher CLI would otherwise report usage
    }
    for var in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(var, None)
    launcher = Launcher(root, cfg_path, env)
    cfg = str(cfg_path)

    try:
        launcher.check("ray up", "up", "-y", cfg)

        # --- what listens where after `ray up` (recorded for the report) -----------------
        deadline = time.monotonic() + 120  # `ray up` can return before the dashboard listens
        while True:
            rows = listeners(node["namespace"])
            dash = [r for r in rows if r[1] == ports["dashboard"]]
            if dash or time.monotonic() > deadline:
                break
            time.sleep(2)
        report = "\n".join(f"{a}:{p} {proc}" for a, p, proc in rows)
        (root / "listeners.txt").write_text(report)
        print("listening after ray up (the test's node only):\n" + report)
        assert dash, f"dashboard port {ports['dashboard']} not listening:\n{report}"
        assert {a for a, _, _ in dash} == {"127.0.0.1"}, f"dashboard not on loopback only:\n{dash}"
        gcs = [r for r in rows if r[1] == ports["gcs"]]
        assert gcs, f"GCS port {ports['gcs']} not listening:\n{report}"

        # --- Jobs API: rejected without the token, also through `ray dashboard`'s tunnel ---
        token = node["token"].read_text().strip()
        jobs = f"http://127.0.0.1:{ports['dashboard']}/api/jobs/"
        deadline = time.monotonic() + 60
        while http_status(jobs, token) != 200 and time.monotonic() < deadline:
            time.sleep(1)  # the Jobs API module may come up a moment after `ray start`
        assert http_status(jobs) == 401
        assert http_status(jobs, token) == 200
        tunnel = subprocess.Popen(
            [str(RAY), "dashboard", "-p", str(ports["tunnel"])]
            + ["--remote-port", str(ports["dashboard"]), cfg],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(ports["tunnel"], 60, tunnel)
            via_tunnel = f"http://127.0.0.1:{ports['tunnel']}/api/jobs/"
            assert http_status(via_tunnel) == 401
            assert http_status(via_tunnel, token) == 200
        finally:
            tunnel.terminate()
            tunnel.wait(timeout=30)

        # --- the job, through `ray submit` --------------------------------------------
        proc = launcher.check(
            "ray submit",
            "submit",
            cfg,
            "scripts/run_job.py",
            "--",
            "--config",
            "tiny",
            "--out",
            "~/runs/tiny",
            "--set",
            f"data.data_dir={mnist_dir}",
            timeout=900,
        )
        assert token not in proc.stdout + proc.stderr
        assert (node["node_home"] / "runs" / "tiny" / "summary.json").exists()

        # --- results back to the "laptop" ---------------------------------------------
        local = tmp_path / "fetched"
        launcher.check("ray rsync-down", "rsync-down", cfg, "~/runs/tiny/", f"{local}/")
        summary = json.loads((local / "summary.json").read_text())
        assert summary["points"], summary
        for point in summary["points"]:
            assert 0 <= point["n_errors"] <= point["n_images"], point
            assert point["n_images"] > 0, point
            assert 0.0 <= point["error"] <= 1.0, point
            assert point["ci95_low"] <= point["error"] <= point["ci95_high"], point
        assert yaml.safe_load((local / "config.yaml").read_text())
        assert list((local / "results").glob("**/*.parquet")), "no Parquet results fetched"

        # the token reached the node with owner-only permissions and was never logged
        node_token = node["node_home"] / ".ray" / "auth_token"
        assert oct(node_token.stat().st_mode & 0o777) == "0o600"
        assert token not in launcher.log.read_text()
    finally:
        down = launcher.ray("ray down", "down", "-y", cfg, timeout=300)
        print("timings (s):", {k: round(v, 1) for k, v in launcher.timings.items()})
    assert down.returncode == 0, launcher.log.read_text()[-4000:]
    # `ray down` stopped the node's Ray: only the test's sshd still listens there.
    deadline = time.monotonic() + 20
    while (left := [r for r in listeners(node["namespace"]) if r[1] != node["sshd_port"]]) and (
        time.monotonic() < deadline
    ):
        time.sleep(1)
    assert not left, f"still listening after ray down: {left}"
