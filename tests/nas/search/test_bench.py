"""The standalone benchmark table (nas.bench) and searches scored by it (--bench-table)."""
import json

import numpy as np
import pandas as pd
import pytest

from nas.bench import load_bench
from nas.search import SearchConfig, read_results, run_search
from nas.search.bench_eval import BenchTableEvaluator
from tests.support import ROOT, load_experiment
from tests.support.bench import ARCHS, make_table, top1_of
from tests.support.search import QUIET, cost_table_of

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py: one torch thread


def test_load_bench_answers_mean_and_per_seed_through_the_canonical_form(tmp_path):
    folder = make_table(tmp_path / "b")
    for path in (folder, folder / "standalone.csv"):
        t = load_bench(path)
        assert len(t) == len(ARCHS) and t.archs() == ARCHS
        for i, a in enumerate(ARCHS):
            assert t.top1(a) == pytest.approx((top1_of(i, 0) + top1_of(i, 1)) / 2)
            assert t.top1_seeds(a) == {0: top1_of(i, 0), 1: top1_of(i, 1)}
            assert t.entry(a).top1_se == pytest.approx(np.std([top1_of(i, 0), top1_of(i, 1)], ddof=1) / 2 ** 0.5)
        # the alias and the canonical name are one entry
        assert t.top1(ARCHS[0].replace("sr1", "lr1")) == t.top1(ARCHS[0]) and ARCHS[0] in t
        assert t.protocol == {"epochs": 3}
    missing = "sr4-sr4-sr4-sr4-sr4-sr4-sr4-sr1"
    with pytest.raises(ValueError, match=f"architecture {missing} .* is not in the standalone table") as e:
        t.top1(missing)
    assert "\n" not in str(e.value) and missing not in t


def test_load_bench_rejects_bad_tables_in_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="standalone table not found"):
        load_bench(tmp_path / "nope")
    folder = make_table(tmp_path / "b")
    (folder / "benchmark.json").unlink()
    with pytest.raises(FileNotFoundError, match="benchmark.json not found beside"):
        load_bench(folder)
    folder = make_table(tmp_path / "c")
    df = pd.read_csv(folder / "standalone.csv")
    df.loc[2, "canonical_arch"] = ARCHS[0]
    df.to_csv(folder / "standalone.csv", index=False)
    with pytest.raises(ValueError, match="row 3: canonical_arch .* is not the canonical form of"):
        load_bench(folder)
    df.drop(columns=["canonical_arch"]).to_csv(folder / "standalone.csv", index=False)
    with pytest.raises(ValueError, match="missing columns canonical_arch"):
        load_bench(folder)
    folder = make_table(tmp_path / "d", archs=ARCHS[:2] + [ARCHS[0]], alias_first=False)
    with pytest.raises(ValueError, match="seed 0 appears twice"):
        load_bench(folder)


def table_objective(t, table, space, alpha):
    return {a: t.top1(a) - alpha * table.gflops(space.parse(a)) for a in t.archs()}


@pytest.mark.parametrize("strategy,params", [
    ("random", {"budget": 20, "batch": 4}), ("evolution", {"population": 3, "generations": 3, "topk": 2}),
    ("greedy", {"repeats": 2}), ("optuna-tpe", {"budget": 10, "batch": 2, "startup_trials": 3}),
    ("optuna-nsga2", {"budget": 8, "batch": 2, "population": 4})])
def test_every_strategy_searches_the_table_architectures(tmp_path, strategy, params):
    model, table = cost_table_of("small")
    folder = make_table(tmp_path / "b")
    factory = BenchTableEvaluator(folder)
    res = run_search(SearchConfig(strategy, params, seed=1), factory, out=tmp_path / "s", cost_table=table, **QUIET)
    t = load_bench(folder)
    done = res.table[~res.table["arch"].str.contains(r"\*")]
    assert set(done["arch"]) <= set(t.archs()) and len(done)
    for r in done.itertuples():                               # V is the table's mean over seeds
        assert r.top1_pct == t.top1(r.arch) and r.top1_se == t.entry(r.arch).top1_se and r.clips == 0
    if strategy == "random":                                  # budget > table: the whole table
        assert len(done) == len(ARCHS)
        obj = table_objective(t, table, model.space, 5e-3)
        assert str(res.arch) == max(obj, key=obj.get)
    if strategy == "greedy":                                  # pass 1: mean over the prefix's table archs
        for r in res.table[res.table["arch"].str.contains(r"\*")].itertuples():
            n = r.arch.split("-").index("*")
            members = [a for a in t.archs() if a.split("-")[:n] == r.arch.split("-")[:n]]
            assert r.top1_pct == pytest.approx(np.mean([t.top1(a) for a in members]))
    best = json.loads((tmp_path / "s" / "best_arch.json").read_text())
    vs = best["confidence"]["best_vs_runner_up"]
    assert best["arch"] == str(res.arch) and (vs["paired"] is False if len(done) > 1 else vs is None)
    again = run_search(SearchConfig(strategy, params, seed=1), BenchTableEvaluator(folder), out=tmp_path / "s",
                       resume=True, cost_table=table, **QUIET)             # resumes without outcomes.npz
    assert again.new_evaluations == 0 and again.arch == res.arch


