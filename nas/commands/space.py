"""`nas space`: describe a model's search space, sample from it, or check an architecture."""
from __future__ import annotations

from search_spaces import parse_arch_arg
from search_spaces.errors import ConfigError, VidnasInputError

from .common import MODEL_OPTIONS, build_for_cli
from .options import Option, add_options

NAME = "space"
HELP = "Describe a model's search space, sample from it, or check an architecture."


def add_arguments(p) -> None:
    add_options(p, MODEL_OPTIONS + [
        Option("--sample", "print N uniform samples", type=int, default=0),
        Option("--seed", "seed of the first --sample (default 0)", type=int, default=0),
        Option("--check", "validate an architecture (a string, JSON, best_arch.json or best_arch.txt)",
               metavar="ARCH"),
        Option("--json", "print architectures as the space's JSON", kind="switch"),
    ], example="model=mlp3d-nano")


def run(args) -> int:
    _, size, model, arch = build_for_cli(args)
    space = getattr(model, "space", None)
    if space is None:
        raise VidnasInputError(f"{args.model} has no search space")
    for name in ("sample", "seed"):
        if getattr(args, name) < 0:
            raise ConfigError(f"--{name} must be an integer >= 0, got {getattr(args, name)}")
    if args.check is not None:
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
