#!/usr/bin/env python
"""Security lint for Ray cluster-launcher configs and runtime_env files (CVE-2023-48022).

    python cluster/lint_config.py                      # ray_config.yaml and cluster/*.yaml
    python cluster/lint_config.py my_cluster.yaml ...  # any files

Prints one line per problem and exits 1 if there is any. What it refuses:

* the dashboard / Jobs API on all interfaces: ``--dashboard-host`` other than 127.0.0.1,
  localhost or ::1, or 0.0.0.0 / ``::`` anywhere in a command; a ``ray start --head`` without
  an explicit ``--dashboard-host=127.0.0.1``; docker ports published to the host;
* token authentication off: a ``ray start`` command without ``RAY_AUTH_MODE=token``, or
  ``RAY_AUTH_MODE`` set to anything but ``token`` anywhere; a cluster config that does not
  ship the token (a file mount ending in ``auth_token``) or never restricts it to mode 0600
  (``chmod 600`` or ``cluster/node_setup.sh`` in its setup commands);
* firewall rules (``provider.security_group.IpPermissions``) that open anything but SSH
  (tcp 22), or open SSH to the whole internet (0.0.0.0/0, ::/0) instead of the documented
  SSH_CIDR.

Only the standard library and PyYAML are needed.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
COMMAND_KEYS = (
    "initialization_commands",
    "setup_commands",
    "head_setup_commands",
    "worker_setup_commands",
    "head_start_ray_commands",
    "worker_start_ray_commands",
)
START_KEYS = ("head_start_ray_commands", "worker_start_ray_commands")
SETUP_KEYS = ("setup_commands", "head_setup_commands", "worker_setup_commands")

DASHBOARD_HOST = re.compile(r"--dashboard-host(?:\s*=\s*|\s+)[\"']?([^\s\"';]+)")
ALL_INTERFACES = re.compile(r"(?<![\d.])0\.0\.0\.0(?![\d/])|(?<![\w:\[])\[?::\]?(?=[\s:\"']|$)")
AUTH_MODE = re.compile(r"RAY_AUTH_MODE\s*[=:]\s*[\"']?([A-Za-z_]*)")
RAY_START = re.compile(r"\bray\s+start\b")


def _commands(cfg: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, command) for every command list, global and per node type."""
    scopes = [("", cfg)]
    for name, node_type in (cfg.get("available_node_types") or {}).items():
        if isinstance(node_type, dict):
            scopes.append((f"available_node_types.{name}.", node_type))
    for prefix, scope in scopes:
        for key in COMMAND_KEYS:
            for i, cmd in enumerate(scope.get(key) or []):
                yield f"{prefix}{key}[{i}]", str(cmd)


