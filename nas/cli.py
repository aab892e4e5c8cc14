"""vidnas: weight-sharing neural architecture search for video networks (MLP-3D, MorphMLP,
3D-convolution splits). Pretrain a supernet on your videos, search it (greedy, evolution,
Optuna, Ray Tune) by accuracy minus cost, retrain and export the architecture found, and
check how well the shared weights ranked it. One sub-command per step; `nas COMMAND --help`
for each, `nas config show` for every config key."""
from __future__ import annotations

import argparse
import errno
import json
import sys
from pathlib import Path

from search_spaces import shorten
from search_spaces.errors import ConfigError, InputFileError, VidnasInputError

from supernet.utils.io import NoSpaceLeft

from .utils import format_table, parse_size, read_csv, read_json


def _build_for_cli(args, arch_required: bool = False):
    """The registry model of `--model` on `--input`, and the architecture to use."""
    from search_spaces import parse_arch_arg
    from supernet.registry import build_model, model_entry

    entry = model_entry(args.model)
    size = parse_size(args.input) if args.input is not None else entry.default_input
    if args.classes is not None and args.classes < 1:
        raise ConfigError(f"--classes {args.classes}: the number of classes must be >= 1")
    model = build_model(args.model, size, args.classes)
    arch = None
    if entry.searchable:
        arch = parse_arch_arg(model.space, args.arch) if args.arch is not None else model.space.default_arch()
    elif args.arch is not None:
        raise VidnasInputError(f"{args.model} is a fixed model; it takes no --arch")
    return entry, size, model, arch


def cmd_flops(args) -> int:
    """Parameters and GFLOPs of a model (per stage and total), on its exported subnet."""
    from .costs.flops import model_cost

    entry, size, model, arch = _build_for_cli(args)
    net = model.export(arch) if arch is not None else model
    cost = model_cost(net, size)
    if args.json:
        print(json.dumps({"model": args.model, "input": list(size), "arch": str(arch) if arch else None,
                          "flops": cost.flops, "gflops": cost.gflops, "params": cost.params,
                          "stages": {k: {"flops": v, "params": cost.stage_params.get(k, 0)}
                                     for k, v in cost.stages.items()}}, indent=2))
        return 0
    print(f"model  {args.model} ({entry.description})")
    print(f"input  {'x'.join(map(str, size))}  ({'T x H x W clip' if entry.is_video else 'H x W image'}, batch 1)")
    if arch is not None:
        print(f"arch   {arch}{'' if args.arch else '  (default; pass --arch to choose)'}")
    rows = [(k, f"{v / 1e9:.3f}", f"{cost.stage_params.get(k, 0) / 1e6:.3f}") for k, v in cost.stages.items()]
    rows.append(("total", f"{cost.gflops:.3f}", f"{cost.mparams:.3f}"))
    print(format_table(rows, ["part", "GFLOPs", "params (M)"], align="lrr"))
    print("FLOPs from fvcore: one multiply-add = one FLOP, elementwise ops 0.")
    return 0


def cmd_models(args) -> int:
    """List the registered models."""
    from supernet.registry import list_models

    rows = [(e.name, e.family, "x".join(map(str, e.default_input)), e.default_classes,
             "yes" if e.searchable else "no", e.description) for e in list_models(args.family)]
    print(format_table(rows, ["model", "family", "default input", "classes", "searchable", "description"]))
    return 0


def cmd_space(args) -> int:
    """Describe a model's search space, sample from it, or check an architecture."""
    _, size, model, arch = _build_for_cli(args)
    space = getattr(model, "space", None)
    if space is None:
        raise VidnasInputError(f"{args.model} has no search space")
    for name in ("sample", "seed"):
        if getattr(args, name) < 0:
            raise ConfigError(f"--{name} must be an integer >= 0, got {getattr(args, name)}")
    if args.check is not None:
        from search_spaces import parse_arch_arg

        a = parse_arch_arg(space, args.check, "--check")
        print(space.to_json(a) if args.json else f"ok: {a}")
        return 0
    if args.sample:
        for i in range(args.sample):
            a = space.sample(args.seed + i)
            print(space.to_json(a, indent=None) if args.json else a)
        return 0
    print(space.describe())
    print(f"default arch: {space.default_arch()}")
    return 0


def cmd_pretrain(args) -> int:
    """Pretrain a weight-sharing supernet (one YAML config drives the run)."""
    from .config import load_run_config
    from .pretrain import run_pretrain

    cfg = load_run_config(args.config, args.set)
    run_pretrain(cfg, resume=args.resume, progress=not args.no_progress)
    return 0


