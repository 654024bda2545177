"""Command line: ``snnjob run | data fetch | data verify | config list | config show | summary``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from snnjob.errors import SnnjobError

log = logging.getLogger("snnjob")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="snnjob",
        description="Train spiking neural networks with NengoDL and evaluate them at scale on Ray.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="train (unless --params) and evaluate a config's sweep",
        description="Train one network per train.seeds (unless --params) and evaluate every "
        "eval.n_steps x eval.seeds point with spiking neurons, sharded over Ray workers. "
        "Re-running with the same --out resumes: finished shards are skipped.",
    )
    add_config_args(run)
    run.add_argument("--out", required=True, type=Path, help="output folder of the run")
    run.add_argument("--params", type=Path, help="evaluate this .npz instead of training")
    run.add_argument(
        "--address",
        help="Ray cluster to join ('auto' or HOST:PORT); default: start a local Ray instance",
    )
    run.add_argument("--workers", type=int, help="evaluation workers (default: CPUs / per-worker)")
    run.add_argument("--cpus-per-worker", type=int, help="CPUs (TF threads) per eval worker")
    run.add_argument("--gpus-per-worker", type=float, help="GPUs per eval worker (default 0)")
    run.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    run.add_argument(
        "--overwrite", action="store_true", help="delete results of a different run in --out"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")

    data = sub.add_parser("data", help="download or verify MNIST")
    dsub = data.add_subparsers(dest="data_command", required=True)
    fetch = dsub.add_parser("fetch", help="download MNIST from public mirrors (SHA-256 checked)")
    fetch.add_argument("--dir", type=Path, help="destination (default: the user cache)")
    verify = dsub.add_parser("verify", help="check MNIST files' structure and SHA-256")
    verify.add_argument("--dir", type=Path, help="folder (default: the usual lookup order)")

    cfg = sub.add_parser("config", help="list or show configs")
    csub = cfg.add_subparsers(dest="config_command", required=True)
    csub.add_parser("list", help="configs shipped with the package")
    show = csub.add_parser("show", help="print a fully resolved config")
    add_config_args(show)

    summ = sub.add_parser("summary", help="print a run's summary as a table")
    summ.add_argument("out", type=Path, help="output folder of a run")
    return p


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", default="quick", help="shipped config name (seed, quick, tiny) or a YAML path"
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
    from snnjob.mnist import load_mnist
    from snnjob.preflight import check_inputs

    cfg = resolve_config(args)
    # bad input is refused before Ray starts: parameters, --out, data (milliseconds), then
    # the data's SHA-256 (seconds; the loaded data is cached for the run)
    check_inputs(cfg, args.out, params_file=args.params, overwrite=args.overwrite)
    load_mnist(cfg.data.data_dir, download=cfg.data.download)

    from snnjob.results import summary_markdown
    from snnjob.runner import run_job  # imports Ray
    from snnjob.session import connect

    connect(cfg.resources.address, num_cpus=args.num_cpus)
    summary = run_job(
        cfg,
        args.out,
        config_name=str(args.config),
        params_file=args.params,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(summary_markdown(summary))
    print(f"\nresults in {Path(args.out).resolve()}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from snnjob import mnist

    if args.data_command == "fetch":
        path = mnist.fetch(args.dir, progress=True)
        print(f"MNIST ready in {path}")
        return 0
    directory = args.dir or mnist.resolve_data_dir(None)
    if directory is None:
        raise SnnjobError(
            "no MNIST files found (looked in SNNJOB_DATA_DIR and the user cache "
            f"{mnist.cache_dir()}); run `snnjob data fetch` first"
        )
    for row in mnist.verify(directory):
        print(f"ok  {row['name']:26s} {row['n_items']:6d} items  sha256 {row['sha256']}")
    print(f"MNIST in {directory} verified")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from snnjob.config import available_configs

    if args.config_command == "list":
        print("\n".join(available_configs()))
        return 0
    print(resolve_config(args).to_yaml(), end="")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from snnjob.results import load_summary, summary_markdown
    from snnjob.rundir import RunDir

    path = RunDir(Path(args.out)).summary
    if not path.is_file():
        raise SnnjobError(f"{path} does not exist: is {args.out} a finished snnjob run?")
    print(summary_markdown(load_summary(path)))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("nengo_dl", "nengo", "tensorflow", "absl", "ray"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handlers = {"run": cmd_run, "data": cmd_data, "config": cmd_config, "summary": cmd_summary}
    try:
        return handlers[args.command](args)
    except SnnjobError as exc:
        print(f"snnjob: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("snnjob: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
