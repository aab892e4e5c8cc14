"""Architecture search on a trained supernet (MLP-3D Sec. 3.4; SPOS-style evolution; Optuna).

Entry points: `run_search` (engine), `Evaluator` (V), `CostTable` (C), `Objective` (Eq. 6),
and `nas search` (`nas.commands.search`). How sure an estimate is: `confidence` (SE, McNemar),
`outcomes` (per-clip results), `racing` (adaptive evaluation); `predictor` (accuracy
predictor, `nas predictor`); `bench_eval` (scoring by a standalone table, `--bench-table`).

The names below load on first use (PEP 562), so that importing a light submodule, such as
the strategy registry that `nas search --help` lists, does not import torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "..costs.unit_table": ("CostTable", "build_cost_table", "full_trace_flops"),
    "..costs.measured": ("LatencyCost", "measure_latency_ms"),
    ".engine": ("InProcessBackend", "SearchConfig", "SearchContext", "SearchResult", "run_search"),
    ".evaluator": ("EvalRequest", "EvalResult", "Evaluator"),
    ".recipes": ("CheckpointEvaluatorFactory", "InMemoryEvaluatorFactory"),
    ".objective": ("Objective", "pareto_front"),
    ".store": ("Record", "ResultStore", "read_results"),
    ".strategies": ("STRATEGIES", "make_strategy"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
