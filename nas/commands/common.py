"""What several commands share: the registry model of ``--model``, and ``--set`` routing."""
from __future__ import annotations

from search_spaces import parse_arch_arg
from search_spaces.errors import ConfigError, VidnasInputError

from ..utils import parse_size
from .options import Option

MODEL_OPTIONS = [
    Option("--model", "registered model name (see `nas models`)", required=True),
    Option("--input", "TxHxW for video models, HxW for image models"),
    Option("--arch", "architecture: a string, JSON, best_arch.json or best_arch.txt (default: the space's default)"),
    Option("--classes", "number of classes (default: the model's)", type=int),
]


def build_for_cli(args):
    """The registry model of `--model` on `--input`, and the architecture to use."""
    from supernet.registry import build_model, model_entry       # lazy: fast start (torch)

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


def run_config_arguments(p, set_help: str, arch: bool = False) -> None:
    """``--config`` (required), [``--arch``], ``--set``, ``--resume`` and ``--no-progress`` of a
    training run."""
    p.add_argument("--config", required=True, help="YAML run config (see experiments/configs)")
    if arch:
        p.add_argument("--arch", help="architecture to train (overrides the config's `arch`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)
    p.add_argument("--resume", action="store_true", help="continue the run in output_dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
