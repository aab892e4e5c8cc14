"""Peak activation memory of a step: C(θ) for ``nas search --cost memory`` and the
``--max-memory-mb`` hard limit.

**What is counted.** The peak of the bytes held by the framework's allocator during one step,
above what it held before the step (the weights and the input clip): on CUDA
``torch.cuda.max_memory_allocated()`` minus ``memory_allocated()`` before (after
`reset_peak_memory_stats`); on CPU the c10 CPU allocator's allocation and free events, which
`torch.profiler` records with ``profile_memory=True`` (every tensor and every scratch buffer a
kernel takes from the allocator), in order: the maximum of their running sum. MB = 2^20 bytes.

**Inference step** (eval mode, `torch.inference_mode`): computed per unit, exactly. A network is
``head(forward_units(stem(x)))`` and ``forward_units`` runs ``h = layer(h)``; nothing is kept for
a backward pass, so while layer k runs the live activations are its input h_k (h_0 = the stem's
output S) and what the layer itself allocates. With T_k the peak of layer k measured in
isolation on its real input (its output included), and P_stem / T_head the same for the stem
and the head,

    peak(θ) = max(P_stem,  max_k (|h_k| + T_k(θ)),  |h_head| + T_head)

A unit's op is a drop-in replacement, so |h_k| does not depend on any choice and only T_k of a
unit depends on (only) its own choice: one measurement per (unit, choice), as for FLOPs.
(Python 3.11 hands a call's arguments to the callee, so S is freed once layer 0 returns;
Python 3.10 keeps it on the caller's stack until ``forward_units`` returns, adding |S| to every
layer k >= 1. The table finds out which on one end-to-end measurement when it is built and
refuses to be built if neither matches.) The composition is tested to the byte against
end-to-end measurement (`measure_peak_bytes`).
For a partly random architecture (greedy pass 1) a random unit counts the mean of its choices;
the hard limit uses the cheapest completion (max is monotone, so that is exact).

**Training step** (``--memory-step train``: train mode, forward, cross-entropy, backward, weight
gradients from None): activations saved for the backward pass add up instead, so it is measured
end to end per architecture (cached), like measured latency.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile

from search_spaces import Arch
from search_spaces.errors import InputFileError, VidnasInputError

from .base import TableKey
from .latency import network_pieces
from ..utils import atomic_write_json, read_json

MB = 2 ** 20
MEMORY_FORMAT = "vidnas-memory-table-v1"
STEPS = ("inference", "train")


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the profiler backend's start/stop lines, written to fd 2 by C++ code."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_bytes(fn: Callable[[], Any], device="cpu") -> int:
    """Peak bytes allocated above the current allocation while `fn()` runs (module docstring)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    if device.type != "cpu":
        raise VidnasInputError(f"peak memory is measured on cpu or cuda, not {device}")
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [(e.start_ns(), i, e.nbytes()) for i, e in enumerate(prof.profiler.kineto_results.events())
              if e.name() == "[memory]" and e.device_type() == torch.profiler.DeviceType.CPU]
    running = peak = 0
    for _, _, nbytes in sorted(events):
        running += nbytes
        peak = max(peak, running)
    return int(peak)


def _nbytes(x: torch.Tensor) -> int:
    return x.untyped_storage().nbytes()


def _inference_peak(module: nn.Module, x: torch.Tensor, warmup: int = 1) -> int:
    def run():
        with torch.inference_mode():
            module(x)
    for _ in range(warmup):          # one-time allocations (index caches, kernels) happen here
        run()
    return peak_bytes(run, x.device)


