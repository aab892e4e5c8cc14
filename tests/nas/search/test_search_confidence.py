"""Confidence on every estimate: SE, paired tests, per-clip outcomes, greedy's decisions,
racing, best per alpha and the Pareto front (hand computations and naive references)."""
import copy
import json
from math import comb

import numpy as np
import pandas as pd
import pytest

from nas.search import EvalRequest, Evaluator, InMemoryEvaluatorFactory, SearchConfig, run_search
from nas.search.confidence import (binomial_se, compare_estimates, compare_outcomes, pack_hits,
                                   paired_se, unpack_hits, worse_pvalue)
from nas.search.engine import complete_rows, pareto_table
from nas.search.objective import pareto_front, pareto_front_nd
from nas.search.outcomes import ClipLog, load_outcomes
from nas.search.racing import race
from tests.support.fake_scorer import OracleFactory, toy_cost_table
from tests.support.search import QUIET, CrashAfter, cost_table_of, random_batches, rows, small_model

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py: one torch thread



# ---- statistics by hand ------------------------------------------------------------------
def test_binomial_se_and_paired_se_by_hand():
    assert binomial_se(205, 256) == pytest.approx(100 * (205 / 256 * 51 / 256 / 256) ** 0.5)
    assert binomial_se(192, 240) == pytest.approx(100 * (0.8 * 0.2 / 240) ** 0.5)
    assert binomial_se(0, 10) == 0.0 and np.isnan(binomial_se(0, 0))
    # d = +1 x3, -1 x1, 0 x6: mean 0.2, sample variance (4 - 10 * 0.04) / 9 = 0.4, SE = sqrt(0.04)
    assert paired_se(3, 1, 10) == pytest.approx(20.0)
    assert np.isnan(paired_se(1, 0, 1))


def test_mcnemar_exact_and_its_cost_shift_by_hand():
    assert worse_pvalue(1, 6) == pytest.approx((1 + 7) / 128)          # P(Bin(7, .5) <= 1)
    assert worse_pvalue(0, 5) == pytest.approx(1 / 32)
    assert worse_pvalue(3, 3) == pytest.approx(42 / 64)
    assert worse_pvalue(0, 0) == 1.0
    # shift 2 clips on 4 discordant: q0 = (1 + 2/4) / 2 = 0.75, P(Bin(4, .75) <= 2)
    assert worse_pvalue(2, 2, shift=2.0) == pytest.approx(1 - 4 * 0.75 ** 3 * 0.25 - 0.75 ** 4)
    assert worse_pvalue(1, 1, shift=5.0) == 0.0 and worse_pvalue(0, 3, shift=-5.0) == 1.0


def test_compare_outcomes_on_made_up_vectors():
    a = np.array([1, 1, 1, 0, 1, 0, 1, 1, 0, 0], bool)
    b = np.array([1, 0, 0, 0, 1, 1, 0, 1, 0, 0], bool)
    c = compare_outcomes(a, b, 0.0, 0.0, alpha=0.0)
    assert (c.paired, c.clips, c.wins, c.losses) == (True, 10, 3, 1)
    assert c.v_margin == pytest.approx(20.0) and c.margin == pytest.approx(20.0)
    assert c.se == pytest.approx(20.0)
    assert c.p_value == pytest.approx(5 / 16) and not c.significant   # P(Bin(4, .5) <= 1)
    # A costs 5 more at alpha 1: margin 20 - 5; B's null shifted by -0.5 clips on 4 discordant
    c = compare_outcomes(a, b, 5.0, 0.0, alpha=1.0)
    q0 = (1 - 0.5 / 4) / 2
    assert c.margin == pytest.approx(15.0)
    assert c.p_value == pytest.approx((1 - q0) ** 4 + 4 * q0 * (1 - q0) ** 3)
    # common clips are the prefix: a longer vector is cut to the shorter one
    assert compare_outcomes(np.r_[a, [True] * 5], b, 0, 0, 0.0).clips == 10
    strong = compare_outcomes(np.ones(12, bool), np.zeros(12, bool), 0, 0, 0.0)
    assert strong.p_value == pytest.approx(0.5 ** 12) and strong.significant
    ind = compare_estimates(80.0, 1.0, 78.0, 1.0, 0.0, 0.0, 0.0)
    assert not ind.paired and ind.se == pytest.approx(2 ** 0.5)
    from scipy.stats import norm
    assert ind.p_value == pytest.approx(norm.sf(2 / 2 ** 0.5))


