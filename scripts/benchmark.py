#!/usr/bin/env python
"""Speed and memory of snnjob's spiking evaluation and training against plain NengoDL.

Each variant runs in its own subprocess (so peak RSS is its own), back to back in one run,
on the same network, parameters and real MNIST images; ratios are what to compare (these
machines are shared and absolute speeds drift by up to 1.5x between runs). With
``--repeat N`` the variants run N times, interleaved (a, b, a, b, ...) so that drift hits
all of them alike; the table and the ratios use each variant's median, and the JSON keeps
every run.

  plain_tiled    plain NengoDL as in the notebook: all N images tiled over n_steps, one predict
  snnjob_stream  snnjob's SpikingEvaluator in one process (one minibatch in memory at a time)
  plain_synapse  plain_tiled with a Lowpass(--layer-synapse) synapse on each connection out of
                 a LIF layer: model.layer_synapse written the plain Nengo way
  snnjob_filtered  snnjob_stream with model.layer_synapse=--layer-synapse (FilteredLIF neurons)
  snnjob_ray     snnjob run over local Ray, --workers W (1 CPU each), steady-state eval time
  plain_fit      plain NengoDL sim.fit, one epoch on n_train images
  snnjob_train   snnjob.train.train, same data, one epoch

  python scripts/benchmark.py --n-images 1000 --n-steps 30 --json bench/results/bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = (
    "plain_tiled",
    "snnjob_stream",
    "plain_synapse",
    "snnjob_filtered",
    "snnjob_ray",
    "plain_fit",
    "snnjob_train",
)


def _data(args):
    from snnjob.mnist import load_mnist

    m = load_mnist(args.data_dir, download=False)
    return m


def _params(args, *overrides: str):
    from snnjob.config import load_config
    from snnjob.params import load_params

    cfg = load_config("seed", [f"model.preset={args.preset}", *overrides])
    params, _ = load_params(args.params)
    return cfg, params


def run_variant(args) -> dict:
    import numpy as np

    from snnjob.config import load_config

    m = _data(args)
    x, y = m.test_images[: args.n_images], m.test_labels[: args.n_images]
    out: dict = {"variant": args.variant}
    if args.variant in ("plain_tiled", "plain_synapse", "snnjob_stream", "snnjob_filtered"):
        filtered = args.variant == "snnjob_filtered"
        overrides = [f"model.layer_synapse={args.layer_synapse}"] if filtered else []
        cfg, params = _params(args, *overrides)
        if args.variant.startswith("plain"):
            import nengo
            import nengo_dl

            from snnjob.network import build_network, set_layer_params

            h = build_network(cfg.model, mode="eval", seed=0)
            if args.variant == "plain_synapse":
                for conn in h.net.all_connections:
                    if isinstance(conn.pre_obj, nengo.ensemble.Neurons):
                        conn.synapse = nengo.Lowpass(args.layer_synapse)
            t0 = time.perf_counter()
            with nengo_dl.Simulator(h.net, minibatch_size=args.minibatch, unroll_simulation=10,
                                    progress_bar=False) as sim:  # fmt: skip
                set_layer_params(h, params)
                build = time.perf_counter() - t0
                tiled = np.tile(x[:, None, :], (1, args.n_steps, 1))
                t1 = time.perf_counter()
                data = sim.predict({h.inp: tiled})
                run = time.perf_counter() - t1
            pred = np.argmax(data[h.out_p_filt][:, -1], axis=1)
        else:
            from snnjob.evaluate import SpikingEvaluator

            t0 = time.perf_counter()
            with SpikingEvaluator(cfg.model, params, n_steps=args.n_steps, seed=0,
                                  minibatch_size=args.minibatch) as ev:  # fmt: skip
                build = time.perf_counter() - t0
                res = ev.run(x, y)
                run = res.wall_time_s
            pred = res.predictions
        out.update(build_s=build, run_s=run, errors=int(np.sum(pred != y)))
        out["image_steps_per_s"] = len(x) * args.n_steps / run
    elif args.variant == "snnjob_ray":
        from snnjob.runner import run_job
        from snnjob.session import connect

        cfg = load_config(
            "seed",
            [f"model.preset={args.preset}", f"eval.n_images={args.n_images}",
             f"eval.n_steps=[{args.n_steps}]", f"eval.minibatch_size={args.minibatch}",
             f"eval.shard_size={args.shard_size}", f"resources.workers={args.workers}",
             f"data.data_dir={args.data_dir}"],
        )  # fmt: skip
        t0 = time.perf_counter()
        connect(None, num_cpus=args.workers)
        with tempfile.TemporaryDirectory() as tmp:
            s = run_job(cfg, Path(tmp) / "run", params_file=args.params, progress=False)
        total = time.perf_counter() - t0
        run = s["timings"]["eval_wall_time_s"]
        out.update(run_s=run, total_s=total, errors=s["points"][0]["n_errors"],
                   workers=args.workers)  # fmt: skip
        out["image_steps_per_s"] = args.n_images * args.n_steps / run
    else:
        cfg = load_config("seed", [f"model.preset={args.preset}", "train.epochs=1"])
        xt, yt = m.train_images[: args.n_train], m.train_labels[: args.n_train]
        if args.variant == "plain_fit":
            import nengo_dl
            import tensorflow as tf

            from snnjob.network import build_network

            h = build_network(cfg.model, mode="train", seed=0)
            with nengo_dl.Simulator(h.net, minibatch_size=200, progress_bar=False) as sim:
                sim.compile(optimizer=tf.optimizers.RMSprop(1e-3),
                            loss={h.out_p: tf.losses.SparseCategoricalCrossentropy(
                                from_logits=True)})  # fmt: skip
                t1 = time.perf_counter()
                sim.fit({h.inp: xt[:, None, :]}, {h.out_p: yt[:, None, None]}, epochs=1,
                        verbose=0)  # fmt: skip
                run = time.perf_counter() - t1
        else:
            from snnjob.train import train

            res = train(cfg.model, cfg.train, xt, yt, seed=0, verbose=0)
            run = res.history[-1]["wall_time_s"]
        out.update(run_s=run, images_per_s=len(xt) / run)
    out["peak_rss_mb"] = _peak_rss_mb()  # this process only (Ray workers not included)
    return out


def _peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would carry the parent's peak across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _medians(rows: list[dict]) -> dict:
    """Per variant, the median of each numeric field over its runs, plus the speed's range."""
    by: dict[str, dict] = {}
    for v in dict.fromkeys(r["variant"] for r in rows):
        runs = [r for r in rows if r["variant"] == v]
        med = {"runs": len(runs)}
        for k, x in runs[0].items():
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                med[k] = statistics.median(r[k] for r in runs)
        for k in ("image_steps_per_s", "images_per_s"):
            if k in med:
                med[f"{k}_range"] = [min(r[k] for r in runs), max(r[k] for r in runs)]
        by[v] = med
    return by


