"""Clips per second of the data loader and of a training step, measured the same way by
``experiments/benchmarks/bench_augment.py`` and ``experiments/gpu_check.py``.

Both imports stay light (torch and vidnas's data / model paths; no PyAV, Ray, Optuna or
fvcore), so the GPU check can run them on a machine without those packages.
"""
from __future__ import annotations

import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from search_spaces.errors import DataError

from .data import build_loader


def loader_clips_per_second(dataset, batch: int, workers: int, batches: int, sampler=None,
                            seed: int = 0) -> float:
    """Steady-state clips/s of `build_loader` over `dataset`: the clock starts after the first
    batch and the ones the workers prefetch (2 each), then runs over `batches` batches (at
    least 4 per worker)."""
    loader = build_loader(dataset, batch, shuffle=sampler is None, seed=seed, num_workers=workers,
                          drop_last=True, sampler=sampler)
    skip, measured = 1 + 2 * workers, max(batches, 4 * workers)
    if len(loader) < skip + measured:
        raise DataError(f"the dataset has {len(loader)} batches of {batch}; the measurement needs "
                        f"{skip + measured}")
    it = iter(loader)
    for _ in range(skip):
        next(it)
    start = time.perf_counter()
    n = sum(len(next(it)[1]) for _ in range(measured))
    return n / (time.perf_counter() - start)


def training_step(model, batch: int, input_size: tuple, num_classes: int, device,
                  amp: bool = False, seed: int = 0, smoothing: float = 0.1):
    """A closure running one AdamW step of `model` on a fixed random batch; returns the loss.
    ``amp``: bf16 autocast on the device (CUDA or CPU)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, *input_size, generator=g).to(device)
    y = torch.randint(0, num_classes, (batch,), generator=g).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ctx = (lambda: torch.autocast(torch.device(device).type, dtype=torch.bfloat16)) if amp else nullcontext

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        with ctx():
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
        loss.backward()
        opt.step()
        return float(loss.detach())
    return step


def step_clips_per_second(step, batch: int, steps: int, device="cpu") -> float:
    """clips/s of `step()` (a `training_step`) after one warm-up step."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return batch * steps / (time.perf_counter() - start)
