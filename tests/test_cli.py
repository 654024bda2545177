"""The command line's conventions: exit codes, ``--version``, ``-v`` after a subcommand, the
``--config`` help, the default ``--out`` and ``OUT/command.json``.

No Ray is started and nothing trains: where a run must get as far as its run folder,
:func:`snnjob.session.connect` and the cluster's description are replaced, the real
:func:`snnjob.runner.run_job` opens the folder and records the command, and the evaluation
service (the next step) is replaced by one that raises, so the run fails right there.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import snnjob.session
from snnjob import __version__, cli
from snnjob.config import available_configs
from snnjob.engines.check import EngineMismatchError
from snnjob.errors import ConfigError, RunDirError, SnnjobError
from snnjob.results.runinfo import ClusterInfo
from snnjob.scheduler import SweepError

ROOT = Path(__file__).resolve().parents[1]
REAL_CONNECT = snnjob.session.connect
CLUSTER = ClusterInfo(nodes=1, cpus=2.0, gpus=0.0, max_node_cpus=2.0, ray_start_s=0.0)


class Stop(SnnjobError):
    """Raised by the replaced evaluation service when the test gives no error to raise."""


@pytest.fixture
def no_ray(monkeypatch, mnist_dir):
    """``snnjob run`` gets as far as the evaluation service, without Ray: returns a setter
    for the exception the service raises (default :class:`Stop`)."""
    import snnjob.runner

    monkeypatch.setenv("SNNJOB_DATA_DIR", str(mnist_dir))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(snnjob.session, "connect", lambda *a, **k: CLUSTER)
    monkeypatch.setattr(snnjob.runner, "cluster_info", lambda: CLUSTER)
    raised: list[BaseException] = [Stop("the test stops the run here")]

    def service(*args, **kwargs):
        raise raised[0]

    monkeypatch.setattr(snnjob.runner, "EvalService", service)
    return lambda exc: raised.__setitem__(0, exc)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("snnjob: error: "), err
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------ exit codes

# (id, argv after `run --config tiny --no-progress`, exception the run raises once started,
#  exit code, fragment of the error line)
EXIT_CASES = [
    ("config-key", ["--set", "eval.n_stepz=[10]"], None, 2, "n_stepz"),
    ("config-value", ["--set", "eval.n_steps=[-1]"], None, 2, "eval.n_steps"),
    ("params-missing", ["--params", "{tmp}/nope.npz"], None, 2, "nope.npz"),
    ("out-is-a-file", ["--out", "{tmp}/file"], None, 2, "is a file"),
    ("data-missing", ["--set", "data.data_dir={tmp}/no-mnist", "--set", "data.download=false"],
     None, 2, "no-mnist"),
    ("address-malformed", ["--address", "127.0.0.1:x"], None, 2, "'x' is not a number"),
    ("num-cpus", ["--num-cpus", "0"], None, 2, "at least 1"),
    # once the run started (Ray up, run folder open)
    ("sweep-error", [], SweepError("shard 2 of p-1 failed 3 time(s)"), 1, "failed 3 time(s)"),
    ("engine-mismatch", [], EngineMismatchError("compiled engine disagrees with nengo_dl"), 1,
     "disagrees"),
    ("other-run-error", [], SnnjobError("incomplete or inconsistent results"), 1, "incomplete"),
    # bad input found once connected is still bad input
    ("infeasible", [], ConfigError("the Ray cluster can never run this job"), 2, "never run"),
    ("out-in-use", [], RunDirError("OUT is in use by another snnjob run"), 2, "in use"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "raised", "code", "fragment"),
    [case[1:] for case in EXIT_CASES],
    ids=[case[0] for case in EXIT_CASES],
)
def test_exit_code_is_2_for_bad_input_and_1_for_a_failed_run(
    no_ray, tmp_path, capsys, monkeypatch, argv, raised, code, fragment
):
    (tmp_path / "file").write_text("x")
    if raised is None:  # refused before Ray starts (the real connect's own checks included)
        monkeypatch.setattr(snnjob.session, "connect", REAL_CONNECT)
    else:
        no_ray(raised)
    argv = [a.format(tmp=tmp_path) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    got = cli.main(["run", "--config", "tiny", "--no-progress", *argv])
    line = one_error_line(capsys.readouterr().err)
    assert got == code, line
    assert fragment in line, line
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


@pytest.mark.parametrize(
    "argv",
    [["frobnicate"], ["run", "--bogus"], ["run", "--workers", "x"], ["config"], []],
    ids=["unknown-command", "unknown-option", "bad-int", "missing-subcommand", "nothing"],
)
def test_a_bad_command_line_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_other_subcommands_exit_2_on_bad_input(tmp_path, capsys):
    assert cli.main(["summary", str(tmp_path / "nothing")]) == 2
    assert "a finished snnjob run?" in one_error_line(capsys.readouterr().err)
    assert cli.main(["config", "show", "--config", "nonesuch"]) == 2
    assert "unknown config 'nonesuch'" in one_error_line(capsys.readouterr().err)


def test_a_failed_run_exits_1_in_a_fresh_process(tmp_path):
    """The process's status, as `ray job submit` and shells see it: 1, one line, no
    traceback (the in-process table above checks the classes)."""
    code = (
        "import sys, snnjob.cli as c\n"
        "from snnjob.errors import SnnjobError\n"
        "def run(args):\n"
        "    try:\n        raise SnnjobError('boom')\n"
        "    except SnnjobError as e:\n        raise c.RunFailedError(str(e)) from e\n"
        "c.cmd_run = run\nsys.exit(c.main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "run", "--config", "tiny"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert one_error_line(done.stderr) == "snnjob: error: boom"
    bad = subprocess.run(
        [sys.executable, "-m", "snnjob.cli", "run", "--bogus"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert bad.returncode == 2 and "unrecognized arguments: --bogus" in bad.stderr
    assert "Traceback" not in bad.stderr


# ------------------------------------------------------------------ -v, --config help


@pytest.mark.parametrize(
    "argv",
    [["run", "-v"], ["config", "show", "-v"], ["config", "list", "-v"], ["config", "-v", "list"],
     ["data", "verify", "-v"], ["data", "fetch", "--verbose"], ["summary", "x", "-v"],
     ["-v", "config", "show"]],
    ids=["run", "config-show", "config-list", "config", "data-verify", "data-fetch", "summary",
         "before"],
)  # fmt: skip
def test_verbose_is_accepted_after_the_subcommand(argv):
    assert cli.build_parser().parse_args(argv).verbose is True


def test_verbose_defaults_to_off():
    for argv in (["run"], ["config", "show"], ["summary", "x"]):
        assert cli.build_parser().parse_args(argv).verbose is False


def test_config_show_v_runs(capsys):
    assert cli.main(["config", "show", "-v", "--config", "tiny"]) == 0
    assert "preset: strided" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["run", "--help"], ["config", "show", "--help"]])
def test_config_help_lists_every_shipped_config(argv, capsys):
    with pytest.raises(SystemExit):
        cli.main(argv)
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    names = available_configs()
    assert "accurate" in names
    assert f"shipped config name ({', '.join(names)}) or a YAML path" in text


# ------------------------------------------------------------------ --version


def git(repo: Path, *argv: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *argv],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_of_a_checkout(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    assert cli.git_commit(repo) is None  # no commit yet
    (repo / "a.txt").write_text("a")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "a")
    head = git(repo, "rev-parse", "--short", "HEAD")
    assert cli.git_commit(repo) == head
    (repo / "untracked.txt").write_text("x")  # as `git describe --dirty`: not a change
    assert cli.git_commit(repo) == head
    (repo / "a.txt").write_text("changed")
    assert cli.git_commit(repo) == f"{head}+dirty"
    (repo / "sub").mkdir()
    assert cli.git_commit(repo / "sub") is None  # inside a checkout, not its top
    assert cli.git_commit(tmp_path) is None  # not a checkout


def test_git_commit_without_git(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert cli.git_commit(ROOT) is None


def test_version_names_the_commit_of_this_checkout(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out.strip()
    commit = cli.git_commit(ROOT)
    if (ROOT / ".git").exists() and shutil.which("git"):
        assert commit is not None and re.fullmatch(r"[0-9a-f]{4,40}(\+dirty)?", commit)
    assert out == f"snnjob {__version__}" + (f" (commit {commit})" if commit else "")


def test_version_without_git_is_the_version_alone(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "snnjob.cli", "--version"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PATH": str(tmp_path / "no-bin")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"snnjob {__version__}\n" and done.stderr == ""


# ------------------------------------------------------------------ --out, command.json


def test_default_out_is_config_and_utc_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    now = dt.datetime(2025, 1, 31, 12, 0, 5, tzinfo=dt.UTC)
    assert cli.default_out("quick", now) == Path("runs/quick-20250131-120005")
    assert cli.default_out("configs/my.sweep.yaml", now) == Path("runs/my.sweep-20250131-120005")
    Path("runs/quick-20250131-120005").mkdir(parents=True)
    Path("runs/quick-20250131-120005-2").mkdir()
    assert cli.default_out("quick", now) == Path("runs/quick-20250131-120005-3")


def read_commands(out: Path) -> list[dict]:
    commands = json.loads((out / "command.json").read_text())
    assert isinstance(commands, list)
    return commands


def test_command_json_is_written_and_appended_on_resume(no_ray, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", "--config", "tiny", "--set", "eval.n_steps=[5, 10]", "--out", str(out),
            "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 1  # the run started (its folder is open) and failed
    assert "the test stops the run here" in one_error_line(capsys.readouterr().err)
    (first,) = read_commands(out)
    assert first["argv"] == ["snnjob", *argv]
    assert first["command"].startswith("snnjob run --config tiny --set 'eval.n_steps=[5, 10]'")
    assert first["overrides"] == ["eval.n_steps=[5, 10]"]
    assert first["config"] == "tiny" and first["out"] == str(out.resolve())
    assert first["cwd"] == os.getcwd() and first["ray"] == "local"
    assert first["snnjob"] == __version__ and first["commit"] == cli.git_commit(ROOT)
    stamp = dt.datetime.fromisoformat(first["time"])
    assert stamp.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - stamp) < dt.timedelta(minutes=5)
    assert (out / "config.yaml").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".snnjob.lock"]

    # resumed: the same command once more, then a different one (no outputs yet: allowed)
    assert cli.main(argv) == 1
    assert cli.main([*argv, "--set", "eval.seeds=[0, 1]"]) == 1
    commands = read_commands(out)
    assert [c["overrides"] for c in commands] == [
        ["eval.n_steps=[5, 10]"], ["eval.n_steps=[5, 10]"], ["eval.n_steps=[5, 10]",
                                                               "eval.seeds=[0, 1]"]]  # fmt: skip
    assert commands[0] == first

    # --overwrite deletes that run's outputs: its command history starts anew
    assert cli.main([*argv, "--overwrite"]) == 1
    (only,) = read_commands(out)
    assert "--overwrite" in only["argv"]


def test_an_unreadable_command_json_is_kept_aside(no_ray, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "command.json").write_text("{not json")
    assert cli.main(["run", "--config", "tiny", "--out", str(out), "--no-progress"]) == 1
    assert len(read_commands(out)) == 1
    assert (out / "command.json.unreadable").read_text() == "{not json"


def test_a_refused_run_records_nothing(no_ray, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "--config", "tiny", "--set", "eval.n_stepz=1", "--out", str(out)]) == 2
    assert not out.exists()
    no_ray(ConfigError("the Ray cluster can never run this job"))
    assert cli.main(["run", "--config", "tiny", "--out", str(out), "--no-progress"]) == 2


def test_without_out_the_run_goes_to_runs_config_time(no_ray, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert cli.main(["run", "--config", "tiny", "--no-progress"]) == 1
    captured = capsys.readouterr()
    (folder,) = (tmp_path / "runs").iterdir()
    name = re.fullmatch(r"tiny-(\d{8}-\d{6})", folder.name)
    assert name, folder.name
    when = dt.datetime.strptime(name.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC)
    assert before <= when <= dt.datetime.now(dt.UTC)
    assert captured.out.splitlines()[0] == (
        f"output folder: runs/{folder.name} (no --out given; resume with --out runs/{folder.name})"
    )
    (command,) = read_commands(folder)
    assert command["out"] == str(folder.resolve()) and command["cwd"] == str(tmp_path)
    assert command["argv"] == ["snnjob", "run", "--config", "tiny", "--no-progress"]


def test_an_interrupted_run_without_out_names_the_folder_to_resume(
    no_ray, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    no_ray(KeyboardInterrupt())
    assert cli.main(["run", "--config", "tiny", "--no-progress"]) == 130
    (folder,) = (tmp_path / "runs").iterdir()
    err = capsys.readouterr().err.strip()
    assert err == f"snnjob: interrupted; re-run with --out runs/{folder.name} to resume"
    no_ray(KeyboardInterrupt())
    assert cli.main(["run", "--config", "tiny", "--out", str(folder), "--no-progress"]) == 130
    err = capsys.readouterr().err.strip()
    assert err == "snnjob: interrupted; re-run the same command to resume"
    assert len(read_commands(folder)) == 2
