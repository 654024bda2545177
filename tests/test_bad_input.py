"""Every bad input to ``snnjob run`` is met with one clear error, before Ray starts, and
nothing is lost: exit code 2, one ``snnjob: error: ...`` naming the problem and the fix, no
traceback, ``--out`` exactly as it was (nothing that looks like a finished result), fast.

Each case builds its input in ``tmp_path`` (broken copies of the real MNIST files, parameter
files, output folders) and goes through :func:`snnjob.cli.main`; Ray's ``connect`` is
replaced by a failure, so a check that let bad input through cannot start a job.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml

import snnjob.session
from snnjob import cli
from snnjob.config import load_config
from snnjob.mnist import FILES
from snnjob.params import save_params

ROOT = Path(__file__).resolve().parents[1]
TINY = load_config("tiny")
SHAPES = TINY.model.net.weight_shapes()
LAYER = sorted(k for k in SHAPES if k.endswith("/bias"))[-1]  # small
INTS = np.ones(SHAPES[LAYER], np.int32)


@dataclass
class Env:
    tmp: Path
    mnist: Path
    out: Path
    monkeypatch: pytest.MonkeyPatch
    argv: list[str] = field(default_factory=list)
    open_files: list = field(default_factory=list)


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Env], list[str]]  # returns extra argv; may set env.out
    fragments: tuple[str, ...]


# ------------------------------------------------------------------ building broken input


def _params(**change) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    params = {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
    return {**params, **change}


def _params_file(env: Env, params=None, name="p.npz") -> Path:
    path = env.tmp / name
    save_params(path, params or _params(), {"config": TINY.to_dict(), "train_seed": 0})
    return path


def _bad_value(value) -> dict[str, np.ndarray]:
    bias = _params()[LAYER].copy()
    bias[0] = value
    return _params(**{LAYER: bias})


def _data_copy(env: Env, name: str, content: bytes | None, *, raw: bool = True) -> list[str]:
    """A data folder: the real files, except ``name`` replaced by ``content`` (or missing)."""
    folder = env.tmp / "mnist"
    folder.mkdir()
    for other in FILES:
        if other != name:
            (folder / f"{other}.gz").symlink_to(env.mnist / f"{other}.gz")
    if content is not None:
        (folder / (name if raw else f"{name}.gz")).write_bytes(content)
    return ["--set", f"data.data_dir={folder}", "--set", "data.download=false"]


def _labels() -> bytearray:
    return bytearray(gzip.decompress((MNIST_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes()))


def _with_labels(env: Env, edit: Callable[[bytearray], bytes]) -> list[str]:
    return _data_copy(env, "t10k-labels-idx1-ubyte", edit(_labels()))


def _wrong_magic(b: bytearray) -> bytes:
    b[:4] = (2051).to_bytes(4, "big")
    return bytes(b)


def _one_label_changed(b: bytearray) -> bytes:
    b[8] = (b[8] + 1) % 10
    return bytes(b)


def _fewer_labels(b: bytearray) -> bytes:
    return bytes(b[:4]) + (9999).to_bytes(4, "big") + bytes(b[8:-1])


def _finished_run(env: Env, params: str = "trained", cfg=None) -> None:
    """``env.out`` as a finished run leaves it (config, identity, a result file, a summary)."""
    env.out.mkdir()
    (env.out / "config.yaml").write_text(yaml.safe_dump((cfg or _cfg(env)).to_dict()))
    (env.out / "identity.yaml").write_text(yaml.safe_dump({"params": params}))
    (env.out / "results").mkdir()
    (env.out / "results" / "p-x_shard-00000.parquet").write_bytes(b"PAR1")
    (env.out / "summary.json").write_text("{}")


def _cfg(env: Env, *overrides):
    return load_config("tiny", [*env.argv, *overrides])


def _no_data(env: Env) -> list[str]:
    env.monkeypatch.delenv("SNNJOB_DATA_DIR", raising=False)
    env.monkeypatch.setenv("XDG_CACHE_HOME", str(env.tmp / "empty-cache"))
    return ["--set", "data.download=false"]


def _locked(env: Env) -> list[str]:
    env.out.mkdir()
    lock = open(env.out / ".snnjob.lock", "a")  # noqa: SIM115 - closed at test teardown
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    env.open_files.append(lock)
    return []


def _not_npz(env: Env) -> list[str]:
    path = _params_file(env)
    path.write_bytes(b"hello")  # the sidecar stays
    return ["--params", str(path)]


def _hash_mismatch(env: Env) -> list[str]:
    path = _params_file(env)
    np.savez(path, **_bad_value(0.5))  # other values, the old sidecar
    return ["--params", str(path)]


def _no_sidecar(env: Env) -> list[str]:
    path = _params_file(env)
    path.with_suffix(".json").unlink()
    return ["--params", str(path)]


def _out_is_a_file(env: Env) -> list[str]:
    _file(env, "out")
    return []


def _out_parent_is_a_file(env: Env) -> list[str]:
    env.out = _file(env, "parent") / "out"
    return []


def _finished_and(params: str, extra: Callable[[Env], list[str]]):
    def setup(env: Env) -> list[str]:
        argv = extra(env)  # the parameter file first: it must not land in --out
        _finished_run(env, params)
        return argv

    return setup


def _given_params(env: Env) -> list[str]:
    return ["--params", str(_params_file(env))]


def _read_only(env: Env) -> list[str]:
    env.out = env.tmp / "read-only"  # made unwritable by the read_only_dir fixture
    return []


class Evil:
    """Unpickling this creates a file: the proof that nothing was unpickled."""

    marker: Path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _pickled(env: Env) -> list[str]:
    Evil.marker = env.tmp / "UNPICKLED"
    path = _params_file(env)
    np.savez(path, **{**_params(), LAYER: np.array([Evil()], dtype=object)})
    return ["--params", str(path)]


def _file(env: Env, name: str, content: bytes = b"x") -> Path:
    (env.tmp / name).write_bytes(content)
    return env.tmp / name


def _yaml(env: Env, text: str) -> list[str]:
    return ["--config", str(_file(env, "job.yaml", text.encode()))]


def _set(*items: str) -> Callable[[Env], list[str]]:
    return lambda env: [a for item in items for a in ("--set", item)]


MNIST_DIR = Path(os.environ.get("SNNJOB_DATA_DIR") or ROOT.parent / "shared" / "data" / "mnist")
FIX = "run `snnjob data fetch`"

CASES = [
    # ---- config
    Case("config-misspelt-key", _set("eval.n_stepz=[10]"), ("did you mean 'eval.n_steps'",)),
    Case("config-unknown-section", _set("evl.n_steps=[10]"), ("did you mean 'eval'",)),
    Case("config-unknown-key-in-file", lambda e: _yaml(e, "train:\n  epoch: 3\n"),
         ("unknown config key 'train.epoch'", "did you mean 'train.epochs'")),
    Case("config-wrong-type-int", _set("train.epochs=three"), ("train.epochs must be an integer",)),
    Case("config-wrong-type-list", _set("eval.n_steps=ten"), ("eval.n_steps must be a list",)),
    Case("config-wrong-type-bool", _set("data.download=maybe"), ("must be true or false",)),
    Case("config-n-steps-zero", _set("eval.n_steps=[0]"),
         ("eval.n_steps must be numbers of timesteps > 0, got 0",)),
    Case("config-n-steps-negative", _set("eval.n_steps=[-5]"), ("timesteps > 0, got -5",)),
    Case("config-empty-n-steps", _set("eval.n_steps=[]"), ("eval.n_steps must list at least one",)),
    Case("config-empty-seeds", _set("eval.seeds=[]"), ("eval.seeds must list at least one seed",)),
    Case("config-minibatch-zero", _set("train.minibatch_size=0"),
         ("train.minibatch_size must be > 0, got 0",)),
    Case("config-eval-minibatch-negative", _set("eval.minibatch_size=-100"),
         ("eval.minibatch_size must be > 0",)),
    Case("config-seed-not-integer", _set("train.seeds=[1.5]"),
         ("train.seeds[0] must be an integer",)),
    Case("config-seed-negative", _set("eval.seeds=[-1]"), ("eval.seeds must be non-negative",)),
    Case("config-too-many-test-images", _set("eval.n_images=20000"),
         ("mnist has 10000 test images",)),
    Case("config-too-many-train-images", _set("data.n_train=70000"),
         ("mnist has 60000 training images",)),
    Case("config-unknown-preset", _set("model.preset=strdied"),
         ("choose one of seed, strided", "did you mean 'strided'")),
    Case("config-unknown-name", lambda e: ["--config", "quik"],
         ("unknown config 'quik'", "did you mean 'quick'")),
    Case("config-invalid-yaml", lambda e: _yaml(e, "model: [1,\n"), ("is not valid YAML",)),
    Case("config-not-a-mapping", lambda e: _yaml(e, "- 1\n"), ("must be a mapping of sections",)),
    # YAML keeps the last of two equal keys without a word: the first would be lost
    Case("config-duplicate-key", lambda e: _yaml(e, "train:\n  epochs: 1\n  epochs: 3\n"),
         ("key 'epochs' is given twice (first at line 2", "merge the two")),
    Case("config-duplicate-section",
         lambda e: _yaml(e, "train:\n  epochs: 1\neval:\n  seeds: [0]\ntrain:\n  seeds: [1]\n"),
         ("key 'train' is given twice (first at line 1", "at line 5")),
    Case("config-set-duplicate-key", _set("train.grid={train.epochs: [1], train.epochs: [2]}"),
         ("key 'train.epochs' is given twice",)),
    Case("config-missing-file", lambda e: ["--config", str(e.tmp / "missing.yaml")],
         ("missing.yaml does not exist",)),
    Case("config-set-without-equals", _set("eval.n_steps"), ("--set expects section.key=value",)),
    Case("config-set-invalid-yaml", _set("eval.n_steps=[10"), ("is not valid YAML",)),
    Case("config-workers-zero", lambda e: ["--workers", "0"], ("resources.workers must be > 0",)),
    # ---- data
    Case("data-missing-folder", _set("data.data_dir=/nonexistent/mnist"),
         ("/nonexistent/mnist, which is not an existing folder", "snnjob data fetch")),
    Case("data-missing-file", lambda e: _data_copy(e, "t10k-labels-idx1-ubyte", None),
         ("lacks t10k-labels-idx1-ubyte", "snnjob data fetch")),
    Case("data-truncated-idx", lambda e: _with_labels(e, lambda b: bytes(b[:5000])),
         ("is truncated (4992 data bytes after the header, expected 10000)", FIX)),
    Case("data-truncated-gz",
         lambda e: _data_copy(e, "t10k-images-idx3-ubyte",
                              (MNIST_DIR / "t10k-images-idx3-ubyte.gz").read_bytes()[:800_000],
                              raw=False),
         ("t10k-images-idx3-ubyte.gz: is truncated or corrupt", FIX)),
    Case("data-wrong-magic", lambda e: _with_labels(e, _wrong_magic),
         ("has magic number 2051, expected 2049", FIX)),
    Case("data-checksum-mismatch", lambda e: _with_labels(e, _one_label_changed),
         ("SHA-256 of the decompressed data is", "not the original MNIST file", FIX)),
    Case("data-count-mismatch", lambda e: _with_labels(e, _fewer_labels),
         ("it holds 9999 labels, MNIST has 10000", FIX)),
    Case("data-download-off-nothing-found", _no_data,
         ("MNIST data not found", "data.download is false", "snnjob data fetch")),
    # ---- parameters
    Case("params-missing-file", lambda e: ["--params", str(e.tmp / "nope.npz")],
         ("nope.npz does not exist", "leave out --params to train")),
    Case("params-a-folder", lambda e: ["--params", str(e.tmp)], ("is a folder, not a file",)),
    Case("params-not-an-npz", _not_npz,
         ("p.npz is not a .npz file (not a zip archive of arrays)", "written by snnjob")),
    Case("params-pickled-object-array", _pickled,
         ("as a plain .npz file (Object arrays cannot be loaded", "snnjob never unpickles")),
    Case("params-wrong-shape",
         lambda e: ["--params", str(_params_file(e, _params(**{LAYER: np.zeros(3, np.float32)})))],
         (f"{LAYER}: file has shape (3,), network expects", "model.preset")),
    Case("params-nan-weights", lambda e: ["--params", str(_params_file(e, _bad_value(np.nan)))],
         (f"{LAYER}: 1 NaN and 0 infinite", "retrain")),
    Case("params-inf-weights", lambda e: ["--params", str(_params_file(e, _bad_value(np.inf)))],
         (f"{LAYER}: 0 NaN and 1 infinite", "Weights must be finite floats")),
    Case("params-integer-weights",
         lambda e: ["--params", str(_params_file(e, _params(**{LAYER: INTS})))],
         (f"{LAYER}: dtype int32, expected floating point",)),
    Case("params-sidecar-hash-mismatch", _hash_mismatch,
         ("does not match its sidecar", "retrain or restore it")),
    Case("params-no-sidecar", _no_sidecar,
         ("has no sidecar p.json", "copy the .json with the .npz")),
    Case("params-inside-out-with-overwrite",
         lambda e: ["--overwrite", "--params", str(_params_file(e, name="out/params/s.npz"))],
         ("which --overwrite deletes before it is read", "copy it out of --out first")),
    # ---- output folder
    Case("out-is-a-file", _out_is_a_file, ("is a file, not a folder; choose another --out",)),
    Case("out-parent-is-a-file", _out_parent_is_a_file,
         ("cannot create output folder", "parent is a file, not a folder")),
    Case("out-not-writable", _read_only,
         ("cannot write output folder", "choose a folder you can write as --out")),
    Case("out-in-use", _locked, ("is in use by another snnjob run",)),
    Case("out-holds-different-config", _finished_and("trained", _set("eval.seeds=[1]")),
         ("holds a different run", "eval.seeds: [0] -> [1]", "--overwrite")),
    Case("out-trained-run-given-params", _finished_and("trained", _given_params),
         ("holds a different run", "parameters: trained by the run -> --params with sha256:",
          "--overwrite")),
    Case("out-params-run-given-other-params", _finished_and("sha256:" + "0" * 64, _given_params),
         ("parameters: --params with sha256:" + "0" * 64 + " -> --params with sha256:",)),
    Case("out-params-run-now-training", _finished_and("sha256:" + "0" * 64, lambda e: []),
         ("parameters: --params with sha256:0000", "-> trained by the run")),
]  # fmt: skip


# errors that list several items (layers, differences) put each on its own line
LISTS = {"params-wrong-shape", "params-nan-weights", "params-inf-weights", "params-integer-weights",
         "out-holds-different-config", "out-trained-run-given-params",
         "out-params-run-given-other-params", "out-params-run-now-training"}  # fmt: skip


def _tree(path: Path) -> dict[str, int] | None:
    if not path.exists():
        return None
    if path.is_file():
        return {"": path.stat().st_size}
    return {str(p.relative_to(path)): p.stat().st_size for p in sorted(path.rglob("*"))}


@pytest.fixture
def env(request, tmp_path, mnist_dir, monkeypatch):
    def no_ray(*args, **kwargs):
        raise AssertionError("bad input got past the checks: Ray would start")

    monkeypatch.setattr(snnjob.session, "connect", no_ray)
    if request.node.callspec.id == "out-not-writable":
        request.getfixturevalue("read_only_dir")
    e = Env(tmp_path, mnist_dir, tmp_path / "out", monkeypatch)
    yield e
    for f in e.open_files:
        f.close()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_error_and_loses_nothing(case, env, capsys):
    argv = ["run", "--config", "tiny", *case.setup(env), "--no-progress"]
    argv += ["--out", str(env.out)]
    before = _tree(env.out)
    capsys.readouterr()
    t0 = time.perf_counter()
    code = cli.main(argv)
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    first, *_ = [line for line in err.splitlines() if line.startswith("snnjob: ")]
    assert first.startswith("snnjob: error: ")
    assert [line for line in err.splitlines() if line.startswith("snnjob: ")] == [first]
    if case.id not in LISTS:
        assert err.count("\n") == 1, err  # one line: the problem and the fix
    for fragment in case.fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert _tree(env.out) == before  # nothing written, nothing lost
    assert elapsed < 5.0, f"{elapsed:.1f} s"
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()
    if case.id == "params-pickled-object-array":
        assert not (env.tmp / "UNPICKLED").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--params", "{tmp}/nope.npz"],
        ["--out", "{tmp}/file"],
        ["--set", "eval.n_stepz=[10]"],
        ["--params", "{tmp}/nan.npz"],
    ],
    ids=["params-missing", "out-is-a-file", "config-key", "params-nan"],
)
def test_no_traceback_and_no_ray_in_a_fresh_process(argv, tmp_path, mnist_dir):
    (tmp_path / "file").write_text("x")
    save_params(tmp_path / "nan.npz", _bad_value(np.nan), {"config": TINY.to_dict()})
    argv = ["run", "--config", "tiny", "--out", str(tmp_path / "out"), *argv]
    code = (
        "import sys; from snnjob.cli import main; rc = main(sys.argv[1:]); "
        "print('ray' in sys.modules, 'tensorflow' in sys.modules); sys.exit(rc)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SNNJOB_DATA_DIR": str(mnist_dir)}
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *[a.format(tmp=tmp_path) for a in argv]],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    assert done.returncode == 2, done.stderr
    assert done.stdout.split() == ["False", "False"]  # neither Ray nor TensorFlow loaded
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("snnjob: error: ")
    assert elapsed < 10.0, f"{elapsed:.1f} s for a whole python process"
    assert not (tmp_path / "out").exists()


def test_cases_cover_the_issue():
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)
    json.dumps([c.id for c in CASES])
