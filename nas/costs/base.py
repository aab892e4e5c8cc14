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

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from search_spaces import Arch
from search_spaces.errors import InputFileError
from supernet.registry import cost_spec

from ..utils import config_diff, plain_json


@runtime_checkable
class CostModel(Protocol):
    unit: str

    def __call__(self, arch: Arch, decided: int | None = None) -> float:
        ...


@dataclass
class TableKey:
    """What a measured table (latency, memory) was made for, and its one check: the model
    (its `cost_spec`: what changes the cost, not training-only options), the input, the batch
    and the device type. The tables' own fields follow these four."""

    model_spec: dict[str, Any]
    input_size: tuple[int, ...]
    batch: int
    device: str

    def check(self, model_spec: dict[str, Any], input_size, batch: int | None = None,
              device: str | None = None, source: str = "cost table") -> None:
        """One-line ValueError when this table was made for another model, input, batch or device."""
        mine, theirs = plain_json(self.model_spec), plain_json(model_spec)
        if mine.get("name") != theirs.get("name"):
            raise InputFileError(f"{source} was made for model {mine.get('name')}, not {theirs.get('name')}")
        size = tuple(int(v) for v in input_size)
        if tuple(self.input_size) != size:
            raise InputFileError(f"{source} was made for input {'x'.join(map(str, self.input_size))}, "
                                 f"not {'x'.join(map(str, size))}")
        if batch is not None and int(batch) != self.batch:
            raise InputFileError(f"{source} was made for batch {self.batch}, not {batch}")
        if device is not None and torch.device(device).type != torch.device(self.device).type:
            raise InputFileError(f"{source} was made on device {self.device}, not {torch.device(device).type}")
        diff = config_diff(plain_json(cost_spec(mine)), plain_json(cost_spec(theirs)))
        if diff:
            raise InputFileError(f"{source} was made for another configuration of {mine['name']} ({diff}; "
                                 "training-only options such as drop_path_rate do not count)")

    def matches(self, model_spec: dict[str, Any], input_size, batch: int, device: str) -> bool:
        try:
            self.check(model_spec, input_size, batch, device)
        except ValueError:
            return False
        return True
