"""``--config`` + ``--set`` for the commands whose settings are just their flags.

`pretrain`, `train`, `search`, `correlate`, `demo` and `data check` have a typed config schema
of their own. The other commands (`export`, `latency-table`, `predictor`, `flops`, `plot`,
`space`, `models`) are configured by their flags alone; `add_config_options` gives each the
same two options anyway, with a schema built from the flags (key = the flag's name with
underscores: ``--min-run-time`` is ``min_run_time``; type and default from the flag), so a
file of settings, ``--set key=value`` and the flags combine the same way everywhere (flags win
over ``--set``, which wins over the file) and a bad key or value is the same one-line error
(`supernet.utils.config.from_dict`).
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Literal, Optional

from search_spaces.errors import ConfigError
from supernet.utils.config import apply_overrides, from_dict

from .compat import load

_OWN = ("help", "config", "set")


def _settings(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.dest not in _OWN]


def _annotation(action: argparse.Action):
    """The schema type of a flag: its choices, its `type` (int/float/str), a bool for a
    switch, a list for an appended flag; optional unless the flag has a non-None default."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return bool
    if isinstance(action, argparse._AppendAction):
        return Optional[list]
    if action.choices is not None:
        tp = Literal[tuple(action.choices)]
    else:
        tp = action.type if action.type in (int, float) else str
    return tp if action.default is not None else Optional[tp]


def set_example(parser: argparse.ArgumentParser) -> str:
    """The ``--set`` example of a command's help: the one it declares
    (``parser.set_defaults(_set_example="model=mlp3d-nano")``), else its first integer setting
    at its default (``batch=1``), else its first setting with choices at the first choice, else
    its first switch (``json=true``)."""
    declared = parser.get_default("_set_example")
    if declared:
        return declared
    for a in _settings(parser):
        if a.type is int and a.default is not None:
            return f"{a.dest}={a.default}"
    for a in _settings(parser):
        if a.choices:
            return f"{a.dest}={list(a.choices)[0]}"
    for a in _settings(parser):
        if isinstance(a, argparse._StoreTrueAction):
            return f"{a.dest}=true"
    raise ValueError(f"{parser.prog}: declare a --set example (parser.set_defaults(_set_example=...))")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` / ``--set`` to a command configured by its flags (call it after the
    flags are added). Required flags and groups are checked after the settings combine."""
    names = ", ".join(a.dest for a in _settings(parser))
    parser.add_argument("--config", help=f"YAML file of this command's settings (keys: {names})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"set one setting, e.g. --set {set_example(parser)} (flags win over --set, "
                             "--set over --config)")
    required = [a for a in _settings(parser) if a.required]
    groups = [g for g in parser._mutually_exclusive_groups if g.required]
    fields = []
    for a in _settings(parser):
        fields.append((a.dest, _annotation(a), dataclasses.field(default=a.default)))
        a.required, a.default = False, argparse.SUPPRESS        # absent from args unless given
    for g in groups:
        g.required = False
    schema = dataclasses.make_dataclass(f"{parser.prog.replace(' ', '_')}_settings", fields)
    parser.set_defaults(_flag_schema=(schema, required, [g._group_actions for g in groups]))


def resolve_flag_config(parser_args: argparse.Namespace) -> None:
    """Fill `parser_args` from ``--config`` and ``--set`` under the flags actually given, with
    one-line errors for an unknown key, a wrong type or a missing required setting."""
    spec = getattr(parser_args, "_flag_schema", None)
    if spec is None:
        return
    schema, required, groups = spec
    data = load(parser_args.config, "flags") if parser_args.config else {}
    data = apply_overrides(data, parser_args.set)
    given = {f.name: getattr(parser_args, f.name) for f in dataclasses.fields(schema)
             if hasattr(parser_args, f.name)}
    settings = from_dict(schema, {**data, **given})
    for f in dataclasses.fields(schema):
        setattr(parser_args, f.name, getattr(settings, f.name))
    for action in required:
        if getattr(parser_args, action.dest) is None:
            raise ConfigError(f"needs {action.option_strings[-1]} (or `{action.dest}:` in --config)")
    for actions in groups:
        set_ = [a for a in actions if getattr(parser_args, a.dest) is not None]
        if len(set_) != 1:
            flags = " or ".join(a.option_strings[-1] for a in actions)
            raise ConfigError(f"needs exactly one of {flags}" + (f", got {len(set_)}" if set_ else ""))


def leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of every (sub-)command under `parser`."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [parser]
    out: list[argparse.ArgumentParser] = []
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):
            out += leaf_parsers(child)
    return out


def add_to_flag_commands(parser: argparse.ArgumentParser) -> None:
    """`add_config_options` on every command that has no ``--config`` of its own."""
    for leaf in leaf_parsers(parser):
        if not any("--config" in a.option_strings for a in leaf._actions):
            add_config_options(leaf)


__all__ = ["add_config_options", "add_to_flag_commands", "resolve_flag_config"]
