"""`nas export`: a searched architecture as files that run without the search code.

    nas export --checkpoint S.pt --arch ARCH --out DIR [--format state_dict|torchscript|onnx]
               [--input TxHxW] [--batch B] [--check]

An export folder holds

    export.json   manifest: model spec, architecture, source checkpoint (path, sha256), input,
                  batch, the files written, versions and the last parity check
    arch.json     the space's JSON of the architecture (`space.to_dict`)
    model.json    the resolved model config: the registry spec of the fixed network
                  (name, input_size, num_classes, kwargs, arch), enough to rebuild it
    weights.pt    the fixed network's state dict: only the weights the architecture uses
                  (`Supernet.export`); always written, read back with ``weights_only=True``
    model.ts      --format torchscript: `torch.jit.trace` of the deploy graph
    model.onnx    --format onnx: torch's exporter (torch.export -> ONNX, opset 18), with a
                  dynamic batch axis ("batch") on the clip input and the logits

A folder holding a different export (other model, architecture, checkpoint, input or batch)
is refused; the same export may be written again, e.g. in another format.

**The deploy graph.** TorchScript and ONNX files hold the fixed network in eval mode, with
one rewrite: a searched unit whose ops are natively 4D (Proposed-Add/Cat of the
3D-convolution split paper, `ProposedSplitOp`) is *lowered to 4D*: the clip
``(B, C, T, H, W)`` is flattened to ``(B, C, T, H·W)`` once before a run of such units and
unflattened after it, and inside, the op runs `forward_4d`, BatchNorm3d runs as a
per-channel batch norm on the 4D tensor, 1x1x1 Conv3d as a 1x1 Conv2d (on frames
``(B·T, C, H, W)`` when it strides space), and SE / self-gating pool over ``(T, H·W)``. So
those blocks hold no 5D tensor and no 3D convolution, as the paper claims for edge devices
(`onnx_graph_report` checks it on the file). The lowering and its rules live in
`supernet.ops.four_d`, registered by the modules that define the layers; a module in such a
unit with no rule is a one-line error, never a silent 5D fallback. Other strategies (c3d,
r21d, P3D, Rank-1) are 3D convs and stay 5D.

`--check` runs the written file (weights: rebuilt network; TorchScript: `torch.jit.load`;
ONNX: onnxruntime) on a random clip at batch 1 and at `--batch`, and prints the max abs
difference against the PyTorch subnet; above 1e-4 (fp32) the command exits with status 1.

Loading back: `load_export(DIR)` rebuilds the PyTorch network (evaluation, fine-tuning),
`load_export(DIR, runtime="torchscript" | "onnx")` runs the deploy file, and
``nas train --set init_from=DIR`` starts standalone training from the export's weights.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from search_spaces import parse_arch_arg, shorten
from search_spaces.errors import ConfigError, InputFileError, InputNotFoundError, OutputError, VidnasInputError
from supernet.ops.four_d import deploy_network
from supernet.registry import build_from_spec
from supernet.training.checkpoint import atomic_torch_save, check_finite_weights, check_weights, model_from_checkpoint, safe_load

from ..log import get_logger
from ..provenance import file_sha256, library_versions
from ..runfolder import KIND_FILE, check_run_folder, folder_kind, mark_folder
from ..utils import atomic_write_json, config_diff, read_json
from ..validate import check_checkpoint
from . import FORMATS, PARITY_TOL
from .onnx import ONNX_OPSET, OnnxRunner, require_onnx, write_onnx
from .torchscript import write_torchscript

EXPORT_FORMAT = "vidnas-export-v1"
LOG = get_logger("export")
MANIFEST, ARCH_JSON, MODEL_JSON, WEIGHTS = "export.json", "arch.json", "model.json", "weights.pt"
FILES = {"torchscript": "model.ts", "onnx": "model.onnx"}
RUNTIME_OF = {"state_dict": "torch", "torchscript": "torchscript", "onnx": "onnx"}


# ---- loading a network and an architecture ------------------------------------------------
def fixed_network(checkpoint: str | Path, arch: str | None = None):
    """(fixed network in eval mode, its architecture) from a supernet checkpoint and `arch`,
    or from a standalone checkpoint (`nas train`'s model.pt; `arch` optional)."""
    model = model_from_checkpoint(checkpoint)
    if getattr(model, "space", None) is None:
        raise VidnasInputError(f"{checkpoint} holds {model.spec['name']}, which has no search space to export from")
    chosen = parse_arch_arg(model.space, arch) if arch is not None else None
    if model.is_fixed:
        if chosen is not None and chosen != model.arch:
            raise VidnasInputError(f"{checkpoint} holds the fixed network {model.arch}; it cannot export {chosen}")
        net = model
    else:
        if chosen is None:
            raise VidnasInputError(f"{checkpoint} holds a supernet: pass --arch (a string, JSON or best_arch.json)")
        net = model.export(chosen)
    return net.eval(), net.arch


# ---- running an export ----------------------------------------------------------------------
def _manifest(folder: Path) -> dict[str, Any] | None:
    if not (folder / MANIFEST).is_file():
        return None
    data = read_json(folder / MANIFEST, "export manifest")
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise InputFileError(f"{folder} is not a vidnas export (expected {MANIFEST} format {EXPORT_FORMAT!r})")
    spec = data.get("model_spec")
    if "model_spec" in data and not (isinstance(spec, dict) and isinstance(spec.get("name"), str)):
        raise InputFileError(f"export manifest {folder / MANIFEST} is damaged: model_spec {shorten(spec)} "
                             "is not a registry spec (a mapping with the model's name)")
    return data


def read_export(folder: str | Path) -> dict[str, Any]:
    """The manifest of an export folder (one-line errors for a missing or foreign folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError(f"export folder not found: {folder}")
    data = _manifest(folder)
    if data is None:
        raise InputNotFoundError(f"{folder} holds no {MANIFEST}: not a `nas export` folder")
    return data


def load_export(folder: str | Path, runtime: str = "torch", threads: int | None = None):
    """The network of an export folder: ``torch`` (rebuilt nn.Module with the exported weights,
    eval mode; for evaluation or fine-tuning), ``torchscript`` or ``onnx`` (the deploy file)."""
    folder = Path(folder)
    manifest = read_export(folder)
    if runtime == "torch":
        state = safe_load(folder / WEIGHTS, "export weights")
        return check_weights(manifest["model_spec"], state, f"export {folder}").eval()
    if runtime not in FILES:
        raise VidnasInputError(f"unknown runtime {runtime!r}; allowed: torch, {', '.join(FILES)}")
    path = folder / FILES[runtime]
    if not path.is_file():
        raise InputNotFoundError(f"{folder} has no {FILES[runtime]}: export it with --format {runtime}")
    if runtime == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)     # torch 2.13 deprecates TorchScript
            return torch.jit.load(str(path), map_location="cpu").eval()
    return OnnxRunner(path, threads)


def export_state_dict(folder: str | Path, model_name: str, arch: str | None) -> dict[str, torch.Tensor]:
    """The exported weights for ``nas train --set init_from=DIR``, checked against the run's
    model and architecture."""
    manifest = read_export(folder)
    spec = manifest.get("model_spec")
    if not isinstance(spec, dict):
        raise InputFileError(f"export manifest {Path(folder) / MANIFEST} is damaged: it has no model_spec")
    if spec["name"] != model_name:
        raise VidnasInputError(f"export {folder} holds {spec['name']}, not {model_name}")
    if arch is not None:
        try:
            with torch.device("meta"):
                space = build_from_spec(spec).space
        except (KeyError, TypeError, ValueError) as e:
            raise InputFileError(f"export manifest {Path(folder) / MANIFEST}: its model_spec does not build: "
                                 f"{(str(e).splitlines() or [type(e).__name__])[0][:200]}") from None
        if space.parse(arch) != space.parse(spec.get("arch")):
            raise VidnasInputError(f"export {folder} holds the architecture {spec['arch']}, not {arch}")

    state = safe_load(Path(folder) / WEIGHTS, "export weights")
    if not isinstance(state, dict):
        raise InputFileError(f"export weights {Path(folder) / WEIGHTS} hold no state dict")
    check_finite_weights(state, f"export weights {Path(folder) / WEIGHTS}")
    return state


def max_abs_diff(run: Callable, reference: nn.Module, clips: torch.Tensor) -> float:
    with torch.no_grad():
        ref = reference(clips)
        out = run(clips)
    return float((out.to(ref.dtype) - ref).abs().max())


# ---- the export command -----------------------------------------------------------------------
def _identity(spec, checkpoint_sha256, input_size, batch) -> dict[str, Any]:
    """What makes two exports the same export (the checkpoint by content, not by path)."""
    return json.loads(json.dumps({"model_spec": spec, "checkpoint_sha256": checkpoint_sha256,
                                  "input": list(input_size), "batch": int(batch)}))


def _prepare_folder(out: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """Open `out` for this export; refuse a folder holding anything else."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a folder")
    old = _manifest(out) if out.is_dir() else None
    if old is None:

        names = {p.name for p in out.iterdir()} if out.is_dir() else set()
        unfinished = folder_kind(out) == "export" and names <= EXPORT_FILES | {KIND_FILE}
        if names - {KIND_FILE} and not unfinished:      # (an export killed part-way is redone)
            raise OutputError(f"--out {out} is not empty and holds no {MANIFEST}; use another folder")
        return {}

    diff = config_diff({k: old.get(k) for k in identity}, identity)
    if diff:
        raise OutputError(f"{out} holds a different export ({diff}); use another --out")
    return old


