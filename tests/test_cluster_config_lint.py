"""Fast checks of the shipped cluster configs and node scripts (no cluster, no network).

* every shipped config (``ray_config.yaml``, ``cluster/*.yaml``) passes the security lint
  (``cluster/lint_config.py``: no dashboard on all interfaces, token auth on for every
  ``ray start``, the token shipped and made 0600, firewall rules SSH-only from SSH_CIDR),
  and the cluster configs pass Ray's own schema after Ray fills in its defaults;
* the lint catches each kind of bad config written to ``tmp_path``;
* ``cluster/node_setup.sh`` (with a stub ``setup_env.sh``) protects the token and edits
  ``~/.bashrc`` idempotently; ``cluster/aws_security_group.sh`` (dry run) opens SSH from
  SSH_CIDR only and refuses 0.0.0.0/0; the shell scripts parse.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "cluster"


def _load_lint():
    spec = importlib.util.spec_from_file_location("snnjob_cluster_lint", CLUSTER / "lint_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lint = _load_lint()
SHIPPED = lint.default_files(REPO)


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _write(tmp_path: Path, cfg: dict, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


# --------------------------------------------------------------------------- shipped files


def test_shipped_files_exist():
    names = {p.relative_to(REPO).as_posix() for p in SHIPPED}
    assert {"ray_config.yaml", "cluster/aws.yaml", "cluster/runtime_env.yaml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(REPO).as_posix())
def test_shipped_config_passes_lint(path):
    assert lint.lint_file(path) == []


@pytest.mark.parametrize("name", ["ray_config.yaml", "cluster/aws.yaml"])
def test_cluster_config_passes_ray_schema(name):
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(_yaml(REPO / name)))


def test_ray_config_local_provider_layout():
    cfg = _yaml(REPO / "ray_config.yaml")
    assert cfg["provider"]["type"] == "local"
    assert "head_ip" in cfg["provider"] and isinstance(cfg["provider"]["worker_ips"], list)
    mounts = cfg["file_mounts"]
    assert mounts.get("~/.ray/auth_token") == "~/.ray/auth_token"
    project = [remote for remote, local in mounts.items() if local == "."]
    assert project, "the project is not synced to the nodes"
    # `ray submit` runs scripts from ~: a folder ~/snnjob would shadow the snnjob package.
    assert project[0].rstrip("/") != "~/snnjob"
    assert ".gitignore" in cfg["rsync_filter"]  # keeps .venv, runs/, data off the wire
    setup = " ".join(cfg["setup_commands"])
    assert "node_setup.sh" in setup and "SNNJOB_VENV=~/snnjob-venv" in setup
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in cfg[key] if " start" in c]
        assert starts and all("~/snnjob-venv/bin/ray start" in c for c in starts), key


def test_cli_reports_ok_and_failure(tmp_path):
    ok = subprocess.run(
        [sys.executable, str(CLUSTER / "lint_config.py")], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _yaml(REPO / "ray_config.yaml")
    bad["head_start_ray_commands"][-1] += " --dashboard-host=0.0.0.0"
    out = subprocess.run(
        [sys.executable, str(CLUSTER / "lint_config.py"), str(_write(tmp_path, bad))],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "dashboard" in out.stdout


# --------------------------------------------------------------------------- bad configs


def _replace_in(cmds: list[str], old: str, new: str) -> list[str]:
    assert any(old in c for c in cmds), (old, cmds)
    return [c.replace(old, new) for c in cmds]


def _local_mutations():
    def dash_all(c):
        c["head_start_ray_commands"] = _replace_in(
            c["head_start_ray_commands"], "--dashboard-host=127.0.0.1", "--dashboard-host=0.0.0.0"
        )

    def dash_space(c):
        c["head_start_ray_commands"] = _replace_in(
            c["head_start_ray_commands"], "--dashboard-host=127.0.0.1", "--dashboard-host 0.0.0.0"
        )

    def dash_public_ip(c):
        c["head_start_ray_commands"] = _replace_in(
            c["head_start_ray_commands"], "--dashboard-host=127.0.0.1", "--dashboard-host=10.0.0.5"
        )

    def dash_implicit(c):
        c["head_start_ray_commands"] = _replace_in(
            c["head_start_ray_commands"], "--dashboard-host=127.0.0.1", ""
        )

    def no_auth_worker(c):
        c["worker_start_ray_commands"] = _replace_in(
            c["worker_start_ray_commands"], "RAY_AUTH_MODE=token ", ""
        )

    def no_auth_head(c):
        c["head_start_ray_commands"] = _replace_in(
            c["head_start_ray_commands"], "RAY_AUTH_MODE=token ", ""
        )

    def auth_disabled(c):
        c["head_start_ray_commands"] = _replace_in(
            c["head_start_ray_commands"], "RAY_AUTH_MODE=token", "RAY_AUTH_MODE=disabled"
        )

    def auth_off_in_setup(c):
        c["setup_commands"].append("echo 'export RAY_AUTH_MODE=disabled' >> ~/.bashrc")

    def token_not_shipped(c):
        del c["file_mounts"]["~/.ray/auth_token"]

    def token_not_protected(c):
        c["setup_commands"] = ["bash ~/snnjob-src/scripts/setup_env.sh"]

    def docker_publish(c):
        c["docker"] = {"image": "rayproject/ray:2.55.1", "run_options": ["-p 8265:8265"]}

    return {
        "dashboard 0.0.0.0": (dash_all, "--dashboard-host=0.0.0.0"),
        "dashboard 0.0.0.0 (space form)": (dash_space, "--dashboard-host=0.0.0.0"),
        "dashboard on a routable address": (dash_public_ip, "--dashboard-host=10.0.0.5"),
        "dashboard host not explicit": (dash_implicit, "without an explicit --dashboard-host"),
        "worker without token auth": (no_auth_worker, "worker_start_ray_commands[1]"),
        "head without token auth": (no_auth_head, "without RAY_AUTH_MODE=token"),
        "token auth disabled": (auth_disabled, "RAY_AUTH_MODE=disabled"),
        "token auth disabled in setup": (auth_off_in_setup, "RAY_AUTH_MODE=disabled"),
        "token not shipped": (token_not_shipped, "not shipped"),
        "token not chmod 600": (token_not_protected, "0600"),
        "docker publishes ports": (docker_publish, "publish"),
    }


@pytest.mark.parametrize("case", sorted(_local_mutations()))
def test_lint_catches_bad_local_config(case, tmp_path):
    mutate, expected = _local_mutations()[case]
    cfg = copy.deepcopy(_yaml(REPO / "ray_config.yaml"))
    mutate(cfg)
    problems = lint.lint_file(_write(tmp_path, cfg))
    assert problems, f"lint missed: {case}"
    assert any(expected in p for p in problems), problems


def _aws_mutations():
    def ssh_from_world(c):
        c["provider"]["security_group"]["IpPermissions"][0]["IpRanges"] = [{"CidrIp": "0.0.0.0/0"}]

    def ssh_from_world_v6(c):
        c["provider"]["security_group"]["IpPermissions"][0]["Ipv6Ranges"] = [{"CidrIpv6": "::/0"}]

    def dashboard_port(c):
        c["provider"]["security_group"]["IpPermissions"].append(
            {
                "IpProtocol": "tcp",
                "FromPort": 8265,
                "ToPort": 8265,
                "IpRanges": [{"CidrIp": "203.0.113.10/32"}],
            }
        )

    def all_traffic(c):
        c["provider"]["security_group"]["IpPermissions"].append(
            {
                "IpProtocol": "-1",
                "FromPort": -1,
                "ToPort": -1,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        )

    def gcs_port(c):
        c["provider"]["security_group"]["IpPermissions"].append(
            {
                "IpProtocol": "tcp",
                "FromPort": 6379,
                "ToPort": 6379,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            }
        )

    def no_group_name(c):
        del c["provider"]["security_group"]["GroupName"]

    def gpu_worker_no_auth(c):
        c["available_node_types"]["gpu.train"]["worker_start_ray_commands"] = [
            "ray stop",
            "ray start --address=$RAY_HEAD_IP:6379",
        ]

    return {
        "SSH from 0.0.0.0/0": (ssh_from_world, "whole internet"),
        "SSH from ::/0": (ssh_from_world_v6, "whole internet"),
        "dashboard port opened": (dashboard_port, "8265"),
        "all traffic opened": (all_traffic, "only SSH"),
        "GCS port opened to a private range": (gcs_port, "6379"),
        "no named security group": (no_group_name, "GroupName"),
        "node type start without token": (gpu_worker_no_auth, "gpu.train"),
    }


@pytest.mark.parametrize("case", sorted(_aws_mutations()))
def test_lint_catches_bad_aws_config(case, tmp_path):
    mutate, expected = _aws_mutations()[case]
    cfg = copy.deepcopy(_yaml(CLUSTER / "aws.yaml"))
    mutate(cfg)
    problems = lint.lint_file(_write(tmp_path, cfg))
    assert problems, f"lint missed: {case}"
    assert any(expected in p for p in problems), problems


def test_lint_catches_bad_runtime_env(tmp_path):
    cfg = _yaml(CLUSTER / "runtime_env.yaml")
    cfg["env_vars"] = {"RAY_AUTH_MODE": "disabled"}
    problems = lint.lint_file(_write(tmp_path, cfg, "runtime_env.yaml"))
    assert any("RAY_AUTH_MODE=disabled" in p for p in problems), problems


def test_lint_flags_rays_own_default_configs():
    """Ray's stock AWS defaults expose the dashboard and run without token auth."""
    import ray

    defaults = Path(ray.__file__).parent / "autoscaler" / "aws" / "defaults.yaml"
    problems = "\n".join(lint.lint_file(defaults))
    assert "--dashboard-host=0.0.0.0" in problems
    assert "RAY_AUTH_MODE=token" in problems