def route_overrides(items, sections) -> list[list[str]]:
    """Split ``--set`` items between the configs a command drives: `sections` is a list of
    (label, root keys, predicate or None); an item goes to the first section whose root keys
    hold its root (``train`` of ``train.epochs=2``) or whose predicate accepts it. An item no
    section takes is a one-line error listing every section's keys."""
    out: list[list[str]] = [[] for _ in sections]
    for item in items:
        root = item.split("=", 1)[0].strip().split(".")[0]
        for i, (_, roots, accepts) in enumerate(sections):
            if root in roots or (accepts is not None and accepts(item, root)):
                out[i].append(item)
                break
        else:
            allowed = " or ".join(f"{', '.join(sorted(roots))} ({label})" for label, roots, _ in sections)
            raise ConfigError(f"unknown config key {root!r}; allowed in the root: {allowed}")
    return out


def cmd_demo(args) -> int:
    """The pipeline on the bundled data in minutes: pretrain, greedy search, figures."""
    from dataclasses import fields

    from supernet.registry import declared_run_option
    from .compat import load_config

    from .config import RunConfig
    from .demo import DemoConfig, run_demo
    from .search.settings import SECTIONS

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


def cmd_train(args) -> int:
    """Train one architecture standalone, then evaluate it (single and multi view)."""
    from .config import load_run_config
    from .train import run_train

    if args.arch is not None and not args.arch.strip():
        raise VidnasInputError(f"--arch {args.arch!r} is empty; give an architecture string, JSON or a file "
                               "(best_arch.json, best_arch.txt)")
    cfg = load_run_config(args.config, args.set)
    if args.arch is not None:
        cfg.arch = args.arch                  # a string, JSON or a file: read by run_train
    run_train(cfg, resume=args.resume, progress=not args.no_progress)
    return 0


def correlate_config(args):
    """`CorrelateConfig` from ``--config`` + ``--set`` + flags. A ``--set`` key that is not a
    correlate setting overrides the standalone runs' config (``--set train.batch_size=16``)."""
    from dataclasses import fields

    from .compat import load_config

    from .config import RunConfig
    from .correlate import CorrelateConfig

    from supernet.registry import declared_run_option

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


def cmd_correlate(args) -> int:
    """Estimated (shared weights) vs real (standalone) accuracy: Kendall tau, Spearman rho, plot."""
    from .correlate import run_correlate

    cfg = correlate_config(args)
    run_correlate(cfg, ray=args.ray or bool(args.ray_address), ray_address=args.ray_address,
                  cpus_per_trial=args.cpus_per_trial, estimates_only=args.estimates_only,
                  progress=not args.no_progress)
    return 0


