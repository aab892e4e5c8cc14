"""experiments/estimators_report.py: every estimator on one standalone table. The v1 report is
reproduced from its committed inputs, and a v2-like table (24 epochs, partial, measured
supernet seconds) is read from its own files rather than from v1's constants."""
import json
import os
import shutil
import subprocess

import pandas as pd
import pytest

from tests.support import ROOT, load_experiment

RESULTS = ROOT / "experiments" / "results"


@pytest.fixture(scope="module")
def er():
    return load_experiment("estimators_report")


def test_the_v1_report_is_reproduced_from_its_committed_inputs(er):
    """Point estimates do not depend on the bootstrap: each estimator's τ, ρ and r equal the
    committed summary's, and the predictors are charged v1's 6-epoch standalone runs."""
    s = er.report(RESULTS / "ranking_fidelity", RESULTS / "estimators_v1", "v1", 50, RESULTS / "fewshot_v1")
    old = json.loads((RESULTS / "estimators_v1" / "summary.json").read_text())
    assert s["n_archs"] == old["n_archs"] == 34 and s["standalone_epochs"] == 6 and s["partial"] is False
    assert set(s["estimators"]) == set(old["estimators"])
    for name, e in old["estimators"].items():
        for metric in ("kendall_tau", "spearman_rho", "pearson_r"):
            if metric in e:
                assert s["estimators"][name][metric]["value"] == pytest.approx(e[metric]["value"], abs=1e-12), name
        assert s["estimators"][name]["cost"].get("estimated") == e["cost"].get("estimated")
    assert s["estimators"]["predictor"]["cost"]["label_steps"] == 34 * 2 * 6 * 156
    assert s["cost_basis"] == old["cost_basis"]


@pytest.fixture
def v2_like(tmp_path):
    """v1's inputs relabelled as a partial 24-epoch table: seed 1 for the first 20 architectures
    only, and a supernets.json with the uniform and fair supernets' measured seconds."""
    table, proxies = tmp_path / "table", tmp_path / "proxies"
    table.mkdir()
    shutil.copytree(RESULTS / "estimators_v1", proxies)
    frame = pd.read_csv(RESULTS / "ranking_fidelity" / "standalone.csv").assign(epochs=24)
    later = frame["arch"].isin(frame["arch"].unique()[20:])
    frame[~((frame["seed"] == 1) & later)].to_csv(table / "standalone.csv", index=False)
    bench = json.loads((RESULTS / "ranking_fidelity" / "benchmark.json").read_text())
    (table / "benchmark.json").write_text(json.dumps({**bench, "partial": True}))
    for recipe in ("uniform", "fair"):
        shutil.copy(RESULTS / "ranking_fidelity" / f"estimates_{recipe}.csv", table)
    (table / "supernets.json").write_text(json.dumps({"recipes": {
        "uniform": {"steps": 2496, "train_seconds": 624.0, "eval_seconds": 300.0},
        "fair": {"steps": 624, "train_seconds": 1000.0, "eval_seconds": 310.0}}}))
    return table, proxies


def test_a_partial_v2_table_is_read_from_its_own_files(er, v2_like):
    table, proxies = v2_like
    s = er.report(table, proxies, "v2", 50)
    assert s["n_archs"] == 20 and s["seeds"] == ["seed0", "seed1"]          # every seed so far
    assert s["standalone_epochs"] == 24 and s["partial"]["table"] is True
    assert s["partial"]["missing"] == list(er.FEWSHOT) and s["fewshot"] is None
    uniform = s["estimators"]["supernet_uniform"]["cost"]
    assert uniform["cpu_seconds"] == 924.0 and uniform["estimated"] is False
    assert s["estimators"]["supernet_fair"]["cost"]["cpu_seconds"] == 1310.0
    assert s["cost_basis"]["per_step"] == 624.0 / 2496 and "supernets.json" in s["cost_basis"]["source"]
    predictor = s["estimators"]["predictor"]["cost"]
    assert predictor["label_steps"] == 20 * 2 * 24 * 156
    assert predictor["cpu_seconds"] == pytest.approx(0.25 * predictor["label_steps"] + predictor["fit_cpu_seconds"])
    text = er.markdown(s)
    assert "**PARTIAL TABLE**" in text and "(no run on this table)" in text and "fewshot_v1" not in text
    t = s["targets"]
    assert t["judged"] is False and "not judged" in text
    assert t["below_2x_chance"]["runs"] == 34 + 20
    assert t["seed_tau"]["seed_pairs"] == 1 and t["best_recipe"]["recipe"] in ("uniform", "fair")


def test_a_third_seed_on_a_few_architectures_does_not_shrink_the_partial_report(er, v2_like):
    """Seed-major: seed 2 on 3 architectures leaves the report on seeds 0 and 1 (20 archs);
    once seed 2 covers every architecture with seed 1, all three seeds are used."""
    table, _ = v2_like
    frame = pd.read_csv(table / "standalone.csv")
    both = frame.groupby("arch")["seed"].nunique().loc[lambda n: n == 2].index
    third = frame[frame["seed"] == 1].assign(seed=2, top1=lambda f: f["top1"] + 1.0)
    pd.concat([frame, third[third["arch"].isin(both[:3])]]).to_csv(table / "standalone.csv", index=False)
    real = er.real_accuracy(table)
    assert len(real) == 20 and list(real.columns) == ["seed0", "seed1", "real_acc"]
    pd.concat([frame, third]).to_csv(table / "standalone.csv", index=False)
    real = er.real_accuracy(table)
    assert len(real) == 20 and list(real.columns) == ["seed0", "seed1", "seed2", "real_acc"]
    row = frame[frame["arch"] == both[0]].set_index("seed")["top1"]
    assert real.loc[both[0], "real_acc"] == pytest.approx((row[0] + row[1] + row[1] + 1.0) / 3)


