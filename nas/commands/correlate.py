"""`nas correlate`: shared-weight estimates against standalone accuracy."""
from __future__ import annotations

from dataclasses import fields

from ..compat import load_config
from .common import route_overrides

NAME = "correlate"
HELP = "Estimated (shared weights) vs real (standalone) accuracy: Kendall tau, Spearman rho, plot."


def add_arguments(p) -> None:
    p.add_argument("--config", help="YAML file with correlate settings (the keys of a correlate_config.yaml)")
    p.add_argument("--checkpoint", help="supernet checkpoint (from nas pretrain)")
    p.add_argument("--out", help="output folder (resumable)")
    p.add_argument("--k", type=int, help="architectures sampled to span GFLOPs (default 10)")
    p.add_argument("--archs", nargs="+", help="architectures to use instead (strings or files of lines)")
    p.add_argument("--epochs", type=int, help="standalone training epochs per architecture (default: "
                   "the --train-config's, else 10)")
    p.add_argument("--train-config", help="YAML run config of the standalone runs (default: the supernet's "
                   "own config, from scratch)")
    p.add_argument("--seeds", type=int, nargs="+", help="standalone training seeds; real accuracy is their "
                   "mean and the seed-to-seed tau is reported (default: the config's seed)")
    p.add_argument("--runs", help="folder of the standalone runs, shared between correlations "
                   "(default OUT/archs); a finished (arch, seed) run is never trained again")
    p.add_argument("--val-size", type=int, help="validation clips for the estimate (default: all)")
    p.add_argument("--batch-size", type=int, help="evaluation batch size (default 32)")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--bn-recalib", type=int, help="BatchNorm recalibration batches (default: the model "
                   "family's, e.g. 4 on BatchNorm hosts)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="set a correlate key (--set k=5) or override the standalone runs' config "
                        "(--set train.batch_size=16)")
    p.add_argument("--ray", action="store_true", help="train the architectures in parallel on a local Ray")
    p.add_argument("--ray-address", help="Ray cluster address (implies --ray)")
    p.add_argument("--estimates-only", action="store_true", help="stop after the shared-weight estimates "
                   "(rerun without it to train and correlate in the same folder)")
    p.add_argument("--cpus-per-trial", type=int, default=1, help="--ray: CPUs (and torch threads) of "
                   "each standalone training trial (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or lines")


def correlate_config(args):
    """`CorrelateConfig` from ``--config`` + ``--set`` + flags. A ``--set`` key that is not a
    correlate setting overrides the standalone runs' config (``--set train.batch_size=16``)."""
    from supernet.registry import declared_run_option   # lazy: fast start (torch)

    from ..config import RunConfig                  # lazy: fast start (torch)
    from ..correlate import CorrelateConfig         # lazy: fast start (torch)

    names = {f.name for f in fields(CorrelateConfig)}
    own, runs = route_overrides(args.set, [
        ("correlate", names, None),
        ("the standalone runs' config", {f.name for f in fields(RunConfig)},   # (a root-level run
         lambda item, root: declared_run_option(root) is not None or "=" not in item)])  # option)
    archs = list(args.archs) if args.archs else None   # files are read by run_correlate
    flags = {"checkpoint": args.checkpoint, "out": args.out, "k": args.k, "archs": archs,
             "epochs": args.epochs, "val_size": args.val_size, "batch_size": args.batch_size,
             "seed": args.seed, "bn_recalib": args.bn_recalib, "train_config": args.train_config,
             "seeds": list(args.seeds) if args.seeds else None, "runs": args.runs}
    cfg = load_config(CorrelateConfig, "correlate", args.config, own, flags)
    cfg.overrides = list(cfg.overrides) + runs
    return cfg


def run(args) -> int:
    from ..correlate import run_correlate           # lazy: fast start (torch)

    cfg = correlate_config(args)
    run_correlate(cfg, ray=args.ray or bool(args.ray_address), ray_address=args.ray_address,
                  cpus_per_trial=args.cpus_per_trial, estimates_only=args.estimates_only,
                  progress=not args.no_progress)           # (its tables go to the vidnas logger)
    return 0
