"""The search engine (`nas.search`): costs, evaluation, strategies, results and resume.

References are naive on purpose: full fvcore traces for costs, one plain forward per batch for
scores, and a loop-by-loop greedy search without any caching.
"""
import copy
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from nas.search import (CostTable, EvalRequest, Evaluator, InMemoryEvaluatorFactory,
                        Objective, SearchConfig, build_cost_table, full_trace_flops, make_strategy,
                        pareto_front, read_results, run_search)
from nas.costs.measured import LatencyCost
from nas.search.engine import SearchContext, pareto_table
from nas.search.evaluator import draw_rng
from nas.search.store import prepare_folder, row_key
from search_spaces import Arch
from supernet.registry import build_model, model_entry
from tests.support import ROOT
from tests.support.search import SIZE, CrashAfter, KernelChoice, ToyNet, cost_table_of, random_batches, rows


# ---- fixtures ----------------------------------------------------------------------------
pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py: one torch thread


@pytest.fixture(scope="module")
def small():
    model, table = cost_table_of("small")
    factory = InMemoryEvaluatorFactory.from_model(model, random_batches(2, 4, seed=1))
    return model, table, factory


def naive_score(model, batches, archs):
    """Top-1 (%) and mean loss with one plain forward per batch, each with its own arch."""
    correct, loss, total = 0, 0.0, 0
    model.eval()
    with torch.no_grad():
        for (x, y), arch in zip(batches, archs):
            model.set_arch(arch)
            out = model(x)
            correct += int((out.argmax(1) == y).sum())
            loss += float(F.cross_entropy(out, y, reduction="sum"))
            total += len(y)
    return 100.0 * correct / total, loss / total


# ---- costs -------------------------------------------------------------------------------
SPACES = ["mlp3d-nano", "morphmlp-nano", "eco-nano", "r3d-rs-nano"]


@pytest.mark.slow
@pytest.mark.parametrize("count", [6, 20])
@pytest.mark.parametrize("name", SPACES)
def test_cost_table_sum_equals_full_fvcore_trace(name, count):
    """`count` random architectures per space against a full fvcore trace each (the slow run;
    the default run checks two architectures of every registered family in
    test_registry.test_every_cost_table_sum_equals_a_full_fvcore_count)."""
    try:
        entry = model_entry(name)
    except ValueError:
        pytest.skip(f"{name} is not registered yet")
    model, table = cost_table_of(name)
    space = model.space
    for k in range(count):
        arch = space.sample(1000 + k)
        flops, params = full_trace_flops(model, arch, entry.default_input)
        assert table.flops(arch) == flops, arch
        assert table.params(arch) == params, arch
        assert isinstance(table.flops(arch), int)


def test_cost_table_expectation_minimum_and_round_trip(tmp_path, small):
    model, table, _ = small
    space = model.space
    arch = space.sample(3)
    mean = [sum(t.values()) / len(t) for t in table.unit_flops]
    decided = 3
    want = table.fixed_flops + sum(table.unit_flops[i][arch[i].token] for i in range(decided)) + sum(mean[decided:])
    assert table.flops(arch, decided) == pytest.approx(want, rel=1e-12)
    # the expectation does not depend on the placeholders after `decided`
    assert table.flops(arch.replace(5, space.choices(5)[-1]), decided) == table.flops(arch, decided)
    low = table.fixed_flops + sum(table.unit_flops[i][arch[i].token] for i in range(decided)) + \
        sum(min(t.values()) for t in table.unit_flops[decided:])
    assert table.min_gflops(arch, decided) == low / 1e9
    table.save(tmp_path / "t.json")
    again = CostTable.load(tmp_path / "t.json")
    assert again.flops(arch) == table.flops(arch) and again.params(arch) == table.params(arch)
    assert again.matches(model.spec, SIZE) and not again.matches(model.spec, (8, 32, 32))
    with pytest.raises(ValueError, match="cost table has 8 units"):
        table.flops(Arch(arch.choices[:3]))