def test_bench_table_refuses_racing_and_unknown_architectures(tmp_path):
    _, table = cost_table_of("small")
    factory = BenchTableEvaluator(make_table(tmp_path / "b"))
    with pytest.raises(ValueError, match="--racing needs per-clip outcomes; the bench-table evaluator has none"):
        run_search(SearchConfig("random", {"budget": 2}, racing=True), factory, cost_table=table, **QUIET)
    scorer = factory.build()
    with pytest.raises(ValueError, match="is not in the standalone table"):
        scorer.evaluate({"arch": "sr4-sr4-sr4-sr4-sr4-sr4-sr4-sr1"})
    with pytest.raises(ValueError, match="no architecture in the standalone table starts with lr2-lr1"):
        scorer.evaluate({"arch": "lr2-lr1-sr1-sr1-sr1-sr1-sr1-sr1", "decided": 2, "draw_seed": 0})


def table_and_search_folder(tmp_path, name: str):
    """A standalone table (`make_table`) and an output folder holding the small space's cost table."""
    _, table = cost_table_of("small")
    folder = make_table(tmp_path / "b")
    out = tmp_path / name
    out.mkdir()
    table.save(out / "cost_table.json")
    return folder, out


def test_cli_search_on_a_bench_table_needs_no_checkpoint(tmp_path, capsys):
    from nas.cli import main

    folder, out = table_and_search_folder(tmp_path, "s")
    argv = ["search", "--bench-table", str(folder), "--out", str(out), "--strategy", "random", "--budget", "5",
            "--batch", "5", "--no-progress", "--alpha", "0.005,10"]
    assert main(argv) == 0
    assert len(read_results(out / "results.csv")) == 5
    assert len(json.loads((out / "best_arch.json").read_text())["per_alpha"]) == 2
    capsys.readouterr()
    for extra, needle in ((["--checkpoint", "x.pt"], "give one of --checkpoint"), (["--racing"], "--racing needs")):
        assert main(argv[:4] + [str(tmp_path / "t")] + argv[5:] + extra) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err
    assert main(["search", "--out", str(tmp_path / "u")]) == 2
    assert "give one of --checkpoint" in capsys.readouterr().err


def test_strategy_benchmark_script_runs_on_a_table_and_resumes(tmp_path, capsys):
    sb = load_experiment("strategy_benchmark")
    folder, out = table_and_search_folder(tmp_path, "sb")
    argv = ["table", "--bench-table", str(folder), "--out", str(out), "--budgets", "3,6", "--seeds", "2",
            "--strategies", "random,evolution-predictor,greedy"]
    assert sb.main(argv) == 0
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 2 * 2 + 2 * 2 + 2                    # greedy runs once per seed
    summary = pd.read_csv(out / "summary.csv")
    t = load_bench(folder)
    ref = json.loads((out / "reference.json").read_text())
    assert ref["reference_arch"] in t.archs()
    assert (summary["regret_min"].dropna() >= -1e-9).all() and (out / "regret.png").is_file()
    curves = pd.read_csv(out / "curves.csv")
    one = curves[(curves["strategy"] == "random") & (curves["budget"] == 6) & (curves["seed"] == 0)]
    assert one["best_so_far"].is_monotonic_increasing and len(one) == 6
    capsys.readouterr()
    assert sb.main(argv) == 0                                 # resumed: nothing runs again
    assert "budget" not in capsys.readouterr().out.split("strategy")[0].replace("--budgets", "")
    assert len(pd.read_csv(out / "runs.csv")) == len(runs)
    assert "strategy_benchmark.py table --bench-table" in (out / "command.txt").read_text()


def test_named_tables_resolve_in_the_checkout_and_v2_is_the_default(tmp_path, monkeypatch, caplog):
    import nas.bench as bench
    from nas.cli import build_parser

    v1 = load_bench("v1")                               # the committed v1 table, by name
    assert v1.path == ROOT / bench.BENCH_TABLES["v1"] / "standalone.csv" and len(v1) == 34
    monkeypatch.setattr(bench, "REPO_ROOT", tmp_path)   # a checkout where v2 is not built yet
    with pytest.raises(FileNotFoundError, match="benchmark table 'v2' is not built in this checkout") as e:
        load_bench("v2")
    assert "\n" not in str(e.value)
    make_table(tmp_path / bench.BENCH_TABLES["v2"], partial=True)
    with caplog.at_level("WARNING", logger="vidnas"):
        t = load_bench("v2")
    assert len(t) == len(ARCHS) and "PARTIAL table (8 architectures so far" in caplog.text
    assert load_bench().path == t.path == tmp_path / bench.BENCH_TABLES["v2"] / "standalone.csv"   # no argument: v2
    monkeypatch.chdir(tmp_path)                         # a folder named like a table wins over the name
    make_table(tmp_path / "v1", archs=ARCHS[:3])
    assert len(load_bench("v1")) == 3
    for argv in (["search", "--out", "o", "--bench-table"], ["predictor", "eval", "--predictor", "p", "--bench-table"]):
        assert build_parser().parse_args(argv).bench_table == bench.DEFAULT_BENCH == "v2"
