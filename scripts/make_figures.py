#!/usr/bin/env python
"""Redraw every figure shown in README.md and docs/ from committed result files.

Each figure is drawn by the package's own plotting function (``snnjob.plots``) from a small
JSON file under ``docs/measured/`` (a copy of a real run's ``summary.json``), so a figure
in the docs is what a run's ``plots/`` would hold for the same data and cannot drift from
the plotting code: after changing a plot, run this script and commit the PNGs.

  .venv/bin/python scripts/make_figures.py              # writes docs/<figure>.png
  .venv/bin/python scripts/make_figures.py --out DIR    # writes DIR/<figure>.png

``FIGURES`` lists every figure: its file name (relative to ``docs/``), the measured file it
is drawn from and how. ``tests/test_docs.py`` checks that the docs show exactly these.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DOCS = ROOT / "docs"
MEASURED = DOCS / "measured"

from snnjob.results.model import RunSummary  # noqa: E402  (after the sys.path line above)
from snnjob.results.summary import load_summary  # noqa: E402


def _error_vs_steps(path: Path, summary: RunSummary) -> Path:
    from snnjob.plots import plot_error_vs_steps

    return plot_error_vs_steps(path, summary)


def _spike_rates(path: Path, summary: RunSummary) -> Path:
    from snnjob.plots import plot_spike_rates

    return plot_spike_rates(path, summary.spikes)


# figure (relative to docs/) -> (measured file in docs/measured/, drawing function)
FIGURES: dict[str, tuple[str, Callable[[Path, RunSummary], Path]]] = {
    # the `quick` sweep: n_steps 10, 20, 30 x evaluation seeds 0, 1, 2 (docs/measured.md)
    "sweep_error_vs_steps.png": ("sweep-summary.json", _error_vs_steps),
    "sweep_spike_rates.png": ("sweep-summary.json", _spike_rates),
}


def make_figures(out: Path = DOCS, measured: Path = MEASURED) -> list[Path]:
    """Draw every figure of :data:`FIGURES` into ``out``; return the paths written."""
    written = []
    for name, (source, draw) in FIGURES.items():
        summary = load_summary(measured / source)  # checked and typed, any schema version
        written.append(Path(draw(Path(out) / name, summary)))
    return written


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="folder to write to (docs/)")
    args = parser.parse_args(argv)
    written = make_figures(args.out)
    for path in written:
        print(path)
    return written


if __name__ == "__main__":
    main()
