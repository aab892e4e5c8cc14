"""Every registered strategy (plug-ins included) resumes exactly: a search killed after some
evaluations and resumed ends with the table and best architecture of an uninterrupted run.
Runs on the in-memory oracle scorer (tests/support/fake_scorer.py) with each strategy's own
`smoke_params`, so a new strategy is covered by registering it."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from nas.plugins import load_plugins
from nas.search import SearchConfig, read_results, run_search
from nas.search.strategies import STRATEGIES
from tests.support.fake_scorer import OracleFactory, toy_cost_table
from tests.support.search import CrashAfter

load_plugins()


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["seconds"]).reset_index(drop=True)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_registered_strategy_resumes_exactly(tmp_path, name):
    factory, table = OracleFactory(clips=64, batches=4), toy_cost_table()
    cfg = SearchConfig(name, dict(STRATEGIES[name].smoke_params), seed=5)
    quiet = dict(cost_table=table, progress=False, log=lambda s: None)
    full = run_search(cfg, factory, out=tmp_path / "full", **quiet)
    n = len(full.table)
    cut = max(1, n // 2)
    assert n > cut, f"{name}: the smoke run evaluates {n} architecture(s); too few to cut"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_search(cfg, factory, out=tmp_path / "cut", backend=CrashAfter(factory, cut), **quiet)
    assert len(read_results(tmp_path / "cut" / "results.csv")) == cut
    resumed = run_search(cfg, factory, out=tmp_path / "cut", resume=True, **quiet)
    assert resumed.new_evaluations == n - cut
    assert resumed.arch == full.arch
    pd.testing.assert_frame_equal(comparable(resumed.table), comparable(full.table))
    best = [json.loads((tmp_path / d / "best_arch.json").read_text()) for d in ("full", "cut")]
    assert best[0] == best[1]
