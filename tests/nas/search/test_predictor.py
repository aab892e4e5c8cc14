"""The accuracy predictor (nas.search.predictor) and predictor-guided evolution."""
import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from nas.search import SearchConfig, run_search
from nas.search.predictor import Encoder, Predictor
from tests.support.fake_scorer import OracleFactory, quality, toy_cost_table
from tests.support.search import QUIET, CrashAfter, cost_table_of, rows

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py: one torch thread



def additive(space, archs, seed=0):
    """A made-up V: a per-(unit, canonical choice) effect summed, plus small noise."""
    enc = Encoder(space)
    w = np.random.default_rng(seed).normal(0, 2, enc.width)
    return 60 + enc.encode(archs) @ w + np.random.default_rng(seed + 1).normal(0, 0.1, len(archs))


def test_encoder_is_one_hot_over_canonical_choices():
    model, _ = cost_table_of("small")
    space = model.space
    enc = Encoder(space)
    assert enc.width == sum(len({space.canonical(space.sample(0).replace(i, c))[i].token for c in space.choices(i)})
                            for i in range(space.num_units)) == 8 * 4          # sr1 sr2 sr4 lr2 per unit
    x = enc.encode(["sr1-sr2-sr4-lr2-sr1-sr2-sr4-lr2", "lr1-sr2-lr4-lr2-sr1-sr2-sr4-lr2"])
    assert (x.sum(axis=1) == space.num_units).all()
    assert (x[0] == x[1]).all()                       # lr1 = sr1, lr4 = sr4 at T' = 4


def test_ridge_equals_the_closed_form_and_mlp_learns_an_additive_target(tmp_path):
    model, _ = cost_table_of("small")
    space = model.space
    archs = [str(space.sample(s)) for s in range(120)]
    y = additive(space, archs)
    ridge = Predictor.fit(space, archs[:80], y[:80], "ridge", ridge_lambda=0.5)
    x = Encoder(space).encode(archs[:80]).astype(float)
    xc, z = x - x.mean(0), (y[:80] - y[:80].mean()) / y[:80].std()
    w = np.linalg.solve(xc.T @ xc + 0.5 * np.eye(x.shape[1]), xc.T @ z)
    xt = Encoder(space).encode(archs[80:]).astype(float)
    naive = y[:80].mean() + y[:80].std() * ((xt - x.mean(0)) @ w)
    assert np.allclose(ridge.predict(archs[80:]), naive)
    mlp = Predictor.fit(space, archs[:80], y[:80], "mlp", seed=3)
    from scipy.stats import kendalltau
    assert kendalltau(mlp.predict(archs[80:]), y[80:]).statistic > 0.6
    assert kendalltau(ridge.predict(archs[80:]), y[80:]).statistic > 0.8
    again = Predictor.fit(space, archs[:80], y[:80], "mlp", seed=3)
    assert np.array_equal(again.predict(archs[80:]), mlp.predict(archs[80:]))        # seeded
    for p in (mlp, ridge):
        p.save(tmp_path / f"{p.kind}.pt")
        back = Predictor.load(tmp_path / f"{p.kind}.pt")
        assert back.kind == p.kind and np.array_equal(back.predict(archs), p.predict(archs))


class Evil:
    def __reduce__(self):
        return (print, ("ran code",))


def test_predictor_files_are_loaded_weights_only(tmp_path):
    bad = tmp_path / "evil.pt"
    torch.save({"format": "vidnas-predictor-v1", "x": Evil()}, bad)
    with pytest.raises(ValueError, match="cannot load predictor") as e:
        Predictor.load(bad)
    assert "\n" not in str(e.value)
    (tmp_path / "junk.pt").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match="cannot load predictor|not a vidnas predictor"):
        Predictor.load(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="predictor not found"):
        Predictor.load(tmp_path / "none.pt")


