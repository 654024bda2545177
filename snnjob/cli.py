"""Command line: ``snnjob run | data fetch | data verify | config list | config show | summary
| compare``.

Exit codes: 0 done; 2 a usage error or bad input (a command line, config, file, folder,
address or cluster request that cannot work, refused before it costs anything); 1 a run
that had started and failed; 130 interrupted. Errors are one ``snnjob: error: ...`` line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from snnjob import __version__
from snnjob.errors import EXIT_FAILED, EXIT_USAGE, INPUT_ERRORS, RunFailedError, SnnjobError

log = logging.getLogger("snnjob")
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the checkout, when run from one
RUNS = Path("runs")  # default parent of --out, relative to the current directory


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="snnjob",
        description="Train spiking neural networks with NengoDL and evaluate them at scale on Ray.",
        epilog="Exit codes: 0 done, 2 usage error or bad input, 1 a started run failed.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action=_Version, help="print the version (and git commit)")
    # -v also after a subcommand; SUPPRESS: absent there, it keeps the value given before
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        parents=[verbose],
        help="train (unless --params) and evaluate a config's sweep",
        description="Train one network per train.seeds (unless --params) and evaluate every "
        "eval.n_steps x eval.seeds point with spiking neurons, sharded over Ray workers. "
        "Re-running with the same --out resumes: finished shards are skipped.",
    )
    add_config_args(run)
    run.add_argument(
        "--out",
        type=Path,
        help=f"output folder of the run (default: {RUNS}/<config>-<UTC time>, e.g. "
        f"{RUNS}/quick-20250131-120000)",
    )
    run.add_argument("--params", type=Path, help="evaluate this .npz instead of training")
    run.add_argument(
        "--address",
        help="Ray cluster to join ('auto' or HOST:PORT), or 'local' for a private local "
        "instance; default: the cluster in RAY_ADDRESS (set for `ray job submit` jobs), "
        "else a private local instance",
    )
    run.add_argument("--workers", type=int, help="evaluation workers (default: CPUs / per-worker)")
    run.add_argument("--cpus-per-worker", type=int, help="CPUs (TF threads) per eval worker")
    run.add_argument("--gpus-per-worker", type=float, help="GPUs per eval worker (default 0)")
    run.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    run.add_argument(
        "--overwrite", action="store_true", help="delete results of a different run in --out"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (trainings, networks, shards, image-steps, a time estimate) "
        "and exit, without starting Ray",
    )

    data = sub.add_parser(
        "data", parents=[verbose], help="download or verify MNIST or Fashion-MNIST"
    )
    dsub = data.add_subparsers(dest="data_command", required=True)
    fetch = dsub.add_parser(
        "fetch", parents=[verbose], help="download a data set from public mirrors (SHA-256 checked)"
    )
    verify = dsub.add_parser(
        "verify", parents=[verbose], help="check a data set's files: structure and SHA-256"
    )
    for cmd, where in ((fetch, "destination (default: the user cache)"),
                       (verify, "folder (default: the usual lookup order)")):  # fmt: skip
        cmd.add_argument(
            "--dataset", choices=("mnist", "fashion_mnist"), default="mnist",
            help="which data set (default: mnist)",
        )  # fmt: skip
        cmd.add_argument("directory", nargs="?", type=Path, metavar="DIR", help=where)
        cmd.add_argument("--dir", type=Path, help="the same as DIR")

    cfg = sub.add_parser("config", parents=[verbose], help="list or show configs")
    csub = cfg.add_subparsers(dest="config_command", required=True)
    csub.add_parser("list", parents=[verbose], help="configs shipped with the package")
    show = csub.add_parser("show", parents=[verbose], help="print a fully resolved config")
    add_config_args(show)

    summ = sub.add_parser("summary", parents=[verbose], help="print a run's summary as a table")
    summ.add_argument("out", type=Path, help="output folder of a run")
    summ.add_argument(
        "--format",
        choices=("markdown", "json", "csv"),
        default="markdown",
        help="markdown tables (default), the whole summary.json as JSON, or the points as CSV",
    )

    comp = sub.add_parser(
        "compare",
        parents=[verbose],
        help="compare finished runs: a table, a figure and a paired test",
        description="Print the error per run and n_steps (95% intervals, rate-mode error), "
        "draw error vs n_steps for every run into DIR/compare.png, and test each run against "
        "the first on the same test images (McNemar's paired test per n_steps).",
    )
    comp.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="output folder of a run")
    comp.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR",
        help="folder for compare.png (default: the current folder)",
    )  # fmt: skip
    return p


def add_config_args(p: argparse.ArgumentParser) -> None:
    from snnjob.config import available_configs

    p.add_argument(
        "--config",
        default="quick",
        help=f"shipped config name ({', '.join(available_configs())}) or a YAML path",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, parsed as YAML, e.g. --set 'eval.n_steps=[10,30]'",
    )


def resolve_config(args: argparse.Namespace):
    from snnjob.config import load_config

    overrides = list(args.overrides)
    for flag, key in (
        ("address", "resources.address"),
        ("workers", "resources.workers"),
        ("cpus_per_worker", "resources.cpus_per_worker"),
        ("gpus_per_worker", "resources.gpus_per_worker"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            # --address is text as typed (as YAML, '[::1]:6379' fails and '1:2' is 62)
            overrides.append(f"{key}={json.dumps(value) if flag == 'address' else value}")
    return load_config(args.config, overrides)


def cmd_run(args: argparse.Namespace) -> int:
    from snnjob.datasets import load_dataset
    from snnjob.preflight import bind_dataset, check_inputs

    cfg = bind_dataset(resolve_config(args))  # the network fits the dataset (quick checks)
    out = args.out if args.out is not None else default_out(args.config)
    # bad input is refused before Ray starts: parameters, --out, data (milliseconds), then
    # the data's SHA-256 (seconds; the loaded data is cached for the run)
    check_inputs(cfg, out, params_file=args.params, overwrite=args.overwrite)
    if args.dry_run:
        from snnjob.dryrun import plan_run

        print(plan_run(cfg, out, params_file=args.params, num_cpus=args.num_cpus).text())
        return 0
    if args.out is None:
        args.default_out = out  # named again if interrupted: the same command starts anew
        print(f"output folder: {out} (no --out given; resume with --out {out})", flush=True)
    load_dataset(cfg.data.dataset, cfg.data.data_dir, download=cfg.data.download)

    from snnjob.results import summary_markdown
    from snnjob.runner import run_job  # imports Ray
    from snnjob.session import connect

    connect(cfg.resources.address, num_cpus=args.num_cpus)
    try:
        summary = run_job(
            cfg,
            out,
            config_name=str(args.config),
            params_file=args.params,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            command=command_record(args, out, cfg.resources.address),
        )
    except INPUT_ERRORS:
        raise  # bad input found once connected (a request no node can run, --out in use)
    except SnnjobError as exc:
        raise RunFailedError(str(exc)) from exc
    print(summary_markdown(summary))
    print(f"\nresults in {Path(out).resolve()}")
    return 0


def default_out(config: str | Path, now: dt.datetime | None = None) -> Path:
    """``runs/<config>-<UTC YYYYmmdd-HHMMSS>`` (the stem of a YAML path), with ``-2``,
    ``-3``... when that folder exists already (two runs started in one second)."""
    now = now or dt.datetime.now(dt.UTC)
    base = RUNS / f"{Path(str(config)).stem or 'run'}-{now:%Y%m%d-%H%M%S}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def command_record(args: argparse.Namespace, out: str | Path, address: str | None) -> dict:
    """What ``OUT/command.json`` keeps of one ``snnjob run``: enough to repeat and explain it."""
    from snnjob.session import ray_target

    argv = ["snnjob", *getattr(args, "argv", [])]
    return {
        "argv": argv,
        "command": shlex.join(argv),
        "overrides": list(args.overrides),
        "config": str(args.config),
        "out": str(Path(out).expanduser().resolve()),
        "cwd": os.getcwd(),
        "snnjob": __version__,
        "commit": git_commit(PACKAGE_ROOT),
        "ray": ray_target(address, os.environ).address or "local",
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def git_commit(root: Path) -> str | None:
    """Short hash of the git checkout whose top folder is ``root``, ``+dirty`` when tracked
    files have changes; None when ``root`` is not a checkout's top or git is missing."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # a status that never writes the index

    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *argv],
            capture_output=True, text=True, timeout=10, check=True, env=env,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return done.stdout

    try:
        top, head = git("rev-parse", "--show-toplevel", "--short", "HEAD").splitlines()
        if Path(top).resolve() != Path(root).resolve():
            return None  # an installed copy inside some other repository
        dirty = git("status", "--porcelain", "--untracked-files=no").strip()
    except (OSError, ValueError, subprocess.SubprocessError):
        return None  # no git, not a checkout, no commit yet
    return head + ("+dirty" if dirty else "")


