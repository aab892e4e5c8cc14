"""Checkpoints: atomic writes, safe loads, and rebuilding a network from one.

A checkpoint is a plain dict saved with `torch.save` and read back with
``torch.load(..., weights_only=True)``, so an untrusted file never runs code: everything in it
is a tensor or a plain Python value (RNG states included). Keys:

    format       "vidnas-checkpoint-v1"
    kind         "supernet" | "standalone"
    model_spec   registry spec (name, input_size, num_classes, kwargs, arch) to rebuild the net
    space        the search space's config() (plain dict)
    model        state dict
    optimizer, scheduler, sampler   training state (plain)
    step, epoch  progress (optimizer steps done; epoch of the next step)
    rng          {"torch": ByteTensor, "cuda": [ByteTensor]} (Python's `random` is unused)
    config       the resolved run config (plain dict)
"""
from __future__ import annotations

import argparse
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from search_spaces.errors import InputFileError, InputNotFoundError

from ..registry import build_from_spec
from ..utils.io import atomic_write  # noqa: F401  (re-exported: the one atomic write)

FORMAT = "vidnas-checkpoint-v1"


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save` through `atomic_write`."""
    atomic_write(path, lambda f: torch.save(obj, f))


def rng_state() -> dict[str, Any]:
    """Every RNG a training step reads, as tensors and plain values. Python's global `random`
    is not among them (architecture samplers, random-GTM and data augmentation draw from their
    own seeded generators), so it is not saved: its unseeded state only made two identical
    runs write checkpoints with different bytes."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])       # an older checkpoint's "python" state is ignored
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# Classes weights-only loading may rebuild besides tensors and plain values: the official
# CycleMLP `main.py` saves its command line as ``args`` (an argparse.Namespace of plain values).
SAFE_GLOBALS = [argparse.Namespace]


def safe_load(path: str | os.PathLike, what: str = "checkpoint",
              map_location: str | torch.device = "cpu") -> Any:
    """`torch.load(path, weights_only=True)` with only `SAFE_GLOBALS` allow-listed (scoped to
    this call, never process-wide), so an untrusted file never runs code. A missing file is a
    FileNotFoundError, any other failure one ValueError line: a file that needs other classes
    is "not a vidnas checkpoint, or unsafe to load", never torch's weights_only=False advice."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{what} not found: {path}" + (" (a folder)" if path.is_dir() else ""))
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS), warnings.catch_warnings():
            warnings.simplefilter("ignore")     # e.g. "pickle protocol 4": the error says enough
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        operand = re.search(r"Unsupported operand (\d+)", str(e))
        if operand or ("weights only" not in str(e).lower() and "weights_only" not in str(e)):
            detail = (f"not a torch checkpoint (the weights-only reader stops at pickle operand "
                      f"{operand.group(1)})" if operand else
                      (str(e).strip().splitlines() or [type(e).__name__])[0][:200])
            raise InputFileError(f"cannot read {what} {path}: {detail}; it was not loaded") from None
        needs = re.search(r"GLOBAL (\S+)|Unsupported global: (\S+)", str(e))
        name = next((g for g in needs.groups() if g), None) if needs else None
        why = f" (it needs {name.rstrip(',.')!r}, which could run code)" if name else ""
        raise InputFileError(f"{what} {path} is not a vidnas checkpoint, or is unsafe to load{why}; it "
                             "was not loaded") from None
    except Exception as e:                                            # noqa: BLE001
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        with open(path, "rb") as f:
            magic = f.read(2)
        if magic != b"PK" and not magic.startswith(b"\x80"):     # neither a zip nor a pickle
            first = f"not a torch checkpoint file (it starts with {magic!r}; {first[:120]})"
        raise InputFileError(f"cannot read {what} {path}: {first[:200]}") from None


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    what: str = "checkpoint") -> dict[str, Any]:
    """Read a vidnas checkpoint safely; one-line errors for a missing or foreign file."""
    ckpt = safe_load(path, what, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InputFileError(f"{path} is not a vidnas checkpoint (expected format {FORMAT!r})")
    for key in ("model_spec", "model"):
        if not isinstance(ckpt.get(key), dict):
            raise InputFileError(f"{what} {path} is damaged: it has no {key!r} (a vidnas checkpoint "
                                 "stores model_spec and model)")
    check_finite_weights(ckpt["model"], f"{what} {path}")
    return ckpt


def check_finite_weights(state: dict[str, Any], where: str) -> None:
    """One-line ValueError naming the first tensor of `state` that holds a NaN or an infinity
    (a diverged or tampered file: searching or training from it gives garbage)."""
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()) \
                and not bool(torch.isfinite(value).all()):
            kind = "NaN" if bool(torch.isnan(value).any()) else "infinite"
            raise InputFileError(f"{where} holds {kind} weights in {name!r}; it was not loaded (a diverged "
                                 "or damaged file)")


def check_weights(spec: dict[str, Any], state: dict[str, Any], where: str):
    """The network of `spec` with `state` loaded; a one-line error naming the first missing,
    unexpected or mis-shaped tensor when they do not match (never torch's multi-line list)."""
    try:
        model = build_from_spec(spec)
    except (KeyError, TypeError, ValueError) as e:
        raise InputFileError(f"{where}: its model_spec does not build: {str(e).splitlines()[0][:200]}") from None
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shaped = [k for k in own if k in state and (not isinstance(state[k], torch.Tensor)
                                               or tuple(state[k].shape) != tuple(own[k].shape))]
    if missing or unexpected or shaped:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first {missing[0]!r})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first {unexpected[0]!r})")
        if shaped:
            k = shaped[0]
            got = tuple(state[k].shape) if isinstance(state[k], torch.Tensor) else type(state[k]).__name__
            parts.append(f"{len(shaped)} of another shape (first {k!r}: {got} != {tuple(own[k].shape)})")
        raise InputFileError(f"{where}: the weights do not match its model spec "
                             f"{spec.get('name')!r}: {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)
    return model


def save_checkpoint(path: str | os.PathLike, *, model, kind: str, step: int, epoch: int,
                    optimizer=None, scheduler=None, sampler_state: dict | None = None,
                    config: dict | None = None, extra: dict | None = None) -> None:
    """Write a checkpoint atomically (a crash leaves the previous file intact)."""
    net = getattr(model, "module", model)                            # unwrap DDP
    spec = getattr(net, "spec", None)
    if spec is None:
        raise ValueError("save_checkpoint needs a model built by supernet.registry.build_model")
    space = getattr(net, "space", None)
    ckpt = {
        "format": FORMAT, "kind": kind, "model_spec": spec,
        "space": space.config() if space is not None else None,
        "model": net.state_dict(), "step": int(step), "epoch": int(epoch),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "sampler": sampler_state, "rng": rng_state(), "config": config or {},
    }
    ckpt.update(extra or {})
    atomic_torch_save(ckpt, path)


def model_from_checkpoint(ckpt: dict[str, Any] | str | os.PathLike, arch=None,
                          map_location: str | torch.device = "cpu"):
    """Rebuild the network stored in a checkpoint (a path or a loaded dict) with its weights.

    For a supernet checkpoint, `arch` optionally sets the active architecture.
    """
    where = "checkpoint"
    if not isinstance(ckpt, dict):
        where = f"checkpoint {ckpt}"
        ckpt = load_checkpoint(ckpt, map_location)
    model = check_weights(ckpt["model_spec"], ckpt["model"], where)
    if arch is not None:
        model.set_arch(arch)
    return model.to(map_location)
