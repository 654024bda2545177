"""One generic converter between frozen dataclasses and JSON data, driven by type hints.

:func:`to_json` turns a dataclass (fields in their order) into JSON-ready dicts, lists and
numbers; :func:`from_json` builds one back from parsed JSON, checking every value against
its field's annotation. It knows: dataclasses, ``int``, ``float`` (an int is accepted),
``str``, ``bool``, ``Any`` (taken as it is), ``X | None``, ``tuple[X, ...]`` and
``tuple[X, Y, Z]`` (JSON lists), and ``dict[str, X]`` (JSON objects).

An absent key takes its field's default (a field without one is required); keys that name
no field are dropped. A field made with :func:`optional` is left out of the JSON while it
is None (a section an older or smaller run does not have). Every error is a
:class:`FormatError` naming the field, e.g. ``summary.points[3].n_errors``.

Plain Python: used by :mod:`snnjob.results.model` (``summary.json``).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any, TypeVar

__all__ = ["FormatError", "from_json", "optional", "to_json"]

T = TypeVar("T")
_OMIT = "omit_if_none"


class FormatError(ValueError):
    """JSON data that does not fit its dataclass; the message names the field."""


def optional(default: Any = None) -> Any:
    """A dataclass field left out of :func:`to_json`'s output while it is None."""
    return dataclasses.field(default=default, metadata={_OMIT: True})


def to_json(obj: Any) -> Any:
    """``obj`` as JSON-ready data: dataclasses as dicts (fields in order), tuples and lists
    as lists, mappings as dicts with string keys; other values as they are."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if value is None and f.metadata.get(_OMIT):
                continue
            out[f.name] = to_json(value)
        return out
    if isinstance(obj, list | tuple):
        return [to_json(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_json(v) for k, v in obj.items()}
    return obj


def from_json(tp: type[T], data: Any, where: str) -> T:
    """``data`` (parsed JSON) as the type ``tp``; ``where`` names it in errors."""
    return _convert(tp, data, where)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _fail(tp: Any, data: Any, where: str) -> FormatError:
    shown = repr(data)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return FormatError(f"{where} must be {_name(tp)}, got {type(data).__name__} {shown}")


def _convert(tp: Any, data: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]  # only X | None is supported
        return _convert(inner, data, where)
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, data, where)
    if origin is tuple:
        if not isinstance(data, list | tuple):
            raise _fail(tp, data, where)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(data))
        if len(data) != len(args):
            raise FormatError(f"{where} must hold {len(args)} values, got {len(data)}")
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, data)))
    if origin in (dict, Mapping):
        if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
            raise _fail(tp, data, where)
        return {k: _convert(args[1], v, f"{where}.{k}") for k, v in data.items()}
    return _scalar(tp, data, where)


def _scalar(tp: Any, data: Any, where: str) -> Any:
    if tp is bool and isinstance(data, bool):
        return data
    if tp is str and isinstance(data, str):
        return data
    if tp is int and isinstance(data, Integral) and not isinstance(data, bool):
        return int(data)
    if tp is float and isinstance(data, Real) and not isinstance(data, bool):
        return float(data)
    raise _fail(tp, data, where)


def _dataclass(cls: type, data: Any, where: str) -> Any:
    if isinstance(data, cls):  # already built (a dict of the JSON holding typed entries)
        return data
    if not isinstance(data, Mapping):
        raise FormatError(
            f"{where} must be a JSON object ({cls.__name__}), got {type(data).__name__}"
        )
    hints, values = _hints(cls), {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise FormatError(f"{where} lacks {f.name!r} ({cls.__name__})")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # the class's own checks (__post_init__)
        raise FormatError(f"{where}: {exc}") from None