def test_cli_fit_and_eval_on_search_results_and_a_bench_table(tmp_path, capsys):
    from nas.cli import main
    from tests.support.bench import make_table

    model, table = cost_table_of("small")
    folder = make_table(tmp_path / "bench")
    from nas.search.bench_eval import BenchTableEvaluator
    run_search(SearchConfig("random", {"budget": 8, "batch": 8}), BenchTableEvaluator(folder), out=tmp_path / "s",
               cost_table=table, **QUIET)
    assert main(["predictor", "fit", "--results", str(tmp_path / "s" / "results.csv"), "--out",
                 str(tmp_path / "p.pt"), "--kind", "ridge"]) == 0
    assert "fitted ridge predictor on 8 architectures" in capsys.readouterr().out
    assert main(["predictor", "eval", "--predictor", str(tmp_path / "p.pt"), "--bench-table", str(folder),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 8 and report["fitted_on"] == 8 and report["kendall_tau"]["value"] > 0.5
    assert main(["predictor", "eval", "--predictor", str(tmp_path / "p.pt"), "--results",
                 str(tmp_path / "s" / "results.csv")]) == 0
    assert "Kendall tau" in capsys.readouterr().out
    (tmp_path / "lone").mkdir()
    (tmp_path / "lone" / "results.csv").write_text((tmp_path / "s" / "results.csv").read_text())
    assert main(["predictor", "fit", "--results", str(tmp_path / "lone" / "results.csv"), "--out", "x.pt"]) == 2
    assert "cost_table.json not found" in capsys.readouterr().err


def test_predictor_guided_evolution_sends_the_predicted_best_children(tmp_path):
    table = toy_cost_table()
    space = table.search_space
    params = {"population": 4, "generations": 3, "topk": 2, "predictor_share": 0.5, "predictor": "ridge"}
    logged = []
    res = run_search(SearchConfig("evolution", params, seed=2), OracleFactory(flip=0.05), cost_table=table,
                     progress=False, log=logged.append)
    df = res.table
    assert len(df) == 12 and df["key"].is_unique
    assert list(df.groupby("round").size()) == [4, 4, 4]             # population per generation
    # the screened children have a higher predicted objective on average than plain evolution's
    plain = run_search(SearchConfig("evolution", {**params, "predictor_share": 1.0}, seed=2),
                       OracleFactory(flip=0.05), cost_table=table, **QUIET)
    q = lambda d: np.mean([quality(space, space.parse(a)) for a in d[d["round"] > 0]["arch"]])  # noqa: E731
    assert q(df) >= q(plain.table)
    cfg = SearchConfig("evolution", params, seed=2)
    full = run_search(cfg, OracleFactory(flip=0.05), out=tmp_path / "full", cost_table=table, **QUIET)
    f = OracleFactory(flip=0.05)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_search(cfg, f, out=tmp_path / "cut", backend=CrashAfter(f, 6), cost_table=table, **QUIET)
    resumed = run_search(cfg, OracleFactory(flip=0.05), out=tmp_path / "cut", resume=True, cost_table=table, **QUIET)
    assert resumed.arch == full.arch
    pd.testing.assert_frame_equal(rows(resumed.table), rows(full.table))
    with pytest.raises(ValueError, match=r"predictor_share must be in \(0, 1\]"):
        run_search(SearchConfig("evolution", {**params, "predictor_share": 0.0}), OracleFactory(),
                   cost_table=table, **QUIET)


def test_extra_features_enter_the_ridge_design_standardised_and_survive_saving(tmp_path):
    """Proxies as extra features (NAS-Bench-Suite-Zero's combination): a target that is a
    feature alone is learnt from the feature; the closed form matches a naive ridge on
    [one-hot, z-scored feature]; the standardisation is stored with the predictor."""
    model, _ = cost_table_of("small")
    space = model.space
    archs = [str(space.sample(s)) for s in range(60)]
    f = np.random.default_rng(5).normal(100, 30, (60, 1))
    y = 50 + 0.2 * f[:, 0]
    p = Predictor.fit(space, archs[:40], y[:40], "ridge", ridge_lambda=0.5, extra=f[:40], extra_names=["proxy"])
    x = np.concatenate([Encoder(space).encode(archs[:40]), (f[:40] - f[:40].mean()) / f[:40].std()], axis=1)
    xc, z = x - x.mean(axis=0), (y[:40] - y[:40].mean()) / y[:40].std()
    w = np.linalg.solve(xc.T @ xc + 0.5 * np.eye(x.shape[1]), xc.T @ z)
    xt = np.concatenate([Encoder(space).encode(archs[40:]), (f[40:] - f[:40].mean()) / f[:40].std()], axis=1)
    assert np.allclose(p.predict(archs[40:], f[40:]), y[:40].mean() + y[:40].std() * ((xt - x.mean(axis=0)) @ w))
    assert np.corrcoef(p.predict(archs[40:], f[40:]), y[40:])[0, 1] > 0.95
    p.save(tmp_path / "p.pt")
    back = Predictor.load(tmp_path / "p.pt")
    assert np.array_equal(back.predict(archs[40:], f[40:]), p.predict(archs[40:], f[40:]))
    with pytest.raises(ValueError, match=r"expected 20 rows x 1 columns \(proxy\), got none"):
        p.predict(archs[40:])
    with pytest.raises(ValueError, match="fitted without extra features"):
        Predictor.fit(space, archs, y, "ridge").predict(archs, f)
    with pytest.raises(ValueError, match="NaN or an infinity"):
        Predictor.fit(space, archs, y, "ridge", extra=np.full((60, 1), np.nan), extra_names=["proxy"])


def test_cross_validation_never_predicts_an_architecture_from_its_own_label():
    from nas.search.predictor import cross_val_predict

    model, _ = cost_table_of("small")
    space = model.space
    archs = [str(space.sample(s)) for s in range(23)]
    y = additive(space, archs)
    f = np.arange(23.0)[:, None]
    got = cross_val_predict(space, archs, y, f, ["i"], folds=4, repeats=3, seed=7, kind="ridge")
    naive = np.zeros(23)                              # the same partitions, refitted by hand
    for r in range(3):
        order = np.random.default_rng(7 + r).permutation(23)
        for k in range(4):
            test = sorted(order[k::4])
            train = [i for i in range(23) if i not in test]
            p = Predictor.fit(space, [archs[i] for i in train], y[train], "ridge", extra=f[train], extra_names=["i"])
            naive[test] += p.predict([archs[i] for i in test], f[test])
    assert np.allclose(got, naive / 3)
    poisoned = y.copy()                               # one label changed: its own prediction does not move
    poisoned[0] += 1000.0
    again = cross_val_predict(space, archs, poisoned, f, ["i"], folds=4, repeats=3, seed=7, kind="ridge")
    assert again[0] == pytest.approx(got[0]) and not np.allclose(again[1:], got[1:])
    with pytest.raises(ValueError, match="folds=1"):
        cross_val_predict(space, archs, y, folds=1)
