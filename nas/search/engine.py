"""The search engine: config, the in-process backend, the strategies' context, `run_search`.

`run_search` ties the pieces together: it opens the output folder (refusing one that holds
another search), builds or reloads the per-unit cost table, replays the stored results of a
resumed search, runs the strategy, and writes the best architecture and a summary.

Strategies see a :class:`SearchContext`. `ctx.evaluate(candidates)` maps each candidate to
its cache key (canonical architecture + context, `store.row_key`), answers stored keys from
the results table, sends the others to the backend (in-process, or Ray Tune workers, see
`ray_eval.py`), computes C(θ) and Eq. 6 for each result, and appends one CSV row per new
evaluation. Every random choice of a strategy comes from `ctx.rng` / `ctx.derive_seed`
(seeded from the search seed and a tag), so a search is a deterministic function of its
config and the evaluation results: that is what makes `--resume` after a SIGKILL and
distributed evaluation end with the same answer as one uninterrupted in-process run.
"""
from __future__ import annotations

import hashlib
import random
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from search_spaces import Arch

from ..utils import format_table
from .cost_table import CostTable, LatencyCost, load_or_build_cost_table, measured_costs
from .evaluator import EvalRequest, EvalResult, Evaluator
from .objective import Objective, pareto_front
from .recipes import EvaluatorFactory
from .store import (COST_TABLE_JSON, OPTUNA_DB, PARETO_CSV, RANDOM_TOKEN, RESULTS_CSV, Record,
                    ResultStore, display_arch, prepare_folder, row_key, write_best)
from .strategies import Candidate, Outcome, make_strategy


@dataclass
class SearchConfig:
    """What a search does (the part of `search_config.yaml` that is not the evaluator)."""

    strategy: str = "greedy"
    params: dict[str, Any] = field(default_factory=dict)    # strategy parameters
    seed: int = 0
    alpha: float = 5e-3
    cost: str = "flops"                   # flops | latency | memory
    max_gflops: float | None = None
    latency_table: str | None = None      # cost latency: sum this LUT (nas latency-table) instead of measuring
    cost_device: str | None = None        # device latency / memory are for (None: the evaluation device)
    cost_batch: int = 1                   # batch latency / memory are for
    memory_step: str = "inference"        # cost memory: inference (per-unit table) | train (measured)
    max_memory_mb: float | None = None    # hard limit on peak inference memory

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- backends ----------------------------------------------------------------------------
class InProcessBackend:
    """Evaluates requests one after another in this process."""

    def __init__(self, factory: EvaluatorFactory):
        self.factory = factory
        self._evaluator: Evaluator | None = None

    @property
    def evaluator(self) -> Evaluator:
        if self._evaluator is None:
            self._evaluator = self.factory.build()
        return self._evaluator

    def session(self, fn: Callable[[], Any]) -> Any:
        return fn()

    def run(self, requests: list[EvalRequest]) -> Iterator[tuple[int, EvalResult]]:
        for i, req in enumerate(requests):
            yield i, self.evaluator.evaluate(req)


