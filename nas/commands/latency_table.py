"""`nas latency-table`: time every unit choice once and write the lookup table."""
from __future__ import annotations

import math
from pathlib import Path

from search_spaces import shorten
from search_spaces.errors import OutputError, VidnasInputError

from . import module_doc
from ..costs import CLOCKS, RUNTIMES
from ..utils import format_table, parse_size
from ..validate import check_checkpoint, check_device, check_output_dir
from .options import Option, add_options

NAME = "latency-table"
HELP = "Build a latency lookup table (Once-for-All's LUT) for a model on this device."


def add_arguments(p) -> None:
    p.description = module_doc("nas.costs.latency")      # read when this command's parser is built, not at start
    add_options(p, [
        Option("--model", "registered model name (see `nas models`)"),
        Option("--checkpoint", "take the model spec (kwargs included) from a supernet checkpoint"),
        Option("--input", "TxHxW (default: the model's / the checkpoint's)"),
        Option("--classes", "number of classes (with --model)", type=int),
        Option("--batch", "clips per timed forward (default 1)", type=int, default=1),
        Option("--device", "cpu or cuda", default="cpu"),
        Option("--threads", "intra-op threads (default 1: steady on a busy machine)", type=int, default=1),
        Option("--runtime", "time PyTorch modules (default) or each piece exported to ONNX on onnxruntime",
               default="torch", choices=RUNTIMES),
        Option("--min-run-time", "seconds of timing per entry and pass", type=float, default=0.2),
        Option("--repeats", "interleaved passes; each entry keeps its median", type=int, default=3),
        Option("--clock", "wall time, or the thread's CPU time (1 thread; steady on a busy machine)",
               default="wall", choices=CLOCKS),
        Option("--out", "JSON file to write", required=True),
        Option("--no-progress", "no progress bar or lines", kind="switch"),
    ])


def check_latency_args(args) -> dict | None:
    """`nas latency-table`: numbers, device, the checkpoint and the --out file's folder; the
    checkpoint it loaded (None with --model), handed on so that it is read once."""
    for name in ("batch", "threads", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise VidnasInputError(f"--{name} must be >= 1, got {value}")
    if args.classes is not None and args.classes < 1:
        raise VidnasInputError(f"--classes {args.classes}: the number of classes must be >= 1")
    if not (math.isfinite(args.min_run_time) and args.min_run_time > 0):
        raise VidnasInputError(f"--min-run-time must be a positive number of seconds, got {args.min_run_time}")
    check_device(args.device, "--device")
    ckpt = check_checkpoint(args.checkpoint, "--checkpoint", weights=False) if args.checkpoint else None
    out = Path(args.out)
    if out.is_dir() or not out.name:
        raise OutputError(f"--out {shorten(args.out)} is a folder; give a JSON file path")
    check_output_dir(out.parent if str(out.parent) else ".", "--out folder")
    return ckpt



def run(args) -> int:
    import torch                                     # lazy: fast start

    from supernet.registry import build_from_spec, build_model, model_entry   # lazy: fast start (torch)

    from ..costs.latency import build_latency_table  # lazy: fast start (torch)

    if bool(args.model) == bool(args.checkpoint):
        raise VidnasInputError("pass exactly one of --model M or --checkpoint S.pt (the model spec of a supernet)")
    ckpt = check_latency_args(args)                               # before any timing or output
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.checkpoint:
        spec = dict(ckpt["model_spec"])
        if args.input is not None:
            spec["input_size"] = list(parse_size(args.input))
        model = build_from_spec(spec)
    else:
        entry = model_entry(args.model)
        model = build_model(args.model, parse_size(args.input) if args.input is not None else entry.default_input,
                            args.classes)
    size = tuple(model.spec["input_size"])
    table = build_latency_table(model, size, args.batch, args.device, args.threads, args.runtime,
                                args.min_run_time, args.repeats, args.clock, progress=not args.no_progress)
    table.save(args.out)
    rows = [(k, f"{v:.3f}") for k, v in table.fixed_ms.items()]
    rows += [(f"unit {i}", "  ".join(f"{t}={v:.3f}" for t, v in u.items())) for i, u in enumerate(table.unit_ms)]
    print(format_table(rows, ["part", "ms"], align="ll"))
    print(f"latency table of {model.spec['name']} on {'x'.join(map(str, size))}, batch {args.batch}, "
          f"{table.device}, {args.threads} thread(s), {args.runtime}: {sum(len(u) for u in table.unit_ms)} "
          f"unit entries + {len(table.fixed_ms)} fixed parts in {table.meta['seconds']:.1f} s -> {args.out}")
    return 0
