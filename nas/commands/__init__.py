"""The `nas` command line: one module per command, and the only code of vidnas that parses
arguments or prints.

Each command module declares ``NAME``, a one-line ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``, and imports the library it drives inside ``run`` (and, where a choice
list needs a registry, inside ``add_arguments``), so that ``nas --help`` and ``nas COMMAND
--help`` start without torch. `main.main` is the entry point (`nas`, ``python -m nas.cli``).
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

# in the order `nas --help` lists them
COMMANDS = ("flops", "demo", "pretrain", "search", "predictor", "data", "export", "latency_table",
            "proxies", "config", "train", "correlate", "plot", "models", "space")


def command_modules() -> list[ModuleType]:
    """Every command module, in `COMMANDS` order."""
    return [command_module(name) for name in COMMANDS]


def module_doc(dotted: str) -> str:
    """The docstring of a library module, read from its file without importing it (the
    description of a command's ``--help``, which must not import torch)."""
    path = Path(__file__).resolve().parents[2].joinpath(*dotted.split(".")).with_suffix(".py")
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False) or ""




def command_module(name: str) -> ModuleType:
    """The module of the command called `name` (``latency-table`` is ``latency_table``)."""
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")


__all__ = ["COMMANDS", "command_module", "command_modules", "module_doc"]
