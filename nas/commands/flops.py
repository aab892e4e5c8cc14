"""`nas flops`: parameters and GFLOPs of a model."""
from __future__ import annotations

import json

from ..utils import format_table
from .common import MODEL_OPTIONS, build_for_cli
from .options import Option, add_options

NAME = "flops"
HELP = "Parameters and GFLOPs of a model (per stage and total), on its exported subnet."


def add_arguments(p) -> None:
    add_options(p, MODEL_OPTIONS + [Option("--json", "machine-readable output", kind="switch")],
                example="model=mlp3d-nano")


def run(args) -> int:
    from ..costs.flops import model_cost            # lazy: fast start (torch, fvcore)

    entry, size, model, arch = build_for_cli(args)
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