def test_packed_hits_and_clip_log_views_add_up_exactly():
    bits = np.array([1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 1], bool)
    assert (unpack_hits(pack_hits(bits), 13) == bits).all()
    with pytest.raises(ValueError, match="hold 16 clips, expected 17"):
        unpack_hits(pack_hits(bits), 17)
    from nas.search.evaluator import EvalResult
    log = ClipLog()
    log.add(EvalResult(0, 0, 3, 5, 0.5, pack_hits(bits[:5]), (1.5, 2.25)))
    log.add(EvalResult(0, 0, 4, 8, 0.25, pack_hits(bits[5:]), (0.5, 3.0, 1.0)))
    v1, v2 = log.view(1), log.view()
    assert (v1.correct, v1.clips, v1.loss, v1.seconds) == (3, 5, (1.5 + 2.25) / 5, 0.5)
    assert (v2.correct, v2.clips, v2.depth) == (7, 13, 2)
    assert v2.loss == sum([1.5, 2.25, 0.5, 3.0, 1.0]) / 13 and v2.top1 == 100 * 7 / 13
    assert not log.truncate(7) and log.depth == 2
    assert log.truncate(5) and log.depth == 1 and log.batch_losses == [1.5, 2.25]


def test_evaluator_slices_add_up_to_the_full_evaluation():
    model = small_model()
    batches = random_batches(4, 3, seed=7)
    space = model.space
    arch = space.sample(5)
    for cache in (True, False):
        ev = Evaluator(copy.deepcopy(model), batches, prefix_cache=cache)
        full = ev.evaluate(EvalRequest(str(arch)))
        log = ClipLog()
        for part in range(3):                 # 4 batches in 3 slices: 1, 1, 2 batches
            log.add(ev.evaluate(EvalRequest(str(arch), part=part, parts=3)))
        assert log.slice_batches == [1, 1, 2] and log.slice_clips == [3, 3, 6]
        assert (log.hits == unpack_hits(full.hits, 12)).all()
        v = log.view()
        assert (v.correct, v.clips, v.top1) == (full.correct, full.total, full.top1)
        assert v.loss == full.loss                              # bit-exact
        # greedy requests (random units, prefix cache) slice the same way
        req = dict(arch=str(arch), decided=3, draw_seed=11, block=2)
        whole = ev.evaluate(EvalRequest(**req))
        parts = [ev.evaluate(EvalRequest(**req, part=k, parts=2)) for k in range(2)]
        assert sum(p.correct for p in parts) == whole.correct
        assert sum(sum(p.batch_losses) for p in parts) == pytest.approx(whole.loss * 12, rel=1e-12)
    with pytest.raises(ValueError, match="5 slices asked, the validation subset has 4 batches"):
        ev.evaluate(EvalRequest(str(arch), part=0, parts=5))


# ---- results table, outcomes file, resume ----------------------------------------------------
def test_rows_have_se_and_clips_and_outcomes_match_results(tmp_path):
    res = run_search(SearchConfig("random", {"budget": 6, "batch": 3}, seed=1), OracleFactory(),
                     out=tmp_path / "s", cost_table=toy_cost_table(), **QUIET)
    df = pd.read_csv(tmp_path / "s" / "results.csv")
    assert {"top1_se", "clips"} <= set(df.columns) and (df["clips"] == 512).all()
    for r in df.itertuples():
        assert r.top1_se == pytest.approx(binomial_se(r.correct, r.clips))
    logs = load_outcomes(tmp_path / "s" / "outcomes.npz")
    space = toy_cost_table().search_space
    oracle = OracleFactory().build()
    for r in df.itertuples():
        assert (logs[r.key].hits == oracle.hits(space.parse(r.arch), 0, 512)).all()
        assert logs[r.key].hits.sum() == r.correct
    best = json.loads((tmp_path / "s" / "best_arch.json").read_text())
    assert best["clips"] == 512 and best["top1_se"] == binomial_se(res.record.correct, 512)
    assert res.info["clips_evaluated"] == 6 * 512


