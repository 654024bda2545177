"""Recipe sweeps: ``train.grid`` and ``train.recipes`` expanded into one config per recipe.

A *recipe* is a set of ``model.*`` / ``train.*`` overrides of the job's config; each recipe
trains one network per ``train.seeds`` and each network gets the whole evaluation sweep.

- ``train.recipes``: a list of override mappings, for values that go together
  (``{model.max_rates: 200, model.amplitude: 0.005}``);
- ``train.grid``: a mapping of key to a list of values, crossed (cartesian product);
- both: every recipe x every grid combination (a key may be set by only one of them).

Order: recipes first, then the grid in ``itertools.product`` order over its keys as written
(the last key varies fastest). A recipe's *name* lists its overrides without the section,
``max_rates=200,amplitude=0.005`` (``base`` for none); its *slug* names its folders
(``max_rates-200__amplitude-0.005``). A job with neither has one recipe, ``base``, with an
empty slug: today's file layout. Values are coerced and checked like ``--set`` values
(:func:`snnjob.configfields.coerce`, then each section's ``validate``), per recipe.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from snnjob.configfields import coerce
from snnjob.errors import ConfigError

if TYPE_CHECKING:
    from snnjob.config import JobConfig

BASE = "base"
SECTIONS = ("model", "train")
FIXED = ("train.seeds", "train.grid", "train.recipes")  # the same for every recipe
MAX_SLUG = 80
Overrides = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Recipe:
    """One recipe of a job: its name, folder slug (``""``: no grid), overrides, config."""

    name: str
    slug: str
    overrides: Overrides
    config: JobConfig

    @property
    def model(self) -> Any:
        """The recipe's :class:`~snnjob.config.ModelConfig`."""
        return self.config.model

    def as_dict(self) -> dict[str, Any]:
        return {"recipe": self.name, "slug": self.slug, "overrides": dict(self.overrides)}


def parse_grid(value: Any, hints: dict[str, dict[str, Any]]) -> tuple[tuple[str, tuple], ...]:
    """``train.grid`` from YAML: key -> non-empty list of distinct values, coerced."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(
            "train.grid must be a mapping of section.key to a list of values, e.g. "
            f"{{model.max_rates: [100, 200]}}; got {value!r}"
        )
    out = []
    for key, values in value.items():
        hint = _hint("train.grid", key, hints)
        where = f"train.grid.{key}"
        if not isinstance(values, (list, tuple)):
            raise ConfigError(f"{where} must be a list of values, e.g. [100, 200]; got {values!r}")
        if not values:
            raise ConfigError(f"{where} is an empty list: give at least one value or drop the key")
        coerced = tuple(coerce(f"{where}[{i}]", v, hint) for i, v in enumerate(values))
        if len(set(coerced)) != len(coerced):
            raise ConfigError(f"{where} has duplicates: {list(coerced)}")
        out.append((key, coerced))
    return tuple(out)


def parse_recipes(value: Any, hints: dict[str, dict[str, Any]]) -> tuple[Overrides, ...]:
    """``train.recipes`` from YAML: a list of non-empty ``{section.key: value}`` mappings."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise ConfigError(
            "train.recipes must be a list of mappings, e.g. [{model.max_rates: 200, "
            f"model.amplitude: 0.005}}]; got {value!r}"
        )
    out = []
    for i, recipe in enumerate(value):
        where = f"train.recipes[{i}]"
        if not isinstance(recipe, dict) or not recipe:
            raise ConfigError(
                f"{where} must be a non-empty mapping of section.key to a value, e.g. "
                f"{{model.max_rates: 200}}; got {recipe!r}"
            )
        out.append(tuple(
            (key, coerce(f"{where}.{key}", v, _hint(where, key, hints)))
            for key, v in recipe.items()
        ))  # fmt: skip
    return tuple(out)


def _hint(where: str, key: Any, hints: dict[str, dict[str, Any]]) -> Any:
    """The type of ``section.key``; refuse keys a recipe cannot set, naming what it can."""
    section, _, name = str(key).partition(".")
    if section not in SECTIONS or not name:
        raise ConfigError(
            f"{where}: {key!r} cannot vary per recipe; only model.* and train.* keys can "
            "(every recipe's networks get the same data and the whole evaluation sweep)"
        )
    if key in FIXED:
        raise ConfigError(
            f"{where}: {key} cannot vary per recipe; it applies to every recipe as it is"
        )
    if name not in hints[section]:
        allowed = [f"{section}.{n}" for n in hints[section] if f"{section}.{n}" not in FIXED]
        hint = difflib.get_close_matches(str(key), allowed, n=1)
        raise ConfigError(
            f"{where}: unknown config key '{key}'"
            + (f" (did you mean '{hint[0]}'?)" if hint else "")
            + f"; allowed: {', '.join(allowed)}"
        )
    return hints[section][name]


def expand_recipes(cfg: JobConfig) -> list[Recipe]:
    """The job's recipes in order, each with its validated config (no grid in it)."""
    t = cfg.train
    if not t.grid and not t.recipes:
        return [Recipe(BASE, "", (), cfg)]
    bare = dataclasses.replace(cfg, train=dataclasses.replace(t, grid=(), recipes=()))
    keys = [key for key, _ in t.grid]
    combos = list(itertools.product(*(values for _, values in t.grid)))
    out: list[Recipe] = []
    seen: dict[str, int] = {}
    slugs: dict[str, str] = {}
    for i, explicit in enumerate(t.recipes or ((),)):
        clash = sorted(set(keys) & {key for key, _ in explicit})
        if clash:
            raise ConfigError(
                f"train.recipes[{i}] sets {', '.join(clash)}, which train.grid varies too; "
                "set each key in one of them"
            )
        for combo in combos:
            overrides = explicit + tuple(zip(keys, combo, strict=True))
            name = recipe_name(overrides)
            if name in seen:
                raise ConfigError(
                    f"train.recipes lists the recipe {name} twice (entries {seen[name]} and "
                    f"{i}); drop one"
                )
            seen[name] = i
            slug = recipe_slug(name)
            if slug in slugs:
                raise ConfigError(
                    f"recipes {slugs[slug]} and {name} would share the folder {slug!r}; "
                    "change a value"
                )
            slugs[slug] = name
            out.append(Recipe(name, slug, overrides, _apply(bare, overrides, name)))
    return out


def _apply(cfg: JobConfig, overrides: Overrides, name: str) -> JobConfig:
    changes: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for key, value in overrides:
        section, field = key.split(".", 1)
        changes[section][field] = value
    try:
        model = dataclasses.replace(cfg.model, **changes["model"])
        train = dataclasses.replace(cfg.train, **changes["train"])
        model.validate()
        train.validate()
    except ConfigError as exc:
        raise ConfigError(f"recipe {name}: {exc}") from None
    return dataclasses.replace(cfg, model=model, train=train)


def recipe_name(overrides: Overrides) -> str:
    """``max_rates=200,amplitude=0.005`` (keys without their section), ``base`` for none."""
    return ",".join(f"{key.split('.', 1)[1]}={_text(v)}" for key, v in overrides) or BASE


def recipe_slug(name: str) -> str:
    """A folder name for a recipe: ``=`` -> ``-``, ``,`` -> ``__``, anything else but
    letters, digits, ``.``, ``_`` and ``-`` -> ``_``; long ones end in a hash of the name."""
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", name.replace("=", "-").replace(",", "__"))
    slug = slug.lstrip(".") or "_"
    if len(slug) > MAX_SLUG:
        slug = f"{slug[: MAX_SLUG - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return slug


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)