def version_text() -> str:
    """``snnjob <version>``, with `` (commit <hash>[+dirty])`` when run from a checkout."""
    commit = git_commit(PACKAGE_ROOT)
    return f"snnjob {__version__}" + (f" (commit {commit})" if commit else "")


class _Version(argparse.Action):
    """``--version``: the git commit is looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        kwargs.update(nargs=0, default=argparse.SUPPRESS)
        super().__init__(option_strings, argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(version_text())
        parser.exit()


def cmd_data(args: argparse.Namespace) -> int:
    from snnjob import mnist

    source = mnist.SOURCES[args.dataset]
    if args.directory is not None and args.dir is not None and args.directory != args.dir:
        raise SnnjobError(f"two folders given ({args.directory} and --dir {args.dir}); give one")
    folder = args.directory if args.directory is not None else args.dir
    if args.data_command == "fetch":
        path = mnist.fetch(folder, progress=True, source=source)
        print(f"{source.title} ready in {path}")
        if folder is None and os.environ.get(mnist.DATA_DIR_ENV):  # runs look there, not here
            print(
                f"note: {mnist.DATA_DIR_ENV} is set, so runs look for {source.title} in "
                f"{source.env_text}, not in {path}; unset it, or fetch into that folder"
            )
        return 0
    directory = folder or mnist.resolve_data_dir(None, source=source)
    if directory is None:
        raise SnnjobError(
            f"no {source.title} files found (looked in {source.env_text} and the user cache "
            f"{mnist.cache_dir(source)}); run `{source.fetch_command}` first"
        )
    unhashed = 0
    for row in mnist.verify(directory, source=source):
        if row["checked"] == "sha256":
            check = f"sha256 {row['sha256']}"
        elif row["checked"] == "gz_sha256":
            check = f"sha256 of the .gz {row['gz_sha256']}"
        else:
            unhashed += 1
            check = "structure only: no published SHA-256 of the decompressed file"
        print(f"ok  {row['name']:26s} {row['n_items']:6d} items  {check}")
    if unhashed:
        print(
            f"{source.title} in {directory}: structure verified; {unhashed} decompressed "
            "file(s) not hash-checked (keep the .gz files to have them checked)"
        )
    else:
        print(f"{source.title} in {directory} verified")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from snnjob.config import available_configs

    if args.config_command == "list":
        print("\n".join(available_configs()))
        return 0
    print(resolve_config(args).to_yaml(), end="")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from snnjob.results.frames import check_run_folder
    from snnjob.results.report import render_summary

    _, summary = check_run_folder(args.out)
    text = render_summary(summary, args.format)
    print(text, end="\n" if args.format == "markdown" else "")  # markdown: a blank line after
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from snnjob.compare import compare_runs, comparison_markdown, write_figure

    folder = Path(args.out)
    if folder.exists() and not folder.is_dir():
        raise SnnjobError(f"--out {folder} is a file: give a folder for compare.png")
    comparison = compare_runs(args.runs)
    print(comparison_markdown(comparison))
    target = folder / "compare.png"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_figure(comparison, target)
    except OSError as exc:
        raise SnnjobError(
            f"cannot write {target} ({exc.strerror or exc}); choose another --out"
        ) from None
    print(f"figure: {target.resolve()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)  # a bad command line: exit 2 (argparse)
    args.argv = argv
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("nengo_dl", "nengo", "tensorflow", "absl", "ray"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handlers = {"run": cmd_run, "data": cmd_data, "config": cmd_config, "summary": cmd_summary,
                "compare": cmd_compare}  # fmt: skip
    try:
        return handlers[args.command](args)
    except SnnjobError as exc:
        print(f"snnjob: error: {exc}", file=sys.stderr)
        return EXIT_FAILED if isinstance(exc, RunFailedError) else EXIT_USAGE
    except KeyboardInterrupt:
        chosen = getattr(args, "default_out", None)
        again = f"re-run with --out {chosen}" if chosen else "re-run the same command"
        print(f"snnjob: interrupted; {again} to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