# --------------------------------------------------------------------------- node scripts


@pytest.mark.parametrize(
    "script",
    [*sorted(CLUSTER.glob("*.sh")), REPO / "scripts" / "install_system_deps.sh"],
    ids=lambda p: p.name,
)
def test_shell_scripts_parse_and_are_executable(script):
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert os.access(script, os.X_OK), f"{script} is not executable"


@pytest.fixture
def fake_node(tmp_path):
    """A node HOME and a project copy whose setup_env.sh is a stub (no venv work)."""
    src = tmp_path / "snnjob-src"
    (src / "cluster").mkdir(parents=True)
    (src / "scripts").mkdir()
    shutil.copy(CLUSTER / "node_setup.sh", src / "cluster" / "node_setup.sh")
    stub = src / "scripts" / "setup_env.sh"
    stub.write_text('#!/usr/bin/env bash\necho "stub setup_env: $SNNJOB_VENV" >&2\n')
    stub.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# the user's own line\nalias ll='ls -l'\n")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "SNNJOB_VENV": str(home / "snnjob-venv"),
        "SNNJOB_GPU": "0",
    }
    return src, home, env


def test_node_setup_protects_token_and_is_idempotent(fake_node):
    src, home, env = fake_node
    token = home / ".ray" / "auth_token"
    token.parent.mkdir()
    token.write_text("f" * 64)
    token.chmod(0o644)
    for _ in range(2):
        run = subprocess.run(
            ["bash", str(src / "cluster" / "node_setup.sh")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        assert "f" * 64 not in run.stdout + run.stderr
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.parent.stat().st_mode) == 0o700
    rc = (home / ".bashrc").read_text()
    assert rc.count(">>> snnjob cluster node") == 1, rc
    assert "alias ll='ls -l'" in rc
    assert f'export PATH="{home}/snnjob-venv/bin:$PATH"' in rc
    assert "export RAY_AUTH_MODE=token" in rc
    # and the block works in a shell
    out = subprocess.run(
        ["bash", "-c", f"source {home / '.bashrc'}; echo $RAY_AUTH_MODE; echo $PATH"],
        env=env,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out[0] == "token" and out[1].startswith(f"{home}/snnjob-venv/bin:")


def test_node_setup_refuses_to_run_without_token(fake_node):
    src, home, env = fake_node
    run = subprocess.run(
        ["bash", str(src / "cluster" / "node_setup.sh")], env=env, capture_output=True, text=True
    )
    assert run.returncode != 0
    assert "ray get-auth-token --generate" in run.stderr
    assert ">>> snnjob" not in (home / ".bashrc").read_text()


def _sg_script(cfg_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLUSTER / "aws_security_group.sh"), str(cfg_path)],
        env={**os.environ, "SNNJOB_AWS_DRY_RUN": "1", "SNNJOB_PYTHON_FOR_TOOLS": sys.executable},
        capture_output=True,
        text=True,
    )


