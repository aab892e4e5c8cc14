"""Config coercion: dataclasses built from plain dicts (YAML) with one-line errors.

One config object drives a run (PySlowFast / Detectron2 style). `from_dict` rejects unknown
keys and wrong types naming the key and what is allowed; `apply_overrides` applies
``--set a.b=value`` strings (values parsed as YAML by `supernet.utils.io.parse_yaml`: safe,
bounded, one-line errors); `to_dict` gives back the
plain dict that is written next to a run's outputs. `load_config` is the one entry every
command uses (file, then ``--set``, then the command's flags as shorthands that set keys).

Why hand-written and not a library: tried on these dataclasses, pydantic (2.x,
``TypeAdapter(RunConfig)``) silently accepts unknown keys (``bogus: 1``) and turns ``"3"``
into 3 and ``"1e-3"`` into 0.001 unless every class is made strict and ``extra="forbid"``,
and its errors are several lines with a documentation URL, so it would need the same
per-class wiring and a message rewriter to give the one-line errors the bad-input tests pin.
OmegaConf structured configs (judged from its documentation, not installed here) take unions
of primitive types only (not ``float | list[float]``) and Enums instead of the ``Literal``
fields the schema uses, so the schema would have to change shape. The coercion is ~80 lines.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import re
import types
import typing
from typing import Any, Literal

import yaml

from search_spaces import shorten
from search_spaces.errors import ConfigError

from .io import load_yaml, parse_yaml


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def coerce(value: Any, tp, key: str):
    """Check/convert `value` to annotation `tp`; a one-line ValueError naming `key` otherwise."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, key)
            except ValueError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"config key {key!r}: bad value {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"config key {key!r}: {value!r} is not allowed; allowed: "
                              f"{', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, prefix=f"{key}.")
    if tp in (list, tuple):                  # a bare `list` annotation: items of any type
        origin = tp
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r}: expected a list, got {value!r}")
        item = args[0] if args else Any
        items = [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key {key!r}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {key!r}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):           # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {key!r}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"config key {key!r}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key!r}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config annotation {_type_name(tp)} for {key}")


def ranged(default: Any = dataclasses.MISSING, low: float | None = None, high: float | None = None,
           default_factory: Any = dataclasses.MISSING):
    """A dataclass field whose number (or each number of its list) must lie in [low, high]
    (either end open when None); `from_dict` checks it with one line naming the key, the
    value and the range, before the object is built. None (an unset optional) passes."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"range": (low, high)})


def describe_range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"in [{low}, {high}]"
    return f">= {low}" if low is not None else f"<= {high}"


def check_range(key: str, value: Any, low: float | None, high: float | None) -> None:
    """One-line ValueError unless the number `value` (or every number in a list of them) lies
    in [low, high]."""
    for v in value if isinstance(value, (list, tuple)) else [value]:
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if (low is not None and v < low) or (high is not None and v > high):
            raise ConfigError(f"config key {key!r} must be {describe_range(low, high)}, got {value!r}")


def declared_ranges(cls, prefix: str = "") -> dict[str, tuple]:
    """{dotted key: (low, high)} of every `ranged` field of `cls` and its nested sections."""
    out = {}
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if "range" in f.metadata:
            out[prefix + f.name] = f.metadata["range"]
        elif dataclasses.is_dataclass(tp):
            out.update(declared_ranges(tp, f"{prefix}{f.name}."))
    return out


def from_dict(cls, data: dict | None, prefix: str = ""):
    """Build dataclass `cls` from a plain dict; unknown keys and bad types are one-line errors.
    A class with an ``upgrade(data) -> data`` static method first rewrites older layouts."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"config section {prefix.rstrip('.') or '<root>'!r} must be a mapping, got {data!r}")
    upgrade = getattr(cls, "upgrade", None)        # a schema may read an older layout of itself
    if callable(upgrade):
        data = upgrade(dict(data))
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ConfigError(f"unknown config key {prefix + str(unknown[0])!r}; allowed in "
                          f"{prefix.rstrip('.') or 'the root'}: {', '.join(names)}")
    kwargs = {k: coerce(v, hints[k], prefix + k) for k, v in data.items()}
    for f in dataclasses.fields(cls):
        if f.name in kwargs and "range" in f.metadata:
            check_range(prefix + f.name, kwargs[f.name], *f.metadata["range"])
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if callable(check):
        check()
    return obj


