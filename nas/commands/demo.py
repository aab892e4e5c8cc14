"""`nas demo`: the whole pipeline on the bundled data."""
from __future__ import annotations

from dataclasses import fields

from ..compat import load_config
from .common import route_overrides

NAME = "demo"
HELP = "The pipeline on the bundled data in minutes: pretrain, greedy search, figures."


def add_arguments(p) -> None:
    from ..demo import demo_spaces                  # lazy: the family registry imports torch

    spaces = demo_spaces()                          # only those whose config is installed
    p.add_argument("--space", choices=spaces, help=f"model family whose demo config to run "
                   f"(registered with register_family; default {spaces[0] if spaces else 'none found'})")
    p.add_argument("--config", help="YAML file with demo settings (space, out, val_size, threads, "
                   "pretrain_overrides, search_overrides)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a demo setting (--set val_size=64), a key of the pretraining config "
                        "(--set train.epochs=2) or of the search settings (--set search.seed=3)")
    p.add_argument("--out", help="output folder (default runs/demo-SPACE; resumable)")
    p.add_argument("--threads", type=int, help="torch threads for pretraining and search (default: "
                   "the cores the load at start leaves free, printed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    from supernet.registry import declared_run_option   # lazy: fast start (torch)

    from ..config import RunConfig                  # lazy: fast start (torch)
    from ..demo import DemoConfig, run_demo         # lazy: fast start (torch)
    from ..search.settings import SECTIONS          # lazy: fast start (torch)

    own, pretrain, search = route_overrides(args.set, [
        ("demo", {f.name for f in fields(DemoConfig)}, None),
        ("the pretraining config", {f.name for f in fields(RunConfig)},
         lambda item, root: declared_run_option(root) is not None),
        ("the search settings", set(SECTIONS) | {f.name for c in SECTIONS.values() for f in fields(c)}, None)])
    cfg = load_config(DemoConfig, "demo", args.config, own, {"space": args.space, "out": args.out,
                                                             "threads": args.threads})
    run_demo(cfg.space, cfg.out, val_size=cfg.val_size, progress=not args.no_progress, threads=cfg.threads,
             pretrain_overrides=list(cfg.pretrain_overrides) + pretrain,
             search_overrides=list(cfg.search_overrides) + search)
    return 0
