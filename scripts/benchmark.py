#!/usr/bin/env python
"""Speed and memory of snnjob's spiking evaluation and training against plain NengoDL.

Each variant runs in its own subprocess (so peak RSS is its own), back to back in one run,
on the same network, parameters and real MNIST images; ratios are what to compare (these
machines are shared and absolute speeds drift by up to 1.5x between runs). With
``--repeat N`` the variants run N times, interleaved (a, b, a, b, ...) so that drift hits
all of them alike; the table and the ratios use each variant's median, and the JSON keeps
every run.

  plain_notebook plain NengoDL exactly as the notebook: all N images tiled over n_steps, one
                 predict, NengoDL's default unroll_simulation (1)
  plain_tiled    plain_notebook with unroll_simulation=10 (plain NengoDL, tuned)
  snnjob_stream  the nengo_dl engine (snnjob's SpikingEvaluator) in one process (one minibatch
                 in memory at a time)
  engine_stream  the compiled engine (snnjob's default) in one process, as many threads as
                 CPUs (plain NengoDL's TensorFlow uses them all too); then the nengo_dl engine
                 on the same images: engine_agreement, the fraction of identical predictions
  engine_stream1 engine_stream on one thread (per core)
  engine_jax_cpu the compiled engine's dense JAX core (the GPU one) on this CPU: one fused
                 step of the whole network at a time (lax.scan), XLA's convolutions
  engine_sweep   the compiled engine's sweep: one simulation of max(--sweep-steps), read at each
  plain_synapse  plain_tiled with a Lowpass(--layer-synapse) synapse on each connection out of
                 a LIF layer: model.layer_synapse written the plain Nengo way
  snnjob_filtered  snnjob_stream with model.layer_synapse=--layer-synapse (FilteredLIF neurons)
  snnjob_ray     snnjob run over local Ray, --workers W (1 CPU each), steady-state eval time
  snnjob_ray1, snnjob_ray2  snnjob_ray with 1 / 2 workers of 1 thread, steady-state speed
                 (worker start, imports and simulator build taken off): scaling_2_workers
  tiny_eval      `snnjob run --config tiny --params P` as a user runs it: command start to exit
  conv_peak      one Conv2D (200x26x26x32 -> 64, 3x3) in TensorFlow: the machine's GFLOP/s
  plain_sweep    plain_notebook run once per --sweep-steps value (a simulator each), wall time
  snnjob_sweep   snnjob's sweep: one simulation of max(--sweep-steps), read at each value
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
    "plain_notebook",
    "plain_tiled",
    "snnjob_stream",
    "engine_stream",
    "engine_stream1",
    "engine_jax_cpu",
    "engine_sweep",
    "plain_synapse",
    "snnjob_filtered",
    "snnjob_ray",
    "snnjob_ray1",
    "snnjob_ray2",
    "snnjob_ray1x2",
    "tiny_eval",
    "conv_peak",
    "plain_sweep",
    "snnjob_sweep",
    "plain_fit",
    "snnjob_train",
    "worker_rss_200",
)
ONCE = {"worker_rss_200"}  # memory, not speed: one run even with --repeat


QUICK_VARIANTS = ("plain_notebook", "plain_tiled", "snnjob_stream", "engine_stream",
                  "engine_stream1", "engine_jax_cpu", "plain_sweep", "snnjob_sweep",
                  "engine_sweep", "plain_fit", "snnjob_train", "snnjob_ray1", "snnjob_ray2",
                  "snnjob_ray1x2", "tiny_eval", "conv_peak", "worker_rss_200")  # fmt: skip


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


def run_variant(args) -> dict:  # noqa: C901 - one branch per variant
    import numpy as np

    from snnjob.config import load_config

    m = _data(args)
    x, y = m.test_images[: args.n_images], m.test_labels[: args.n_images]
    out: dict = {"variant": args.variant}
    if args.variant in ("plain_sweep", "snnjob_sweep", "engine_sweep"):
        out.update(_sweep(args, x, y))
    elif args.variant in ("engine_stream", "engine_stream1", "engine_jax_cpu"):
        out.update(_engine(args, x, y))
    elif args.variant in (
        "plain_notebook", "plain_tiled", "plain_synapse", "snnjob_stream", "snnjob_filtered"
    ):  # fmt: skip
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
            unroll = 1 if args.variant == "plain_notebook" else 10
            with nengo_dl.Simulator(h.net, minibatch_size=args.minibatch, unroll_simulation=unroll,
                                    progress_bar=False) as sim:  # fmt: skip
                set_layer_params(h, params)
                build = time.perf_counter() - t0
                tiled = np.tile(x[:, None, :], (1, args.n_steps, 1))
                t1 = time.perf_counter()
                data = sim.predict({h.inp: tiled})
                run = time.perf_counter() - t1
            pred = np.argmax(data[h.out_p_filt][:, -1], axis=1)
        else:
            from snnjob.backend import use_xla
            from snnjob.evaluate import SpikingEvaluator

            use_xla(cfg.eval.xla)  # as the evaluation workers do, with snnjob's defaults
            t0 = time.perf_counter()
            with SpikingEvaluator(cfg.model, params, n_steps=args.n_steps, seed=0,
                                  minibatch_size=cfg.eval.minibatch_size,
                                  unroll=cfg.eval.unroll) as ev:  # fmt: skip
                build = time.perf_counter() - t0
                res = ev.run(x, y)
                run = res.wall_time_s
            pred = res.predictions
        out.update(build_s=build, run_s=run, errors=int(np.sum(pred != y)))
        out["image_steps_per_s"] = len(x) * args.n_steps / run
    elif args.variant == "tiny_eval":
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "snnjob.cli", "run", "--config", "tiny", "--params",
                   args.tiny_params, "--out", f"{tmp}/run", "--no-progress",
                   "--set", f"data.data_dir={args.data_dir}"]  # fmt: skip
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            out["run_s"] = time.perf_counter() - t0
    elif args.variant == "conv_peak":
        out.update(_conv_peak())
    elif args.variant == "worker_rss_200":
        out.update(_worker_rss(args))
    elif args.variant.startswith("snnjob_ray"):
        from snnjob.runner import run_job
        from snnjob.session import connect

        workers = {"snnjob_ray1": 1, "snnjob_ray2": 2, "snnjob_ray1x2": 1}.get(
            args.variant, args.workers
        )
        threads = 2 if args.variant == "snnjob_ray1x2" else 1  # TF threads of the one worker
        cfg = load_config(
            "seed",
            [f"model.preset={args.preset}", f"eval.n_images={args.n_images}",
             f"eval.n_steps=[{args.n_steps}]",
             f"eval.shard_size={args.shard_size}", f"resources.workers={workers}",
             f"resources.cpus_per_worker={threads}",
             f"data.data_dir={args.data_dir}"],
        )  # fmt: skip
        t0 = time.perf_counter()
        connect(None, num_cpus=workers * threads)
        with tempfile.TemporaryDirectory() as tmp:
            s = run_job(cfg, Path(tmp) / "run", params_file=args.params, progress=False)
        total = time.perf_counter() - t0
        run = s.timings.eval_wall_time_s
        start = s.timings.first_shard
        steady = run - start.worker_start_s - start.imports_s - start.simulator_build_s
        out.update(
            run_s=run,
            total_s=total,
            errors=s.points[0].n_errors,
            workers=workers,
            threads=threads,
        )
        out["image_steps_per_s"] = args.n_images * args.n_steps / run
        out["steady_image_steps_per_s"] = args.n_images * args.n_steps / steady
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
            run = res.history[-1].wall_time_s
        out.update(run_s=run, images_per_s=len(xt) / run)
    out["peak_rss_mb"] = _peak_rss_mb()  # this process only (Ray workers not included)
    return out


def _worker_rss(args) -> dict:
    """Peak RSS of one Ray evaluation worker (VmHWM, read by the worker itself) over
    --rss-images test images at n_steps 200: a real `run_job` with one worker."""
    from snnjob.config import load_config
    from snnjob.runner import run_job
    from snnjob.session import connect

    cfg = load_config(
        "seed",
        [f"model.preset={args.preset}", f"eval.n_images={args.rss_images}", "eval.n_steps=[200]",
         "eval.shard_size=1000", "resources.workers=1",
         "eval.spike_stats_images=0", f"data.data_dir={args.data_dir}"],
    )  # fmt: skip
    connect(None, num_cpus=1)
    with tempfile.TemporaryDirectory() as tmp:
        s = run_job(cfg, Path(tmp) / "run", params_file=args.params, progress=False)
    t = s.timings
    return {
        "worker_peak_rss_mb": t.worker_peak_rss_mb,
        "n_images": args.rss_images,
        "n_steps": 200,
        "run_s": t.eval_wall_time_s,
        "errors": s.points[0].n_errors,
    }


def _sweep(args, x, y) -> dict:
    """Wall time of evaluating every --sweep-steps value: plain (a run each) or snnjob (one)."""
    import nengo_dl  # imports before the clock starts, as in the other variants
    import numpy as np

    from snnjob.backend import use_xla
    from snnjob.evaluate import SpikingEvaluator
    from snnjob.network import build_network, set_layer_params

    cfg, params = _params(args)
    steps = sorted(int(s) for s in args.sweep_steps.split(","))
    preds = {}
    t0 = time.perf_counter()
    if args.variant == "plain_sweep":
        for n in steps:
            h = build_network(cfg.model, mode="eval", seed=0)
            with nengo_dl.Simulator(h.net, minibatch_size=args.minibatch,
                                    progress_bar=False) as sim:  # fmt: skip
                set_layer_params(h, params)
                data = sim.predict({h.inp: np.tile(x[:, None, :], (1, n, 1))})
            preds[n] = np.argmax(data[h.out_p_filt][:, -1], axis=1)
    elif args.variant == "engine_sweep":
        from snnjob.engines.compiled import CompiledEvaluator

        with CompiledEvaluator(cfg.model, params, n_steps=steps[-1], seed=0,
                               minibatch_size=cfg.eval.minibatch_size,
                               threads=os.cpu_count() or 1) as ev:  # fmt: skip
            res = ev.run(x, y, readouts=tuple(steps))
        preds = {n: res.predictions_at(n) for n in steps}
    else:
        use_xla(cfg.eval.xla)  # as the evaluation workers do
        with SpikingEvaluator(cfg.model, params, n_steps=steps[-1], seed=0,
                              minibatch_size=cfg.eval.minibatch_size,
                              unroll=cfg.eval.unroll) as ev:  # fmt: skip
            res = ev.run(x, y, readouts=tuple(steps))
        preds = {n: res.predictions_at(n) for n in steps}
    wall = time.perf_counter() - t0
    return {
        "run_s": wall,
        "sweep_steps": steps,
        "errors": {str(n): int(np.sum(preds[n] != y)) for n in steps},
        "image_steps_per_s": len(x) * sum(steps) / wall,  # of the points delivered
    }


def _engine(args, x, y) -> dict:
    """The compiled engine in one process (build included in build_s, not in the speed),
    then the nengo_dl engine (no XLA: the reference) on the same images for agreement."""
    import numpy as np

    from snnjob.engines.compiled import CompiledEvaluator
    from snnjob.evaluate import SpikingEvaluator

    cfg, params = _params(args)
    threads = 1 if args.variant == "engine_stream1" else os.cpu_count() or 1
    t0 = time.perf_counter()
    with CompiledEvaluator(
        cfg.model,
        params,
        n_steps=args.n_steps,
        seed=0,
        minibatch_size=cfg.eval.minibatch_size,
        threads=threads,
    ) as ev:
        if args.variant == "engine_jax_cpu":
            from snnjob.engines.jax_core import JaxCore

            ev.core = JaxCore(ev.program)
        build = time.perf_counter() - t0
        ev.run(x[:2], y[:2])  # numba's compiled loop: loaded from its cache (or compiled)
        res = ev.run(x, y)  # fmt: skip
    out = {"build_s": build, "run_s": res.wall_time_s, "threads": threads,
           "errors": int(np.sum(res.predictions != y)),
           "image_steps_per_s": len(x) * args.n_steps / res.wall_time_s}  # fmt: skip
    if args.variant == "engine_stream":
        with SpikingEvaluator(cfg.model, params, n_steps=args.n_steps, seed=0,
                              minibatch_size=cfg.eval.minibatch_size) as ref:  # fmt: skip
            r = ref.run(x, y)
        out["agreement"] = float(np.mean(r.predictions == res.predictions))
        out["max_abs_output_diff"] = float(np.max(np.abs(r.outputs - res.outputs)))
    return out


def _conv_peak() -> dict:
    """GFLOP/s of one Conv2D of the seed network's size (the machine's practical peak)."""
    import tensorflow as tf

    x = tf.random.uniform((200, 26, 26, 32))
    k = tf.random.uniform((3, 3, 32, 64))
    conv = tf.function(lambda a, b: tf.nn.conv2d(a, b, 1, "VALID"))
    conv(x, k).numpy()  # trace and warm up
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        y = conv(x, k)
    y.numpy()
    wall = time.perf_counter() - t0
    flops = 2 * 200 * 24 * 24 * 64 * 3 * 3 * 32 * n
    return {"run_s": wall, "gflops": flops / wall / 1e9}


def _speed(r: dict) -> str:
    """A variant's headline figure for the table: a speed with its range, or a time."""
    for key, unit in (("image_steps_per_s", "image-steps/s"), ("images_per_s", "images/s")):
        if key in r:
            lo, hi = r[f"{key}_range"]
            return f"{r[key]:.0f} {unit} ({lo:.0f}-{hi:.0f})"
    if "gflops" in r:
        return f"{r['gflops']:.0f} GFLOP/s"
    return f"{r['run_s']:.1f} s"


