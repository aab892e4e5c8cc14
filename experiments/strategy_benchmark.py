"""Which search strategy, at which budget: regret against the number of evaluations.

    # (a) on the shared-weight estimates of a pretrained supernet (the demo one:
    #     nas pretrain --config nas/configs/pretrain_mlp3d_nano_cpu.yaml)
    python experiments/strategy_benchmark.py shared --checkpoint runs/demo_supernet/supernet.pt \\
        --out experiments/results/strategy_benchmark/shared
    # (b) on a standalone table (nas.bench; the ranking-fidelity study's)
    python experiments/strategy_benchmark.py table --bench-table experiments/results/ranking_fidelity \\
        --out experiments/results/strategy_benchmark/table
    # the accuracy predictor's Kendall tau against held-out evaluations (and a table)
    python experiments/strategy_benchmark.py predictor --evaluations \\
        experiments/results/strategy_benchmark/shared/evaluations.csv [--bench-table DIR] \\
        --out experiments/results/strategy_benchmark/predictor

Strategies: greedy (MLP-3D Sec. 3.4), evolution (SPOS; population 5, top-2 parents,
budget / 5 generations), random, optuna-tpe (batch 4, 10 startup trials), optuna-nsga2
(population 10) and predictor-guided evolution (the same evolution with `predictor_share`
0.25 and the MLP predictor), each at budgets of 25, 50, 100 and 200 evaluations with 5 seeds,
every run a separate `nas.search.run_search` call. No setting depends on the budget, so a
run at budget B makes the same first B evaluations as a longer run (the cache then costs
them once). Greedy's evaluation count is set by the space, not a budget: it runs its 3
passes once per seed and its result "at budget B" is the best complete architecture among
its first B evaluations.

Truth and regret. (a) The "truth" is the shared-weight estimate itself (V on the fixed
validation subset; each distinct request is evaluated once and shared by every run through
an evaluation cache, so the runs cost only their distinct architectures). Regret = the best
objective (V - alpha*C) of every architecture any run evaluated, minus the best objective a
run has found so far. (b) The truth is the table's mean standalone top-1; regret = the
table's best objective minus the best so far. Outputs, all rewritten atomically and resumed
on a rerun (finished runs are skipped; the cache is saved every 25 new evaluations):
``runs.csv`` (one row per run), ``curves.csv`` (best so far after each evaluation),
``summary.csv`` (regret at each budget: median and range over seeds), ``regret.png/.pdf``,
``reference.json`` and ``command.txt``; (a) also ``evaluations.csv`` (every complete
full-set evaluation: the predictor study's data).
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.search import SearchConfig, run_search  # noqa: E402
from nas.search.engine import InProcessBackend, complete_rows  # noqa: E402
from nas.search.evaluator import EvalResult  # noqa: E402
from nas.search.store import row_key  # noqa: E402
from nas.utils import atomic_write_json, atomic_write_text, format_table  # noqa: E402

BUDGETS = (25, 50, 100, 200)
STRATEGIES = ("greedy", "evolution", "random", "optuna-tpe", "optuna-nsga2", "evolution-predictor")


def strategy_config(name: str, budget: int, seed: int, alpha: float) -> SearchConfig:
    """The run of `name` at `budget` evaluations (see the module docstring)."""
    pop = min(5, budget)          # fixed, so a run at budget B is the first B evaluations of a longer one
    evo = {"population": pop, "generations": budget // pop, "topk": 2}
    params = {
        "greedy": ("greedy", {"repeats": 3}),
        "evolution": ("evolution", evo),
        "evolution-predictor": ("evolution", {**evo, "predictor_share": 0.25, "predictor": "mlp"}),
        "random": ("random", {"budget": budget, "batch": 25}),
        "optuna-tpe": ("optuna-tpe", {"budget": budget, "batch": 4, "startup_trials": 10}),
        "optuna-nsga2": ("optuna-nsga2", {"budget": budget, "batch": 4, "population": 10}),
    }[name]
    return SearchConfig(params[0], params[1], seed=seed, alpha=alpha)


class CachedBackend(InProcessBackend):
    """In-process evaluation with a cache of results shared by every run (keyed by the
    canonical request, `store.row_key` plus the slice), saved atomically to `path`."""

    def __init__(self, factory, space, path: Path | None, save_every: int = 25):
        super().__init__(factory)
        self.space, self.path, self.save_every = space, path, save_every
        self.cache: dict[str, dict] = {}
        if path is not None and path.is_file():
            self.cache = json.loads(path.read_text())
        self.new = self.reused = 0

    def key(self, req) -> str:
        return row_key(self.space, self.space.parse(req.arch), req.decided, req.draw_seed) + \
            f"#{req.part}/{req.parts}"

    def run(self, requests):
        for i, req in enumerate(requests):
            k = self.key(req)
            if k in self.cache:
                self.reused += 1
            else:
                self.cache[k] = self.evaluator.evaluate(req).to_dict()
                self.new += 1
                if self.new % self.save_every == 0:
                    self.save()
            yield i, EvalResult.from_dict(self.cache[k])

    def save(self) -> None:
        if self.path is not None:
            atomic_write_json(self.path, self.cache)


def best_so_far(table: pd.DataFrame) -> np.ndarray:
    """Best objective of the complete architectures among the first k evaluations (NaN
    before the first complete one), for k = 1..len(table)."""
    ok = ~table["arch"].str.contains(r"\*", regex=True).to_numpy()
    obj = np.where(ok, table["objective"].to_numpy(float), -np.inf)
    best = np.maximum.accumulate(obj)
    return np.where(np.isfinite(best), best, np.nan)


def run_all(args, factory, space, cost_table, backend, truth=None) -> None:
    """Every (strategy, budget, seed) run not yet in runs.csv; curves and runs saved after each."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_path, curves_path = out / "runs.csv", out / "curves.csv"
    runs = pd.read_csv(runs_path) if runs_path.is_file() else pd.DataFrame()
    curves = pd.read_csv(curves_path) if curves_path.is_file() else pd.DataFrame()
    done = set() if runs.empty else set(zip(runs["strategy"], runs["budget"], runs["seed"]))
    jobs = [(s, b, seed) for s in args.strategies for b in args.budgets for seed in range(args.seeds)
            if not (s == "greedy" and b != max(args.budgets))]          # greedy: one run per seed
    for n, (name, budget, seed) in enumerate(jobs):
        if (name, budget, seed) in done:
            continue
        cfg = strategy_config(name, budget, seed, args.alpha)
        start, cpu = time.perf_counter(), time.process_time()
        res = run_search(cfg, factory, backend=backend, progress=False, log=lambda s: None,
                         cost_table=cost_table)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        table = res.table.sort_values("eval_id").reset_index(drop=True)
        curve = best_so_far(table)
        full = complete_rows(table)
        runs = pd.concat([runs, pd.DataFrame([{
            "strategy": name, "budget": budget, "seed": seed, "evaluations": len(table),
            "complete": len(full), "best_arch": str(res.arch), "best_objective": res.record.objective,
            "best_top1": res.record.top1_pct, "wall_s": round(seconds, 2), "cpu_s": round(cpu, 2)}])],
            ignore_index=True)
        curves = pd.concat([curves, pd.DataFrame({"strategy": name, "budget": budget, "seed": seed,
                                                  "evaluation": np.arange(1, len(curve) + 1),
                                                  "best_so_far": curve})], ignore_index=True)
        if isinstance(backend, CachedBackend):
            backend.save()
        atomic_write_text(curves_path, curves.to_csv(index=False))
        atomic_write_text(runs_path, runs.to_csv(index=False))
        extra = f", cache {backend.new} new / {backend.reused} reused" if isinstance(backend, CachedBackend) else ""
        print(f"[{n + 1}/{len(jobs)}] {name} budget {budget} seed {seed}: {len(table)} evaluations, best "
              f"{res.record.objective:.3f} ({cpu:.1f} s CPU{extra})", flush=True)


