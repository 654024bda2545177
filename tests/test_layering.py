"""The package map, enforced: which modules may import Ray, pyarrow and TensorFlow.

- only the Ray driver and actor modules import ``ray``;
- only the results store imports ``pyarrow``;
- the config, the model spec, the run folder and the message types import no TensorFlow
  (nor NengoDL), directly or through another snnjob module;
- docs/design.md's module table lists exactly the package's modules.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "snnjob"

RAY_MODULES = {"snnjob.session", "snnjob.actors", "snnjob.scheduler", "snnjob.pool",
               "snnjob.training"}  # fmt: skip
# the results store
PYARROW_MODULES = {"snnjob.results.store", "snnjob.results.curvestore",
                   "snnjob.results.spikestore", "snnjob.results.parquet"}  # fmt: skip
TF_FREE = {"snnjob.config", "snnjob.configfields", "snnjob.recipes", "snnjob.architecture",
           "snnjob.rundir", "snnjob.results.byrecipe",
           "snnjob.messages",
           "snnjob.params", "snnjob.errors", "snnjob.atomic", "snnjob.results",
           "snnjob.results.schema", "snnjob.results.summary", "snnjob.results.report",
           "snnjob.results.keys",
           "snnjob.results.model", "snnjob.results.runinfo", "snnjob.results.convert",
           "snnjob.mnist", "snnjob.preflight", "snnjob.anytime", "snnjob.batches",
           "snnjob.datasets", "snnjob.npzdata",
           # reading results (snnjob.load, summary, compare) never needs TensorFlow
           "snnjob.results.frames", "snnjob.compare"}  # fmt: skip
TF_NAMES = {"tensorflow", "nengo_dl", "keras", "snnjob.backend", "snnjob.network",
            "snnjob.neurons", "snnjob.train", "snnjob.evaluate"}  # fmt: skip


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """Every module ``name`` imports anywhere in its source (function bodies included)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_the_map_knows_every_module():
    for group in (RAY_MODULES, PYARROW_MODULES, TF_FREE):
        assert group <= set(MODULES), group - set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_driver_and_actor_modules_import_ray(name):
    if name not in RAY_MODULES:
        assert "ray" not in _top(imports_of(name)), f"{name} imports ray"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_the_results_store_imports_pyarrow(name):
    if name not in PYARROW_MODULES:
        assert "pyarrow" not in _top(imports_of(name)), f"{name} imports pyarrow"


@pytest.mark.parametrize("name", sorted(TF_FREE))
def test_config_and_model_spec_import_no_tensorflow(name):
    # follow snnjob-internal imports: a TF-free module may only lean on TF-free modules
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for imported in imports_of(current):
            bad = {imported, imported.split(".")[0]} & TF_NAMES
            assert not bad, f"{name} reaches {sorted(bad)} through {current}"
            if imported in MODULES:
                todo.append(imported)


def test_the_driver_loads_neither_tensorflow_nor_pyarrow_at_import():
    code = (
        "import sys, snnjob.runner, snnjob.cli, snnjob.config, snnjob.architecture; "
        "print(sorted(m for m in ('tensorflow', 'nengo_dl', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_module_is_over_about_400_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert {n: k for n, k in long.items() if k > 420} == {}


def test_design_doc_lists_exactly_the_modules():
    design = (ROOT / "docs" / "design.md").read_text()
    section = design.split("\n## Modules\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(snnjob[\w./]*)` \|", section, flags=re.M))
    expected = {
        str(p.relative_to(ROOT)) if p.name != "__init__.py" else f"{p.parent.relative_to(ROOT)}/"
        for p in MODULES.values()
        if _module_name(p) != "snnjob"
    }
    assert listed == expected


@pytest.mark.parametrize("dataset", ["results", "predictions", "curves", "anytime", "spikes"])
def test_results_format_doc_lists_the_columns_as_defined(dataset):
    from snnjob.results.schema import columns_markdown

    doc = (ROOT / "docs" / "results-format.md").read_text()
    assert columns_markdown(dataset) in doc
