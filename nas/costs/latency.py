"""Latency lookup table (Once-for-All's LUT): `nas latency-table`, and C(θ) summed from it.

    nas latency-table --model M --input TxHxW [--batch B] [--device cpu|cuda] [--threads N]
                      [--runtime torch|onnxruntime] [--repeats R] --out lut.json

Measuring every candidate end to end (`--cost latency` without a table) costs a warm-up and
repeats per architecture and is noisy on a shared machine. A network is ``stem -> layers ->
head`` and a unit's op is a drop-in replacement (its input shape does not depend on any
choice), so, as in Once-for-All, each unit's every choice is timed *once, in isolation, on its
real input* (the activation the network feeds it), and the fixed parts (stem, stage
transitions, head) are timed once; the latency of an architecture is then

    L(θ) ≈ L_fixed + Σ_i L_i(θ_i)

summed exactly like the FLOPs table (`nas.costs.unit_table.sum_unit_table`). Every entry
is the median of `torch.utils.benchmark`'s `blocked_autorange` after a warm-up; with
``--repeats R`` the whole table is timed R times in interleaved passes (entry 1, 2, ..., then
again) and each entry keeps the median of its R medians, so that a slow spell of a busy
machine hits all entries alike instead of a few. ``--runtime onnxruntime`` times each piece
as its own ONNX file (Proposed-Add/Cat units lowered to 4D as in `nas export`) in an
onnxruntime session with ``--threads`` intra-op threads.

The JSON records the model spec, input, batch, device, threads, runtime, library versions and
the machine, and `LatencyTable.check` refuses a table made for another model, input, batch or
device (one line naming the mismatch). ``nas search --cost latency --latency-table lut.json``
uses it. The sum ignores what the pieces share when run together (caches, allocator reuse,
Python overhead of one call instead of many): `experiments/benchmarks/bench_latency.py`
measures how far the sum is from end-to-end latency.
"""
from __future__ import annotations

import copy
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn
from torch.utils import benchmark

from search_spaces import Arch, shorten
from search_spaces.errors import InputFileError, VidnasInputError
from supernet.ops.four_d import layer_inputs, lower_unit, natively_4d
from supernet.utils.progress import progress as progress_bar

from ..deploy.onnx import OnnxRunner, write_onnx
from ..provenance import library_versions, machine_info
from ..utils import atomic_write_json, read_json
from ..validate import DEVICE_RE
from . import CLOCKS, RUNTIMES
from .base import TableKey
from .unit_table import sum_unit_table

LUT_FORMAT = "vidnas-latency-table-v1"


# ---- timing ---------------------------------------------------------------------------------


def median_ms(fn: Callable[[], Any], min_run_time: float = 0.2, threads: int = 1, warmup: int = 3,
              clock: str = "wall") -> float:
    """Median time of `fn()` in ms: `warmup` calls, then `torch.utils.benchmark`'s
    `blocked_autorange` (blocks of calls until `min_run_time` seconds) with `threads` torch
    threads. `fn` synchronises itself when it runs on a GPU.

    ``clock="cpu"`` times the calling thread's CPU time (`time.thread_time`) instead of wall
    time: with one thread it is the latency on an idle core without the time the OS gave to
    other processes, the steady figure on a busy machine (more threads would run outside
    the calling thread, so it needs ``threads=1``)."""
    if clock not in CLOCKS:
        raise VidnasInputError(f"unknown clock {clock!r}; allowed: {', '.join(CLOCKS)}")
    if clock == "cpu" and threads != 1:
        raise VidnasInputError(f"the cpu clock times the calling thread only; it needs 1 thread, not {threads}")
    for _ in range(warmup):
        fn()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads,
                            timer=time.thread_time if clock == "cpu" else time.perf_counter)
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


# ---- the pieces of a network ----------------------------------------------------------------
@dataclass
class Piece:
    """A part of a fixed network with its real input: the stem, a layer or the head."""

    key: str                     # "stem", "layers.K", "head"
    unit: int | None             # the searchable unit it is, if any
    token: str | None            # that unit's choice
    module: nn.Module
    x: torch.Tensor


def choice_sweep(space) -> list[Arch]:
    """max_i |choices(i)| architectures; the k-th gives unit i its ``k mod |choices(i)|``-th
    choice, so that together they hold every choice of every unit (as the FLOPs table)."""
    n = space.num_units
    return [Arch(tuple(space.choices(i)[k % len(space.choices(i))] for i in range(n)))
            for k in range(max(len(space.choices(i)) for i in range(n)))]


