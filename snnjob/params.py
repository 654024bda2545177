"""Trained parameters: a flat ``{"<layer>/<weight>": ndarray}`` dict.

On disk: ``NAME.npz`` (plain arrays of finite floats, loaded with ``allow_pickle=False``)
plus a ``NAME.json`` sidecar (config, layer shapes, SHA-256 of the arrays, package
versions, training metrics). Both are written to temporary names and renamed, the
sidecar last, so a sidecar implies a complete ``.npz``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from snnjob.atomic import write_atomic, write_json_atomic
from snnjob.errors import ParamsError

if TYPE_CHECKING:
    from snnjob.config import ModelConfig
    from snnjob.results.runinfo import TrainingMetrics

Params = dict[str, np.ndarray]
FORMAT = "snnjob-params-v1"


@dataclass
class ParamSet:
    """One trained parameter set of a job, as the driver holds it.

    ``ref`` is the driver-owned object-store reference the evaluation workers read
    (an object put by an actor would die with it); None until broadcast. ``recipe``: the
    recipe it was trained with (:mod:`snnjob.recipes`), ``slug`` its folder name ("": the
    job has no recipe sweep); ``model``: the model config its simulators are built from
    (None: the job's); ``metrics``: how it was trained (None: its file records no training
    of ours, e.g. a parameter file from elsewhere).
    """

    train_seed: int
    params: Params
    sha256: str
    path: Path | None
    metrics: TrainingMetrics | None = None
    ref: Any = None
    recipe: str = "base"
    slug: str = ""
    model: ModelConfig | None = None

    @property
    def id(self) -> str:
        """Short identifier used in result file names: the first 12 hex digits of the hash;
        in a recipe sweep, of the hash of recipe name and parameters hash, so that recipes
        differing only in evaluation settings (identical weights) keep separate results."""
        if not self.slug:
            return self.sha256[:12]
        return hashlib.sha256(f"{self.recipe}\n{self.sha256}".encode()).hexdigest()[:12]


def params_sha256(params: Mapping[str, np.ndarray]) -> str:
    """Canonical hash of a parameter set (names, dtypes, shapes and bytes, in name order)."""
    h = hashlib.sha256()
    for name in sorted(params):
        arr = np.ascontiguousarray(params[name])
        h.update(name.encode())
        h.update(str(arr.dtype).encode())
        h.update(repr(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def check_compatible(
    params: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]], *, source: str = ""
) -> None:
    """Raise :class:`ParamsError` listing every layer whose parameters do not fit."""
    problems = []
    for name in sorted(set(expected) - set(params)):
        problems.append(f"{name}: missing (network expects shape {tuple(expected[name])})")
    for name in sorted(set(params) - set(expected)):
        problems.append(f"{name}: not in the network (file has shape {params[name].shape})")
    for name in sorted(set(params) & set(expected)):
        if tuple(params[name].shape) != tuple(expected[name]):
            problems.append(
                f"{name}: file has shape {tuple(params[name].shape)}, "
                f"network expects {tuple(expected[name])}"
            )
    if problems:
        where = f" in {source}" if source else ""
        raise ParamsError(
            f"parameters{where} do not fit this network:\n  "
            + "\n  ".join(problems)
            + "\nCheck that model.preset / model.layers and data.dataset match the config the "
            "parameters were trained with (see the .json sidecar), or train new parameters."
        )


def save_params(path: str | Path, params: Mapping[str, np.ndarray], metadata: dict[str, Any]):
    """Write ``path`` (.npz) and its ``.json`` sidecar atomically; return the sidecar dict."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ParamsError(f"parameter files end in .npz, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.asarray(value) for name, value in params.items()}
    sidecar = {
        "format": FORMAT,
        "sha256": params_sha256(arrays),
        "shapes": {name: list(a.shape) for name, a in sorted(arrays.items())},
        "dtypes": {name: str(a.dtype) for name, a in sorted(arrays.items())},
        "versions": package_versions(),
        **metadata,
    }
    write_atomic(path, lambda f: np.savez(f, **arrays))
    write_json_atomic(sidecar_path(path), sidecar)
    return sidecar