def _machine() -> dict:
    """What the numbers were measured on (CPU kind changes speed and training numerics)."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")  # fmt: skip
    mem = next((int(line.split()[1]) / 2**20 for line in
                Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0.0)  # fmt: skip
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "memory_gb": round(mem, 1),
            "uname": " ".join(os.uname())}  # fmt: skip


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


_SPEED_RATIOS = (  # (name, numerator variant, denominator variant, field)
    ("eval_ratio_seed", "snnjob_stream", "plain_notebook", "image_steps_per_s"),
    ("eval_ratio_seed_tuned", "snnjob_stream", "plain_tiled", "image_steps_per_s"),
    ("train_ratio", "snnjob_train", "plain_fit", "images_per_s"),
    ("snnjob_ray/plain_tiled speed", "snnjob_ray", "plain_tiled", "image_steps_per_s"),
    ("snnjob_filtered/plain_synapse speed", "snnjob_filtered", "plain_synapse",
     "image_steps_per_s"),
    ("snnjob_filtered/snnjob_stream speed", "snnjob_filtered", "snnjob_stream",
     "image_steps_per_s"),
)  # fmt: skip


def _ratios(by: dict) -> dict:
    """Speed and memory ratios between the variants that ran (the ones above, a sweep's wall
    time plain/snnjob, and snnjob's streaming peak RSS against the notebook's tiling)."""
    ratios = {
        name: by[a][field] / by[b][field]
        for name, a, b, field in _SPEED_RATIOS
        if a in by and b in by
    }
    if "plain_sweep" in by and "snnjob_sweep" in by:
        ratios["sweep_ratio"] = by["plain_sweep"]["run_s"] / by["snnjob_sweep"]["run_s"]
    if "snnjob_ray1" in by and "snnjob_ray2" in by:
        ratios["scaling_2_workers"] = (
            by["snnjob_ray2"]["steady_image_steps_per_s"]
            / by["snnjob_ray1"]["steady_image_steps_per_s"]
        )
    if "snnjob_ray1x2" in by and "snnjob_ray2" in by:  # one node's 2 CPUs: threads or workers
        ratios["threads_1x2_over_workers_2x1"] = (
            by["snnjob_ray1x2"]["steady_image_steps_per_s"]
            / by["snnjob_ray2"]["steady_image_steps_per_s"]
        )
    if "tiny_eval" in by:
        ratios["tiny_eval_wall_s"] = by["tiny_eval"]["run_s"]
    ratios.update(_engine_ratios(by))
    if "worker_rss_200" in by:
        ratios["eval_worker_peak_rss_gb_200_steps"] = (
            by["worker_rss_200"]["worker_peak_rss_mb"] / 1024
        )
    if "conv_peak" in by and "snnjob_stream" in by:
        from snnjob.config import ModelConfig

        flops = ModelConfig().net.flops_per_image_step()
        achieved = by["snnjob_stream"]["image_steps_per_s"] * flops
        ratios["eval_peak_fraction_seed"] = achieved / 1e9 / by["conv_peak"]["gflops"]
    if "plain_tiled" in by and "snnjob_stream" in by:
        ratios["snnjob_stream/plain_tiled peak RSS"] = (
            by["snnjob_stream"]["peak_rss_mb"] / by["plain_tiled"]["peak_rss_mb"]
        )
    return ratios


def _engine_ratios(by: dict) -> dict:
    """The compiled engine against plain NengoDL (targets: docs/performance.md)."""
    from snnjob.config import ModelConfig

    out = {}
    speed = "image_steps_per_s"
    if "engine_stream" in by:
        e = by["engine_stream"]
        for name, base in (("engine_eval_ratio", "plain_notebook"),
                           ("engine_eval_ratio_tuned", "plain_tiled"),
                           ("engine_over_nengo_dl_engine", "snnjob_stream")):  # fmt: skip
            if base in by:
                out[name] = e[speed] / by[base][speed]
        if "conv_peak" in by:
            flops = ModelConfig().net.flops_per_image_step()
            out["engine_peak_fraction"] = e[speed] * flops / 1e9 / by["conv_peak"]["gflops"]
        out["engine_agreement"] = e.get("agreement")
        if "engine_jax_cpu" in by:
            out["engine_jax_cpu_over_event_driven"] = by["engine_jax_cpu"][speed] / e[speed]
    if "engine_stream1" in by and "plain_notebook" in by:
        out["engine_eval_ratio_1_thread"] = (
            by["engine_stream1"][speed] / by["plain_notebook"][speed]
        )
    if "plain_sweep" in by and "engine_sweep" in by:
        out["engine_sweep_ratio"] = by["plain_sweep"]["run_s"] / by["engine_sweep"]["run_s"]
    if "worker_rss_200" in by:  # a real job's worker: the default (compiled) engine
        out["engine_worker_peak_rss_gb_200_steps"] = (
            by["worker_rss_200"]["worker_peak_rss_mb"] / 1024
        )
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="seed")
    p.add_argument("--n-images", type=int, help="test images (default 1000)")
    p.add_argument("--n-steps", type=int, default=30)
    p.add_argument(
        "--minibatch", type=int, default=200, help="plain NengoDL's (the notebook's) minibatch"
    )
    p.add_argument("--shard-size", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--n-train", type=int, default=6000)
    p.add_argument("--rss-images", type=int, default=10_000,
                   help="test images of the worker_rss_200 variant (--quick: 400)")  # fmt: skip
    p.add_argument("--layer-synapse", type=float, default=0.005)
    p.add_argument("--sweep-steps", default="10,20,30", help="n_steps of the sweep variants")
    p.add_argument("--data-dir", default=os.environ.get("SNNJOB_DATA_DIR"))
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--repeat", type=int, default=3, help="runs of each variant (median used)")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "benchmark.json")
    p.add_argument("--out", type=Path, help="write OUT/bench.json (instead of --json)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="the speed record in minutes: seed network, the eval, sweep and train variants "
        "against plain NengoDL (overrides --variants)",
    )
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--params", help=argparse.SUPPRESS)
    p.add_argument("--tiny-params", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.variants = ",".join(QUICK_VARIANTS)
        args.n_train = 4000
        args.rss_images = 400  # streaming: memory is flat after the first minibatches
    # 1000 images = 5 minibatches: one-off costs (tracing, XLA compilation) start to amortise
    # as they do over a worker's shards; --quick's 3 repeats take about 13 minutes on 2 cores
    args.n_images = args.n_images or 1000
    if args.out is not None:
        args.json = args.out / "bench.json"
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
        tiny = load_config("tiny")  # the tiny_eval variant evaluates tiny's own network
        tiny_params = Path(tmp) / "tiny.npz"
        if "tiny_eval" in args.variants.split(","):
            n = tiny.data.n_train
            res = train(tiny.model, tiny.train, m.train_images[:n], m.train_labels[:n], seed=0,
                        verbose=0)  # fmt: skip
            save_params(tiny_params, res.params, {"config": tiny.to_dict(), "train_seed": 0})
        rows = []
        variants = args.variants.split(",")
        for v in [v for r in range(args.repeat) for v in variants if r == 0 or v not in ONCE]:
            cmd = [sys.executable, __file__, "--variant", v, "--params", str(params),
                   "--tiny-params", str(tiny_params),
                   *sum(([f"--{k.replace('_', '-')}", str(getattr(args, k))] for k in (
                       "preset", "n_images", "n_steps", "minibatch", "shard_size", "workers",
                       "n_train", "layer_synapse", "sweep_steps", "data_dir", "rss_images")),
                       [])]  # fmt: skip
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
        **ratios,  # the headline numbers at the top level (eval_ratio_seed, sweep_ratio, ...)
        "args": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if k not in ("variant", "params", "json", "out")
        },  # fmt: skip
        "machine": _machine(),
        "results": rows,
        "medians": by,
        "ratios": ratios,
    }
    write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    print(f"\nvariant          median speed (min-max over {args.repeat} run(s))       peak RSS MB")
    for v, r in by.items():
        print(f"{v:16s} {_speed(r):42s} {r['peak_rss_mb']:.0f}")
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