def test_a_table_built_once_in_a_process_serves_the_same_costs_without_tracing(monkeypatch):
    """`load_or_build_cost_table` remembers tables by class, cost spec, space and input: the
    same spec again gets an equal table (a copy) and no trace; another input size, or a model
    without a spec, is traced anew; a training-only option does not change the key."""
    import nas.costs.unit_table as unit_table

    monkeypatch.setattr(unit_table, "_BUILT", type(unit_table._BUILT)())
    traces = []
    real = unit_table.model_cost
    monkeypatch.setattr(unit_table, "model_cost", lambda *a, **k: traces.append(1) or real(*a, **k))

    key = unit_table._memo_key                                # checked on real specs below
    monkeypatch.setattr(unit_table, "_memo_key", lambda m, size: None if getattr(m, "plain", False)
                        else ("toy", tuple(size)))                 # (ToyNet has no registry spec)

    def toy():
        torch.manual_seed(0)
        return ToyNet()

    first = unit_table.load_or_build_cost_table(toy(), (16,))
    assert len(traces) == 3                                   # max_i |choices(i)| traces
    again = unit_table.load_or_build_cost_table(toy(), (16,))
    assert len(traces) == 3 and again == first and again.unit_flops is not first.unit_flops
    assert unit_table.load_or_build_cost_table(toy(), (32,)).input_size == (32,) and len(traces) == 6
    plain = ToyNet()                                          # no key (no spec): nothing is remembered
    plain.plain = True
    unit_table.load_or_build_cost_table(plain, (16,))
    unit_table.load_or_build_cost_table(plain, (16,))
    assert len(traces) == 12
    assert key(plain, (16,)) is None
    arch = Arch((KernelChoice(1), KernelChoice(5), KernelChoice(3)))
    assert again.flops(arch) == full_trace_flops(ToyNet(), arch, (16,))[0]
    assert key(build_model("mlp3d-nano", SIZE, 10), SIZE) == key(build_model("mlp3d-nano", SIZE, 10,
                                                                             drop_path_rate=0.1), SIZE)
    assert key(build_model("mlp3d-nano", SIZE, 10), SIZE) != key(build_model("mlp3d-nano", SIZE, 10,
                                                                             gtm_types=("short_range",)), SIZE)


def toy_batches(n, seed):
    return random_batches(n, 6, seed, shape=(3, 16), classes=4)


def test_cost_table_rejects_a_unit_whose_cost_depends_on_other_units():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="cost must depend only on its own choice"):
        build_cost_table(ToyNet(stride_on=3), (16,))
    table = build_cost_table(ToyNet(), (16,))                     # the honest twin works
    arch = Arch((KernelChoice(1), KernelChoice(5), KernelChoice(3)))
    assert table.flops(arch) == full_trace_flops(ToyNet(), arch, (16,))[0]


# ---- evaluation --------------------------------------------------------------------------
def test_evaluator_matches_plain_forward_for_fixed_and_random_units(small):
    model, _, _ = small
    space = model.space
    batches = random_batches(3, 4, seed=5)
    cached = Evaluator(copy.deepcopy(model), batches)
    plain = Evaluator(copy.deepcopy(model), batches, prefix_cache=False)
    arch = space.sample(11)
    v, loss = naive_score(model, batches, [arch] * 3)
    for ev in (cached, plain):
        r = ev.evaluate(EvalRequest(str(arch)))
        assert (r.top1, r.correct, r.total) == (v, round(v * 12 / 100), 12)
        assert r.loss == pytest.approx(loss, rel=1e-12)
    for block in range(space.num_units):               # greedy pass-1 requests, block by block
        req = EvalRequest(str(arch), decided=block + 1, draw_seed=77, block=block)
        per_batch = [Arch(arch.choices[:block + 1] + space.sample(draw_rng(77, b)).choices[block + 1:])
                     for b in range(3)]
        v, loss = naive_score(model, batches, per_batch)
        a, b = cached.evaluate(req), plain.evaluate(req)
        assert a.top1 == b.top1 == v
        assert a.loss == b.loss                          # the cache changes time, not numbers
        assert a.loss == pytest.approx(loss, rel=1e-12)
    assert cached.stats["unit_forwards"] < plain.stats["unit_forwards"]


