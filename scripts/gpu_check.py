#!/usr/bin/env python
"""Check the compiled engine's JAX core on a GPU: speed, and agreement with the CPU core.

Runs where JAX (with CUDA) is installed but TensorFlow, Nengo and numba need not be: it
loads only :mod:`snnjob.engines.geometry`, :mod:`snnjob.engines.program` and
:mod:`snnjob.engines.jax_core` (by file path, under bare ``snnjob``/``snnjob.engines``
package stubs, so no package ``__init__`` runs).

Its input is a folder made beforehand on a machine with the full environment
(``prepare``, below, which does import TensorFlow/Nengo/numba):

- ``program_<name>.npz``: a :class:`~snnjob.engines.program.Program` (``Program.save``);
- ``images.npz``: ``images`` (n, pixels) float32 and ``labels`` (n,) (MNIST's test set);
- ``cpu_<name>.npz``: the CPU core's ``trace`` (m, n_steps, classes) for the first m
  images and its spikes per layer ``layer_spikes`` (m, layers), with ``n_steps``.

For every program it runs all images through the JAX core at ``--n-steps`` (one warm-up
run, which compiles, then ``--repeats`` timed runs: the median), reports images/s and
image-steps/s, the accuracy at the last step, and against the CPU core's traces the
agreement of the last step's predictions, the max abs difference of the traces and of the
per-layer spike totals. Errors are caught per program and reported. The JSON is printed
and written to ``--json``.

  python scripts/gpu_check.py run gpucheck --n-steps 30 --json out/gpu_check.json
  python scripts/gpu_check.py prepare gpucheck NAME=CONFIG_JSON=PARAMS.npz ...  # full env

``CONFIG_JSON`` is a ``model`` section as JSON (``{"preset": "strided"}``, or
``{"layers": [{"type": "conv", "filters": 16, "kernel": 3}, {"type": "dense", "units": 64}]}``):
the network must read MNIST's 28x28x1 images into 10 classes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import time
import traceback
import types
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_engine_modules():
    """``(program, jax_core)``, loaded by file path without running any ``__init__``."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    for pkg, folder in (("snnjob", "snnjob"), ("snnjob.engines", "snnjob/engines")):
        if pkg not in sys.modules:
            stub = types.ModuleType(pkg)
            stub.__path__ = [str(REPO_ROOT / folder)]
            sys.modules[pkg] = stub
    mods = []
    for name in ("geometry", "program", "jax_core"):
        full = f"snnjob.engines.{name}"
        if full not in sys.modules:
            spec = importlib.util.spec_from_file_location(
                full, REPO_ROOT / "snnjob" / "engines" / f"{name}.py"
            )
            mod = importlib.util.module_from_spec(spec)
            sys.modules[full] = mod
            spec.loader.exec_module(mod)
        mods.append(sys.modules[full])
    return mods[1], mods[2]