def measure_peak_bytes(net: nn.Module, input_size, batch: int = 1, device="cpu", step: str = "inference",
                       seed: int = 0) -> int:
    """End-to-end peak of one step of `net` (a fixed network) on a random batch (the reference
    of the table; the cost of a training step)."""
    if step not in STEPS:
        raise VidnasInputError(f"unknown memory step {step!r}; allowed: {', '.join(STEPS)}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, *input_size, generator=gen).to(device)
    net = net.to(device)
    if step == "inference":
        return _inference_peak(net.eval(), x)
    net.train()
    y = torch.zeros(batch, dtype=torch.long, device=device)
    params = [p for p in net.parameters() if p.requires_grad]

    def run():
        F.cross_entropy(net(x), y).backward()

    def clear():
        for p in params:
            p.grad = None
    state = {k: v.clone() for k, v in net.state_dict().items()}      # BN running stats move
    run()
    clear()
    try:
        return peak_bytes(run, device)
    finally:
        clear()
        net.load_state_dict(state)


@dataclass
class MemoryTable(TableKey):
    """What `peak(θ)` of the module docstring needs, in bytes, for one model, input, batch, device
    (`TableKey`)."""

    stem_peak: int
    stem_out: int
    layer_in: list[int]                          # |h_k| of every layer (layer 0: the stem output)
    fixed_peak: dict[int, int]                   # layer -> T_k of the fixed layers
    unit_layers: list[int]
    unit_peak: list[dict[str, int]]              # unit -> token -> T_k
    head_in: int
    head_peak: int
    holds_stem_output: bool = False              # Python < 3.11 (see the module docstring)
    meta: dict[str, Any] = field(default_factory=dict)

    def _layers_peak(self, arch: Arch, decided: int | None, pick) -> float:
        if len(arch) != len(self.unit_peak):
            raise VidnasInputError(f"memory table has {len(self.unit_peak)} units, architecture has {len(arch)}: {arch}")
        n = len(arch) if decided is None else decided
        peaks = dict(self.fixed_peak)
        for i, k in enumerate(self.unit_layers):
            peaks[k] = self.unit_peak[i][arch[i].token] if i < n else pick(self.unit_peak[i].values())
        held = self.stem_out if self.holds_stem_output else 0
        return max(self.layer_in[k] + t + (held if k > 0 else 0) for k, t in peaks.items())

    def bytes(self, arch: Arch, decided: int | None = None) -> float:
        """peak(θ) in bytes (random units from `decided` on: the mean of their choices)."""
        inner = self._layers_peak(arch, decided, lambda v: sum(v) / len(v))
        return max(self.stem_peak, inner, self.head_in + self.head_peak)

    def mb(self, arch: Arch, decided: int | None = None) -> float:
        return self.bytes(arch, decided) / MB

    __call__ = mb

    def min_mb(self, arch: Arch, decided: int | None = None) -> float:
        """The peak of the cheapest completion of `arch`'s first `decided` units, in MB."""
        inner = self._layers_peak(arch, decided, min)
        return max(self.stem_peak, inner, self.head_in + self.head_peak) / MB

    def to_dict(self) -> dict[str, Any]:
        return {"format": MEMORY_FORMAT, "model_spec": self.model_spec, "input": list(self.input_size),
                "batch": self.batch, "device": self.device, "stem_peak": self.stem_peak,
                "stem_out": self.stem_out, "layer_in": self.layer_in,
                "fixed_peak": {str(k): v for k, v in self.fixed_peak.items()},
                "unit_layers": self.unit_layers, "unit_peak": self.unit_peak, "head_in": self.head_in,
                "head_peak": self.head_peak, "holds_stem_output": self.holds_stem_output, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MemoryTable":
        if not isinstance(d, dict) or d.get("format") != MEMORY_FORMAT:
            raise InputFileError(f"not a memory table (expected format {MEMORY_FORMAT!r})")
        return cls(d["model_spec"], tuple(d["input"]), int(d["batch"]), d["device"], int(d["stem_peak"]),
                   int(d["stem_out"]), [int(v) for v in d["layer_in"]],
                   {int(k): int(v) for k, v in d["fixed_peak"].items()}, [int(v) for v in d["unit_layers"]],
                   [{k: int(v) for k, v in u.items()} for u in d["unit_peak"]], int(d["head_in"]),
                   int(d["head_peak"]), bool(d.get("holds_stem_output", False)), d.get("meta", {}))

    def save(self, path) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "MemoryTable":
        return cls.from_dict(read_json(path, "memory table"))


@torch.no_grad()
def build_memory_table(model, input_size, batch: int = 1, device="cpu") -> MemoryTable:
    """Measure every fixed part and every (unit, choice) of `model` (a supernet) once, each in
    isolation on its real input (`nas.costs.latency.network_pieces`)."""

    if not isinstance(batch, int) or batch < 1:
        raise VidnasInputError(f"memory batch must be a positive int, got {batch!r}")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise VidnasInputError("memory on cuda: no CUDA device is available here")
    model = model.eval().to(device)
    pieces = network_pieces(model, input_size, batch, device)
    n_layers = len(model.layers)
    layer_in = [0] * n_layers
    fixed_peak: dict[int, int] = {}
    unit_peak: list[dict[str, int]] = [{} for _ in range(model.space.num_units)]
    stem_peak = stem_out = head_in = head_peak = 0
    for p in pieces:
        t = _inference_peak(p.module, p.x)
        if p.key == "stem":
            stem_peak = t
            with torch.inference_mode():
                stem_out = _nbytes(p.module(p.x))
        elif p.key == "head":
            head_in, head_peak = _nbytes(p.x), t
        else:
            k = int(p.key.split(".")[1])
            layer_in[k] = _nbytes(p.x)
            if p.unit is None:
                fixed_peak[k] = t
            else:
                unit_peak[p.unit][p.token] = t
    spec = getattr(model, "spec", None) or {"name": type(model).__name__, "input_size": list(input_size)}
    table = MemoryTable(spec, tuple(int(v) for v in input_size), batch, torch.device(device).type, stem_peak,
                        stem_out, layer_in, fixed_peak, list(model.unit_layers), unit_peak, head_in, head_peak,
                        meta={"torch": torch.__version__, "method": "CUDA max_memory_allocated" if
                              torch.device(device).type == "cuda" else "torch.profiler CPU allocator events"})
    # which interpreter semantics hold here: check against one end-to-end measurement
    arch = model.space.default_arch()
    measured = measure_peak_bytes(model.export(arch), input_size, batch, device)
    for holds in (False, True):
        table.holds_stem_output = holds
        if table.bytes(arch) == measured:
            return table
    raise VidnasInputError(f"the per-unit memory of {spec['name']} does not compose: {int(table.bytes(arch))} "
                           f"bytes computed, {measured} measured end to end for {arch}")


def load_or_build_memory_table(model, input_size, batch, device, path=None) -> MemoryTable:
    """The table at `path` when it was built for this model, input, batch and device, else a new
    one (saved to `path` when given)."""
    if path is not None and Path(path).is_file():
        table = MemoryTable.load(path)
        if table.matches(model.spec, input_size, batch, device):
            return table
    table = build_memory_table(model, input_size, batch, device)
    if path is not None:
        table.save(path)
    return table


class MemoryCost:
    """C(θ) in MB: the inference table, or a measured training step per architecture (cached)."""

    unit = "MB"

    def __init__(self, model, input_size, batch: int, device, step: str, table: MemoryTable | None):
        if step not in STEPS:
            raise VidnasInputError(f"unknown memory step {step!r}; allowed: {', '.join(STEPS)}")
        self.model, self.input_size, self.batch, self.device = model, tuple(input_size), batch, device
        self.step, self.table = step, table
        self._cache: dict[str, float] = {}

    def __call__(self, arch: Arch, decided: int | None = None) -> float:
        if self.step == "inference":
            return self.table.mb(arch, decided)
        key = str(arch)
        if key not in self._cache:
            self._cache[key] = measure_peak_bytes(self.model.export(arch), self.input_size, self.batch,
                                                  self.device, "train") / MB
        return self._cache[key]