def test_evaluator_rejects_bad_settings(small):
    model, _, _ = small
    with pytest.raises(ValueError, match="has no BatchNorm"):
        Evaluator(model, random_batches(1, 2, 0), random_batches(1, 2, 1), bn_recalib=1)
    with pytest.raises(ValueError, match="validation subset is empty"):
        Evaluator(model, [])
    with pytest.raises(ValueError, match="needs 2 training batches, got 1"):
        Evaluator(ToyNet(), toy_batches(1, 0), toy_batches(1, 1), bn_recalib=2)
    ev = Evaluator(model, random_batches(1, 2, 0))
    with pytest.raises(ValueError, match="no draw_seed"):
        ev.evaluate(EvalRequest(str(model.space.sample(0)), decided=2, block=1))


def naive_recalibrated_score(model, val, train, arch_of_batch, arch_of_train):
    """Reset every BN, re-estimate it (cumulative average) on the training batches, score."""
    net = copy.deepcopy(model)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm1d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    net.eval()
    with torch.no_grad():
        for bn in bns:
            bn.train()
        for (x, _), a in zip(train, arch_of_train):
            net.set_arch(a)
            net(x)
        for bn in bns:
            bn.eval()
    return naive_score(net, val, arch_of_batch), net


def test_bn_recalibration_matches_a_full_reset_and_reestimate():
    torch.manual_seed(3)
    model = ToyNet()
    with torch.no_grad():                              # stored stats far from the data's
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.fill_(3.0)
                m.running_var.fill_(0.01)
    val, train = toy_batches(3, 1), toy_batches(2, 2)
    space = model.space
    arch = space.parse("k3-k1-k5")
    (v, loss), net = naive_recalibrated_score(model, val, train, [arch] * 3, [arch] * 2)
    without = naive_score(copy.deepcopy(model), val, [arch] * 3)
    assert loss != pytest.approx(without[1])           # recalibration matters here
    for cache in (True, False):
        ev = Evaluator(copy.deepcopy(model), val, train, bn_recalib=2, prefix_cache=cache)
        r = ev.evaluate(EvalRequest(str(arch)))
        assert r.top1 == v and r.loss == pytest.approx(loss, rel=1e-6)
        # greedy request at block 1 with random unit 2: per-batch draws for val and train
        req = EvalRequest(str(arch), decided=2, draw_seed=9, block=1)
        va = [space.parse("k3-k1-k1").replace(2, space.sample(draw_rng(9, b)).choices[2]) for b in range(3)]
        tr = [space.parse("k3-k1-k1").replace(2, space.sample(draw_rng(9, b, "train")).choices[2])
              for b in range(2)]
        (v2, loss2), _ = naive_recalibrated_score(model, val, train, va, tr)
        r2 = ev.evaluate(req)
        assert r2.top1 == v2 and r2.loss == pytest.approx(loss2, rel=1e-6)
    # the prefix's statistics are those of the decided blocks (a later evaluation changes
    # only the blocks after the prefix)
    ev = Evaluator(copy.deepcopy(model), val, train, bn_recalib=2)
    ev.evaluate(EvalRequest("k3-k1-k5", decided=2, draw_seed=9, block=1))
    ev.evaluate(EvalRequest("k3-k5-k5", decided=2, draw_seed=9, block=1))
    stem_bn = ev.model.stem[1]
    assert torch.allclose(stem_bn.running_mean, net.stem[1].running_mean, atol=1e-6)
    assert torch.allclose(ev.model.layers[0].bn.running_var, net.layers[0].bn.running_var, atol=1e-6)


@pytest.mark.parametrize("name", ["eco-nano", "r3d-rs-nano"])
def test_prefix_cache_with_bn_recalibration_is_exact_on_conv3d_splits(name):
    try:
        entry = model_entry(name)
    except ValueError:
        pytest.skip(f"{name} is not registered yet")
    torch.manual_seed(0)
    model = build_model(name, None, 10)
    val, train = random_batches(2, 2, 3, (3,) + entry.default_input), random_batches(2, 2, 4, (3,) + entry.default_input)
    cached = Evaluator(copy.deepcopy(model), val, train, bn_recalib=2)
    plain = Evaluator(copy.deepcopy(model), val, train, bn_recalib=2, prefix_cache=False)
    arch = model.space.sample(3)
    for block in range(model.space.num_units):
        req = EvalRequest(str(arch), decided=block + 1, draw_seed=5, block=block)
        a, b = cached.evaluate(req), plain.evaluate(req)
        assert (a.top1, a.loss) == (b.top1, b.loss)
    assert cached.stats["unit_forwards"] < plain.stats["unit_forwards"]