def check_program(name, program, images, labels, cpu, *, n_steps, repeats, batch_size, device):
    """One program's speed on ``device`` and agreement with the CPU core's ``cpu`` file."""
    _, jax_core = load_engine_modules()
    res = {"name": name, "meta": program.meta, "tau_out": program.tau_out,
           "amplitude": program.amplitude, "n_images": len(images), "n_steps": n_steps}  # fmt: skip
    core = jax_core.JaxCore(program, device=device, batch_size=batch_size)
    res["batch_size"] = core.batch_size
    res["n_neurons"] = core.n_neurons
    t0 = time.perf_counter()
    trace, _ = core.run(images, n_steps)
    res["warmup_s"] = round(time.perf_counter() - t0, 3)  # compilation included
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        trace, _ = core.run(images, n_steps)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    res["run_s"] = [round(t, 4) for t in times]
    res["median_s"] = round(med, 4)
    res["images_per_s"] = round(len(images) / med, 1)
    res["image_steps_per_s"] = round(len(images) * n_steps / med, 1)
    res["accuracy_last_step"] = float(np.mean(trace[:, -1].argmax(-1) == labels))
    res["finite"] = bool(np.isfinite(trace).all())
    if cpu is not None:
        m = min(len(cpu["trace"]), len(images))
        cpu_steps = int(cpu["n_steps"])
        res["cpu_images"], res["cpu_n_steps"] = m, cpu_steps
        if cpu_steps == n_steps:
            ours = trace[:m]
        else:  # the CPU traces are of another length: simulate the first m images again
            ours, _ = core.run(images[:m], cpu_steps)
        ref = cpu["trace"][:m]
        agree = ours[:, -1].argmax(-1) == ref[:, -1].argmax(-1)
        res["agreement_last_step"] = float(np.mean(agree))
        res["disagreeing_images"] = [int(i) for i in np.flatnonzero(~agree)[:20]]
        res["max_abs_diff"] = float(np.abs(ours - ref).max())
        res["output_scale"] = float(np.abs(ref).max())
        res["cpu_accuracy_last_step"] = float(np.mean(ref[:, -1].argmax(-1) == labels[:m]))
        # spikes: per image and layer, from a counting run of the same images
        _, counts = core.run(images[:m], cpu_steps, count_spikes=True)
        bounds = np.cumsum([0] + [g.n_neurons for g in program.layers])
        ours_spikes = np.stack(
            [counts[:, a:b].sum(axis=1) for a, b in zip(bounds[:-1], bounds[1:])], axis=1
        )
        ref_spikes = cpu["layer_spikes"][:m]
        res["layer_spikes_per_image_cpu"] = [float(x) for x in ref_spikes.mean(axis=0)]
        res["layer_spikes_max_abs_diff"] = int(np.abs(ours_spikes - ref_spikes).max())
        res["layer_spikes_images_differing"] = int(np.any(ours_spikes != ref_spikes, 1).sum())
    return res


def run(args) -> int:
    t_start = time.perf_counter()
    out = {"python": platform.python_version(), "errors": []}
    try:
        program_mod, _ = load_engine_modules()
        import jax

        out["jax"] = jax.__version__
        out["devices"] = [str(d) for d in jax.devices()]
        gpus = [d for d in jax.devices() if d.platform != "cpu"]
        if gpus:
            device = gpus[0]
        elif args.allow_cpu:
            device = jax.devices("cpu")[0]
            out["errors"].append("JAX sees no GPU: ran on the CPU (--allow-cpu)")
        else:
            raise RuntimeError(f"JAX sees no GPU (devices: {jax.devices()}); no CUDA jaxlib?")
        out["device"] = str(device)
        out["device_kind"] = getattr(device, "device_kind", device.platform)
    except Exception as exc:  # report, do not hide
        out["errors"].append(f"setup: {exc!r}\n{traceback.format_exc()}")
        return _finish(out, args, t_start)

    folder = Path(args.folder)
    with np.load(folder / "images.npz") as z:
        images = np.asarray(z["images"], np.float32)
        labels = np.asarray(z["labels"])
    if args.n_images:
        images, labels = images[: args.n_images], labels[: args.n_images]
    out["n_images"], out["n_steps"] = len(images), args.n_steps
    out["results"] = []
    for path in sorted(folder.glob("program_*.npz")):
        name = path.stem.removeprefix("program_")
        try:
            program = program_mod.Program.load(path)
            cpu_path = folder / f"cpu_{name}.npz"
            cpu = dict(np.load(cpu_path)) if cpu_path.exists() else None
            for bs in args.batch_sizes:
                res = check_program(name, program, images, labels, cpu, n_steps=args.n_steps,
                                    repeats=args.repeats, batch_size=bs, device=device)  # fmt: skip
                out["results"].append(res)
                print(json.dumps(res), flush=True)
                cpu = None  # the agreement once per program (it does not depend on bs)
        except Exception as exc:
            out["errors"].append(f"{name}: {exc!r}\n{traceback.format_exc()}")
            print(out["errors"][-1], flush=True)
    heavy = [m for m in ("tensorflow", "nengo", "nengo_dl", "numba") if m in sys.modules]
    out["heavy_modules_loaded"] = heavy
    return _finish(out, args, t_start)


