#!/usr/bin/env python
"""What a cluster job runs: join the Ray cluster this runs on, then ``snnjob run``.

    ray submit ray_config.yaml scripts/run_job.py -- --config quick --out ~/runs/quick
    ray job submit --working-dir . -- python scripts/run_job.py --config quick --out /tmp/runs/q

Takes exactly the options of ``snnjob run``; ``--address`` defaults to ``auto`` (the
cluster of the node it runs on) instead of starting a local instance.
"""

from __future__ import annotations

import sys
from pathlib import Path

# A `ray job submit --working-dir` upload may not have snnjob installed: use the uploaded copy.
# (`ray submit` copies this script alone to the head, where the installed package is used.)
_ROOT = Path(__file__).resolve().parents[1]
if (_ROOT / "snnjob" / "__init__.py").is_file():
    sys.path.insert(0, str(_ROOT))

from snnjob.cli import main  # noqa: E402


def job_argv(argv: list[str]) -> list[str]:
    if not any(a == "--address" or a.startswith("--address=") for a in argv):
        argv = ["--address", "auto", *argv]
    return ["run", *argv]


if __name__ == "__main__":
    sys.exit(main(job_argv(sys.argv[1:])))
