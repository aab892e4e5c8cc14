"""TorchScript deploy files: `torch.jit.trace` of the deploy graph, saved atomically."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from supernet.utils.io import atomic_write

from .failures import blame


def _trace_torchscript(module: nn.Module, example: torch.Tensor):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.enable_grad():                     # no evaluation caches baked in as constants
            return torch.jit.trace(module, (example,), check_trace=False)


def write_torchscript(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Trace `module` on `example` and save it atomically to `path`."""
    try:
        traced = _trace_torchscript(module, example)
    except Exception as e:                                         # noqa: BLE001
        raise blame(module, example, "TorchScript", e, lambda m, a: _trace_torchscript(m, a[0])) from None
    atomic_write(path, lambda f: torch.jit.save(traced, f))
