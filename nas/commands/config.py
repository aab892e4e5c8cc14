"""`nas config show`: the configuration reference."""
from __future__ import annotations

from ..reference import SCHEMAS, defaults_yaml, markdown, reference_table, resolved
from ..reference import __doc__ as REFERENCE_DOC

NAME = "config"
HELP = "Show the configuration reference (every key, type, default, allowed values, meaning)."
DESCRIPTION = REFERENCE_DOC


def add_arguments(p) -> None:
    s = p.add_command("show", help="print the reference of a config schema", description=REFERENCE_DOC)
    s.add_argument("schema", nargs="?", default="run", choices=list(SCHEMAS),
                   help="which config (default run: the config of nas pretrain / train / data check)")
    s.add_argument("--defaults", action="store_true", help="print a YAML file of every key at its default, "
                   "with its meaning, instead of the table")
    s.add_argument("--markdown", action="store_true", help="print the docs/config.md page (every schema)")
    s.add_argument("--config", help="show this config file's resolved values instead of the defaults")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="show the values with this override, e.g. --set data.dataset=video-list "
                        "--set data.train_list=train.txt (the defaults for real video)")


def run(args) -> int:
    if args.markdown:
        print(markdown(), end="")
        return 0
    instance = resolved(args.schema, args.config, args.set)
    print(defaults_yaml(args.schema, instance) if args.defaults else reference_table(args.schema, instance),
          end="" if args.defaults else "\n")
    return 0
