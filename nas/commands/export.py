"""`nas export`: write a searched architecture as weights, TorchScript or ONNX."""
from __future__ import annotations

from . import module_doc
from ..deploy import FORMATS, PARITY_TOL
from ..utils import parse_size
from .options import Option, add_options

NAME = "export"
HELP = "Export a searched architecture: weights, TorchScript or ONNX (parity-checked)."


def add_arguments(p) -> None:
    p.description = module_doc("nas.deploy.export")      # read when this command's parser is built, not at start
    add_options(p, [
        Option("--checkpoint", "supernet checkpoint (nas pretrain) or a standalone one (nas train's model.pt)",
               required=True),
        Option("--arch", "architecture string, JSON, or a JSON file such as best_arch.json"),
        Option("--out", "export folder", required=True),
        Option("--format", "weights only (state_dict, default), a traced TorchScript file or an ONNX file",
               default="state_dict", choices=FORMATS),
        Option("--input", "TxHxW of the clip (default: the checkpoint's)"),
        Option("--batch", "batch of the traced example (ONNX: the batch axis is dynamic anyway)",
               type=int, default=1),
        Option("--check", f"run the written file and compare with PyTorch; exit 1 above {PARITY_TOL:g}",
               kind="switch"),
    ])


def run(args) -> int:
    from ..deploy.export import run_export          # lazy: fast start (torch)

    manifest = run_export(args.checkpoint, args.arch, args.out, args.format,
                          parse_size(args.input) if args.input is not None else None, args.batch, args.check,
                          log=print)
    files = ", ".join(sorted(set(manifest["files"].values())))
    print(f"exported {manifest['model_spec']['name']} {manifest['arch']} to {args.out} ({files})")
    lowered = manifest["four_d_units"].get(args.format)
    if lowered:
        print(f"units {lowered} run on 4D tensors (Proposed-Add/Cat, no 3D conv)")
    check = manifest["checks"].get(args.format) if args.check else None
    return 1 if check is not None and not check["passed"] else 0