# ---- what strategies see -----------------------------------------------------------------
class SearchContext:
    """Space, costs, objective, seeded randomness and cached evaluation for a strategy."""

    def __init__(self, space, table: CostTable, objective: Objective, store: ResultStore, backend,
                 strategy: str, seed: int, latency: LatencyCost | None = None,
                 optuna_storage: str | None = None, progress=None, log: Callable[[str], None] = print,
                 memory=None):
        self.space, self.table, self.objective = space, table, objective
        self.store, self.backend, self.strategy = store, backend, strategy
        self.seed, self.latency, self.optuna_storage = int(seed), latency, optuna_storage
        self.memory = memory                    # MemoryTable for the --max-memory-mb limit
        self.progress, self.log = progress, log
        self._ids: dict[str, int] = {}
        self.new_evaluations = 0

    def derive_seed(self, *tags) -> int:
        """A 31-bit seed from the search seed and `tags` (the same in every process)."""
        text = repr((self.seed,) + tuple(tags)).encode()
        return int.from_bytes(hashlib.sha256(text).digest()[:4], "big") & 0x7FFFFFFF

    def rng(self, *tags) -> random.Random:
        return random.Random(self.derive_seed(*tags))

    def cost_of(self, arch: Arch, decided: int | None = None) -> tuple[float, float, float]:
        """(GFLOPs, M params, C in the objective's unit) of `arch`."""
        gflops = self.table.gflops(arch, decided)
        params = self.table.params(arch, decided) / 1e6
        cost = gflops if self.latency is None else self.latency(arch, decided)
        return gflops, params, cost

    def feasible(self, arch: Arch, decided: int | None = None) -> bool:
        n = self.space.num_units if decided is None else decided
        return self.objective.allows(self.table.min_gflops(arch, n)) and (
            self.memory is None or self.objective.allows_memory(self.memory.min_mb(arch, n)))

    def _eval_id(self, key: str) -> int:
        return self._ids.setdefault(key, len(self._ids))

    def evaluate(self, candidates: list[Candidate]) -> list[Record]:
        """Records of `candidates` (stored ones reused; new ones evaluated and stored)."""
        out: list[Record | None] = [None] * len(candidates)
        pending: dict[str, list[int]] = {}          # key -> indices of the candidates asking
        for idx, cand in enumerate(candidates):
            key = row_key(self.space, cand.arch, cand.decided, cand.draw_seed)
            self._eval_id(key)
            out[idx] = self.store.get(key)
            if out[idx] is None:
                pending.setdefault(key, []).append(idx)
            elif self.progress is not None:
                self.progress.update(1)
        keys = list(pending)
        firsts = [candidates[pending[k][0]] for k in keys]
        requests = [EvalRequest(str(c.arch), c.decided, c.draw_seed, c.block) for c in firsts]
        for pos, result in self.backend.run(requests):
            key, cand = keys[pos], firsts[pos]
            gflops, params, cost = self.cost_of(cand.arch, cand.decided)
            rec = Record(self._ids[key], self.strategy, cand.round,
                         -1 if cand.block is None else cand.block, display_arch(cand.arch, cand.decided),
                         key, result.top1, result.loss, result.correct, result.total, gflops, params,
                         cost, self.objective.unit, self.objective.value(result.top1, cost),
                         result.seconds)
            self.store.add(rec)
            self.new_evaluations += 1
            for idx in pending[key]:
                out[idx] = rec
            if self.progress is not None:
                self.progress.update(1)
                self.progress.set_postfix_str(f"last {rec.objective:.3f}", refresh=False)
        return out  # type: ignore[return-value]


# ---- the search ----------------------------------------------------------------------------
@dataclass
class SearchResult:
    arch: Arch
    record: Record
    table: Any                          # pandas DataFrame of every evaluated architecture
    out: Path | None
    info: dict[str, Any]
    new_evaluations: int


def resolve_config(config: SearchConfig) -> SearchConfig:
    """Validate the strategy and objective settings and fill the strategy's defaults."""
    strategy = make_strategy(config.strategy, **config.params)
    Objective(config.alpha, config.cost, config.max_gflops, config.max_memory_mb)
    if not isinstance(config.seed, int) or isinstance(config.seed, bool) or config.seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {config.seed!r}")
    if config.latency_table and config.cost != "latency":
        raise ValueError(f"a latency table is a latency cost: pass --cost latency, not {config.cost}")
    if config.memory_step not in ("inference", "train"):
        raise ValueError(f"memory_step must be inference or train, got {config.memory_step!r}")
    if not isinstance(config.cost_batch, int) or isinstance(config.cost_batch, bool) or config.cost_batch < 1:
        raise ValueError(f"cost_batch must be a positive int, got {config.cost_batch!r}")
    return replace(SearchConfig(config.strategy, dict(strategy.params), config.seed, float(config.alpha),
                                config.cost, None if config.max_gflops is None else float(config.max_gflops)),
                   latency_table=config.latency_table, cost_device=config.cost_device,
                   cost_batch=config.cost_batch, memory_step=config.memory_step,
                   max_memory_mb=None if config.max_memory_mb is None else float(config.max_memory_mb))