EXPORT_FILES = {MANIFEST, ARCH_JSON, MODEL_JSON, WEIGHTS, *FILES.values()}


def _partial_folder(out: Path) -> Path:
    """The temporary folder beside `out` a new export is written into (emptied first: a
    killed export's leftover)."""
    work = out.parent / f".{out.name}.partial-export"
    if work.is_dir() and not work.is_symlink():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    return work


def _move_into_place(work: Path, out: Path) -> None:
    """Rename the complete export `work` to `out`; when `out` exists (an empty folder, one
    holding only its marker or a killed export's files, or a symlink to one), move the files
    into it with export.json last and remove `work`."""
    if not out.exists() and not out.is_symlink():
        os.replace(work, out)
        return
    new = sorted(work.iterdir(), key=lambda p: p.name == MANIFEST)
    for name in EXPORT_FILES - {p.name for p in new}:        # a killed export's other files
        (out / name).unlink(missing_ok=True)
    for p in new:
        os.replace(p, out / p.name)
    work.rmdir()


def run_export(checkpoint: str | Path, arch: str | None, out: str | Path, fmt: str = "state_dict",
               input_size=None, batch: int = 1, check: bool = False, log: Callable[[str], None] | None = None,
               seed: int = 0) -> dict[str, Any]:
    """Write an export folder (module docstring); returns its manifest (with ``check`` results
    when asked: max abs differences at batch 1 and `batch`). The check's line goes to `log`,
    else to the ``vidnas`` logger."""

    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; allowed: {', '.join(FORMATS)}")
    if not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"--batch must be a positive int, got {batch!r}")

    if fmt == "onnx":
        require_onnx()
    out = check_run_folder(out, "export", what="--out")           # before anything is written
    check_checkpoint(checkpoint, "--checkpoint", weights=False)
    net, arch_obj = fixed_network(checkpoint, arch)
    size = tuple(int(v) for v in (input_size or net.spec["input_size"]))
    if len(size) != 3:
        raise ConfigError(f"--input must be TxHxW for a video model, got {'x'.join(map(str, size))}")
    identity = _identity(net.spec, file_sha256(checkpoint), size, batch)
    old = _prepare_folder(out, identity)
    gen = torch.Generator().manual_seed(seed)
    example = torch.randn(max(batch, 2), 3, *size, generator=gen)
    with torch.no_grad():
        net(example[:1])                                # bad sizes fail here, in one line
    # A new export is written into a temporary folder beside --out and moved into place when
    # complete (export.json last), so a kill leaves no half export in --out; adding a format
    # to a finished export writes beside its files (each atomically, the manifest last).
    work = out if old else _partial_folder(out)
    mark_folder(work, "export")
    files = dict(old.get("files", {}))
    atomic_torch_save(net.state_dict(), work / WEIGHTS)
    atomic_write_json(work / ARCH_JSON, net.space.to_dict(arch_obj))
    atomic_write_json(work / MODEL_JSON, net.spec)
    files["state_dict"] = WEIGHTS
    lowered: list[int] = []
    if fmt != "state_dict":
        deploy, lowered = deploy_network(net, example[:1])
        writer = write_onnx if fmt == "onnx" else write_torchscript
        writer(deploy, example[:batch], work / FILES[fmt])
        files[fmt] = FILES[fmt]
    manifest = {"format": EXPORT_FORMAT, **identity, "checkpoint": str(Path(checkpoint).resolve()),
                "arch": str(arch_obj), "files": files,
                "four_d_units": {**old.get("four_d_units", {}), **({fmt: lowered} if fmt != "state_dict" else {})},
                "onnx_opset": ONNX_OPSET if "onnx" in files else None, "versions": library_versions(),
                "checks": {k: v for k, v in old.get("checks", {}).items() if k != fmt}}
    atomic_write_json(work / MANIFEST, manifest)
    if work != out:
        _move_into_place(work, out)
    if check:
        run = load_export(out, RUNTIME_OF[fmt])
        clips = torch.randn(batch, 3, *size, generator=gen)
        diffs = {f"batch {b}": max_abs_diff(run, net, clips[:b]) for b in sorted({1, batch})}
        worst = max(diffs.values())
        manifest["checks"][fmt] = {"max_abs_diff": diffs, "tolerance": PARITY_TOL, "passed": worst <= PARITY_TOL}
        (log or LOG.info)(f"check {fmt}: max |diff| vs the PyTorch subnet = "
            + ", ".join(f"{v:.3g} ({k})" for k, v in diffs.items())
            + f"; {'ok' if worst <= PARITY_TOL else 'FAILED'} (tolerance {PARITY_TOL:g})")
        atomic_write_json(out / MANIFEST, manifest)
    return manifest
