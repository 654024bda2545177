#!/usr/bin/env python
"""The compiled engine against NengoDL on the full test set: the exactness contract.

Any network the config describes (a preset or ``model.layers``), on its dataset
(``data.dataset``: MNIST, Fashion-MNIST or an npz file).

For each parameter file (with the config it was trained with), both engines evaluate the
same test images with the same evaluation seed, one simulation of max(--n-steps) each, read
at every --n-steps; the script reports, per n_steps, each engine's errors, the fraction of
images whose predictions are identical, and the largest output difference, and checks the
contract (>= 99.95% identical predictions, error counts within +-2).

  python scripts/engine_compare.py --run seed=runs/seed/params/seed-0.npz \\
      --run accurate=runs/accurate/params/seed-0.npz --json docs/measured/engine_compare.json

``--run CONFIG=PARAMS``: a shipped config name or YAML path, and a parameter file trained
with it. Exits 1 when the contract does not hold.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def compare_run(config: str, params_path: str, args) -> dict:
    import numpy as np

    from snnjob.config import load_config
    from snnjob.datasets import load_dataset
    from snnjob.engines.compiled import CompiledEvaluator
    from snnjob.evaluate import SpikingEvaluator
    from snnjob.params import load_params

    cfg = load_config(config)
    params, meta = load_params(params_path)
    data = load_dataset(cfg.data.dataset, args.data_dir or cfg.data.data_dir, download=False)
    cfg = cfg.bind(data.info.image_shape, data.info.n_classes)
    x, y = data.test_images[: args.n_images], data.test_labels[: args.n_images]
    steps = sorted(args.n_steps)
    results = {}
    for engine in ("compiled", "nengo_dl"):
        t0 = time.perf_counter()
        if engine == "compiled":
            ev = CompiledEvaluator(cfg.model, params, n_steps=steps[-1], seed=args.eval_seed,
                                   threads=args.threads)  # fmt: skip
        else:
            ev = SpikingEvaluator(cfg.model, params, n_steps=steps[-1], seed=args.eval_seed,
                                  minibatch_size=args.minibatch)  # fmt: skip
        with ev:
            res = ev.run(x, y, readouts=tuple(steps))
        results[engine] = (res, time.perf_counter() - t0)
        print(f"{config}: {engine} {len(x) * steps[-1] / res.wall_time_s:.0f} image-steps/s",
              file=sys.stderr)  # fmt: skip
    (a, wall_a), (b, wall_b) = results["compiled"], results["nengo_dl"]
    rows = []
    for t in steps:
        pa, pb = a.predictions_at(t), b.predictions_at(t)
        ea, eb = int(np.sum(pa != y)), int(np.sum(pb != y))
        rows.append({
            "n_steps": t, "n_images": len(y), "errors_compiled": ea, "errors_nengo_dl": eb,
            "identical_predictions": float(np.mean(pa == pb)),
            "differing_images": int(np.sum(pa != pb)),
            "max_abs_output_diff": float(np.max(np.abs(a.readouts[t] - b.readouts[t]))),
            "output_scale": float(np.max(np.abs(b.readouts[t]))),
        })  # fmt: skip
    return {
        "config": config, "network": cfg.model.net.describe(), "params": str(params_path),
        "params_epochs": (meta.get("metrics") or {}).get("epochs"),
        "eval_seed": args.eval_seed, "points": rows,
        "image_steps_per_s": {"compiled": len(y) * steps[-1] / a.wall_time_s,
                              "nengo_dl": len(y) * steps[-1] / b.wall_time_s},
        "wall_s": {"compiled": wall_a, "nengo_dl": wall_b},
    }  # fmt: skip


def contract_holds(run: dict) -> bool:
    return all(
        r["identical_predictions"] >= 0.9995
        and abs(r["errors_compiled"] - r["errors_nengo_dl"]) <= 2
        for r in run["points"]
    )


def main() -> int:
    import os

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--run", action="append", required=True, metavar="CONFIG=PARAMS")
    p.add_argument("--n-images", type=int, default=10_000)
    p.add_argument("--n-steps", type=int, nargs="+", default=[5, 10, 30, 100])
    p.add_argument("--eval-seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--minibatch", type=int, default=200, help="NengoDL's minibatch")
    p.add_argument("--data-dir", default=os.environ.get("SNNJOB_DATA_DIR"))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    runs = []
    for spec in args.run:
        config, sep, params = spec.partition("=")
        if not sep:
            p.error(f"--run takes CONFIG=PARAMS, got {spec!r}")
        runs.append(compare_run(config, params, args))
    ok = all(contract_holds(r) for r in runs)
    print("| config | n_steps | errors compiled | errors nengo_dl | identical predictions | "
          "max output diff |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for run in runs:
        for r in run["points"]:
            print(f"| {run['config']} | {r['n_steps']} | {r['errors_compiled']} | "
                  f"{r['errors_nengo_dl']} | {100 * r['identical_predictions']:.2f}% "
                  f"({r['differing_images']} differ) | "
                  f"{r['max_abs_output_diff']:.2g} |")  # fmt: skip
    print(f"contract (>= 99.95% identical, errors within +-2): {'holds' if ok else 'BROKEN'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "runs": runs,
            "contract_holds": ok,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