def load_params(
    path: str | Path, *, expected: Mapping[str, tuple[int, ...]] | None = None
) -> tuple[Params, dict[str, Any]]:
    """Load a parameter file and its sidecar, verifying the hash (and shapes, if given).

    Refused with :class:`ParamsError`: a missing file or sidecar, anything but plain arrays
    (nothing is ever unpickled), non-float or non-finite weights (naming the layers), a hash
    that does not match the sidecar, shapes that do not fit ``expected``.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ParamsError(
            f"parameter file {path} {what}; give a .npz written by snnjob "
            "(OUT/params/seed-<k>.npz), or leave out --params to train"
        )
    side = sidecar_path(path)
    if not side.is_file():
        raise ParamsError(
            f"{path} has no sidecar {side.name}; snnjob writes both, the sidecar last — "
            "an incomplete write, or a file not made by snnjob: copy the .json with the .npz"
        )
    try:
        metadata = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParamsError(
            f"sidecar {side} is not valid JSON ({exc}); restore it with its .npz"
        ) from None
    if not isinstance(metadata, dict):
        raise ParamsError(
            f"sidecar {side} is not a JSON object, so not written by snnjob; restore it "
            "with its .npz"
        )
    params = _read_npz(path)
    check_values(params, source=str(path))
    actual = params_sha256(params)
    if metadata.get("sha256") != actual:
        raise ParamsError(
            f"{path} does not match its sidecar: sha256 {actual} != {metadata.get('sha256')}; "
            "the file was changed or partly written — retrain or restore it"
        )
    if expected is not None:
        check_compatible(params, expected, source=str(path))
    return params, metadata


def _read_npz(path: Path) -> Params:
    """The arrays of a plain ``.npz`` (never unpickled: ``allow_pickle=False``)."""
    if not zipfile.is_zipfile(path):
        raise ParamsError(
            f"{path} is not a .npz file (not a zip archive of arrays); give a parameter file "
            "written by snnjob (OUT/params/seed-<k>.npz)"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ParamsError(
            f"cannot read {path} as a plain .npz file ({exc}; snnjob never unpickles); give a "
            "parameter file written by snnjob (OUT/params/seed-<k>.npz)"
        ) from None


def check_values(params: Mapping[str, np.ndarray], *, source: str = "") -> None:
    """Raise :class:`ParamsError` naming every layer with a non-float dtype or with NaN or
    infinite values (a diverged training, a damaged file): such weights give no result."""
    problems = []
    for name in sorted(params):
        arr = params[name]
        if not np.issubdtype(arr.dtype, np.floating):
            problems.append(f"{name}: dtype {arr.dtype}, expected floating point (float32)")
            continue
        nan, inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
        if nan or inf:
            problems.append(f"{name}: {nan} NaN and {inf} infinite of {arr.size} values")
    if problems:
        where = f" in {source}" if source else ""
        raise ParamsError(
            f"unusable parameters{where}:\n  "
            + "\n  ".join(problems)
            + "\nWeights must be finite floats: retrain (a NaN usually means training "
            "diverged; try a lower train.learning_rate) or use another parameter file."
        )


def check_trained_network(metadata: Mapping[str, Any], model: ModelConfig, *, source: str) -> None:
    """Refuse parameters whose sidecar says they were trained for another network (same
    weight shapes, different layers: pooling instead of strides, another pool size, ...)."""
    from snnjob.architecture import PRESETS, Readout, parse_layers

    trained_model = (metadata.get("config") or {}).get("model") or {}
    if trained_model.get("layers") is not None:
        trained = parse_layers(trained_model["layers"])
        name = "model.layers of the sidecar"
    else:
        preset = trained_model.get("preset", model.preset)
        trained, name = PRESETS.get(preset), f"model.preset={preset!r}"
    hidden = lambda layers: tuple(x for x in layers or () if not isinstance(x, Readout))  # noqa: E731
    if trained is not None and hidden(trained) != hidden(model.hidden_layers):
        fix = (
            f"add --set model.preset={trained_model['preset']}"
            if trained_model.get("layers") is None
            else "use the model.layers of its sidecar"
        )
        raise ParamsError(
            f"{source} was trained for {name} but this config's network is "
            f"{model.network_name} (same shapes, different network); {fix}"
        )


def sidecar_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_suffix(".json")


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("snnjob", "nengo", "nengo-dl", "tensorflow", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out