def run_search(config: SearchConfig, factory: EvaluatorFactory, out: str | Path | None = None,
               resume: bool = False, backend=None, progress: bool = True,
               log: Callable[[str], None] = print, cost_table: CostTable | None = None) -> SearchResult:
    """Run one search; see the module docstring. `out=None` keeps everything in memory."""
    config = resolve_config(config)
    strategy = make_strategy(config.strategy, **config.params)        # defaults filled in
    full_config = {"search": config.to_dict(), "evaluation": factory.describe()}
    out_dir = prepare_folder(out, full_config, resume) if out is not None else None
    model = factory.cost_model()
    input_size = tuple(model.spec["input_size"])
    latency, memory = measured_costs(config, model, input_size, config.cost_device or factory.device, out_dir)
    if cost_table is None:
        cost_table = load_or_build_cost_table(
            model, input_size, None if out_dir is None else out_dir / COST_TABLE_JSON)
    elif not cost_table.matches(model.spec, input_size):
        raise ValueError(f"the cost table was built for {cost_table.model_spec.get('name')} on "
                         f"{list(cost_table.input_size)}, not for this model ({model.spec['name']} on "
                         f"{list(input_size)})")
    elif out_dir is not None:
        cost_table.save(out_dir / COST_TABLE_JSON)
    objective = Objective(config.alpha, config.cost, config.max_gflops, config.max_memory_mb)
    store = ResultStore(None if out_dir is None else out_dir / RESULTS_CSV, resume)
    if store.records:
        log(f"resuming: {len(store)} evaluated architectures found in {out_dir / RESULTS_CSV}")
    backend = backend or InProcessBackend(factory)
    storage = None if out_dir is None else f"sqlite:///{(out_dir / OPTUNA_DB).resolve()}"
    log(f"search: {config.strategy} on {model.spec['name']} ({model.space.name} space, "
        f"{model.space.num_units} units, {model.space.size():.3g} architectures), seed {config.seed}")
    log(objective.describe())
    from tqdm.auto import tqdm
    with tqdm(total=strategy.estimate(model.space) or None, unit="arch", desc=config.strategy,
              disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
        ctx = SearchContext(model.space, cost_table, objective, store, backend, config.strategy,
                            config.seed, latency, storage, bar,
                            log=bar.write if progress and log is print else log, memory=memory)
        outcome: Outcome = backend.session(lambda: strategy.run(ctx))
        bar.total = bar.n                   # the estimate counted equivalent choices too
        bar.refresh()
    result = SearchResult(outcome.arch, outcome.record, store.frame(), out_dir, outcome.info,
                          ctx.new_evaluations)
    if out_dir is not None:
        write_best(out_dir, model.space, outcome.arch, outcome.record,
                   {"strategy": config.strategy, "alpha": config.alpha,
                    "units": {"top1_pct": "%", "gflops": "GFLOPs", "params_M": "M",
                              "cost": objective.unit, "objective": f"% - alpha * {objective.unit}"}})
        pareto_table(result.table).to_csv(out_dir / PARETO_CSV, index=False)
    log(summary(result, objective, config.strategy))
    return result


def complete_rows(df):
    """Rows of fully specified architectures (greedy pass-1 rows have random '*' units)."""
    return df[~df["arch"].str.split("-").apply(lambda t: RANDOM_TOKEN in t)].reset_index(drop=True)


def pareto_table(df, cost: str = "cost"):
    """Rows of fully specified architectures on the accuracy-vs-`cost` Pareto front."""
    full = complete_rows(df)
    idx = pareto_front(list(zip(full["top1_pct"], full[cost])))
    return full.iloc[idx].reset_index(drop=True)


def summary(result: SearchResult, objective: Objective, strategy: str, top: int = 5) -> str:
    """The short terminal report: best architecture with units, top rows, Pareto front."""
    r = result.record
    df = result.table
    best = complete_rows(df).sort_values(["objective", "loss", "eval_id"], ascending=[False, True, True]).head(top)
    unit = objective.unit
    lines = [f"best architecture ({strategy}): {result.arch}",
             f"  V = {r.top1_pct:.2f} % top-1 on {r.total} validation clips (loss {r.loss:.4f})",
             f"  C = {r.cost:.5g} {unit}  ({r.gflops:.5g} GFLOPs, {r.params_M:.4g} M params)",
             f"  objective = V - alpha*C = {r.objective:.4f}  (alpha = {objective.alpha:g} per {unit})",
             f"  {len(df)} architectures evaluated ({result.new_evaluations} in this run)"]
    rows = [(int(x.eval_id), x.arch, f"{x.top1_pct:.2f}", f"{x.cost:.5g}", f"{x.params_M:.4g}",
             f"{x.objective:.4f}") for x in best.itertuples()]
    lines.append(format_table(rows, ["id", "architecture", "V (%)", f"C ({unit})", "params (M)",
                                     "objective"], align="llrrrr"))
    if strategy == "optuna-nsga2":
        front = pareto_table(df)
        lines.append("Pareto front (max V, min C):")
        lines.append(format_table([(x.arch, f"{x.top1_pct:.2f}", f"{x.cost:.5g}") for x in front.itertuples()],
                                  ["architecture", "V (%)", f"C ({unit})"], align="lrr"))
    if result.out is not None:
        lines.append(f"results: {result.out / RESULTS_CSV}; best: {result.out / 'best_arch.json'}")
    return "\n".join(lines)

