"""`nas data check`: scan a run config's dataset and report every sample."""
from __future__ import annotations

import os

from search_spaces.errors import ConfigError, InputNotFoundError

from . import module_doc
from ..validate import check_output_file

NAME = "data"
HELP = "inspect datasets: nas data check"
SPLIT_CHOICES = ("train", "val", "all")


def add_arguments(p) -> None:
    c = p.add_command("check", help="scan a run config's dataset: readable samples, frame counts, fps, sizes; "
                                    "CSV report", description=module_doc("nas.data.check"))
    c.add_argument("--config", required=True, help="YAML run config (see experiments/configs)")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value as in nas pretrain, e.g. --set data.root=/d")
    c.add_argument("--split", default="all", choices=SPLIT_CHOICES,
                   help="which list to scan (default all: every list the config names)")
    c.add_argument("--out", default="data_check.csv", help="CSV report (default data_check.csv)")
    c.add_argument("--max-bad", type=float, default=0.0, metavar="FRACTION",
                   help="fail only above this fraction of unreadable samples (default 0)")
    c.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                   help="processes (default min(4, cores))")
    c.add_argument("--full", action="store_true", help="decode every frame of every sample")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..config import load_run_config            # lazy: fast start (torch)
    from ..data.check import run_check, write_report   # lazy: fast start (torch, av)

    if not 0.0 <= args.max_bad <= 1.0:
        raise ConfigError(f"--max-bad must be a fraction in [0, 1], got {args.max_bad}")
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise InputNotFoundError(f"--out {args.out}: folder {folder} does not exist")
    check_output_file(args.out, "--out")
    cfg = load_run_config(args.config, args.set).data
    summary = run_check(cfg, args.split, args.workers, args.full, not args.no_progress)
    write_report(args.out, summary.rows)
    failed = summary.bad_fraction > args.max_bad
    parts = ", ".join(f"{split} {n}" for split, n in summary.counts.items())
    line = (f"checked {summary.total} samples ({parts}) in {summary.seconds:.1f} s: "
            f"{summary.total - summary.bad} readable, {summary.bad} unreadable "
            f"({100 * summary.bad_fraction:.2f}%), {summary.short} shorter than the "
            f"{cfg.clip_span}-frame clip; report {args.out}")
    if failed:
        line += f"; FAILED: unreadable fraction above --max-bad {args.max_bad:g}"
    print(line)
    return 1 if failed else 0
