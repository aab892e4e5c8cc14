"""Architecture search on a trained supernet (MLP-3D Sec. 3.4; SPOS-style evolution; Optuna).

Entry points: `run_search` (engine), `Evaluator` (V), `CostTable` (C), `Objective` (Eq. 6),
and `nas search` (`nas.commands.search`). How sure an estimate is: `confidence` (SE, McNemar),
`outcomes` (per-clip results), `racing` (adaptive evaluation); `predictor` (accuracy
predictor, `nas predictor`); `bench_eval` (scoring by a standalone table, `--bench-table`).
"""
from ..costs.unit_table import CostTable, build_cost_table, full_trace_flops
from ..costs.measured import LatencyCost, measure_latency_ms
from .engine import InProcessBackend, SearchConfig, SearchContext, SearchResult, run_search
from .evaluator import EvalRequest, EvalResult, Evaluator
from .recipes import CheckpointEvaluatorFactory, InMemoryEvaluatorFactory
from .objective import Objective, pareto_front
from .store import Record, ResultStore, read_results
from .strategies import STRATEGIES, make_strategy

__all__ = ["CostTable", "LatencyCost", "build_cost_table", "full_trace_flops", "measure_latency_ms",
           "InMemoryEvaluatorFactory", "CheckpointEvaluatorFactory", "InProcessBackend", "SearchConfig", "SearchContext", "SearchResult",
           "run_search", "EvalRequest", "EvalResult", "Evaluator", "Objective", "pareto_front",
           "Record", "ResultStore", "read_results", "STRATEGIES", "make_strategy"]