def cmd_plot(args) -> int:
    """Draw a figure (PNG and PDF): correlation (Fig. 6), variants (Fig. 4), arch (Fig. 7), search."""

    from . import plots
    from .validate import check_output_dir

    best = None
    if args.kind not in ("arch", "search") and args.best:
        raise ConfigError(f"--best is for nas plot arch and search, not {args.kind}")
    if args.kind not in ("correlation",) and (args.labels or args.error_bars):
        raise ConfigError(f"--labels and --error-bars are for nas plot correlation, not {args.kind}")
    if args.kind == "search" and not args.best and args.csv and (Path(args.csv).parent / "best_arch.json").is_file():
        args.best = str(Path(args.csv).parent / "best_arch.json")          # the search's own
        print(f"scores, chance and the space's GFLOPs range from {args.best} (--best)")
    check_output_dir(Path(args.out).expanduser().parent, "--out folder")    # (it writes OUT.png, OUT.pdf)
    if args.best:
        best = read_json(args.best, "--best")
        if not isinstance(best, dict) or not isinstance(best.get("top1_pct"), (int, float)):
            raise InputFileError(f"--best {args.best} must be a search's best_arch.json (an object with "
                                 f"top1_pct), got {shorten(best)}")
    if args.kind == "arch":
        _, _, model, arch = _build_for_cli(args)
        paths = plots.plot_arch(model.space, arch, args.out, title=args.title or "", best=best)
    else:
        if not args.csv:
            raise ConfigError(f"nas plot {args.kind} needs --csv")
        frame = read_csv(args.csv, "--csv")
        if frame.empty:
            raise InputFileError(f"--csv {args.csv} has no rows; nothing to plot")
        searched = read_json(args.searched, "--searched") if args.kind == "variants" and args.searched else None
        if searched is not None and not (isinstance(searched, dict) and all(
                isinstance(searched.get(k), (int, float)) and not isinstance(searched.get(k), bool)
                for k in ("gflops", "top1"))):
            raise InputFileError(f"--searched {args.searched} must hold a JSON object with numbers gflops "
                                 f"and top1 (and an optional label), got {shorten(searched)}")
        extra = {"search": {"best": best},
                 "correlation": {"labels": args.labels, "error_bars": args.error_bars}}.get(args.kind, {})
        plot = {"correlation": plots.plot_correlation, "search": plots.plot_search}.get(args.kind)
        try:
            paths = (plot(frame, args.out, title=args.title or "", **extra) if plot else
                     plots.plot_variants(frame, args.out, searched=searched, title=args.title or ""))
        except (ValueError, TypeError, KeyError) as e:
            raise InputFileError(f"--csv {args.csv}: {(str(e).splitlines() or [type(e).__name__])[0]}") from None
    print("wrote " + ", ".join(map(str, paths)))
    return 0


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose refusal of a bad argument is one line, ``nas CMD: error: ...``
    (with a pointer to ``--help``), not the usage block: the rule for every bad input."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def package_version() -> str:
    """The installed vidnas version (setup.cfg's, read from the clone when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vidnas")
    except PackageNotFoundError:
        import configparser

        cfg = configparser.ConfigParser()
        cfg.read(Path(__file__).resolve().parents[1] / "setup.cfg")
        return cfg.get("metadata", "version", fallback="unknown")


class CommandParser(OneLineParser):
    """An `ArgumentParser` whose (sub-)commands report an unknown argument themselves, under
    their own usage (``nas pretrain: error: unrecognized arguments: --bogus``), instead of
    handing it up to the top-level parser, which printed it under the usage of ``nas``."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        leaf = not any(isinstance(a, argparse._SubParsersAction) for a in self._actions)
        if extras and leaf:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="nas", description=__doc__)
    parser.add_argument("--version", action="version", version=f"vidnas {package_version()}",
                        help="print the vidnas version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_args(p, arch_help="architecture: a string, JSON, best_arch.json or best_arch.txt "
                                "(default: the space's default)"):
        p.add_argument("--model", required=True, help="registered model name (see `nas models`)")
        p.add_argument("--input", help="TxHxW for video models, HxW for image models")
        p.add_argument("--arch", help=arch_help)
        p.add_argument("--classes", type=int, help="number of classes (default: the model's)")

    p = sub.add_parser("flops", help=cmd_flops.__doc__)
    model_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_flops, _set_example="model=mlp3d-nano")

    p = sub.add_parser("demo", help=cmd_demo.__doc__)
    from .demo import demo_spaces

    spaces = demo_spaces()                                # only those whose config is installed
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
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("pretrain", help=cmd_pretrain.__doc__)
    p.add_argument("--config", required=True, help="YAML run config (see experiments/configs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run in output_dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_pretrain)

    from .search.cli import add_parser as add_search_parser
    add_search_parser(sub)
    from .search.predictor import add_parser as add_predictor_parser
    add_predictor_parser(sub)

    from .data.check import add_parser as add_data_parser
    add_data_parser(sub)

    from .deploy.export import add_parser as add_export_parser
    add_export_parser(sub)

    from .costs.latency import add_parser as add_latency_parser
    add_latency_parser(sub)

    from .proxies.cli import add_parser as add_proxies_parser
    add_proxies_parser(sub)
    from .reference import add_parser as add_config_parser
    add_config_parser(sub)

    p = sub.add_parser("train", help=cmd_train.__doc__)
    p.add_argument("--config", required=True, help="YAML run config (see experiments/configs)")
    p.add_argument("--arch", help="architecture to train (overrides the config's `arch`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set init_from=runs/x/supernet.pt")
    p.add_argument("--resume", action="store_true", help="continue the run in output_dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("correlate", help=cmd_correlate.__doc__)
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
    p.add_argument("--bn-recalib", type=int, help="BatchNorm recalibration batches (default: the model family's, e.g. 4 on BatchNorm hosts)")
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
    p.set_defaults(func=cmd_correlate)

    p = sub.add_parser("plot", help=cmd_plot.__doc__)
    p.add_argument("kind", choices=["correlation", "variants", "arch", "search"],
                   help="correlation: Fig. 6 from correlation.csv; variants: Fig. 4 from variants.csv; "
                        "arch: Fig. 7, an architecture block by block; search: a search's results.csv")
    p.add_argument("--csv", help="correlation.csv / variants.csv / results.csv")
    p.add_argument("--out", required=True, help="output path without extension (.png and .pdf written)")
    p.add_argument("--searched", help="variants: JSON with gflops, top1, label of the searched arch")
    p.add_argument("--model", help="arch: registered model name")
    p.add_argument("--input", help="arch: TxHxW")
    p.add_argument("--arch", help="arch: architecture (a string, JSON, best_arch.json or best_arch.txt)")
    p.add_argument("--classes", type=int, help="arch: number of classes (default: the model's)")
    p.add_argument("--title", help="figure title (default: none, or the figure's own)")
    p.add_argument("--best", help="arch, search: the search's best_arch.json (V ± SE, GFLOPs, decisions "
                   "inside the noise hatched; chance and the space's GFLOPs range; search default: "
                   "the one next to --csv)")
    p.add_argument("--labels", action="store_true", help="correlation: name every point by its architecture")
    p.add_argument("--error-bars", action="store_true", help="correlation: ± 1 SE bars from the "
                   "estimated_se and real_se columns")
    p.set_defaults(func=cmd_plot, _set_example="title=my-search")

    p = sub.add_parser("models", help=cmd_models.__doc__)
    from supernet.registry import list_families
    p.add_argument("--family", help=f"only this family ({', '.join(list_families())})")
    p.set_defaults(func=cmd_models, _set_example=f"family={list_families()[0]}")

    p = sub.add_parser("space", help=cmd_space.__doc__)
    model_args(p)
    p.add_argument("--sample", type=int, default=0, help="print N uniform samples")
    p.add_argument("--seed", type=int, default=0, help="seed of the first --sample (default 0)")
    p.add_argument("--check", metavar="ARCH", help="validate an architecture (a string, JSON, "
                   "best_arch.json or best_arch.txt)")
    p.add_argument("--json", action="store_true", help="print architectures as the space's JSON")
    p.set_defaults(func=cmd_space, _set_example="model=mlp3d-nano")

    from .flagconfig import add_to_flag_commands
    add_to_flag_commands(parser)                  # --config / --set on every other command too
    return parser


def error_line(command: str, error: BaseException, limit: int = 600) -> str:
    """The one line `main` prints for a refused input: ``nas CMD: error: ...``, newlines
    folded and an over-long message cut in the middle (echoed values are already cut by
    `search_spaces.shorten`; this is the last guard)."""
    text = " ".join(str(error).splitlines()) or type(error).__name__
    if len(text) > limit:
        text = f"{text[:limit - 120]} ... {text[-100:]}"
    return f"nas {command}: error: {text}"


def interrupted_line(command: str, argv: list[str], args, error: KeyboardInterrupt) -> str:
    """The one line `main` prints on Ctrl-C: where the run stopped (a training run says its
    step and last checkpoint, `TrainingInterrupted`) and the command that continues it."""
    import shlex

    where = error.where() if hasattr(error, "where") else "stopped"
    again = list(argv)
    if getattr(error, "checkpoint", "") is None:                 # nothing saved: start again
        again = [a for a in again if a != "--resume"]
        how = "start again with"
    elif hasattr(args, "resume"):
        again += [] if args.resume else ["--resume"]
        how = "continue with"
    elif command in ("demo", "correlate"):                       # they resume by themselves
        how = "continue with"
    else:
        return f"nas {command}: interrupted ({where})"
    return f"nas {command}: interrupted: {where}; {how}: nas {shlex.join(again)}"


TRACEBACK_FILE = "traceback.txt"          # in the run folder of a command that has one

# What to lower when a command runs out of memory outside the training loop (whose own
# `OutOfMemory` names its keys already): the keys and flags of each command.
_TRAINING_OOM = "train.batch_size, data.num_frames or data.size (or set train.amp: true)"
OOM_HINTS = {
    "pretrain": _TRAINING_OOM, "train": _TRAINING_OOM,
    "demo": f"{_TRAINING_OOM}, or evaluation.batch_size of the search (--set)",
    "search": "evaluation.batch_size (--batch-size) or search.cost_batch",
    "correlate": "batch_size (--batch-size) of the estimates, or train.batch_size, data.num_frames or "
                 "data.size of the standalone runs (--set)",
    "export": "--batch or --input", "latency-table": "--batch or --input", "proxies": "--batch or --input",
}
DEFAULT_OOM_HINT = ("the batch size (train.batch_size, evaluation.batch_size or --batch) or the clip "
                    "size (data.num_frames, data.size or --input)")


def is_out_of_memory(error: BaseException) -> bool:
    """A CUDA (or host) out-of-memory error: torch's OutOfMemoryError, a RuntimeError saying
    "out of memory", or Python's MemoryError (checked without importing torch)."""
    if isinstance(error, MemoryError) or any(c.__name__ == "OutOfMemoryError" for c in type(error).__mro__):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def write_traceback(error: BaseException, argv: list[str]) -> str | None:
    """Write the traceback of `error` (after the command line and versions) atomically to
    ``traceback.txt`` in the run folder the command holds (`nas.runfolder.held_folders`),
    else to ``vidnas-traceback-<time>-<pid>.txt`` in the system temp folder; its path, or
    None when neither could be written."""
    import os
    import platform
    import shlex
    import tempfile
    import time
    import traceback

    from supernet.utils.io import atomic_write_text

    from .runfolder import KIND_FILE, held_folders

    torch = sys.modules.get("torch")
    text = (f"nas {shlex.join(argv)}\n"
            f"vidnas {package_version()}; Python {platform.python_version()}"
            + (f"; torch {torch.__version__}" if torch is not None else "") + f"; {platform.platform()}\n"
            f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}; process {os.getpid()}\n\n"
            + "".join(traceback.format_exception(type(error), error, error.__traceback__)))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    places = [folder / TRACEBACK_FILE for folder in reversed(held_folders()) if (folder / KIND_FILE).is_file()]
    places.append(Path(tempfile.gettempdir()) / f"vidnas-traceback-{stamp}-{os.getpid()}.txt")
    for path in places:
        try:
            atomic_write_text(path, text)
            return str(path)
        except Exception:                     # noqa: BLE001 - a full or read-only disk: the next place
            continue
    return None


def internal_error_line(prog: str, error: BaseException, where: str | None, limit: int = 300) -> str:
    """The one line `main` prints for an exception that is not bad input (`VidnasInputError`):
    ``nas CMD: internal error: TYPE: MESSAGE; the full traceback is in PATH``, then what to
    lower for an out-of-memory error, else a request to report it."""
    text = " ".join(str(error).split()) or "(no message)"
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    line = f"{prog}: internal error: {_type_name(error)}: {text}; "
    line += f"the full traceback is in {where}" if where else "the traceback could not be written (below)"
    if is_out_of_memory(error):
        command = prog.split(" ")[1] if " " in prog else ""
        return f"{line}; out of memory: lower {OOM_HINTS.get(command, DEFAULT_OOM_HINT)}"
    return f"{line} (please report it with that file)" if where else line


def report_internal_error(prog: str, error: BaseException, argv: list[str]) -> int:
    """Print `internal_error_line` (and the traceback itself when no file could hold it); 1."""
    where = write_traceback(error, argv)
    print(internal_error_line(prog, error, where), file=sys.stderr)
    if where is None:
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    return 1


def main(argv=None) -> int:
    """Run one `nas` command. Bad input (`VidnasInputError`, an argparse usage error) is one
    line and exit 2; Ctrl-C exit 130 with the command that resumes; a full disk exit 1, the
    training loop's `OutOfMemory` exit 3; any other exception is an internal error: one line
    naming it and the file holding its traceback, exit 1."""
    from .plugins import load_plugins
    argv = list(sys.argv[1:] if argv is None else argv)
    try:                                     # before the parser: plug-in strategies are choices
        load_plugins()
        parser = build_parser()
    except VidnasInputError as e:
        print(f"nas: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:                   # noqa: BLE001
        return report_internal_error("nas", e, argv)
    args = parser.parse_args(argv)           # a usage error: one line, exit 2 (`OneLineParser`)
    from supernet.training.errors import OutOfMemory
    try:
        from .flagconfig import resolve_flag_config
        resolve_flag_config(args)
        return args.func(args) or 0
    except NoSpaceLeft as e:                 # not bad input: the run stopped, its files intact
        print(error_line(args.command, e.strerror or e), file=sys.stderr)
        return 1
    except OutOfMemory as e:                 # a resource limit, not bad input: exit 3
        print(f"nas {args.command}: out of memory: {e}", file=sys.stderr)
        return 3
    except VidnasInputError as e:            # bad input, and only that: exit 2
        print(error_line(args.command, e), file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:                  # Ctrl-C: one line, exit 128 + SIGINT
        print(interrupted_line(args.command, argv, args, e), file=sys.stderr)
        return 130
    except OSError as e:                      # a full disk outside `atomic_write`
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            return report_internal_error(f"nas {args.command}", e, argv)
        where = Path(e.filename).parent if e.filename else "the output folder's file system"
        print(error_line(args.command, f"no space left on {where}; free space, then rerun with --resume"),
              file=sys.stderr)
        return 1
    except Exception as e:                    # noqa: BLE001 - a fault, not bad input: exit 1
        return report_internal_error(f"nas {args.command}", e, argv)
    finally:
        from .runfolder import release_locks
        from .validate import forget_reports
        release_locks()                       # (the kernel would at exit; main may run in-process)
        forget_reports()


if __name__ == "__main__":
    sys.exit(main())