# ---- greedy --------------------------------------------------------------------------------
def naive_greedy(model, batches, table, alpha, seed, repeats):
    """The greedy search of Sec. 3.4 written loop by loop, no caches, full forwards."""
    space = model.space
    n, nb = space.num_units, len(batches)
    ctx = SearchContext(space, None, None, None, None, "greedy", seed)
    best, keys = None, set()
    for p in range(repeats):
        decided, changed = [], False
        for i in range(n):
            choices = space.choices(i)
            current = None if best is None else choices.index(best[i])
            scores = []
            for k, c in enumerate(choices):
                if best is None and i < n - 1:
                    s = ctx.derive_seed("greedy", p, i)
                    archs = [Arch(tuple(decided) + (c,) + space.sample(draw_rng(s, b)).choices[i + 1:])
                             for b in range(nb)]
                    cost = table.gflops(archs[0], i + 1)
                    keys.add(row_key(space, archs[0], i + 1, s))
                else:
                    a = Arch(tuple(decided) + (c,)) if best is None else best.replace(i, c)
                    archs, cost = [a] * nb, table.gflops(a)
                    keys.add(row_key(space, a))
                v, loss = naive_score(model, batches, archs)
                scores.append((-(v - alpha * cost), loss, k != current, k))
            pick = min(range(len(choices)), key=lambda k: scores[k])
            if best is None:
                decided.append(choices[pick])
            elif pick != current:
                best, changed = best.replace(i, choices[pick]), True
        if best is None:
            best = Arch(tuple(decided))
        elif not changed:
            break
    return best, keys


def test_greedy_matches_naive_reference_and_prefix_cache_changes_only_time(small):
    model, table, factory = small
    alpha = 50.0                                        # large enough for costs to matter
    cfg = SearchConfig("greedy", {"repeats": 2}, seed=4, alpha=alpha)
    got = run_search(cfg, factory, cost_table=table, progress=False, log=lambda s: None)
    want, keys = naive_greedy(model, factory.val, table, alpha, 4, 2)
    assert got.arch == want
    assert set(got.table["key"]) == keys               # one row per distinct function
    nocache = InMemoryEvaluatorFactory.from_model(model, factory.val, prefix_cache=False)
    other = run_search(cfg, nocache, cost_table=table, progress=False, log=lambda s: None)
    assert other.arch == got.arch
    pd.testing.assert_frame_equal(rows(other.table), rows(got.table))


def test_greedy_compares_candidates_on_the_same_draws_and_merges_equivalent_choices(small):
    model, table, factory = small
    res = run_search(SearchConfig("greedy", {"repeats": 1}, seed=2), factory, cost_table=table,
                     progress=False, log=lambda s: None)
    df = res.table
    first = df[df["block"] == 0]
    # sr1 and lr1 are one function (canonical), and lr4 = sr4 at T' = 4: 4 rows, not 6
    assert len(first) == 4
    assert first["key"].str.split("@").str[1].nunique() == 1        # one shared draw seed
    assert (first["arch"].str.count(r"\*") == model.space.num_units - 1).all()
    last = df[df["block"] == model.space.num_units - 1]
    assert not last["arch"].str.contains(r"\*").any()
    assert res.record.arch == str(res.arch) and res.record.key == row_key(model.space, res.arch)


def test_greedy_respects_a_gflops_limit(small):
    model, table, factory = small
    space = model.space
    cheapest = space.uniform(lambda i: min(space.choices(i), key=lambda c: table.unit_flops[i][c.token]))
    limit = table.gflops(cheapest) * 1.002
    res = run_search(SearchConfig("greedy", {"repeats": 1}, max_gflops=limit), factory,
                     cost_table=table, progress=False, log=lambda s: None)
    assert table.gflops(res.arch) <= limit
    with pytest.raises(ValueError, match="no choice of unit 0 fits"):
        run_search(SearchConfig("greedy", {"repeats": 1}, max_gflops=1e-6), factory,
                   cost_table=table, progress=False, log=lambda s: None)


