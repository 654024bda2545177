"""Helpers shared by the cluster tests (``test_cluster_launcher.py``, ``test_jobs_api.py``).

A plain module, imported as ``from clusterutil import ...`` (``tests/`` is on ``sys.path``
because ``conftest.py`` lives there).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
RAY = VENV / "bin" / "ray"

# Runs a command as init of a new PID namespace; SIGKILLing unshare ends the namespace.
UNSHARE_PID = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]

# Ray's ports that the tests set to free ones (a head otherwise takes fixed defaults).
RAY_PORT_NAMES = (
    "gcs",
    "dashboard",
    "client",
    "node_manager",
    "object_manager",
    "agent_http",
    "agent_grpc",
    "metrics",
    "runtime_env",
)


def ray_port_flags(ports: dict[str, int]) -> list[str]:
    """``ray start --head`` flags for the ports of ``RAY_PORT_NAMES`` but GCS and dashboard."""
    return [
        f"--ray-client-server-port={ports['client']}",
        f"--node-manager-port={ports['node_manager']}",
        f"--object-manager-port={ports['object_manager']}",
        f"--dashboard-agent-listen-port={ports['agent_http']}",
        f"--dashboard-agent-grpc-port={ports['agent_grpc']}",
        f"--metrics-export-port={ports['metrics']}",
        f"--runtime-env-agent-port={ports['runtime_env']}",
    ]


def missing_or_fail(reason: str, skip_hint: str) -> None:
    """Skip (message ``reason + skip_hint``), or fail if SNNJOB_REQUIRE_CLUSTER_TOOLS=1."""
    if os.environ.get("SNNJOB_REQUIRE_CLUSTER_TOOLS") == "1":
        pytest.fail(f"{reason} (SNNJOB_REQUIRE_CLUSTER_TOOLS=1, so this is a failure)")
    pytest.skip(f"{reason}{skip_hint}")


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def http_status(url: str, token: str | None = None, data: bytes | None = None) -> int:
    """HTTP status of a GET (a JSON POST if ``data`` is given); 0 if nothing answers."""
    req = urllib.request.Request(url, data=data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0  # nothing answers


def generate_auth_token(home: Path) -> Path:
    """A cluster token made the documented way, into ``home/.ray/auth_token`` (mode 0600)."""
    subprocess.run(
        [str(RAY), "get-auth-token", "--generate"],
        env={**os.environ, "HOME": str(home), "RAY_AUTH_TOKEN_PATH": ""},
        stdout=subprocess.DEVNULL,  # the command prints the token: never show it
        stderr=subprocess.DEVNULL,
        check=True,
        preexec_fn=lambda: os.umask(0o077),
    )
    token = home / ".ray" / "auth_token"
    assert oct(token.stat().st_mode & 0o777) == "0o600"
    return token


def pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def namespace_init(proc: subprocess.Popen) -> int:
    """PID (seen from here) of the first process inside ``unshare --fork``'s namespace."""
    return int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])


def listeners(namespace: str | None = None) -> list[tuple[str, int, str]]:
    """(address, port, process) of listening TCP sockets (``ss -ltnp``), optionally only
    those of processes in the given PID namespace."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        addr, _, port = parts[3].rpartition(":")
        proc = parts[5] if len(parts) > 5 else ""
        if namespace is not None:
            pids = re.findall(r"pid=(\d+)", proc)
            if not any(pid_namespace(int(p)) == namespace for p in pids):
                continue
        rows.append((addr, int(port), proc))
    return sorted(rows, key=lambda r: r[1])
