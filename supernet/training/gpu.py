"""The GPU path of the training loop: ``train.compile`` and out-of-memory reports.

* `compile_or_eager(module)`: ``torch.compile(module)`` whose first call is tried, and on any
  compile failure (no C++ compiler for inductor, an unsupported op, a Python version torch
  cannot trace) falls back to the eager module for the rest of the run with ONE warning
  line. A supernet recompiles for each architecture it has not seen (dynamo guards on the
  module's state), up to torch's cache limit, after which dynamo itself runs eagerly; the
  option pays off for standalone training.
* `OutOfMemory`: what the loop raises on a CUDA out-of-memory error: the message names what
  to lower (the batch, the frames, the input size) and the file holding the traceback. It is
  not a ValueError / RuntimeError, so `nas` reports it as a resource failure (exit 3), never
  as bad input (exit 2).
"""
from __future__ import annotations

import traceback
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import OutOfMemory

OOM_ERRORS = (torch.cuda.OutOfMemoryError,)        # torch.OutOfMemoryError is the same class


class compile_or_eager:
    """Calls the compiled module; after a failed compile, the eager one (one warning)."""

    def __init__(self, module: nn.Module, backend: str = "inductor", **options):
        self.eager = module
        self.compiled = None
        try:
            self.compiled = torch.compile(module, backend=backend, **options)
        except Exception as e:                       # noqa: BLE001 - e.g. unsupported Python
            self._fall_back(e)

    def _fall_back(self, error: BaseException) -> None:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        warnings.warn(f"train.compile: torch.compile failed ({type(error).__name__}: {first}); "
                      "training continues uncompiled", RuntimeWarning, stacklevel=3)
        self.compiled = None

    @property
    def active(self) -> bool:
        return self.compiled is not None

    def __call__(self, *args, **kwargs):
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except OOM_ERRORS:
                raise
            except Exception as e:                   # noqa: BLE001
                if not _is_compile_error(e):
                    raise
                self._fall_back(e)
        return self.eager(*args, **kwargs)

    def __getattr__(self, name):                     # no_sync, module, ... of the eager module
        return getattr(self.eager, name)


def _is_compile_error(error: BaseException) -> bool:
    """An error raised by dynamo / inductor / a compiler backend, not by the model's code."""
    module = type(error).__module__ or ""
    return module.startswith(("torch._dynamo", "torch._inductor", "torch.fx", "torch._subclasses")) \
        or "compile" in type(error).__name__.lower()


def oom_report(error: BaseException, out_dir: str | Path, rank: int, step: int,
               shape: tuple | None) -> OutOfMemory:
    """Write the traceback of `error` under `out_dir` and return the `OutOfMemory` to raise."""
    path = Path(out_dir) / (f"oom_traceback.rank{rank}.txt" if rank else "oom_traceback.txt")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        where = str(path)
    except OSError:
        where = "not written (the output folder is not writable); rerun to see it"
    if shape is not None and len(shape) >= 4:
        batch, frames, size = shape[0], (shape[2] if len(shape) >= 5 else 1), "x".join(map(str, shape[-2:]))
        what = f"{batch} clips of {frames} frames at {size} per process"
    else:
        what = "this input"
    return OutOfMemory(f"CUDA out of memory at step {step} with {what}: lower train.batch_size, "
                       f"data.num_frames or data.size (or set train.amp: true); the traceback is "
                       f"in {where}")
