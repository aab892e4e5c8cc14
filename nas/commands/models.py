"""`nas models`: the registered models."""
from __future__ import annotations

from ..utils import format_table
from .options import Option, add_options

NAME = "models"
HELP = "List the registered models."


def add_arguments(p) -> None:
    from supernet.registry import list_families     # lazy: the family registry imports torch

    families = list_families()
    add_options(p, [Option("--family", f"only this family ({', '.join(families)})")],
                example=f"family={families[0]}")


def run(args) -> int:
    from supernet.registry import list_models       # lazy: fast start (torch)

    rows = [(e.name, e.family, "x".join(map(str, e.default_input)), e.default_classes,
             "yes" if e.searchable else "no", e.description) for e in list_models(args.family)]
    print(format_table(rows, ["model", "family", "default input", "classes", "searchable", "description"]))
    return 0