def _ratios(by: dict) -> dict:
    """Speed and memory ratios between the variants that ran."""
    ratios = {}
    if "plain_tiled" in by:
        base = by["plain_tiled"]
        for v in ("snnjob_stream", "snnjob_ray"):
            if v in by:
                ratios[f"{v}/plain_tiled speed"] = (
                    by[v]["image_steps_per_s"] / base["image_steps_per_s"]
                )
        if "snnjob_stream" in by:
            ratios["snnjob_stream/plain_tiled peak RSS"] = (
                by["snnjob_stream"]["peak_rss_mb"] / base["peak_rss_mb"]
            )
    if "snnjob_filtered" in by:  # what model.layer_synapse costs, two ways
        for v in ("plain_synapse", "snnjob_stream"):
            if v in by:
                ratios[f"snnjob_filtered/{v} speed"] = (
                    by["snnjob_filtered"]["image_steps_per_s"] / by[v]["image_steps_per_s"]
                )
    if "plain_fit" in by and "snnjob_train" in by:
        ratios["snnjob_train/plain_fit speed"] = (
            by["snnjob_train"]["images_per_s"] / by["plain_fit"]["images_per_s"]
        )
    return ratios


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="seed")
    p.add_argument("--n-images", type=int, default=1000)
    p.add_argument("--n-steps", type=int, default=30)
    p.add_argument("--minibatch", type=int, default=200)
    p.add_argument("--shard-size", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--n-train", type=int, default=6000)
    p.add_argument("--layer-synapse", type=float, default=0.005)
    p.add_argument("--data-dir", default=os.environ.get("SNNJOB_DATA_DIR"))
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--repeat", type=int, default=3, help="runs of each variant (median used)")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "benchmark.json")
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--params", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.repeat < 1:
        p.error(f"--repeat must be >= 1, got {args.repeat}")
    unknown = sorted(set(args.variants.split(",")) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    if args.variant:
        print(json.dumps(run_variant(args)))
        return 0

    from snnjob.atomic import write_text_atomic
    from snnjob.config import load_config
    from snnjob.mnist import load_mnist
    from snnjob.params import save_params
    from snnjob.train import train

    cfg = load_config("seed", [f"model.preset={args.preset}", "train.epochs=1"])
    m = load_mnist(args.data_dir, download=False)
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "params.npz"  # briefly trained, so predictions mean something
        res = train(cfg.model, cfg.train, m.train_images[:4000], m.train_labels[:4000], seed=0,
                    verbose=0)  # fmt: skip
        save_params(params, res.params, {"config": cfg.to_dict(), "train_seed": 0})
        rows = []
        for v in args.variants.split(",") * args.repeat:
            cmd = [sys.executable, __file__, "--variant", v, "--params", str(params),
                   *sum(([f"--{k.replace('_', '-')}", str(getattr(args, k))] for k in (
                       "preset", "n_images", "n_steps", "minibatch", "shard_size", "workers",
                       "n_train", "layer_synapse", "data_dir")), [])]  # fmt: skip
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{v} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                return 1
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["process_wall_s"] = time.perf_counter() - t0
            rows.append(row)
            print(json.dumps(row))
    by = _medians(rows)
    ratios = _ratios(by)
    report = {
        "args": {k: v for k, v in vars(args).items() if k not in ("variant", "params", "json")},
        "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
        "results": rows,
        "medians": by,
        "ratios": ratios,
    }
    write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    print(f"\nvariant          median speed (min-max over {args.repeat} run(s))       peak RSS MB")
    for v, r in by.items():
        key, unit = (("image_steps_per_s", "image-steps/s") if "image_steps_per_s" in r
                     else ("images_per_s", "images/s"))  # fmt: skip
        lo, hi = r[f"{key}_range"]
        speed = f"{r[key]:.0f} {unit} ({lo:.0f}-{hi:.0f})"
        print(f"{v:16s} {speed:42s} {r['peak_rss_mb']:.0f}")
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