def _strings(obj: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(path, value) for every string in a nested YAML structure (keys included)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            sub = f"{where}.{k}" if where else str(k)
            yield sub, str(k)
            if isinstance(v, str | int | float | bool) and str(k).startswith("RAY_"):
                yield sub, f"{k}={v}"  # env_vars: {RAY_AUTH_MODE: disabled}
            yield from _strings(v, sub)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{where}[{i}]")
    elif isinstance(obj, str):
        yield where, obj


def _check_dashboard(cfg: dict[str, Any]) -> list[str]:
    problems = []
    for where, text in _strings(cfg):
        for host in DASHBOARD_HOST.findall(text):
            if host not in LOOPBACK:
                problems.append(
                    f"{where}: --dashboard-host={host} exposes the dashboard/Jobs API beyond "
                    "this machine; use --dashboard-host=127.0.0.1 and `ray dashboard` (SSH)"
                )
    for where, cmd in _commands(cfg):
        if ALL_INTERFACES.search(cmd):
            problems.append(f"{where}: binds to all interfaces (0.0.0.0 / ::): {cmd.strip()}")
        if RAY_START.search(cmd) and "--head" in cmd and not DASHBOARD_HOST.search(cmd):
            problems.append(
                f"{where}: `ray start --head` without an explicit --dashboard-host=127.0.0.1"
            )
    docker = cfg.get("docker") or {}
    run_options = [
        str(o)
        for key in ("run_options", "head_run_options", "worker_run_options")
        for o in docker.get(key) or []
    ]
    for opt in run_options:
        if re.search(r"(^|\s)(-p|--publish)(\s|=|$)|--publish-all|(^|\s)-P(\s|$)", opt):
            problems.append(f"docker run options publish ports to the host: {opt}")
    return problems


def _check_auth(cfg: dict[str, Any], is_cluster: bool) -> list[str]:
    problems = []
    for where, text in _strings(cfg):
        for mode in AUTH_MODE.findall(text):
            if mode != "token":
                problems.append(f"{where}: RAY_AUTH_MODE={mode or '(empty)'} turns token auth off")
    if not is_cluster:
        return problems
    starts = [(w, c) for w, c in _commands(cfg) if w.split(".")[-1].split("[")[0] in START_KEYS]
    ray_starts = [(w, c) for w, c in starts if RAY_START.search(c)]
    if not any("--head" in c for _, c in ray_starts):
        problems.append("head_start_ray_commands: no `ray start --head` command found")
    for where, cmd in ray_starts:
        if not re.search(r"RAY_AUTH_MODE\s*=\s*[\"']?token\b", cmd):
            problems.append(f"{where}: `ray start` without RAY_AUTH_MODE=token: {cmd.strip()}")
    mounts = cfg.get("file_mounts") or {}
    if not any(str(remote).rstrip("/").endswith("auth_token") for remote in mounts):
        problems.append(
            "file_mounts: the cluster token (~/.ray/auth_token) is not shipped to nodes"
        )
    setups = [c for w, c in _commands(cfg) if w.split(".")[-1].split("[")[0] in SETUP_KEYS]
    if not any(re.search(r"chmod\s+0?600\b|node_setup\.sh", c) for c in setups):
        problems.append(
            "setup commands: the token file is never restricted to mode 0600 "
            "(chmod 600 ~/.ray/auth_token, or run cluster/node_setup.sh)"
        )
    return problems


def _check_firewall(cfg: dict[str, Any]) -> list[str]:
    problems = []
    provider = cfg.get("provider") or {}
    sg = provider.get("security_group") or {}
    perms = list(sg.get("IpPermissions") or [])
    for i, perm in enumerate(perms):
        where = f"provider.security_group.IpPermissions[{i}]"
        proto = str(perm.get("IpProtocol", ""))
        ports = (perm.get("FromPort"), perm.get("ToPort"))
        ranges = [r.get("CidrIp", "") for r in perm.get("IpRanges") or []]
        ranges += [r.get("CidrIpv6", "") for r in perm.get("Ipv6Ranges") or []]
        if not ranges and not perm.get("PrefixListIds"):
            continue  # only UserIdGroupPairs: traffic between the cluster's own nodes
        if proto not in ("tcp", "6") or ports != (22, 22):
            problems.append(
                f"{where}: opens {proto} ports {ports[0]}-{ports[1]} to {ranges}; "
                "only SSH (tcp 22) may be reachable from outside the cluster"
            )
            continue
        for cidr in ranges:
            try:
                net = ipaddress.ip_network(str(cidr), strict=False)
            except ValueError:
                problems.append(f"{where}: {cidr!r} is not a CIDR (set SSH_CIDR)")
                continue
            if net.prefixlen == 0:
                problems.append(
                    f"{where}: SSH open to the whole internet ({cidr}); set SSH_CIDR to your "
                    "address/range (cluster/README.md)"
                )
    if provider.get("type") == "aws" and not sg.get("GroupName"):
        problems.append(
            "provider.security_group.GroupName: not set; Ray's auto-created group opens SSH "
            "to 0.0.0.0/0 (create a named group with cluster/aws_security_group.sh)"
        )
    return problems


def lint_config(cfg: Any) -> list[str]:
    """Problems of one parsed YAML document (cluster config or runtime_env)."""
    if not isinstance(cfg, dict):
        return ["not a YAML mapping"]
    is_cluster = "provider" in cfg or any(k in cfg for k in START_KEYS)
    return _check_dashboard(cfg) + _check_auth(cfg, is_cluster) + _check_firewall(cfg)


def lint_file(path: str | Path) -> list[str]:
    path = Path(path)
    try:
        cfg = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        return [f"{path}: cannot read: {e}"]
    return [f"{path}: {p}" for p in lint_config(cfg)]


def default_files(root: Path) -> list[Path]:
    return [root / "ray_config.yaml", *sorted((root / "cluster").glob("*.yaml"))]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    files = [Path(a) for a in args] or default_files(Path(__file__).resolve().parents[1])
    problems = [p for f in files for p in lint_file(f)]
    for p in problems:
        print(p)
    if not problems:
        print(f"ok: {len(files)} file(s), no exposed dashboard, token auth on, SSH-only firewall")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
