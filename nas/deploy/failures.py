"""One line for an exporter's failure: which submodule breaks the export, and the most telling
line of the exporter's message (TorchScript and ONNX share it)."""
from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from typing import Callable

import torch
from torch import nn

from supernet.ops.four_d import ExportError


def _reason(e: BaseException) -> str:
    """The most telling single line of an exporter's error message."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    skip = ("For more information", "The error above", "Suggested fixes", "If you would like")
    lines = [ln for ln in lines if not ln.startswith(skip)] or [type(e).__name__]
    text = lines[0]
    for ln in lines[1:4]:                        # torch.export puts the culprit on a later line
        if re.search(r"(aten|onnx|prim)::|[Uu]nsupported|not supported|data-dependent|Could not guard", ln):
            text = f"{text} ({ln})"
            break
    return text if len(text) <= 400 else text[:397] + "..."


@contextlib.contextmanager
def quiet_exporter():
    """torch.export / the ONNX exporter log progress and, on failure, whole graphs; the error
    is reported in one line instead."""
    logging.disable(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def _locate_failure(module: nn.Module, args: tuple, attempt: Callable, prefix: str = "",
                    depth: int = 0) -> tuple[str, nn.Module]:
    """The deepest submodule (qualified name, module) whose export fails too: the op to blame."""
    children = list(module.named_children())
    if not children or depth > 8:
        return prefix, module
    captured: dict[str, tuple] = {}
    hooks = [child.register_forward_pre_hook(lambda m, a, name=name: captured.setdefault(name, a))
             for name, child in children]
    try:
        with torch.no_grad():
            module(*args)
    except Exception:                                              # noqa: BLE001
        pass
    finally:
        for h in hooks:
            h.remove()
    for name, child in children:
        if name not in captured:
            continue
        child_args = captured[name]
        qual = f"{prefix}.{name}" if prefix else name
        if not all(isinstance(a, torch.Tensor) for a in child_args):
            found = _locate_failure(child, child_args, attempt, qual, depth + 1)
            if found[1] is not child:
                return found
            continue
        try:
            attempt(child, child_args)
        except Exception:                                          # noqa: BLE001
            return _locate_failure(child, child_args, attempt, qual, depth + 1)
    return prefix, module


def blame(module: nn.Module, example: torch.Tensor, fmt: str, error: BaseException,
           attempt: Callable) -> ExportError:
    name, culprit = _locate_failure(module, (example,), attempt)
    where = f"{name} ({type(culprit).__name__})" if name else type(culprit).__name__
    return ExportError(f"cannot export to {fmt}: {where}: {_reason(error)}")