def test_resume_reconciles_outcomes_written_before_a_kill(tmp_path):
    cfg = SearchConfig("random", {"budget": 6, "batch": 2}, seed=2, racing=True, race_slices=4)
    table = toy_cost_table()
    full = run_search(cfg, OracleFactory(flip=0.2), out=tmp_path / "full", cost_table=table, **QUIET)
    f = OracleFactory(flip=0.2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_search(cfg, f, out=tmp_path / "cut", backend=CrashAfter(f, 7), cost_table=table, **QUIET)
    # a kill between outcomes.npz and results.csv: outcomes one slice ahead of the table
    from nas.search.outcomes import save_outcomes
    logs = load_outcomes(tmp_path / "cut" / "outcomes.npz")
    extra = copy.deepcopy(next(iter(logs.values())))
    extra.add(OracleFactory().build().evaluate(EvalRequest("k1-k1-k1", part=3, parts=4)))
    logs[next(iter(logs))] = extra
    logs["k5-k5-k5"] = copy.deepcopy(extra)                       # a key with no row yet
    save_outcomes(tmp_path / "cut" / "outcomes.npz", logs)
    resumed = run_search(cfg, OracleFactory(flip=0.2), out=tmp_path / "cut", resume=True,
                         cost_table=table, **QUIET)
    assert resumed.arch == full.arch
    pd.testing.assert_frame_equal(rows(resumed.table), rows(full.table))
    a, b = load_outcomes(tmp_path / "cut" / "outcomes.npz"), load_outcomes(tmp_path / "full" / "outcomes.npz")
    assert set(a) == set(b) and all((a[k].hits == b[k].hits).all() and a[k].slice_clips == b[k].slice_clips
                                    for k in a)
    assert json.loads((tmp_path / "cut" / "best_arch.json").read_text()) == \
        json.loads((tmp_path / "full" / "best_arch.json").read_text())
    # a row whose outcomes are missing is an inconsistent folder: one line
    (tmp_path / "cut" / "outcomes.npz").unlink()
    with pytest.raises(ValueError, match="has no matching per-clip outcomes") as e:
        run_search(cfg, OracleFactory(flip=0.2), out=tmp_path / "cut", resume=True, cost_table=table, **QUIET)
    assert "\n" not in str(e.value)


def test_a_folder_from_before_per_clip_outcomes_resumes(tmp_path):
    cfg = SearchConfig("random", {"budget": 6, "batch": 3}, seed=1)
    table = toy_cost_table()
    full = run_search(cfg, OracleFactory(), out=tmp_path / "new", cost_table=table, **QUIET)
    old = run_search(SearchConfig("random", {"budget": 3, "batch": 3}, seed=1), OracleFactory(),
                     out=tmp_path / "old", cost_table=table, **QUIET)
    # what the previous version wrote: no top1_se, `total` for clips, no outcomes.npz, and a
    # search_config.yaml without the settings added since (they are stored only when set)
    legacy = old.table.drop(columns=["top1_se"]).rename(columns={"clips": "total"})
    legacy.to_csv(tmp_path / "old" / "results.csv", index=False)
    (tmp_path / "old" / "outcomes.npz").unlink()
    # (written as version 1 wrote it: nas.compat reads that form; see tests/nas/test_compat.py)
    from tests.support.compat import as_version_1
    as_version_1(tmp_path / "old" / "search_config.yaml")
    text = (tmp_path / "old" / "search_config.yaml").read_text()
    assert "racing" not in text and "alphas" not in text
    (tmp_path / "old" / "search_config.yaml").write_text(text.replace("budget: 3", "budget: 6"))
    logged = []
    res = run_search(cfg, OracleFactory(), out=tmp_path / "old", resume=True, cost_table=table,
                     progress=False, log=logged.append)
    assert res.new_evaluations == 3 and any("3 rows come from a folder written before" in m for m in logged)
    pd.testing.assert_frame_equal(rows(res.table), rows(full.table))
    with pytest.raises(ValueError, match=r"holds a different search \(search.racing"):
        run_search(SearchConfig("random", {"budget": 6, "batch": 3}, seed=1, racing=True), OracleFactory(),
                   out=tmp_path / "old", resume=True, cost_table=table, **QUIET)


# ---- greedy's decisions and the confidence section -------------------------------------------
def test_greedy_decisions_carry_the_paired_test_of_their_outcomes(tmp_path):
    f = OracleFactory(clips=64, batches=4, flip=0.1, step=0.12)
    res = run_search(SearchConfig("greedy", {"repeats": 2}, seed=0, alpha=0.0), f, out=tmp_path / "g",
                     cost_table=toy_cost_table(), **QUIET)
    conf = json.loads((tmp_path / "g" / "best_arch.json").read_text())["confidence"]
    decisions = conf["significant_decisions"] + conf["decisions_inside_noise"]
    assert len(decisions) == len(res.info["decisions"]) >= 3
    assert conf["significant_decisions"] and conf["decisions_inside_noise"]       # both kinds occur
    logs = load_outcomes(tmp_path / "g" / "outcomes.npz")
    df = res.table.set_index("arch")
    for d in decisions:
        a, b = logs[df.loc[d["chosen"], "key"]].hits, logs[df.loc[d["runner_up"], "key"]].hits
        wins, losses = int(np.sum(a & ~b)), int(np.sum(b & ~a))
        assert (d["wins"], d["losses"], d["clips"]) == (wins, losses, 64)
        m = wins + losses
        p = sum(comb(m, k) for k in range(0, losses + 1)) / 2 ** m if m else 1.0   # exact, by hand
        assert d["p_value"] == pytest.approx(p) and d["significant"] == (p < 0.05)
        assert d["margin"] == pytest.approx(100 * (wins - losses) / 64)
    vs = conf["best_vs_runner_up"]
    full = complete_rows(res.table).sort_values(["objective", "loss", "eval_id"], ascending=[False, True, True])
    assert vs["runner_up"] == full.iloc[1]["arch"] and full.iloc[0]["arch"] == str(res.arch)
    assert conf["top1_se"] == pytest.approx(binomial_se(res.record.correct, 64))


# ---- racing ----------------------------------------------------------------------------------
def test_race_keeps_the_leader_and_drops_separated_candidates():
    scores = {"a": [0.9, 0.9, 0.9], "b": [0.1, 0.1, 0.1], "c": [0.85, 0.8, 0.7]}
    asked = []

    def evaluate(part, keys):
        asked.append((part, sorted(keys)))
    depth = race(["a", "b", "c"], 3, lambda k: sum(1 for p, ks in asked if k in ks), evaluate,
                 lambda k, d: (-scores[k][d - 1], k), lambda k, lead, d: scores[lead][d - 1] - scores[k][d - 1] > 0.5)
    assert asked == [(0, ["a", "b", "c"]), (1, ["a", "c"]), (2, ["a", "c"])]
    assert depth == {"a": 3, "b": 1, "c": 3}
    # a stopped candidate that still beats the final leader is scored on the rest of the set
    scores = {"a": [0.9, 0.3, 0.05], "b": [0.2, 0.1, 0.1], "c": [0.95, 0.9, 0.08]}
    asked.clear()
    depth = race(["a", "b", "c"], 3, lambda k: sum(1 for p, ks in asked if k in ks), evaluate,
                 lambda k, d: (-scores[k][d - 1], k), lambda k, lead, d: scores[lead][d - 1] - scores[k][d - 1] > 0.5)
    assert asked == [(0, ["a", "b", "c"]), (1, ["a", "c"]), (2, ["c"]), (2, ["a"]), (1, ["b"]), (2, ["b"])]
    assert depth == {"a": 3, "b": 3, "c": 3}


@pytest.mark.parametrize("strategy,params", [("greedy", {"repeats": 2}),
                                             ("evolution", {"population": 6, "generations": 3, "topk": 2}),
                                             ("random", {"budget": 12, "batch": 6})])
def test_racing_on_well_separated_candidates_decides_as_full_evaluation(strategy, params):
    table = toy_cost_table()
    full = run_search(SearchConfig(strategy, params, seed=3), OracleFactory(), cost_table=table, **QUIET)
    f = OracleFactory()
    raced = run_search(SearchConfig(strategy, params, seed=3, racing=True, race_slices=4), f,
                       cost_table=table, **QUIET)
    assert raced.arch == full.arch
    assert raced.record.clips == 512 and raced.record.top1_pct == full.record.top1_pct
    if strategy != "evolution":       # evolution's later parents may rank differently on partial V
        assert list(raced.table["key"]) == list(full.table["key"])         # same decisions throughout
    assert raced.info["clips_evaluated"] < full.info["clips_evaluated"]
    assert (raced.table["clips"] < 512).any()
    part_calls = [r for r in f.built[0].calls if r.parts == 4]
    assert len(part_calls) == len(f.built[0].calls) == raced.info["slice_evaluations"]


@pytest.mark.parametrize("strategy,params", [("greedy", {"repeats": 2}),
                                             ("evolution", {"population": 5, "generations": 3, "topk": 2}),
                                             ("optuna-tpe", {"budget": 6, "batch": 3, "startup_trials": 2})])
def test_interrupted_racing_search_resumes_exactly(tmp_path, strategy, params):
    cfg = SearchConfig(strategy, params, seed=4, racing=True, race_slices=4)
    table = toy_cost_table()
    f = OracleFactory(flip=0.25)
    full = run_search(cfg, f, out=tmp_path / "full", cost_table=table, **QUIET)
    for cut in (3, 11):
        out = tmp_path / f"cut{cut}"
        with pytest.raises(RuntimeError, match="simulated crash"):
            g = OracleFactory(flip=0.25)
            run_search(cfg, g, out=out, backend=CrashAfter(g, cut), cost_table=table, **QUIET)
        resumed = run_search(cfg, OracleFactory(flip=0.25), out=out, resume=True, cost_table=table, **QUIET)
        assert resumed.arch == full.arch
        pd.testing.assert_frame_equal(rows(resumed.table), rows(full.table))
        assert resumed.info["slice_evaluations"] == full.info["slice_evaluations"] - cut
    assert (full.table["clips"] < 512).any()


@pytest.mark.slow            # (the default run keeps Ray's path in test_search_ray's greedy equality)
def test_racing_on_ray_workers_equals_in_process(ray_session, tmp_path):
    from nas.search.ray_eval import RayTuneBackend

    model, table = cost_table_of("small")
    factory = InMemoryEvaluatorFactory.from_model(model, random_batches(4, 2, seed=9))
    cfg = SearchConfig("random", {"budget": 8, "batch": 4}, seed=1, racing=True, race_slices=2)
    on_ray = run_search(cfg, factory, out=tmp_path / "ray", backend=RayTuneBackend(factory, workers=2),
                        cost_table=table, **QUIET)
    local = run_search(cfg, factory, out=tmp_path / "local", cost_table=table, **QUIET)
    assert on_ray.arch == local.arch
    cols = ["key", "top1_pct", "top1_se", "correct", "clips", "cost"]
    pd.testing.assert_frame_equal(on_ray.table[cols], local.table[cols])
    a, b = load_outcomes(tmp_path / "ray" / "outcomes.npz"), load_outcomes(tmp_path / "local" / "outcomes.npz")
    assert all((a[k].hits == b[k].hits).all() for k in b) and set(a) == set(b)


def test_racing_refuses_bad_settings():
    with pytest.raises(ValueError, match="race_slices must be an integer >= 2"):
        run_search(SearchConfig("random", {"budget": 2}, racing=True, race_slices=1), OracleFactory(),
                   cost_table=toy_cost_table(), **QUIET)
    with pytest.raises(ValueError, match=r"confidence must be a number in \[0.5, 1\)"):
        run_search(SearchConfig("random", {"budget": 2}, confidence=1.0), OracleFactory(),
                   cost_table=toy_cost_table(), **QUIET)
    model, table = cost_table_of("small")
    factory = InMemoryEvaluatorFactory.from_model(model, random_batches(2, 2, seed=1))
    with pytest.raises(ValueError, match="9 slices asked, the validation subset has 2 batches"):
        run_search(SearchConfig("random", {"budget": 2}, racing=True, race_slices=9), factory,
                   cost_table=table, **QUIET)


# ---- several alphas, Pareto front --------------------------------------------------------------
def test_best_per_alpha_is_eq6_reranked_over_the_same_evaluations(tmp_path):
    table = toy_cost_table()
    space = table.search_space
    spread = table.gflops(space.parse("k5-k5-k5")) - table.gflops(space.parse("k1-k1-k1"))
    alphas = [0.0, 30.0 / spread, 1e4 / spread]               # V spans ~75 points
    cfg = dict(strategy="random", params={"budget": 14, "batch": 7}, seed=0)
    res = run_search(SearchConfig(**cfg, alpha=alphas[0], alphas=alphas), OracleFactory(flip=0.1),
                     out=tmp_path / "a", cost_table=table, **QUIET)
    single = run_search(SearchConfig(**cfg, alpha=alphas[0]), OracleFactory(flip=0.1), cost_table=table, **QUIET)
    pd.testing.assert_frame_equal(rows(res.table), rows(single.table))       # no re-evaluation
    per = json.loads((tmp_path / "a" / "best_arch.json").read_text())["per_alpha"]
    assert [p["alpha"] for p in per] == alphas
    df = res.table
    for p in per:
        value = df["top1_pct"] - p["alpha"] * df["cost"]
        best = df.loc[(value == value.max())].sort_values(["loss", "eval_id"]).iloc[0]
        assert p["arch"] == best["arch"] and p["objective"] == pytest.approx(value.max())
    assert per[0]["arch"] == str(res.arch)
    assert per[0]["arch"] != per[-1]["arch"]            # the trade-off moves the choice


def test_pareto_front_nd_matches_naive_dominance():
    rng = np.random.default_rng(0)
    pts = np.round(rng.random((60, 3)) * 5) / 5                     # ties included
    front = pareto_front_nd(pts, [True, False, False])

    def dominated(i):
        return any(pts[j][0] >= pts[i][0] and pts[j][1] <= pts[i][1] and pts[j][2] <= pts[i][2]
                   and tuple(pts[j]) != tuple(pts[i]) for j in range(len(pts)))
    naive = [i for i in range(len(pts)) if not dominated(i)
             and not any(tuple(pts[j]) == tuple(pts[i]) for j in range(i))]
    assert front == naive
    two = [tuple(p[:2]) for p in pts]
    assert set(pareto_front_nd(two, [True, False])) == set(pareto_front(two))


def test_pareto_table_uses_latency_as_a_third_objective():
    df = pd.DataFrame({"arch": ["a-a", "b-b", "c-c", "d-d"], "top1_pct": [70.0, 70.0, 60.0, 50.0],
                       "top1_se": 1.0, "gflops": [1.0, 1.0, 2.0, 0.5], "cost": [5.0, 3.0, 1.0, 9.0],
                       "cost_unit": "ms", "eval_id": range(4)})
    assert list(pareto_table(df)["arch"]) == ["d-d", "b-b", "c-c"]     # sorted by GFLOPs, then C
    assert list(pareto_table(df.assign(cost_unit="GFLOPs", cost=df["gflops"]))["arch"]) == ["d-d", "a-a"]


def test_cli_alpha_list_racing_flags_and_help(tmp_path, capsys):
    from nas.cli import build_parser
    from nas.search.setup import resolve_settings

    args = build_parser().parse_args(["search", "--checkpoint", "x.pt", "--out", "o", "--alpha",
                                      "0.001,0.005,0.01", "--racing", "--race-slices", "3",
                                      "--confidence", "0.9"])
    s = resolve_settings(args)
    assert (s["alpha"], s["alphas"], s["racing"], s["race_slices"], s["confidence"]) == \
        (0.001, [0.001, 0.005, 0.01], True, 3, 0.9)
    s = resolve_settings(build_parser().parse_args(["search", "--checkpoint", "x.pt", "--out", "o"]))
    assert (s["alpha"], s["alphas"], s["racing"]) == (0.005, None, False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--checkpoint", "x", "--out", "o", "--alpha", "0.1,x"])
    assert "--alpha must be a number or a comma-separated list" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--racing" in text and "--alpha a,b,c" in text and "--bench-table" in text
