"""Typed config values: YAML values coerced to a field's type, the field validators, and
reading config files and ``--set`` overrides into plain dicts.

Every error names the key and what is allowed (:class:`~snnjob.errors.ConfigError`).
"""

from __future__ import annotations

import contextlib
import difflib
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from snnjob.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping: PyYAML would keep
    the last one and drop the first without a word (a second ``train:`` section loses the
    whole first one)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        try:
            key = loader.construct_object(key_node, deep=True)
            first = seen.setdefault(key, key_node)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if first is not key_node:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"key {key!r} is given twice (first at line {first.start_mark.line + 1}; YAML "
                "would keep only the last): merge the two",
                key_node.start_mark,
            )  # fmt: skip
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str) -> Any:
    """Parse YAML safely, refusing duplicate keys (:class:`yaml.YAMLError` on bad input)."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


class Parser:
    """A config field type with its own parser: ``Parser(f)`` coerces by ``f(value, key)``."""

    def __init__(self, parse: typing.Callable[[Any, str], Any]) -> None:
        self.parse = parse


def coerce(key: str, value: Any, hint: Any) -> Any:  # noqa: C901 - one branch per type
    if isinstance(hint, Parser):
        return hint.parse(value, key)
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return coerce(key, value, inner)
    if origin is tuple:
        (inner, _) = typing.get_args(hint)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, e.g. [10, 30]; got {value!r}")
        return tuple(coerce(f"{key}[{i}]", v, inner) for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint} for {key}")  # programming error


def check_choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        hint = difflib.get_close_matches(value, allowed, n=1)
        raise ConfigError(
            f"{key}={value!r} is not allowed; choose one of {', '.join(allowed)}"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
        )


def check_positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{key} must be > 0, got {value}")


def check_non_negative(key: str, value: float) -> None:
    if not value >= 0:
        raise ConfigError(f"{key} must be >= 0, got {value}")


def check_seeds(key: str, seeds: tuple[int, ...]) -> None:
    if not seeds:
        raise ConfigError(f"{key} must list at least one seed, e.g. [0]")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{key} has duplicates: {list(seeds)}")
    for s in seeds:
        if s < 0:
            raise ConfigError(f"{key} must be non-negative integers, got {s}")


# --------------------------------------------------------------------------- files


def available_configs() -> list[str]:
    """Names of the configs shipped with the package."""
    root = resources.files("snnjob") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def parse_override(item: str) -> tuple[str, Any]:
    """Parse ``section.key=value``; the value is YAML (``[10, 30]``, ``null``, ``1e-3``)."""
    if "=" not in item:
        raise ConfigError(f"--set expects section.key=value, got {item!r}")
    key, text = item.split("=", 1)
    key = key.strip()
    if key.count(".") != 1:
        raise ConfigError(f"--set key must look like section.key (e.g. eval.n_steps), got {key!r}")
    try:
        value = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"--set {key}: value {text!r} is not valid YAML ({_yaml_problem(exc)}); "
            "quote it for the shell, e.g. --set 'eval.n_steps=[10, 30]'"
        ) from None
    return key, value


def _read_raw(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        text = path.read_text()
        origin = str(path)
    else:
        names = available_configs()
        if name_or_path not in names:
            hint = difflib.get_close_matches(name_or_path, names, n=1)
            raise ConfigError(
                f"unknown config {name_or_path!r}; shipped configs: {', '.join(names)}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + "; or give a path to a .yaml file"
            )
        text = (resources.files("snnjob") / "configs" / f"{name_or_path}.yaml").read_text()
        origin = f"snnjob/configs/{name_or_path}.yaml"
    try:
        raw = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{origin} is not valid YAML: {_yaml_problem(exc)}; fix it there"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin} must be a mapping of sections (model, data, train, ...)")
    return raw


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what the YAML parser found wrong, and where."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    section, name = key.split(".")
    sec = raw.setdefault(section, {})
    if sec is None:
        sec = raw[section] = {}
    if not isinstance(sec, dict):
        raise ConfigError(f"config section {section!r} must be a mapping")
    sec[name] = value


def _reject_unknown(prefix: str, raw: dict[str, Any], allowed: typing.Iterable[str]) -> None:
    allowed = list(allowed)
    for key in raw:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            raise ConfigError(
                f"unknown config key '{prefix}{key}'"
                + (f" (did you mean '{prefix}{hint[0]}'?)" if hint else "")
                + f"; allowed: {', '.join(prefix + a for a in allowed)}"
            )
