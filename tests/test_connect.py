"""Joining a cluster with bad inputs: every case ends in one ``snnjob: error:`` line, fast.

No Ray is started here: each error is found before ``ray.init`` (the address is parsed,
then a TCP connection to its port is tried for at most a few seconds). The token cases
need a real token-protected head: ``tests/test_security.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snnjob.cli import main
from snnjob.errors import ConfigError
from snnjob.session import _parse_address, connect

REPO = Path(__file__).resolve().parents[1]


def run_cli(capsys, tmp_path, *args):
    out = tmp_path / "out"
    t0 = time.monotonic()
    code = main(["run", "--config", "tiny", "--out", str(out), *args])
    elapsed = time.monotonic() - t0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("snnjob: error: "), err
    assert not out.exists(), "a refused run must leave nothing in --out"
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()
    return lines[0], elapsed


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("127.0.0.1:notaport", "'notaport' is not a number from 1 to 65535"),
        ("host:99999", "'99999' is not a number from 1 to 65535"),
        ("host:0", "'0' is not a number from 1 to 65535"),
        (":6379", "has no host"),
        ("10.0.0.5", "has no port"),
        ("null", "has no port"),  # as typed, not YAML's None (= a local run)
        ("http://127.0.0.1:8265", "use `ray job submit`"),
        ("ray://127.0.0.1:10001", "is a URL (ray://)"),
    ],
    ids=["notaport", "port-too-big", "port-zero", "no-host", "no-port", "null", "http", "ray"],
)
def test_malformed_address_is_refused_before_ray(capsys, tmp_path, address, fragment):
    line, elapsed = run_cli(capsys, tmp_path, "--address", address)
    assert fragment in line and "'auto' or HOST:PORT" in line, line
    assert repr(address) in line
    assert elapsed < 5, elapsed


@pytest.mark.parametrize(
    ("address", "expected"),
    [("auto", None), ("10.0.0.5:6379", ("10.0.0.5", 6379)), ("[::1]:6379", ("::1", 6379)),
     ("head.example:1", ("head.example", 1))],
    ids=["auto", "ipv4", "ipv6", "name"],
)  # fmt: skip
def test_good_addresses_parse(address, expected):
    assert _parse_address(address) == expected


def test_ipv6_address_reaches_the_session_as_typed(capsys, tmp_path, closed_port):
    # '[::1]:PORT' was a YAML error about `--set resources.address` before
    line, _ = run_cli(capsys, tmp_path, "--address", f"[::1]:{closed_port}")
    assert "cannot reach a Ray cluster at [::1]:" in line, line


def test_closed_port_gives_up_at_once(capsys, tmp_path, closed_port):
    address = f"127.0.0.1:{closed_port}"
    line, elapsed = run_cli(capsys, tmp_path, "--address", address)
    assert f"cannot reach a Ray cluster at {address} (connection refused)" in line, line
    for hint in ("running", "GCS port", "firewall"):
        assert hint in line, line
    print(f"closed port: error after {elapsed:.2f} s in-process")
    assert elapsed < 30


def test_silent_port_gives_up_after_the_probe_timeout(capsys, tmp_path):
    """Like a firewall that drops packets: a listener with a full backlog ignores new SYNs."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    filler = socket.create_connection(s.getsockname(), timeout=5)  # fills the backlog
    try:
        address = f"127.0.0.1:{s.getsockname()[1]}"
        line, elapsed = run_cli(capsys, tmp_path, "--address", address)
    finally:
        filler.close()
        s.close()
    assert f"cannot reach a Ray cluster at {address} (no answer within 5 s)" in line, line
    print(f"silent port: error after {elapsed:.2f} s in-process")
    assert elapsed < 30


def test_port_without_a_gcs(capsys, tmp_path):
    """Something listens (e.g. the dashboard's port given by mistake) but speaks no Ray."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        address = f"127.0.0.1:{s.getsockname()[1]}"
        line, elapsed = run_cli(capsys, tmp_path, "--address", address)
    finally:
        s.close()
    assert f"cannot reach a Ray cluster at {address} (no Ray GCS answered" in line, line
    print(f"port without a GCS: error after {elapsed:.2f} s in-process")
    assert elapsed < 30


def test_unresolvable_host(capsys, tmp_path):
    line, elapsed = run_cli(capsys, tmp_path, "--address", "no-such-host.invalid:6379")
    assert "does not resolve" in line, line
    assert elapsed < 30


@pytest.mark.parametrize("num_cpus", ["0", "-2"], ids=["zero", "negative"])
def test_num_cpus_below_one_is_refused(capsys, tmp_path, num_cpus):
    line, _ = run_cli(capsys, tmp_path, "--num-cpus", num_cpus)
    assert f"--num-cpus must be a whole number of at least 1 (got {num_cpus})" in line, line


def test_num_cpus_with_address_is_refused(capsys, tmp_path, closed_port):
    line, _ = run_cli(capsys, tmp_path, "--num-cpus", "2", "--address", f"127.0.0.1:{closed_port}")
    assert "--num-cpus only applies to a local Ray instance (no --address)" in line, line


def test_connect_checks_num_cpus_before_anything():
    with pytest.raises(ConfigError, match="at least 1"):
        connect(None, num_cpus=0)
    with pytest.raises(ConfigError, match="at least 1"):
        connect(None, num_cpus=True)


@pytest.mark.parametrize("case", ["closed-port", "notaport"])
def test_cli_process_prints_one_line_and_no_traceback(tmp_path, closed_port, case):
    """The real command in a fresh process: exit 2, one stderr line, no Ray C++ lines."""
    address = {"closed-port": f"127.0.0.1:{closed_port}", "notaport": "127.0.0.1:x"}[case]
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "snnjob.cli", "run", "--config", "tiny", "--out", str(out),
         "--address", address],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - t0
    print(f"{case}: `snnjob run --address {address}` exited {proc.returncode} after "
          f"{elapsed:.2f} s: {proc.stderr.strip()}")  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("snnjob: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not out.exists()
    assert elapsed < 30