# ---- other strategies --------------------------------------------------------------------
SMALL_RUNS = {
    "greedy": {"repeats": 2},
    "evolution": {"population": 4, "generations": 3, "topk": 2},
    "random": {"budget": 6, "batch": 4},
    "optuna-tpe": {"budget": 8, "batch": 3, "startup_trials": 3},
    "optuna-nsga2": {"budget": 8, "batch": 3, "population": 4},
}


def test_evolution_and_random_keep_budget_uniqueness_and_limit(small):
    model, table, factory = small
    space = model.space
    limit = sorted(table.gflops(space.sample(s)) for s in range(40))[20]
    for name, budget in (("evolution", 12), ("random", 6)):
        cfg = SearchConfig(name, SMALL_RUNS[name], seed=1, max_gflops=limit)
        res = run_search(cfg, factory, cost_table=table, progress=False, log=lambda s: None)
        df = res.table
        assert len(df) == budget and df["key"].is_unique
        assert (df["gflops"] <= limit).all()
        best = df.sort_values(["objective", "loss", "eval_id"], ascending=[False, True, True]).iloc[0]
        assert best["arch"] == str(res.arch)
        again = run_search(cfg, factory, cost_table=table, progress=False, log=lambda s: None)
        pd.testing.assert_frame_equal(rows(again.table), rows(df))      # seeded
    ev = run_search(SearchConfig("evolution", SMALL_RUNS["evolution"], seed=1), factory, cost_table=table,
                    progress=False, log=lambda s: None).table
    assert sorted(ev["round"].unique()) == [0, 1, 2]


def test_optuna_nsga2_reports_the_pareto_front(tmp_path, small):
    model, table, factory = small
    res = run_search(SearchConfig("optuna-nsga2", SMALL_RUNS["optuna-nsga2"], seed=3), factory,
                     out=tmp_path / "o", cost_table=table, progress=False, log=lambda s: None)
    assert (tmp_path / "o" / "optuna.db").is_file()
    df = res.table
    assert len(df) <= 8 and df["key"].is_unique
    front = pd.read_csv(tmp_path / "o" / "pareto.csv")
    points = list(zip(df["top1_pct"], df["cost"]))
    naive = {p for p in points if not any(o[0] >= p[0] and o[1] <= p[1] and o != p for o in points)}
    assert set(zip(front["top1_pct"], front["cost"])) == naive
    assert len(pareto_front(points)) == len(naive)
    import optuna
    study = optuna.load_study(study_name="vidnas-search", storage=f"sqlite:///{tmp_path / 'o' / 'optuna.db'}")
    assert len(study.trials) == 8 and len(study.directions) == 2


@pytest.mark.parametrize("name", list(SMALL_RUNS))
def test_interrupted_search_resumes_to_the_uninterrupted_result(tmp_path, small, name):
    model, table, factory = small
    cfg = SearchConfig(name, SMALL_RUNS[name], seed=5)
    quiet = dict(cost_table=table, progress=False, log=lambda s: None)
    full = run_search(cfg, factory, out=tmp_path / "full", **quiet)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_search(cfg, factory, out=tmp_path / "cut", backend=CrashAfter(factory, 5), **quiet)
    assert len(read_results(tmp_path / "cut" / "results.csv")) == 5
    resumed = run_search(cfg, factory, out=tmp_path / "cut", resume=True, **quiet)
    assert resumed.new_evaluations == len(full.table) - 5
    assert resumed.arch == full.arch
    pd.testing.assert_frame_equal(rows(resumed.table), rows(full.table))
    a = json.loads((tmp_path / "full" / "best_arch.json").read_text())
    b = json.loads((tmp_path / "cut" / "best_arch.json").read_text())
    assert a == b and a["arch"] == str(full.arch) and a["score_units"]["cost"] == "GFLOPs"
    assert model.space.parse(a) == full.arch              # the space's own JSON, scores besides