def test_targets_follow_the_committed_rule(er, v2_like):
    """The best recipe is the highest tau point estimate (ties: RECIPES order); each target's
    verdict is its stated inequality, against a naive recomputation of the runs below 2x chance."""
    table, proxies = v2_like
    s = er.report(table, proxies, "v2", 50)
    frame = pd.read_csv(table / "standalone.csv")
    assert s["targets"]["below_2x_chance"]["value"] == pytest.approx((frame["top1"] < 20.0).sum() / len(frame))
    tau = {"uniform": 0.5, "sandwich": 0.7, "fair": 0.7}
    est = {f"supernet_{r}": {"kendall_tau": {"value": v, "ci95": [v - 0.2, v + 0.1]}, "precision_at_5": 0.6,
                             "tau_minus_params": {"value": 0.1, "ci95": [-0.05 if r == "sandwich" else 0.01, 0.3]}}
           for r, v in tau.items()}
    summary = {"partial": False, "seed_ceiling": {"value": 0.85, "ci95": [0.75, 0.9], "seed_pairs": 3},
               "seed_precision_at_5": 0.6, "estimators": est, "runs": 54, "fraction_below_2x_chance": 0.02}
    t = er.targets(summary)
    r = t["best_recipe"]
    assert t["judged"] is True and t["seed_tau"]["met"] is True
    assert r["recipe"] == "sandwich" and r["of_ceiling"] == pytest.approx(0.7 / 0.85)
    assert r["met_ceiling"] is True and r["met_params"] is False and r["met_precision"] is True
    summary["seed_ceiling"] = {"value": 0.9, "ci95": [0.35, 0.95], "seed_pairs": 3}
    t = er.targets(summary)
    assert t["seed_tau"]["met"] is False and t["best_recipe"]["met_ceiling"] is False    # 0.7 < 0.8 x 0.9
    text = "\n".join(er.targets_lines(t))
    assert "best recipe `sandwich`" in text and "missed" in text and "not judged" not in text
    summary["seed_ceiling"] = {"value": 0.0, "ci95": [-0.2, 0.2], "seed_pairs": 3}    # no ceiling to scale by
    t = er.targets(summary)
    assert t["best_recipe"]["of_ceiling"] is None and t["best_recipe"]["met_ceiling"] is False
    assert "undefined (ceiling ≤ 0)" in "\n".join(er.targets_lines(t))


def test_a_table_that_mixes_standalone_schedules_is_refused(er, v2_like):
    table, _ = v2_like
    frame = pd.read_csv(table / "standalone.csv")
    frame.loc[0, "epochs"] = 6
    frame.to_csv(table / "standalone.csv", index=False)
    with pytest.raises(ValueError, match=r"epochs \[6, 24\]"):
        er.table_protocol(table)


def test_fewshot_script_refuses_an_unknown_table_before_writing(tmp_path):
    """experiments/fewshot.sh: a TABLE it has no protocol for is a one-line error, exit 2, and
    its runs folder is not created."""
    runs = tmp_path / "runs"
    env = {**os.environ, "TABLE": "v3", "RUNS": str(runs), "PY": "false"}
    proc = subprocess.run(["bash", str(ROOT / "experiments" / "fewshot.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and not runs.exists()
    assert proc.stderr.strip().splitlines() == ["fewshot.sh: TABLE=v3 is not a table; allowed: v1, v2"]


def test_a_label_is_moved_off_another_estimators_marker(er):
    """tau_vs_cost.png: a label's default place (above right of its marker) that covers another
    marker is moved, so that it does not read as that marker's; with no marker there, it stays."""
    scale = dict(per_decade=100.0, per_tau=200.0)
    mine, other = (100.0, 0.30), (110.0, 0.325)         # 4 points right, 5 points up: under the label
    assert er.label_offset([], "supernet_uniform", *mine, **scale) == 4.0
    assert er.label_offset([], "supernet_uniform", *mine, **scale, markers=[mine]) == 4.0
    moved = er.label_offset([], "supernet_uniform", *mine, **scale, markers=[mine, other])
    assert moved < 0
    far = (1000.0, 0.325)                                # a decade to the right: clear of the label
    assert er.label_offset([], "supernet_uniform", *mine, **scale, markers=[mine, far]) == 4.0


def test_the_exploratory_band_output_is_reproduced_from_the_committed_table(capsys):
    """experiments/exploratory_band.py prints what its committed output says, for both commands
    in it (the statistics are seeded, so the bootstrap intervals are the same too)."""
    band = load_experiment("exploratory_band")
    committed = (ROOT / "experiments/results/ground_truth/estimators_v2/exploratory_band.txt").read_text()
    blocks = [b.strip().splitlines() for b in committed.split("\n\n")]
    for block in blocks:
        args = block[0].split("exploratory_band.py")[1].split("(")[0].split()
        band.main(args)
        assert capsys.readouterr().out.strip().splitlines() == block[1:]
    assert len(blocks) == 2 and blocks[0][1].startswith("36 of 41 architectures")
