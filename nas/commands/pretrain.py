"""`nas pretrain`: pretrain a weight-sharing supernet."""
from __future__ import annotations

from .common import run_config_arguments

NAME = "pretrain"
HELP = "Pretrain a weight-sharing supernet (one YAML config drives the run)."


def add_arguments(p) -> None:
    run_config_arguments(p, "override a config value, e.g. --set train.epochs=5 (repeatable)")


def run(args) -> int:
    from ..config import load_run_config            # lazy: fast start (torch)
    from ..pretrain import run_pretrain             # lazy: fast start (torch)

    cfg = load_run_config(args.config, args.set)
    run_pretrain(cfg, resume=args.resume, progress=not args.no_progress)
    return 0