# ---- results, folders, objective ------------------------------------------------------------
def test_results_csv_round_trips_exactly_and_folder_rules(tmp_path, small):
    model, table, factory = small
    cfg = SearchConfig("random", {"budget": 3, "batch": 2}, seed=0)
    quiet = dict(cost_table=table, progress=False, log=lambda s: None)
    res = run_search(cfg, factory, out=tmp_path / "s", **quiet)
    back = pd.DataFrame([r.to_dict() for r in read_results(tmp_path / "s" / "results.csv")])
    pd.testing.assert_frame_equal(back, res.table)
    saved = yaml.safe_load((tmp_path / "s" / "search_config.yaml").read_text())
    assert saved["search"]["params"] == {"budget": 3, "batch": 2, "max_tries": 10}
    assert (tmp_path / "s" / "best_arch.txt").read_text().strip() == str(res.arch)
    with pytest.raises(ValueError, match="holds this search already; pass --resume"):
        run_search(cfg, factory, out=tmp_path / "s", **quiet)
    with pytest.raises(ValueError, match=r"holds a different search \(search.seed: 0 != 1\)"):
        run_search(SearchConfig("random", {"budget": 3, "batch": 2}, seed=1), factory,
                   out=tmp_path / "s", resume=True, **quiet)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "results.csv").write_text("x\n")
    with pytest.raises(ValueError, match="without search_config.yaml"):
        prepare_folder(tmp_path / "r", {"a": 1}, resume=False)


def test_objective_and_bad_settings_are_one_line_errors(small):
    _, _, factory = small
    assert Objective().value(70.0, 40.0) == pytest.approx(70.0 - 5e-3 * 40.0)
    assert "V = top-1 accuracy (%)" in Objective().describe() and "GFLOPs" in Objective().describe()
    for kwargs, needle in (({"alpha": -1}, "alpha must be"), ({"kind": "energy"}, "cost kind 'energy'"),
                           ({"max_gflops": 0}, "max_gflops must be")):
        with pytest.raises(ValueError, match=needle):
            Objective(**kwargs)
    for name, params, needle in (("greedy", {"repeats": 0}, "repeats must be >= 1"),
                                 ("greedy", {"budget": 3}, "unknown parameter 'budget'"),
                                 ("evolution", {"mutation_prob": 2.0}, r"mutation_prob must be in \[0, 1\]"),
                                 ("nope", {}, "unknown strategy 'nope'"),
                                 ("random", {"budget": "x"}, "budget must be int")):
        with pytest.raises(ValueError, match=needle) as e:
            make_strategy(name, **params)
        assert "\n" not in str(e.value)
    assert pareto_front([(1, 1), (2, 2), (1.5, 3), (2, 1.5), (0.5, 0.5)]) == [4, 0, 3]


def test_latency_cost_is_measured_in_ms(small):
    model, table, factory = small
    lat = LatencyCost(model, SIZE, "cpu", min_run_time=0.02)
    arch = model.space.sample(0)
    ms = lat(arch)
    assert 0 < ms < 5000 and lat(arch) == ms                     # cached per architecture
    res = run_search(SearchConfig("random", {"budget": 2, "batch": 2}, cost="latency"), factory,
                     cost_table=table, progress=False, log=lambda s: None)
    assert set(res.table["cost_unit"]) == {"ms"}
    assert (res.table["cost"] > 0).all() and (res.table["cost"] != res.table["gflops"]).all()


def test_pareto_table_skips_partly_random_rows(small):
    _, table, factory = small
    res = run_search(SearchConfig("greedy", {"repeats": 1}), factory, cost_table=table, progress=False,
                     log=lambda s: None)
    front = pareto_table(res.table)
    assert len(front) >= 1 and not front["arch"].str.contains(r"\*").any()


# ---- the command line, and a real SIGKILL ---------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, small):
    """A freshly built supernet checkpoint whose data config is a tiny synthetic set."""
    from supernet.training.checkpoint import save_checkpoint

    model, table, _ = small
    folder = tmp_path_factory.mktemp("ckpt")
    data = {"dataset": "synthetic-temporal", "num_classes": 10, "num_frames": 16, "size": 32,
            "train_clips_per_class": 2, "val_clips_per_class": 8, "cache_dir": str(folder / "cache")}
    save_checkpoint(folder / "supernet.pt", model=model, kind="supernet", step=0, epoch=0,
                    config={"data": data, "model": {"name": "mlp3d-nano"}})
    table.save(folder / "cost_table.json")
    return folder


