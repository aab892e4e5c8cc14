"""The one interface every cost answers (Once-for-All's efficiency models share one too).

A `CostModel` is C(θ) of Eq. 6 (MLP-3D) in one `unit`: called on an architecture, it returns
the cost; with `decided`, the units from `decided` on are random (greedy pass 1, Sec. 3.4) and
the result is their expectation where the cost adds up per unit (FLOPs, latency and memory
tables) or the cost of the drawn architecture where it does not (live measurements). The search
objective, the LUT and the memory code all go through it:

* `unit_table.FlopsCost` (GFLOPs, from the per-unit FLOPs table),
* `latency.LatencyTable` (ms, a `nas latency-table` file) and `measured.LatencyCost` (ms, live),
* `memory.MemoryCost` (MB).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from search_spaces import Arch


@runtime_checkable
class CostModel(Protocol):
    unit: str

    def __call__(self, arch: Arch, decided: int | None = None) -> float:
        ...
