"""Typed config values: YAML values coerced to a field's type, and the field validators.

Every error names the key and what is allowed (:class:`~snnjob.errors.ConfigError`).
"""

from __future__ import annotations

import contextlib
import difflib
import types
import typing
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


def coerce(key: str, value: Any, hint: Any) -> Any:  # noqa: C901 - one branch per type
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