def _finish(out, args, t_start) -> int:
    out["total_s"] = round(time.perf_counter() - t_start, 2)
    text = json.dumps(out, indent=2)
    print(text, flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    return 1 if out["errors"] else 0


def prepare(args) -> int:
    """Build the input folder (needs the full environment: TensorFlow, Nengo, numba)."""
    from snnjob.architecture import parse_layers
    from snnjob.config import ModelConfig
    from snnjob.engines.cpu_runner import CpuCore
    from snnjob.engines.program import build_program
    from snnjob.mnist.load import load_mnist
    from snnjob.params import load_params

    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    mnist = load_mnist(args.data_dir, download=False)
    images = np.asarray(mnist.test_images[: args.n_images], np.float32)
    labels = np.asarray(mnist.test_labels[: args.n_images])
    np.savez_compressed(folder / "images.npz", images=images, labels=labels)
    for spec in args.networks:  # NAME=CONFIG_JSON=PARAMS
        name, cfg_json, params_path = spec.split("=", 2)
        model = json.loads(cfg_json)
        if "layers" in model:
            model["layers"] = parse_layers(model["layers"])
        cfg = ModelConfig(**{"image_shape": (28, 28, 1), "n_classes": 10, **model})
        program = build_program(cfg, load_params(params_path)[0], args.seed)
        program.meta.update({"params": str(params_path), "model": json.loads(cfg_json)})
        program.save(folder / f"program_{name}.npz")
        core = CpuCore(program, threads=1)
        t0 = time.perf_counter()
        trace, counts = core.run(images[: args.cpu_images], args.n_steps, count_spikes=True)
        cpu_s = time.perf_counter() - t0
        bounds = np.cumsum([0] + [g.n_neurons for g in program.layers])
        layer_spikes = np.stack(
            [counts[:, a:b].sum(axis=1) for a, b in zip(bounds[:-1], bounds[1:])], axis=1
        )
        np.savez_compressed(
            folder / f"cpu_{name}.npz", trace=trace, layer_spikes=layer_spikes,
            n_steps=np.int64(args.n_steps), cpu_seconds=np.float64(cpu_s),
        )  # fmt: skip
        acc = np.mean(trace[:, -1].argmax(-1) == labels[: args.cpu_images])
        print(f"{name}: CPU core {args.cpu_images} images x {args.n_steps} steps in {cpu_s:.1f} s "
              f"(1 thread), accuracy {acc:.4f}", flush=True)  # fmt: skip
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the JAX core on the GPU over a prepared folder")
    r.add_argument("folder")
    r.add_argument("--n-steps", type=int, default=30)
    r.add_argument("--n-images", type=int, default=0, help="the first N images (0: all)")
    r.add_argument("--repeats", type=int, default=3)
    r.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")],
                   default=[1000], help="comma-separated: one timing per batch size")  # fmt: skip
    r.add_argument("--allow-cpu", action="store_true", help="run on the CPU if there is no GPU")
    r.add_argument("--json", default="")
    p = sub.add_parser("prepare", help="make the input folder (full environment)")
    p.add_argument("folder")
    p.add_argument("networks", nargs="+", help="NAME=MODEL_CONFIG_JSON=PARAMS_NPZ")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--n-images", type=int, default=2000)
    p.add_argument("--cpu-images", type=int, default=500)
    p.add_argument("--n-steps", type=int, default=30)
    p.add_argument("--seed", type=int, default=0, help="evaluation seed")
    args = parser.parse_args(argv)
    return run(args) if args.cmd == "run" else prepare(args)


if __name__ == "__main__":
    sys.exit(main())