def report(out: Path, reference: float, budgets, title: str) -> None:
    """summary.csv and regret.png from runs.csv / curves.csv against `reference`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = pd.read_csv(out / "curves.csv")
    curves["regret"] = reference - curves["best_so_far"]
    rows = []
    for name, grp in curves.groupby("strategy", sort=False):
        for b in budgets:
            src = grp[grp["budget"] == (max(budgets) if name == "greedy" else b)]
            at = src[src["evaluation"] <= b].groupby("seed")["regret"].last()
            ev = src[src["evaluation"] <= b].groupby("seed")["evaluation"].max()
            rows.append({"strategy": name, "budget": b, "seeds": len(at), "evaluations_mean": ev.mean(),
                         "regret_median": at.median(), "regret_mean": at.mean(), "regret_min": at.min(),
                         "regret_max": at.max(), "found_best_share": float((at <= 1e-9).mean())})
    summary = pd.DataFrame(rows)
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False, float_format="%.4f"))
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for k, (name, grp) in enumerate(curves.groupby("strategy", sort=False)):
        color = plt.get_cmap("tab10")(k)
        big = grp[grp["budget"] == max(budgets)]
        piv = big.pivot(index="evaluation", columns="seed", values="regret")
        ax.plot(piv.index, piv.median(axis=1), color=color, lw=1.6, label=name)
        ax.fill_between(piv.index, piv.min(axis=1), piv.max(axis=1), color=color, alpha=0.15, lw=0)
        s = summary[summary["strategy"] == name]
        ax.plot(s["budget"], s["regret_median"], "o", color=color, ms=5, mec="k", mew=0.5)
    ax.set_xscale("log")
    ax.set_xticks(list(budgets))
    ax.set_xticklabels([str(b) for b in budgets])
    ax.set_xlabel("evaluations")
    ax.set_ylabel("regret (objective points)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, title="median, band = min..max over seeds; dots: runs at that budget",
              title_fontsize=6)
    fig.tight_layout()
    for ext in (".png", ".pdf"):
        fig.savefig(out / f"regret{ext}", dpi=150, bbox_inches="tight")
    plt.close(fig)
    table = [(r.strategy, r.budget, f"{r.evaluations_mean:.0f}", f"{r.regret_median:.3f}",
              f"{r.regret_min:.3f}..{r.regret_max:.3f}", f"{r.found_best_share:.1f}") for r in summary.itertuples()]
    print(format_table(table, ["strategy", "budget", "evals", "median regret", "range", "found best"]))


def save_command(out: Path, argv) -> None:
    atomic_write_text(out / "command.txt", "python experiments/strategy_benchmark.py " +
                      " ".join(shlex.quote(a) for a in argv) + "\n")


def cmd_shared(args, argv) -> None:
    import torch

    from nas.costs.unit_table import load_or_build_cost_table
    from nas.search.recipes import CheckpointEvaluatorFactory

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_command(out, argv)
    factory = CheckpointEvaluatorFactory(args.checkpoint, args.val_size, args.batch_size, 0, device="cpu")
    model = factory.cost_model()
    table = load_or_build_cost_table(model, tuple(model.spec["input_size"]), out / "cost_table.json")
    cache = Path(args.cache) if args.cache else out / "cache.json"
    backend = CachedBackend(factory, model.space, cache)
    run_all(args, factory, model.space, table, backend)
    backend.save()
    # every complete full-set evaluation of every run, and the reference (the best of them)
    recs = []
    for key, r in backend.cache.items():
        arch, part = key.split("#")
        if "@" in arch or part != "0/1":
            continue
        a = model.space.parse(arch)
        recs.append({"arch": arch, "top1_pct": r["top1"], "loss": r["loss"], "clips": r["total"],
                     "gflops": table.gflops(a), "objective": r["top1"] - args.alpha * table.gflops(a)})
    ev = pd.DataFrame(recs).sort_values(["objective", "loss"], ascending=[False, True]).reset_index(drop=True)
    atomic_write_text(out / "evaluations.csv", ev.to_csv(index=False))
    best = ev.iloc[0]
    atomic_write_json(out / "reference.json", {
        "truth": "shared-weight estimate (V on the fixed validation subset)", "reference": "best objective "
        "of every architecture any run evaluated", "reference_objective": float(best["objective"]),
        "reference_arch": best["arch"], "alpha": args.alpha, "distinct_architectures": len(ev),
        "evaluations_in_cache": len(backend.cache), "evaluator": factory.describe()})
    report(out, float(best["objective"]), args.budgets,
           f"regret on shared-weight estimates ({Path(args.checkpoint).name}, {args.val_size} clips), "
           f"{args.seeds} seeds")


def cmd_table(args, argv) -> None:
    from nas.search.bench_eval import BenchTableEvaluator
    from nas.costs.unit_table import load_or_build_cost_table

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_command(out, argv)
    factory = BenchTableEvaluator(args.bench_table)
    model = factory.cost_model()
    table = load_or_build_cost_table(model, tuple(model.spec["input_size"]), out / "cost_table.json")
    t = factory.table
    obj = {a: t.top1(a) - args.alpha * table.gflops(model.space.parse(a)) for a in t.archs()}
    ref = max(obj, key=obj.get)
    run_all(args, factory, model.space, table, InProcessBackend(factory))
    atomic_write_json(out / "reference.json", {
        "truth": "standalone top-1 (mean over the table's seeds)", "reference": "best objective in the table",
        "reference_objective": obj[ref], "reference_arch": ref, "alpha": args.alpha,
        "table_architectures": len(t), "evaluator": factory.describe(), "protocol": t.protocol})
    report(out, obj[ref], args.budgets, f"regret on standalone table {args.bench_table} ({len(t)} "
           f"architectures), {args.seeds} seeds")


def cmd_predictor(args, argv) -> None:
    """Kendall tau of the predictor against held-out evaluations, by training-set size."""
    from scipy.stats import kendalltau

    from nas.search.predictor import Predictor
    from search_spaces import build_space

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_command(out, argv)
    ev = pd.read_csv(args.evaluations)
    if "eval_id" in ev.columns:                  # a search's results.csv: its complete full-set rows
        from nas.search.predictor import training_rows
        archs, v = training_rows(args.evaluations)
        ev = pd.DataFrame({"arch": archs, "top1_pct": v})
    space = build_space(json.loads(Path(args.space_from or Path(args.evaluations).with_name(
        "cost_table.json")).read_text())["space"])
    rows = []
    rng = np.random.default_rng(0)
    for split in range(args.splits):
        order = rng.permutation(len(ev))
        test = ev.iloc[order[:args.holdout]]
        pool = ev.iloc[order[args.holdout:]]
        for n in args.sizes:
            if n > len(pool):
                continue
            train = pool.iloc[:n]
            for kind in ("mlp", "ridge"):
                start = time.process_time()
                p = Predictor.fit(space, list(train["arch"]), train["top1_pct"].to_numpy(float), kind, seed=split)
                fit_s = time.process_time() - start
                tau = kendalltau(p.predict(list(test["arch"])), test["top1_pct"]).statistic
                rows.append({"against": "held-out shared-weight evaluations", "kind": kind, "train": n,
                             "split": split, "test": len(test), "kendall_tau": tau, "fit_cpu_s": fit_s})
    if args.bench_table:
        from nas.bench import load_bench
        t = load_bench(args.bench_table)
        archs = t.archs()
        y = np.array([t.top1(a) for a in archs])
        if t.space.config() == space.config():       # fitted on the shared-weight evaluations
            for n in args.sizes:
                for kind in ("mlp", "ridge"):
                    train = ev.iloc[:n] if n <= len(ev) else None
                    if train is None:
                        continue
                    p = Predictor.fit(t.space, list(train["arch"]), train["top1_pct"].to_numpy(float), kind)
                    rows.append({"against": "standalone table (fit on shared-weight evaluations)",
                                 "kind": kind, "train": n, "split": 0, "test": len(archs),
                                 "kendall_tau": kendalltau(p.predict(archs), y).statistic, "fit_cpu_s": 0.0})
        # 5-fold on the table's own rows; its own generator, so the folds do not depend on
        # the evaluations file (the same table gives the same result whichever supernet)
        folds = np.array_split(np.random.default_rng(0).permutation(len(archs)), 5)
        for kind in ("mlp", "ridge"):
            pred = np.zeros(len(archs))
            for test_i in folds:
                train_i = np.setdiff1d(np.arange(len(archs)), test_i)
                p = Predictor.fit(t.space, [archs[i] for i in train_i], y[train_i], kind)
                pred[test_i] = p.predict([archs[i] for i in test_i])
            rows.append({"against": "standalone table (5-fold, fit on the table)", "kind": kind,
                         "train": len(archs) - max(map(len, folds)), "split": 0, "test": len(archs),
                         "kendall_tau": kendalltau(pred, y).statistic, "fit_cpu_s": 0.0})
    df = pd.DataFrame(rows)
    atomic_write_text(out / "predictor_tau.csv", df.to_csv(index=False, float_format="%.4f"))
    summary = (df.groupby(["against", "kind", "train"])["kendall_tau"].agg(["mean", "std", "count"])
               .reset_index())
    atomic_write_text(out / "predictor_tau_summary.csv", summary.to_csv(index=False, float_format="%.4f"))
    print(format_table([(r.against, r.kind, r.train, f"{r.mean:.3f}", "" if math.isnan(r.std) else f"{r.std:.3f}",
                         r.count) for r in summary.itertuples()],
                       ["against", "predictor", "train records", "tau mean", "tau sd", "splits"]))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)

    def common(q):
        q.add_argument("--out", required=True)
        q.add_argument("--budgets", default=",".join(map(str, BUDGETS)),
                       type=lambda s: tuple(int(v) for v in s.split(",")))
        q.add_argument("--seeds", type=int, default=5)
        q.add_argument("--strategies", default=",".join(STRATEGIES), type=lambda s: tuple(s.split(",")))
        q.add_argument("--alpha", type=float, default=5e-3)

    q = sub.add_parser("shared", help="(a) shared-weight estimates of a supernet")
    common(q)
    q.add_argument("--checkpoint", required=True)
    q.add_argument("--val-size", type=int, default=128)
    q.add_argument("--batch-size", type=int, default=64)
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--cache", help="evaluation cache (default OUT/cache.json)")
    q = sub.add_parser("table", help="(b) a standalone table")
    common(q)
    q.add_argument("--bench-table", required=True)
    q = sub.add_parser("predictor", help="predictor tau by training-set size")
    q.add_argument("--out", required=True)
    q.add_argument("--evaluations", required=True, help="evaluations.csv of a `shared` run, or a search's results.csv")
    q.add_argument("--space-from", help="cost_table.json naming the space (default: beside the CSV)")
    q.add_argument("--sizes", default="25,50,100,200", type=lambda s: tuple(int(v) for v in s.split(",")))
    q.add_argument("--holdout", type=int, default=300)
    q.add_argument("--splits", type=int, default=5)
    q.add_argument("--bench-table", help="also report tau against this standalone table")
    args = p.parse_args(argv)
    unknown = [s for s in getattr(args, "strategies", ()) if s not in STRATEGIES]
    if unknown:
        p.error(f"unknown strategy {unknown[0]!r}; allowed: {', '.join(STRATEGIES)}")
    print("$ python experiments/strategy_benchmark.py " + " ".join(shlex.quote(a) for a in argv), flush=True)
    {"shared": cmd_shared, "table": cmd_table, "predictor": cmd_predictor}[args.mode](args, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