@torch.no_grad()
def network_pieces(model, input_size, batch: int = 1, device="cpu", seed: int = 0) -> list[Piece]:
    """Every fixed part once and every (unit, choice) once, each with the input the exported
    network gives it on a random clip (fixed parts first, in network order)."""
    gen = torch.Generator().manual_seed(seed)
    clip = torch.randn(batch, 3, *input_size, generator=gen).to(device)
    pieces: list[Piece] = []
    seen: set[tuple[int, str]] = set()
    for k, arch in enumerate(choice_sweep(model.space)):
        net = model.export(arch).eval().to(device)
        inputs = layer_inputs(net, clip)
        units = {layer: i for i, layer in enumerate(net.unit_layers)}
        if k == 0:
            pieces.append(Piece("stem", None, None, net.stem, inputs["stem"]))
            pieces += [Piece(f"layers.{j}", None, None, net.layers[j], inputs[f"layers.{j}"])
                       for j in range(len(net.layers)) if j not in units]
            pieces.append(Piece("head", None, None, net.head, inputs["head"]))
        for j, i in units.items():
            token = arch[i].token
            if (i, token) not in seen:
                seen.add((i, token))
                pieces.append(Piece(f"layers.{j}", i, token, net.layers[j], inputs[f"layers.{j}"]))
    return pieces


def _torch_runner(module: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    def run():
        with torch.inference_mode():
            module(x)
        if x.is_cuda:
            torch.cuda.synchronize(x.device)
    return run


def _onnx_runner(piece: Piece, folder: Path, threads: int) -> Callable[[], Any]:
    module = copy.deepcopy(piece.module).cpu().eval()
    x = piece.x.cpu()
    if piece.unit is not None and natively_4d(module):
        module = lower_unit(module, x, piece.key)
    path = folder / f"{piece.key}-{piece.token or 'fixed'}.onnx"
    write_onnx(module, x, path)
    runner = OnnxRunner(path, threads)
    xn = x.numpy()
    return lambda: runner.run_numpy(xn)


# ---- the table ----------------------------------------------------------------------------------
@dataclass
class LatencyTable(TableKey):
    """Per-unit latency (ms) of every choice (by token) plus the fixed parts, and where it was
    measured (`TableKey`: model, input, batch, device)."""

    threads: int
    runtime: str
    unit_ms: list[dict[str, float]]
    fixed_ms: dict[str, float]
    space: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    unit: ClassVar[str] = "ms"               # a `CostModel`

    @property
    def fixed_total(self) -> float:
        return sum(self.fixed_ms.values())

    def ms(self, arch: Arch, decided: int | None = None) -> float:
        """L(θ) of `arch` (units from `decided` on: their mean, as for FLOPs)."""

        if len(arch) != len(self.unit_ms):
            raise VidnasInputError(f"latency table has {len(self.unit_ms)} units, architecture has {len(arch)}: {arch}")
        missing = [(i, c.token) for i, c in enumerate(arch) if c.token not in self.unit_ms[i]]
        if missing:
            i, tok = missing[0]
            raise VidnasInputError(f"latency table has no entry for unit {i} choice {tok}; it holds "
                                   f"{', '.join(self.unit_ms[i])}")
        return sum_unit_table(self.unit_ms, self.fixed_total, arch, decided)

    __call__ = ms

    def to_dict(self) -> dict[str, Any]:
        return {"format": LUT_FORMAT, "model": self.model_spec.get("name"),
                "input": list(self.input_size), "batch": self.batch, "device": self.device,
                "threads": self.threads, "runtime": self.runtime, "model_spec": self.model_spec,
                "space": self.space, "meta": self.meta, "fixed_ms": self.fixed_ms, "unit_ms": self.unit_ms}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "latency table") -> "LatencyTable":
        """The table in `data`, every field checked: one line naming the first bad one (a
        missing key, a value of the wrong type, a latency that is not a finite number >= 0, a
        device that is not cpu, cuda or cuda:N)."""
        if not isinstance(data, dict) or data.get("format") != LUT_FORMAT:
            raise InputFileError(f"{source} is not a latency table (expected format {LUT_FORMAT!r})")
        missing = [k for k in ("model_spec", "input", "batch", "device", "threads", "runtime",
                               "unit_ms", "fixed_ms") if k not in data]
        if missing:
            raise InputFileError(f"{source} is malformed: it has no {missing[0]!r}")

        def bad(key: str, value: Any, allowed: str) -> InputFileError:
            return InputFileError(f"{source} is malformed: {key} is {shorten(value)}; expected {allowed}")

        def ms_map(key: str, value: Any) -> dict[str, float]:
            if not isinstance(value, dict) or not value:
                raise bad(key, value, "a mapping of names to milliseconds")
            for name, ms in value.items():
                if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms) or ms < 0:
                    raise bad(f"{key}[{name!r}]", ms, "a finite number of milliseconds >= 0")
            return {str(k): float(v) for k, v in value.items()}

        def count(key: str) -> int:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(key, value, "an integer >= 1")
            return value

        if not isinstance(data["model_spec"], dict) or not isinstance(data["model_spec"].get("name"), str):
            raise bad("model_spec", data["model_spec"], "a model spec (a mapping with a name)")
        size = data["input"]
        if not isinstance(size, list) or len(size) not in (2, 3) or \
                not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size):
            raise bad("input", size, "a list of 2 or 3 sizes >= 1")
        device = data["device"]
        if not isinstance(device, str) or device == "auto" or not DEVICE_RE.match(device):
            raise bad("device", device, "cpu, cuda or cuda:N")
        for key in ("runtime",):
            if not isinstance(data[key], str):
                raise bad(key, data[key], "a string")
        if not isinstance(data["unit_ms"], list) or not data["unit_ms"]:
            raise bad("unit_ms", data["unit_ms"], "a list of one mapping per unit")
        units = [ms_map(f"unit_ms[{i}]", u) for i, u in enumerate(data["unit_ms"])]
        space, meta = data.get("space", {}), data.get("meta", {})
        for key, value in (("space", space), ("meta", meta)):
            if not isinstance(value, dict):
                raise bad(key, value, "a mapping")
        return cls(data["model_spec"], tuple(size), count("batch"), device, count("threads"),
                   data["runtime"], units, ms_map("fixed_ms", data["fixed_ms"]), space, meta)

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "LatencyTable":
        return cls.from_dict(read_json(path, "latency table"), f"latency table {path}")