def to_dict(obj) -> dict[str, Any]:
    """Plain dict (lists, not tuples) of a config dataclass, ready for YAML/JSON."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(obj)


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings to a nested dict (a copy); values parsed as YAML."""
    out = yaml.safe_load(yaml.safe_dump(data)) if data else {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"--set has an empty key in {item!r}")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {p!r} is not a section")
        node[parts[-1]] = parse_yaml(raw, f"--set {shorten(item)}")
    return out


def load_config(cls, path=None, overrides: list[str] | None = None,
                shorthands: dict[str, Any] | None = None, base: dict | None = None):
    """The one way a command builds its config: YAML file `path` (or `base`), then ``--set``
    `overrides`, then the command's flags (`shorthands`: dotted key -> value; None = unset),
    validated as dataclass `cls` (`from_dict`)."""
    data = load_yaml(path) if path else dict(base or {})
    data = apply_overrides(data, overrides)
    for key, value in (shorthands or {}).items():
        if value is not None:
            node = data
            *parents, last = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = value
    return from_dict(cls, data)


__all__ = ["coerce", "ranged", "check_range", "declared_ranges", "from_dict", "to_dict", "apply_overrides", "load_yaml", "load_config"]


# ---- the configuration reference, generated from the schema -----------------------------
def field_comments(cls) -> dict[str, str]:
    """The trailing ``# comment`` of each field line in `cls`'s source: the one-line meaning
    the configuration reference shows."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    names = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, str] = {}
    for line in lines:
        m = re.match(r"^\s{4}(\w+)\s*:[^#]*?(?:#\s?(.*))?$", line)
        if m and m.group(1) in names and m.group(1) not in out:
            out[m.group(1)] = (m.group(2) or "").strip()
    return out


def _type_text(tp) -> str:
    """An annotation as the reference writes it: ``int | None``, ``list[float]``, ``str``
    (a ``Literal`` by the type of its values, which the reference lists as allowed)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return type(args[0]).__name__
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in args)
    if tp is type(None):
        return "None"
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_text(a) for a in args)}]" if args else origin.__name__
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _default_of(f: dataclasses.Field, instance) -> Any:
    if instance is not None:
        return getattr(instance, f.name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def schema_reference(cls, prefix: str = "", instance=None) -> list[dict[str, Any]]:
    """Every key of config dataclass `cls` (nested sections flattened as ``section.key``), each
    with its type, default (of `instance` when given, so resolved defaults show), allowed
    values (a ``Literal``, or the class's ``CHOICES`` mapping) and meaning (`field_comments`)."""
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    choices = getattr(cls, "CHOICES", {})
    rows = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        default = _default_of(f, instance)
        if dataclasses.is_dataclass(tp):
            rows.append({"key": prefix + f.name, "type": "section", "default": "", "allowed": "",
                         "meaning": comments.get(f.name, ""), "section": True})
            rows += schema_reference(tp, f"{prefix}{f.name}.", default)
            continue
        allowed = ""
        inner = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
        literal = next((a for a in inner if typing.get_origin(a) is Literal), None)
        if typing.get_origin(tp) is Literal or literal is not None:
            allowed = ", ".join(map(str, typing.get_args(literal or tp)))
        elif f.name in choices:
            allowed = ", ".join(map(str, choices[f.name]() if callable(choices[f.name]) else choices[f.name]))
        rows.append({"key": prefix + f.name, "type": _type_text(tp),
                     "default": to_dict(default) if dataclasses.is_dataclass(default) else
                     (list(default) if isinstance(default, tuple) else default),
                     "allowed": allowed, "meaning": comments.get(f.name, ""), "section": False})
    return rows


__all__ += ["field_comments", "schema_reference"]
