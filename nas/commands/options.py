"""Options declared once, as data: the parser and the ``--config`` / ``--set`` schema of a command.

A command configured by its flags alone (`export`, `latency-table`, `predictor fit|eval`,
`flops`, `plot`, `space`, `models`) lists its options as `Option` records; `add_options` adds
them to its parser and derives a dataclass schema from the same records (key = the flag's name
with underscores: ``--min-run-time`` is ``min_run_time``; type, choices and default from the
record), so a file of settings, ``--set key=value`` and the flags combine the same way
everywhere (flags win over ``--set``, which wins over the file) and a bad key or value is the
same one-line error (`supernet.utils.config.from_dict`). Commands with a typed config of their
own (`pretrain`, `train`, `search`, `correlate`, `demo`, `data check`, `proxies`, `config
show`) declare their flags on the parser directly; their ``--config`` is that config.

Own code rather than a library (jsonargparse, typer): the records are about 40 lines, need
nothing argparse does not document, and keep `nas --help` free of extra imports.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Optional

from search_spaces.errors import ConfigError
from supernet.utils.config import apply_overrides, from_dict

from ..compat import load


@dataclass(frozen=True)
class Option:
    """One option of a flag-configured command. `kind`: ``value`` (a typed value) or ``switch``
    (``store_true``); `group`: a required one-of group's name."""

    flag: str                        # "--min-run-time" (positional arguments stay plain argparse)
    help: str
    type: type = str                 # int, float or str (the value's type)
    default: Any = None
    choices: tuple | None = None
    required: bool = False
    kind: str = "value"
    metavar: str | None = None
    nargs: str | None = None
    const: Any = None
    group: str | None = None         # options sharing a group: exactly one is given

    def __post_init__(self):
        if self.kind not in ("value", "switch"):
            raise ValueError(f"{self.flag}: kind {self.kind!r}; allowed: value, switch")

    @property
    def initial(self) -> Any:
        """The setting's value when nothing sets it (a switch is off)."""
        return False if self.kind == "switch" and self.default is None else self.default

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def annotation(self):
        """The schema type: its choices, its type, or a bool for a switch; optional unless the
        option has a non-None default."""
        if self.kind == "switch":
            return bool
        tp = Literal[tuple(self.choices)] if self.choices is not None else self.type
        return tp if self.initial is not None else Optional[tp]

    def argparse_kwargs(self) -> dict:
        """The `add_argument` keywords; every setting is absent from the namespace unless
        given on the command line (`resolve_flag_config` fills the rest)."""
        kw: dict[str, Any] = {"help": self.help, "default": argparse.SUPPRESS}
        if self.kind == "switch":
            kw["action"] = "store_true"
        elif self.type is not str:
            kw["type"] = self.type
        for name in ("choices", "metavar", "nargs", "const"):
            if getattr(self, name) is not None:
                kw[name] = getattr(self, name)
        return kw


class FlagSchema(NamedTuple):
    """What `resolve_flag_config` needs: the schema and the options it checks after merging."""

    schema: type
    options: tuple[Option, ...]


def set_example(options: list[Option], declared: str | None = None) -> str:
    """The ``--set`` example of a command's help: `declared`, else its first integer setting at
    its default (``batch=1``), else its first setting with choices at the first choice, else its
    first switch (``json=true``)."""
    if declared:
        return declared
    for o in options:
        if o.type is int and o.kind == "value" and o.initial is not None:
            return f"{o.dest}={o.initial}"
    for o in options:
        if o.choices:
            return f"{o.dest}={o.choices[0]}"
    for o in options:
        if o.kind == "switch":
            return f"{o.dest}=true"
    raise ValueError("declare a --set example (add_options(..., example=...))")


def add_options(parser: argparse.ArgumentParser, options: list[Option], example: str | None = None) -> None:
    """Add `options`, then ``--config`` / ``--set``, to the parser of a flag-configured command.
    Required options and one-of groups are checked after the settings combine."""
    groups: dict = {}
    for o in options:
        if o.group is not None and o.group not in groups:
            groups[o.group] = parser.add_mutually_exclusive_group()
        target = parser if o.group is None else groups[o.group]
        target.add_argument(o.flag, **o.argparse_kwargs())
    names = ", ".join(o.dest for o in options)
    parser.add_argument("--config", help=f"YAML file of this command's settings (keys: {names})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"set one setting, e.g. --set {set_example(options, example)} (flags win over "
                             "--set, --set over --config)")
    schema = dataclasses.make_dataclass(f"{parser.prog.replace(' ', '_')}_settings",
                                        [(o.dest, o.annotation(), dataclasses.field(default=o.initial))
                                         for o in options])
    parser.set_defaults(_flag_schema=FlagSchema(schema, tuple(options)))


def resolve_flag_config(args: argparse.Namespace) -> None:
    """Fill `args` from ``--config`` and ``--set`` under the flags actually given, with
    one-line errors for an unknown key, a wrong type or a missing required setting."""
    spec: FlagSchema | None = getattr(args, "_flag_schema", None)
    if spec is None:
        return
    data = load(args.config, "flags") if args.config else {}
    data = apply_overrides(data, args.set)
    given = {o.dest: getattr(args, o.dest) for o in spec.options if hasattr(args, o.dest)}
    settings = from_dict(spec.schema, {**data, **given})
    for f in dataclasses.fields(spec.schema):
        setattr(args, f.name, getattr(settings, f.name))
    for o in spec.options:
        if o.required and getattr(args, o.dest) is None:
            raise ConfigError(f"needs {o.flag} (or `{o.dest}:` in --config)")
    for group in dict.fromkeys(o.group for o in spec.options if o.group is not None):
        members = [o for o in spec.options if o.group == group]
        set_ = [o for o in members if getattr(args, o.dest) is not None]
        if len(set_) != 1:
            flags = " or ".join(o.flag for o in members)
            raise ConfigError(f"needs exactly one of {flags}" + (f", got {len(set_)}" if set_ else ""))


__all__ = ["FlagSchema", "Option", "add_options", "resolve_flag_config", "set_example"]
