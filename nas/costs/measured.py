"""C(θ) measured on the device rather than counted: forward latency of the exported subnet (live,
or summed from a `nas latency-table` file) and peak memory, for a search's ``--cost`` and
``--max-memory-mb``. Kept apart from the per-unit FLOPs table (`unit_table`), which the
latency and memory tables build on."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from search_spaces import Arch

from .flops import example_input
from .latency import LatencyTable, median_ms
from .memory import MemoryCost, load_or_build_memory_table


class LatencyCost:
    """C(θ) as measured median forward latency (ms, batch 1) of the exported subnet.

    Measured with `torch.utils.benchmark` after a warm-up, on `device`; cached per
    architecture string. Noisy by nature, so only an alternative to GFLOPs. Latency does not
    add up per unit, so for a partly random architecture (greedy pass 1) the architecture
    with the first validation batch's draw in the random units is measured.
    """

    unit = "ms"

    def __init__(self, model, input_size, device="cpu", min_run_time: float = 0.2, batch: int = 1):
        self.model = model
        self.input_size = tuple(input_size)
        self.device = torch.device(device)
        self.min_run_time = float(min_run_time)
        self.batch = int(batch)
        self._cache: dict[str, float] = {}

    def __call__(self, arch: Arch, decided: int | None = None) -> float:
        key = str(arch)
        if key not in self._cache:
            self._cache[key] = measure_latency_ms(self.model.export(arch), self.input_size,
                                                  self.device, self.min_run_time, batch=self.batch)
        return self._cache[key]


def measure_latency_ms(net, input_size, device="cpu", min_run_time: float = 0.2, warmup: int = 3,
                       batch: int = 1) -> float:
    """Median latency in ms of one forward of `net` on a batch under inference mode."""
    net = net.to(device).eval()
    x = example_input(input_size, batch, device=device)

    def forward():
        with torch.inference_mode():
            net(x)
        if x.is_cuda:
            torch.cuda.synchronize(x.device)

    return median_ms(forward, min_run_time, torch.get_num_threads(), warmup)


MEMORY_TABLE_JSON = "memory_table.json"
LATENCY_TABLE_JSON = "latency_table.json"


def load_latency_table(config, model_spec: dict[str, Any], input_size, device):
    """The ``--latency-table`` of a `SearchConfig` (None without one), loaded and checked
    against the model, input, batch and device: the search calls this before its run folder
    exists, so a bad table leaves nothing behind."""
    if config.cost != "latency" or not config.latency_table:
        return None
    table = LatencyTable.load(config.latency_table)
    table.check(model_spec, input_size, config.cost_batch, device, f"latency table {config.latency_table}")
    return table


def measured_costs(config, model, input_size, device, out_dir: Path | None = None, latency_table=None):
    """C(θ) for the non-FLOPs cost kinds of a `SearchConfig` (None for flops), and the peak
    memory table when ``--max-memory-mb`` or ``--cost memory`` needs it (None otherwise).
    `latency_table`: the table `load_latency_table` returned (loaded here when not given)."""
    cost, memory = None, None
    if config.cost == "latency":
        if config.latency_table:
            cost = latency_table or load_latency_table(config, model.spec, input_size, device)
            if out_dir is not None:                     # the search folder keeps what it summed
                cost.save(Path(out_dir) / LATENCY_TABLE_JSON)
        else:
            cost = LatencyCost(model, input_size, device, batch=config.cost_batch)
    if config.max_memory_mb is not None or (config.cost == "memory" and config.memory_step == "inference"):
        memory = load_or_build_memory_table(model, input_size, config.cost_batch, device,
                                            None if out_dir is None else Path(out_dir) / MEMORY_TABLE_JSON)
    if config.cost == "memory":
        cost = MemoryCost(model, input_size, config.cost_batch, device, config.memory_step, memory)
    return cost, memory
