"""C(θ) of Eq. 6 without tracing every candidate: a per-unit cost table, and measured latency.

FLOPs and parameters add up block by block, and a unit's FLOPs depend only on its own choice
(the supernet contract, `supernet/base.py`), so the cost of any architecture is

    C(θ) = C_fixed + Σ_i C_i(θ_i)

with C_i read from fvcore's ``by_module()`` at ``unit_module_name(i)`` and C_fixed (stem,
stage transitions, head) the traced total minus the units. Filling the table takes one
full fvcore trace per choice *index* (trace k gives every unit its k-th choice), i.e.
max_i |choices(i)| traces; afterwards a lookup costs microseconds instead of a trace
(``experiments/benchmarks/bench_search.py``). Every trace re-checks that the fixed part comes
out the same, and the exactness is tested against full traces in ``tests/nas/search/test_search.py``.

For an architecture whose units from `decided` on are drawn at random (greedy pass 1,
Sec. 3.4), `flops(arch, decided)` is the *expected* cost: decided units exactly plus the
mean over each random unit's (uniformly drawn) choices. It is the same for every candidate of
a block, so it never changes the ranking of that block's candidates.
"""
from __future__ import annotations

import contextlib
import copy
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from search_spaces import Arch, SearchSpace, build_space
from search_spaces.errors import InputFileError, VidnasInputError
from supernet.registry import cost_spec

from .flops import model_cost
from ..utils import atomic_write_json, plain_json, read_json

TABLE_FORMAT = "vidnas-cost-table-v1"
CONTRACT = "a unit's cost must depend only on its own choice"


