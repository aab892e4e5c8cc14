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

Every result keeps its per-clip outcomes (`outcomes.npz`), so each row has the SE of V and
any two candidates can be compared paired (`ctx.compare`, `confidence.py`). A round of
candidates is scored as a race (`racing.py`): with ``racing`` off it is one slice, the whole
validation set; with it on, slice by slice until the candidates are separated from the
leader. `best_arch.json` gets a `confidence` section (greedy's decisions, significant or
not, and the paired margin of the best over the runner-up) and the best architecture for
each alpha of ``alphas`` (Eq. 6 re-ranked over the same evaluations).
"""
from __future__ import annotations

import hashlib
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from search_spaces import Arch
from search_spaces.errors import ConfigError
from supernet.utils.progress import progress as progress_bar

from ..log import info as log_info
from ..utils import atomic_write_text, format_table
from ..validate import check_device
from .confidence import (DEFAULT_CONFIDENCE, SE_KIND, TEST_NAME, Comparison, binomial_se,
                         check_level, compare_estimates, compare_outcomes)
from ..costs.base import CostModel
from ..costs.unit_table import CostTable, FlopsCost, extreme_archs, load_or_build_cost_table
from ..costs.measured import load_latency_table, measured_costs
from .evaluator import EvalRequest, EvalResult, Evaluator
from .objective import Objective, pareto_front, pareto_front_nd
from .outcomes import ClipLog
from .racing import race
from .recipes import EvaluatorFactory
from .store import (COST_TABLE_JSON, PARETO_CSV, RESULTS_CSV, Record, complete_rows,
                    ResultStore, display_arch, prepare_folder, row_key, write_best)
from .settings import SearchConfig
from .strategies import Candidate, Outcome, make_strategy


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
                 strategy: str, seed: int, cost: CostModel | None = None,
                 out_dir: Path | None = None, progress=None, log: Callable[[str], None] = log_info,
                 race_slices: int = 1, confidence: float = DEFAULT_CONFIDENCE, memory=None):
        self.space, self.table, self.objective = space, table, objective
        self.store, self.backend, self.strategy = store, backend, strategy
        self.seed = int(seed)
        self.cost = FlopsCost(table) if cost is None and table is not None else cost   # C(θ), objective.unit
        if self.cost is not None and objective is not None and self.cost.unit != objective.unit:
            raise RuntimeError(f"internal: a {self.cost.unit} cost model for a {objective.unit} objective")
        self.out_dir = None if out_dir is None else Path(out_dir)   # strategies keep their own files here
        self.memory = memory                    # MemoryTable for the --max-memory-mb limit
        self.progress, self.log = progress, log
        self.parts, self.level = int(race_slices), float(confidence)
        self._ids: dict[str, int] = {}
        self.new_evaluations = 0              # new rows (architectures) in this run
        self.slice_evaluations = 0            # evaluator calls in this run
        self.clips_evaluated = 0              # validation clips scored in this run

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
        cost = self.cost(arch, decided)
        return gflops, params, cost

    def feasible(self, arch: Arch, decided: int | None = None) -> bool:
        """Within the GFLOPs (and memory) limits, and (a finite space, e.g. a standalone
        table's `TableSpace`) extended by one of its architectures."""
        n = self.space.num_units if decided is None else decided
        if not self.objective.allows(self.table.min_gflops(arch, n)):
            return False
        if self.memory is not None and not self.objective.allows_memory(self.memory.min_mb(arch, n)):
            return False
        admits = getattr(self.space, "admits", None)
        return admits is None or admits(arch, decided)

    def _eval_id(self, key: str) -> int:
        return self._ids.setdefault(key, len(self._ids))

    def project(self, arch: Arch) -> Arch:
        """`arch` itself, or the nearest member of a finite space (a standalone table)."""
        nearest = getattr(self.space, "nearest", None)        # finite spaces only
        return arch if nearest is None else nearest(arch)

    # ---- evaluation ------------------------------------------------------------------
    def _depth(self, key: str) -> int:
        """Slices stored for `key` (1 for a row without per-clip outcomes)."""
        log = self.store.log(key)
        return log.depth if log is not None else int(self.store.get(key) is not None)

    def _store(self, key: str, cand: Candidate, result: EvalResult) -> None:
        """Add one result (a new row, or the next slice of a stored one) to the store."""
        old = self.store.get(key)
        if result.hits is None:                      # a scorer without per-clip outcomes
            if self.parts != 1:
                raise ValueError("racing needs per-clip outcomes; this evaluator has none")
            log, stats = None, (result.top1, result.top1_se, result.loss, result.correct,
                                result.total, result.seconds)
        else:
            log = self.store.log(key) or ClipLog()
            log.add(result)
            v = log.view()
            se = binomial_se(v.correct, v.clips) if result.top1_se is None else result.top1_se
            stats = (v.top1, se, v.loss, v.correct, v.clips, v.seconds)
        top1, se, loss, correct, clips, seconds = stats
        if old is None:
            gflops, params, cost = self.cost_of(cand.arch, cand.decided)
            head = dict(eval_id=self._ids[key], strategy=self.strategy, round=cand.round,
                        block=-1 if cand.block is None else cand.block,
                        arch=display_arch(cand.arch, cand.decided), key=key)
            self.new_evaluations += 1
        else:
            gflops, params, cost = old.gflops, old.params_M, old.cost
            head = dict(eval_id=old.eval_id, strategy=old.strategy, round=old.round, block=old.block,
                        arch=old.arch, key=key)
        rec = Record(**head, top1_pct=top1, top1_se=se, loss=loss, correct=correct, clips=clips,
                     gflops=gflops, params_M=params, cost=cost, cost_unit=self.objective.unit,
                     objective=self.objective.value(top1, cost), seconds=seconds)
        self.store.put(rec, log)
        self.slice_evaluations += 1
        self.clips_evaluated += int(result.total)

    def view(self, key: str, depth: int | None = None) -> Record:
        """The row of `key` as scored on its first `depth` slices (all by default)."""
        rec, log = self.store.get(key), self.store.log(key)
        if log is None or depth is None or depth == log.depth:
            return rec
        v = log.view(depth)
        return replace(rec, top1_pct=v.top1, top1_se=binomial_se(v.correct, v.clips), loss=v.loss,
                       correct=v.correct, clips=v.clips, objective=self.objective.value(v.top1, rec.cost),
                       seconds=v.seconds)

    def compare(self, a: Record, b: Record) -> Comparison:
        """`a` against `b`: paired on their common clips, or (a scorer without per-clip
        outcomes) from their SEs."""
        la, lb = self.store.log(a.key), self.store.log(b.key)
        if la is None or lb is None:
            return compare_estimates(a.top1_pct, a.top1_se, b.top1_pct, b.top1_se, a.cost, b.cost,
                                     self.objective.alpha, self.level)
        n = min(a.clips, b.clips)
        return compare_outcomes(la.hits[:n], lb.hits[:n], a.cost, b.cost, self.objective.alpha,
                                self.level)

    def evaluate(self, candidates: list[Candidate]) -> list[Record]:
        """Records of `candidates` (stored ones reused; new ones evaluated and stored),
        scored as one race (one slice, the full set, unless racing)."""
        asked: dict[str, list[int]] = {}          # key -> indices of the candidates asking
        for idx, cand in enumerate(candidates):
            key = row_key(self.space, cand.arch, cand.decided, cand.draw_seed)
            self._eval_id(key)
            asked.setdefault(key, []).append(idx)
        keys = list(asked)
        first = {k: candidates[asked[k][0]] for k in keys}

        def tick(key):
            if self.progress is not None:
                self.progress.update(len(asked[key]))
        for k in keys:
            if self._depth(k):
                tick(k)

        def evaluate_part(part: int, todo: list[str]) -> None:
            if not todo:
                return
            requests = [EvalRequest(str(c.arch), c.decided, c.draw_seed, c.block, part, self.parts)
                        for c in (first[k] for k in todo)]
            for pos, result in self.backend.run(requests):
                self._store(todo[pos], first[todo[pos]], result)
                if part == 0:
                    tick(todo[pos])
                    if self.progress is not None:
                        self.progress.set_postfix_str(f"last {self.store.get(todo[pos]).objective:.3f}",
                                                      refresh=False)

        def rank(key: str, depth: int) -> tuple:
            r = self.view(key, depth)
            return (-r.objective, r.loss, keys.index(key))

        def separated(key: str, leader: str, depth: int) -> bool:
            return self.compare(self.view(leader, depth), self.view(key, depth)).significant

        depth = race(keys, self.parts, self._depth, evaluate_part, rank, separated)
        out: list[Record | None] = [None] * len(candidates)
        for k in keys:
            rec = self.view(k, depth[k])
            for idx in asked[k]:
                out[idx] = rec
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
    """Validate the strategy and objective settings and fill the strategy's defaults; an
    ``alpha`` list (a config file's form) searches with its first value and reports each."""
    config.validate()                                       # the schema's own checks (cost, memory_step)
    if isinstance(config.alpha, (list, tuple)):
        if not config.alpha:
            raise ConfigError("alpha: an empty list; give one value or a list of values")
        config = replace(config, alpha=config.alpha[0], alphas=list(config.alpha) + list(config.alphas or []))
    strategy = make_strategy(config.strategy, **config.params)
    Objective(config.alpha, config.cost, config.max_gflops, config.max_memory_mb)
    if not isinstance(config.seed, int) or isinstance(config.seed, bool) or config.seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {config.seed!r}")
    if config.cost_device is not None:
        check_device(config.cost_device, "cost_device")
    if config.latency_table and config.cost != "latency":
        raise ConfigError(f"a latency table is a latency cost: pass --cost latency, not {config.cost}")
    if not isinstance(config.cost_batch, int) or isinstance(config.cost_batch, bool) or config.cost_batch < 1:
        raise ConfigError(f"cost_batch must be a positive int, got {config.cost_batch!r}")
    if not isinstance(config.racing, bool):
        raise ConfigError(f"racing must be true or false, got {config.racing!r}")
    if not isinstance(config.race_slices, int) or isinstance(config.race_slices, bool) \
            or config.race_slices < 2:
        raise ConfigError(f"race_slices must be an integer >= 2, got {config.race_slices!r}")
    alphas = [float(config.alpha)]
    for a in config.alphas or []:
        Objective(a, config.cost, config.max_gflops)
        if float(a) not in alphas:
            alphas.append(float(a))
    return replace(config, params=dict(strategy.params), alpha=float(config.alpha),
                   max_gflops=None if config.max_gflops is None else float(config.max_gflops),
                   confidence=check_level(config.confidence), alphas=alphas,
                   max_memory_mb=None if config.max_memory_mb is None else float(config.max_memory_mb))


def run_search(config: SearchConfig, factory: EvaluatorFactory, out: str | Path | None = None,
               resume: bool = False, backend=None, progress: bool = True,
               log: Callable[[str], None] = log_info, cost_table: CostTable | None = None) -> SearchResult:
    """Run one search; see the module docstring. `out=None` keeps everything in memory."""
    config = resolve_config(config)
    if config.racing and not factory.per_clip:
        raise ConfigError(f"--racing needs per-clip outcomes; the {factory.describe()['source']} "
                          "evaluator has none")
    strategy = make_strategy(config.strategy, **config.params)        # defaults filled in
    full_config = {"search": config.to_dict(), "evaluation": factory.describe()}
    model = factory.cost_model()
    input_size = tuple(model.spec["input_size"])
    cost_device = config.cost_device or factory.device
    table = load_latency_table(config, model.spec, input_size, cost_device)   # before the folder
    out_dir = prepare_folder(out, full_config, resume) if out is not None else None
    measured, memory = measured_costs(config, model, input_size, cost_device, out_dir, table)
    if cost_table is None:
        cost_table = load_or_build_cost_table(
            model, input_size, None if out_dir is None else out_dir / COST_TABLE_JSON)
    elif not cost_table.matches(model.spec, input_size):
        raise ConfigError(f"the cost table was built for {cost_table.model_spec.get('name')} on "
                          f"{list(cost_table.input_size)}, not for this model ({model.spec['name']} on "
                          f"{list(input_size)})")
    elif out_dir is not None:
        cost_table.save(out_dir / COST_TABLE_JSON)
    objective = Objective(config.alpha, config.cost, config.max_gflops, config.max_memory_mb)
    store = ResultStore(None if out_dir is None else out_dir / RESULTS_CSV, resume)
    if store.records:
        log(f"resuming: {len(store)} evaluated architectures found in {out_dir / RESULTS_CSV}")
    if store.legacy:                       # (racing is refused earlier: its config differs)
        log(f"{store.legacy} rows come from a folder written before per-clip outcomes: they have "
            "none, and comparisons with them use their binomial SEs (not paired)")
    backend = backend or InProcessBackend(factory)
    space = factory.search_space(model)
    log(f"search: {config.strategy} on {model.spec['name']} ({space.name} space, "
        f"{space.num_units} units, {space.size():.3g} architectures), seed {config.seed}")
    log(objective.describe())
    if config.racing:
        log(f"racing: {config.race_slices} slices of the validation set; a candidate stops when "
            f"{TEST_NAME} separates it from the leader at confidence {config.confidence:g}")
    with progress_bar(total=strategy.estimate(space) or None, unit="arch", desc=config.strategy,
                      disable=not progress, file=sys.stderr) as bar:
        ctx = SearchContext(space, cost_table, objective, store, backend, config.strategy,
                            config.seed, measured, out_dir, bar,
                            log=log,
                            race_slices=config.race_slices if config.racing else 1,
                            confidence=config.confidence, memory=memory)
        outcome: Outcome = backend.session(lambda: strategy.run(ctx))
        bar.total = bar.n                   # the estimate counted equivalent choices too
        bar.refresh()
    info = {**outcome.info, "confidence": confidence_section(ctx, outcome, config),
            "cost_weight": cost_weight(objective, cost_table, space, store.frame(), outcome.record),
            "per_alpha": best_per_alpha(store.frame(), config.alphas, objective.unit),
            "clips_evaluated": ctx.clips_evaluated, "slice_evaluations": ctx.slice_evaluations}
    result = SearchResult(outcome.arch, outcome.record, store.frame(), out_dir, info,
                          ctx.new_evaluations)
    if out_dir is not None:
        write_best(out_dir, model.space, outcome.arch, outcome.record,
                   {"strategy": config.strategy, "alpha": config.alpha,
                    "score_units": {"top1_pct": "%", "top1_se": f"% ({SE_KIND} SE)", "gflops": "GFLOPs",
                                    "params_M": "M", "cost": objective.unit,
                                    "objective": f"% - alpha * {objective.unit}"},
                    "confidence": info["confidence"], "per_alpha": info["per_alpha"],
                    "context": plot_context(full_config["evaluation"], model, cost_table, space)})
        atomic_write_text(out_dir / PARETO_CSV, pareto_table(result.table).to_csv(index=False))
    log(summary(result, objective, config.strategy, pareto=strategy.reports_pareto))
    return result


COST_WEIGHT_FAR = 10.0        # alpha * range(C) this many times below (or above) one SE of V: warn


def cost_weight(objective: Objective, table: CostTable, space, frame, best) -> dict[str, Any]:
    """How much the cost term can move the objective, next to the noise of V: alpha times the
    range of C over the space (GFLOPs: the largest minus the smallest architecture, exact from
    the cost table; latency or memory: over the evaluated architectures), against the SE of
    the best architecture's V. A term far below one SE decides only near-ties; far above, the
    search is a cost minimisation."""

    if objective.unit == "GFLOPs":
        largest, smallest = extreme_archs(table, space)
        spread, over = table.gflops(largest) - table.gflops(smallest), "the space"
    else:
        full = complete_rows(frame)
        spread = float(full["cost"].max() - full["cost"].min()) if len(full) else 0.0
        over = f"the {len(full)} evaluated architectures"
    term, se = objective.alpha * spread, float(best.top1_se)
    note = None
    if se > 0 and term < se / COST_WEIGHT_FAR:
        note = (f"the cost term moves the objective by at most {term:.3g} points, far below one SE of V "
                f"({se:.2f}): the cost decides only near-ties (raise --alpha to trade accuracy for cost)")
    elif se > 0 and term > se * COST_WEIGHT_FAR:
        note = (f"the cost term spans {term:.3g} points, far above one SE of V ({se:.2f}): the search "
                "mostly minimises the cost (lower --alpha to weigh accuracy)")
    return {"alpha": objective.alpha, "cost_range": spread, "over": over, "term_range_points": term,
            "top1_se": se, "warning": note}


def plot_context(evaluation: dict, model, table: CostTable, space) -> dict[str, Any]:
    """best_arch.json's `context`, what the search figures draw besides the scores: the
    checkpoint searched, chance top-1 (100 / classes) and the GFLOPs range of the whole space
    (smallest and largest architecture, exact from the cost table)."""
    largest, smallest = extreme_archs(table, space)
    classes = model.spec.get("num_classes")
    return {"checkpoint": evaluation.get("checkpoint"), "chance_pct": 100.0 / classes if classes else None,
            "space_gflops": [table.gflops(smallest), table.gflops(largest)]}


def confidence_section(ctx: SearchContext, outcome: Outcome, config: SearchConfig) -> dict[str, Any]:
    """best_arch.json's `confidence`: the strategy's decisions (significant or not) and the
    paired margin of the best over the runner-up architecture."""
    decisions = outcome.info.get("decisions", [])
    best = ctx.store.get(outcome.record.key) or outcome.record
    others = [r for r in ctx.store.sorted() if r.is_complete and r.key != best.key]
    runner = min(others, key=lambda r: (-r.objective, r.loss, r.eval_id)) if others else None
    versus = None
    if runner is not None:
        versus = {"runner_up": runner.arch, "runner_up_top1_pct": runner.top1_pct,
                  "runner_up_clips": runner.clips, **ctx.compare(best, runner).to_dict()}
    return {"test": TEST_NAME, "se": SE_KIND, "level": ctx.level, "racing": config.racing,
            "top1_pct": best.top1_pct, "top1_se": best.top1_se, "clips": best.clips,
            "significant_decisions": [d for d in decisions if d["significant"]],
            "decisions_inside_noise": [d for d in decisions if not d["significant"]],
            "best_vs_runner_up": versus}


def best_per_alpha(df, alphas, unit: str) -> list[dict[str, Any]]:
    """The best complete architecture for each alpha, by Eq. 6 over the same evaluations."""
    full = complete_rows(df)
    out = []
    for a in alphas:
        if full.empty:
            break
        value = full["top1_pct"] - a * full["cost"]
        order = sorted(range(len(full)), key=lambda i: (-value.iloc[i], full["loss"].iloc[i],
                                                        full["eval_id"].iloc[i]))
        r = full.iloc[order[0]]
        out.append({"alpha": a, "arch": r["arch"], "top1_pct": float(r["top1_pct"]),
                    "top1_se": float(r["top1_se"]), "clips": int(r["clips"]), "cost": float(r["cost"]),
                    "cost_unit": unit, "gflops": float(r["gflops"]), "objective": float(value.iloc[order[0]])})
    return out


def pareto_table(df, cost: str | None = None):
    """Rows of fully specified architectures on the Pareto front: max V against min `cost`,
    or by default against min GFLOPs and, when C is not GFLOPs (latency), min C too."""
    full = complete_rows(df)
    if cost is not None:
        return full.iloc[pareto_front(list(zip(full["top1_pct"], full[cost])))].reset_index(drop=True)
    cols = ["top1_pct", "gflops"]
    if "cost_unit" in full and len(full) and (full["cost_unit"] != "GFLOPs").any():
        cols.append("cost")
    idx = pareto_front_nd(full[cols].to_numpy(float), [True] + [False] * (len(cols) - 1))
    return full.iloc[idx].sort_values(cols[1:] + ["eval_id"]).reset_index(drop=True)


def cost_weight_lines(weight: dict | None, unit: str) -> list[str]:
    """The summary's line on the size of the cost term next to V's SE, and its warning."""
    if not weight:
        return []
    lines = [f"  cost term: alpha * range(C) = {weight['alpha']:g} * {weight['cost_range']:.4g} {unit} "
             f"over {weight['over']} = {weight['term_range_points']:.3g} points; SE of V {weight['top1_se']:.2f}"]
    if weight["warning"]:
        lines.append(f"  WARNING: {weight['warning']}")
    return lines


def summary(result: SearchResult, objective: Objective, strategy: str, top: int = 5,
            pareto: bool = False) -> str:
    """The short terminal report: best architecture with units and SE, top rows, confidence,
    the best per alpha, Pareto front."""
    r = result.record
    df = result.table
    best = complete_rows(df).sort_values(["objective", "loss", "eval_id"], ascending=[False, True, True]).head(top)
    unit = objective.unit
    lines = [f"best architecture ({strategy}): {result.arch}",
             f"  V = {r.top1_pct:.2f} % top-1 on {r.clips} validation clips, SE {r.top1_se:.2f} "
             f"({SE_KIND}; loss {r.loss:.4f})",
             f"  C = {r.cost:.5g} {unit}  ({r.gflops:.5g} GFLOPs, {r.params_M:.4g} M params)",
             f"  objective = V - alpha*C = {r.objective:.4f}  (alpha = {objective.alpha:g} per {unit})",
             *cost_weight_lines(result.info.get("cost_weight"), unit),
             f"  {len(df)} architectures evaluated ({result.new_evaluations} in this run); "
             f"{result.info.get('clips_evaluated', 0)} validation clips scored in this run"]
    rows = [(int(x.eval_id), x.arch, f"{x.top1_pct:.2f}", f"{x.top1_se:.2f}", int(x.clips), f"{x.cost:.5g}",
             f"{x.params_M:.4g}", f"{x.objective:.4f}") for x in best.itertuples()]
    lines.append(format_table(rows, ["id", "architecture", "V (%)", "SE", "clips", f"C ({unit})",
                                     "params (M)", "objective"], align="llrrrrrr"))
    conf = result.info.get("confidence") or {}
    vs = conf.get("best_vs_runner_up")
    if vs:
        flag = "significant" if vs["significant"] else "INSIDE THE NOISE"
        lines.append(f"best vs runner-up {vs['runner_up']}: margin {vs['margin']:+.3f} points "
                     f"(SE {vs['se']:.3f}, p={vs['p_value']:.3g}{', paired on ' + str(vs['clips']) + ' clips' if vs['paired'] else ''}): {flag}")
    n_sig, n_noise = len(conf.get("significant_decisions", [])), len(conf.get("decisions_inside_noise", []))
    if n_sig + n_noise:
        lines.append(f"decisions: {n_sig} significant, {n_noise} inside the noise "
                     f"(confidence {conf['level']:g})")
    per_alpha = result.info.get("per_alpha") or []
    if len(per_alpha) > 1:
        lines.append("best per alpha (Eq. 6 re-ranked over the same evaluations):")
        lines.append(format_table([(f"{p['alpha']:g}", p["arch"], f"{p['top1_pct']:.2f}", f"{p['cost']:.5g}",
                                    f"{p['objective']:.4f}") for p in per_alpha],
                                  ["alpha", "architecture", "V (%)", f"C ({unit})", "objective"], align="llrrr"))
    if pareto:
        front = pareto_table(df)
        lines.append("Pareto front (max V, min C):")
        lines.append(format_table([(x.arch, f"{x.top1_pct:.2f}", f"{x.cost:.5g}") for x in front.itertuples()],
                                  ["architecture", "V (%)", f"C ({unit})"], align="lrr"))
    if result.out is not None:
        lines.append(f"results: {result.out / RESULTS_CSV}; best: {result.out / 'best_arch.json'}")
    return "\n".join(lines)