def build_latency_table(model, input_size, batch: int = 1, device: str = "cpu", threads: int = 1,
                        runtime: str = "torch", min_run_time: float = 0.2, repeats: int = 1,
                        clock: str = "wall", progress: bool = False) -> LatencyTable:
    """Time every piece of `model` (a supernet) in isolation (module docstring)."""
    if clock == "cpu" and torch.device(device).type == "cuda":
        raise VidnasInputError("the cpu clock cannot time a GPU; use --clock wall with --device cuda")
    if runtime not in RUNTIMES:
        raise VidnasInputError(f"unknown runtime {runtime!r}; allowed: {', '.join(RUNTIMES)}")
    if runtime == "onnxruntime" and torch.device(device).type != "cpu":
        raise VidnasInputError(f"--runtime onnxruntime times the CPU execution provider; use --device cpu, not {device}")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise VidnasInputError("--device cuda: no CUDA device is available here")
    for name, v in (("batch", batch), ("threads", threads), ("repeats", repeats)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise VidnasInputError(f"{name} must be a positive int, got {v!r}")
    if getattr(model, "space", None) is None or getattr(model, "is_fixed", False):
        raise VidnasInputError("a latency table is built from a supernet (a searchable model)")
    start = time.perf_counter()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = model.eval().to(device)
        pieces = network_pieces(model, input_size, batch, device)
        with tempfile.TemporaryDirectory(prefix="vidnas-lut-") as tmp:
            runners = [_torch_runner(p.module, p.x) if runtime == "torch" else _onnx_runner(p, Path(tmp), threads)
                       for p in _progress(pieces, progress, "preparing" if runtime != "torch" else None)]
            times: list[list[float]] = [[] for _ in pieces]
            for _ in range(repeats):                       # interleaved passes
                for j, run in enumerate(_progress(runners, progress, "timing")):
                    times[j].append(median_ms(run, min_run_time, threads, clock=clock))
    finally:
        torch.set_num_threads(before)
    med = [sorted(t)[len(t) // 2] for t in times]
    unit_ms: list[dict[str, float]] = [{} for _ in range(model.space.num_units)]
    fixed_ms: dict[str, float] = {}
    for p, ms in zip(pieces, med):
        if p.unit is None:
            fixed_ms[p.key] = ms
        else:
            unit_ms[p.unit][p.token] = ms
    meta = {"versions": library_versions(), "machine": machine_info(), "min_run_time": min_run_time,
            "repeats": repeats, "clock": clock, "seconds": round(time.perf_counter() - start, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "method": "median of torch.utils.benchmark "
            "blocked_autorange per piece in isolation on its real input, median over interleaved repeats"}
    spec = getattr(model, "spec", None) or {"name": type(model).__name__, "input_size": list(input_size)}
    return LatencyTable(spec, tuple(int(v) for v in input_size), batch, torch.device(device).type, threads,
                        runtime, unit_ms, fixed_ms, model.space.config(), meta)


def _progress(items, show: bool, desc: str | None):
    if not show or desc is None:
        return items
    return progress_bar(items, desc=desc, unit="piece", file=sys.stderr, leave=False)
