"""`nas train`: train one architecture standalone, then evaluate it."""
from __future__ import annotations

from search_spaces.errors import VidnasInputError

from .common import run_config_arguments

NAME = "train"
HELP = "Train one architecture standalone, then evaluate it (single and multi view)."


def add_arguments(p) -> None:
    run_config_arguments(p, "override a config value, e.g. --set init_from=runs/x/supernet.pt", arch=True)


def run(args) -> int:
    from ..config import load_run_config            # lazy: fast start (torch)
    from ..train import run_train                   # lazy: fast start (torch)

    if args.arch is not None and not args.arch.strip():
        raise VidnasInputError(f"--arch {args.arch!r} is empty; give an architecture string, JSON or a file "
                               "(best_arch.json, best_arch.txt)")
    cfg = load_run_config(args.config, args.set)
    if args.arch is not None:
        cfg.arch = args.arch                  # a string, JSON or a file: read by run_train
    run_train(cfg, resume=args.resume, progress=not args.no_progress)
    return 0