@contextlib.contextmanager
def torch_threads(n: int):
    """Run a block with `n` intra-op threads (fvcore traces batch-1 inputs, where extra
    threads only add synchronisation; on a busy 2-core machine one thread is ~4x faster)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class CostTable:
    """Per-unit FLOPs / parameters of every choice (by token) plus the fixed part."""

    space: dict[str, Any]                       # space.config()
    model_spec: dict[str, Any]
    input_size: tuple[int, ...]
    unit_flops: list[dict[str, int]]
    unit_params: list[dict[str, int]]
    fixed_flops: int
    fixed_params: int
    _space: SearchSpace | None = field(default=None, repr=False, compare=False)

    # ---- lookups -----------------------------------------------------------------------
    @property
    def search_space(self) -> SearchSpace:
        if self._space is None:
            self._space = build_space(self.space)
        return self._space

    def _check(self, arch: Arch) -> None:
        if len(arch) != len(self.unit_flops):
            raise VidnasInputError(f"cost table has {len(self.unit_flops)} units, architecture has "
                                   f"{len(arch)}: {arch}")

    def _sum(self, table: list[dict[str, int]], fixed: int, arch: Arch, decided: int | None) -> float:
        self._check(arch)
        return sum_unit_table(table, fixed, arch, decided)

    def flops(self, arch: Arch, decided: int | None = None) -> float:
        """FLOPs of `arch` (exact int when every unit is decided, else the expectation)."""
        return self._sum(self.unit_flops, self.fixed_flops, arch, decided)

    def params(self, arch: Arch, decided: int | None = None) -> float:
        return self._sum(self.unit_params, self.fixed_params, arch, decided)

    def gflops(self, arch: Arch, decided: int | None = None) -> float:
        return self.flops(arch, decided) / 1e9

    def min_gflops(self, arch: Arch, decided: int) -> float:
        """The cheapest completion of `arch`'s first `decided` units (for hard limits)."""
        self._check(arch)
        total = self.fixed_flops + sum(self.unit_flops[i][c.token] for i, c in enumerate(arch.choices[:decided]))
        total += sum(min(t.values()) for t in self.unit_flops[decided:])
        return total / 1e9

    # ---- persistence -------------------------------------------------------------------
    def matches(self, model_spec: dict[str, Any], input_size) -> bool:
        return (plain_json(cost_spec(self.model_spec)) == plain_json(cost_spec(model_spec))
                and tuple(self.input_size) == tuple(int(v) for v in input_size))

    def to_dict(self) -> dict[str, Any]:
        return {"format": TABLE_FORMAT, "space": self.space, "model_spec": plain_json(self.model_spec),
                "input_size": list(self.input_size), "unit_flops": self.unit_flops,
                "unit_params": self.unit_params, "fixed_flops": self.fixed_flops,
                "fixed_params": self.fixed_params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CostTable":
        if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT:
            raise InputFileError(f"not a cost table (expected format {TABLE_FORMAT!r})")
        return cls(data["space"], data["model_spec"], tuple(data["input_size"]),
                   [dict(u) for u in data["unit_flops"]], [dict(u) for u in data["unit_params"]],
                   int(data["fixed_flops"]), int(data["fixed_params"]))

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "CostTable":
        return cls.from_dict(read_json(path, "cost table"))


def sum_unit_table(table: list[dict[str, Any]], fixed, arch: Arch, decided: int | None = None) -> float:
    """C_fixed + Σ_i C_i(θ_i) of a per-unit table (FLOPs, params, or latency); units from
    `decided` on are random: their mean over the unit's choices."""
    n = len(table) if decided is None else decided
    total = fixed + sum(table[i][c.token] for i, c in enumerate(arch.choices[:n]))
    for i in range(n, len(table)):               # random units: expectation
        total += sum(table[i].values()) / len(table[i])
    return total


def _unit_params(net, prefix: str) -> int:
    return sum(p.numel() for name, p in net.named_parameters() if name.startswith(prefix))


@torch.no_grad()
def build_cost_table(model, input_size, threads: int = 1) -> CostTable:
    """Fill the table of `model` (a supernet) on one (T, H, W) clip with fvcore.

    Trace k exports the architecture whose unit i takes its ``k mod |choices(i)|``-th
    choice. Raises ValueError when a unit's cost turns out to depend on other units, or
    the fixed part differs between traces (a supernet breaking the contract).
    """
    space: SearchSpace = model.space
    n = space.num_units
    names = [model.unit_module_name(i) for i in range(n)]
    unit_flops: list[dict[str, int]] = [{} for _ in range(n)]
    unit_params: list[dict[str, int]] = [{} for _ in range(n)]
    fixed = None
    with torch_threads(threads):
        for k in range(max(len(space.choices(i)) for i in range(n))):
            arch = Arch(tuple(space.choices(i)[k % len(space.choices(i))] for i in range(n)))
            net = model.export(arch)
            cost = model_cost(net, input_size)
            for i, c in enumerate(arch):
                f = int(cost.by_module.get(names[i], 0))
                p = _unit_params(net, names[i] + ".")
                old = unit_flops[i].setdefault(c.token, f), unit_params[i].setdefault(c.token, p)
                if old != (f, p):
                    raise VidnasInputError(f"unit {i} ({names[i]}) choice {c.token}: cost {f} FLOPs / {p} "
                                           f"params differs from {old[0]} / {old[1]} in another architecture "
                                           f"({CONTRACT})")
            part = (cost.flops - sum(unit_flops[i][c.token] for i, c in enumerate(arch)),
                    cost.params - sum(unit_params[i][c.token] for i, c in enumerate(arch)))
            if fixed is not None and part != fixed:
                raise VidnasInputError(f"fixed part of {type(model).__name__} is {part} (FLOPs, params) for "
                                       f"{arch} but {fixed} for another architecture ({CONTRACT})")
            fixed = part
    spec = getattr(model, "spec", None) or {"class": type(model).__name__}
    return CostTable(space.config(), spec, tuple(int(v) for v in input_size), unit_flops, unit_params,
                     fixed[0], fixed[1], space)


def full_trace_flops(model, arch: Arch, input_size, threads: int = 1) -> tuple[int, int]:
    """(FLOPs, params) of `arch` by a full fvcore trace of its exported subnet (the reference)."""
    with torch_threads(threads):
        cost = model_cost(model.export(arch), input_size)
    return cost.flops, cost.params


_BUILT: "OrderedDict[tuple, dict[str, Any]]" = OrderedDict()   # process memo: cost key -> table dict
_BUILT_MAX = 8


def _memo_key(model, input_size) -> tuple | None:
    """What a table of `model` depends on: its class, cost-relevant spec, space and input; None
    for a model without a registry spec (nothing is remembered for it)."""
    spec = getattr(model, "spec", None)
    if spec is None:
        return None
    cls = type(model)
    return (f"{cls.__module__}.{cls.__qualname__}", json.dumps(plain_json(cost_spec(spec)), sort_keys=True),
            json.dumps(plain_json(model.space.config()), sort_keys=True), tuple(int(v) for v in input_size))


def load_or_build_cost_table(model, input_size, path: str | Path | None = None) -> CostTable:
    """The table stored at `path` when it was built for this model and input, else one built
    earlier in this process for the same class, cost spec, space and input (several searches,
    or sandwich pretraining's bounds and then a search), else a new one; saved to `path` when
    given. A table costs max_i |choices(i)| fvcore traces, seconds on a nano model."""
    spec = getattr(model, "spec", None)
    if path is not None and Path(path).is_file():
        table = CostTable.load(path)
        if spec is not None and table.matches(spec, input_size):
            table._space = model.space
            return table
    key = _memo_key(model, input_size)
    if key in _BUILT:
        _BUILT.move_to_end(key)
        table = CostTable.from_dict(copy.deepcopy(_BUILT[key]))
        if spec is not None:                                   # this model's own (training options too)
            table.model_spec = copy.deepcopy(spec)
        table._space = model.space
    else:
        table = build_cost_table(model, input_size)
        if key is not None:
            _BUILT[key] = table.to_dict()
            while len(_BUILT) > _BUILT_MAX:
                _BUILT.popitem(last=False)
    if path is not None:
        table.save(path)
    return table


class FlopsCost:
    """The `CostModel` of GFLOPs: C(θ) read from the per-unit table (exact; the expectation
    over random units)."""

    unit = "GFLOPs"

    def __init__(self, table: CostTable):
        self.table = table

    def __call__(self, arch: Arch, decided: int | None = None) -> float:
        return self.table.gflops(arch, decided)


def extreme_archs(table: CostTable, space: SearchSpace) -> tuple[Arch, Arch]:
    """(largest, smallest) architecture of `space` by GFLOPs, the bounds of the sandwich rule
    (BigNAS / AttentiveNAS). Costs add up per unit, so each unit takes its most (least)
    FLOPs-costly choice; ties go to more (fewer) parameters, then to the first choice in the
    space's order. MLP-3D: largest = sr at S_max (all 2*S_max - 1 interval matrices),
    smallest = sr1 (per-frame, the 2D network); MorphMLP: every architecture costs the same,
    so both bounds are the first choice of every unit (the sandwich degenerates)."""
    def pick(i: int, sign: int):
        choices = space.choices(i)
        return min(choices, key=lambda c: (-sign * table.unit_flops[i][c.token],
                                           -sign * table.unit_params[i][c.token], choices.index(c)))
    largest = Arch(tuple(pick(i, 1) for i in range(space.num_units)))
    smallest = Arch(tuple(pick(i, -1) for i in range(space.num_units)))
    return space.validate(largest), space.validate(smallest)