def test_aws_security_group_script_opens_ssh_from_ssh_cidr_only():
    run = _sg_script(CLUSTER / "aws.yaml")
    assert run.returncode == 0, run.stderr
    cidr = _yaml(CLUSTER / "aws.yaml")["provider"]["security_group"]["IpPermissions"][0][
        "IpRanges"
    ][0]["CidrIp"]
    authorize = [line for line in run.stderr.splitlines() if "authorize-security-group" in line]
    assert any(f"--protocol tcp --port 22 --cidr {cidr}" in line for line in authorize)
    assert any("--protocol -1 --source-group" in line for line in authorize)  # intra-cluster
    assert not any("0.0.0.0/0" in line for line in authorize)
    assert any(
        "revoke-security-group-ingress" in line and "0.0.0.0/0" in line
        for line in run.stderr.splitlines()
    )


def test_aws_security_group_script_refuses_world_ssh(tmp_path):
    cfg = _yaml(CLUSTER / "aws.yaml")
    cfg["provider"]["security_group"]["IpPermissions"][0]["IpRanges"] = [{"CidrIp": "0.0.0.0/0"}]
    run = _sg_script(_write(tmp_path, cfg))
    assert run.returncode != 0
    assert "0.0.0.0/0 refused" in run.stderr
    assert "authorize-security-group" not in run.stderr


def test_install_system_deps_is_a_quiet_no_op_when_tools_present():
    if not all(shutil.which(t) for t in ("rsync", "ssh")) or not Path("/usr/sbin/sshd").exists():
        pytest.skip("sshd/rsync not installed here (the cluster tests cover that case)")
    run = subprocess.run(
        [str(REPO / "scripts" / "install_system_deps.sh")], capture_output=True, text=True
    )
    assert run.returncode == 0 and run.stdout == "" and run.stderr == ""