def search_argv(ckpt, out, *extra):
    return ["search", "--checkpoint", str(ckpt / "supernet.pt"), "--out", str(out), "--val-size", "80",
            "--batch-size", "16", "--threads", "1", "--no-progress", *extra]


def with_table(ckpt, out):
    """A search folder seeded with the cost table (saves every process the fvcore traces)."""
    out.mkdir()
    (out / "cost_table.json").write_bytes((ckpt / "cost_table.json").read_bytes())
    return out


def test_cli_search_writes_results_and_best_architecture(tmp_path, checkpoint, capsys):
    from nas.cli import main

    out = with_table(checkpoint, tmp_path / "s")
    assert main(search_argv(checkpoint, out, "--strategy", "random", "--budget", "3", "--batch", "2")) == 0
    printed = capsys.readouterr().out
    assert "V = " in printed and "% top-1 on 80 validation clips" in printed and "GFLOPs" in printed
    best = json.loads((out / "best_arch.json").read_text())
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 3 and best["arch"] == (out / "best_arch.txt").read_text().strip()
    assert best["objective"] == df["objective"].max() and best["space"] == "mlp3d"
    cfg = yaml.safe_load((out / "search_config.yaml").read_text())
    assert cfg["evaluation"]["val_size"] == 80 and cfg["evaluation"]["data"]["val_clips_per_class"] == 8
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"search": {"strategy": "random", "seed": 3,
                                                                 "params": {"budget": 2, "batch": 2}}}))
    out2 = with_table(checkpoint, tmp_path / "s2")
    assert main(search_argv(checkpoint, out2, "--config", str(tmp_path / "c.yaml"))) == 0
    saved = yaml.safe_load((out2 / "search_config.yaml").read_text())["search"]
    assert saved["seed"] == 3 and saved["params"]["budget"] == 2 and len(pd.read_csv(out2 / "results.csv")) == 2
    capsys.readouterr()
    (tmp_path / "bad.yaml").write_text("strategy: random\nbugdet: 3\n")
    for argv, needle in ((search_argv(checkpoint, tmp_path / "z", "--config", str(tmp_path / "bad.yaml")),
                          "unknown config key 'bugdet'"),
                         (search_argv(checkpoint, tmp_path / "x", "--strategy", "evolution", "--repeats", "2"),
                          "--repeats does not apply to strategy evolution"),
                         (search_argv(checkpoint, tmp_path / "y", "--bn-recalib", "1"), "has no BatchNorm"),
                         (search_argv(checkpoint, out, "--strategy", "random", "--budget", "4", "--batch", "2",
                                      "--resume"), "holds a different search (search.params.budget: 3 != 4)")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err


@pytest.mark.slow          # suite time; in-process kill-and-resume of every strategy stays (test_strategy_resume)
def test_sigkill_then_resume_ends_like_an_uninterrupted_search(tmp_path, checkpoint):
    from nas.cli import main

    argv = ["--strategy", "greedy", "--repeats", "2"]
    full = with_table(checkpoint, tmp_path / "full")
    assert main(search_argv(checkpoint, full, *argv)) == 0
    total = len(pd.read_csv(full / "results.csv"))

    cut = with_table(checkpoint, tmp_path / "cut")
    cmd = [sys.executable, "-m", "nas.cli"] + search_argv(checkpoint, cut, *argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = (cut / "results.csv").is_file() and len(read_results(cut / "results.csv")) >= 10
        if done or proc.poll() is not None:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"search ended before it could be killed: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = len(read_results(cut / "results.csv"))
    assert 10 <= kept < total and not (cut / "best_arch.json").exists()
    resumed = subprocess.run(cmd + ["--resume"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {kept} evaluated architectures" in resumed.stdout
    assert f"{total} architectures evaluated ({total - kept} in this run)" in resumed.stdout
    assert (cut / "best_arch.txt").read_text() == (full / "best_arch.txt").read_text()
    assert json.loads((cut / "best_arch.json").read_text()) == json.loads((full / "best_arch.json").read_text())
    a, b = pd.read_csv(cut / "results.csv"), pd.read_csv(full / "results.csv")
    pd.testing.assert_frame_equal(rows(a), rows(b))
