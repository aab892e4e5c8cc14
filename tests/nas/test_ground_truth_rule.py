"""The ground-truth study's pre-registered pilot rule (experiments/ground_truth.py, issue 21):
which arm is chosen, and with which schedule, from run folders whose numbers are known."""
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.support import load_experiment


@pytest.fixture(scope="module")
def gt():
    return load_experiment("ground_truth")


def write_run(gt, work, arm, arch, seed, curve):
    """A finished run whose val top-1 after epoch e is curve[e - 1]."""
    rd = gt.run_dir(work / "pilot" / arm, arch, seed)
    rd.mkdir(parents=True)
    pd.DataFrame({"epoch": np.arange(1, len(curve) + 1), "step": 156 * np.arange(1, len(curve) + 1),
                  "val_top1": curve, "val_loss": 1.0}).to_csv(rd / "eval_curve.csv", index=False)
    (rd / "eval.json").write_text(json.dumps({"single_view": {"top1": curve[-1], "loss": 1.0, "clips": 2000}}))


def fill_arm(gt, work, arm, final_by_arch, spread, epochs=None):
    """Every run of `arm`: per architecture a final top-1 plus a seed offset of +-`spread`
    (pooled seed SD is spread * sqrt(4/3) for offsets -s, -s, +s, +s); the curve rises to it."""
    epochs = epochs or gt.arm_epochs(arm)
    for arch, final in zip(gt.PILOT_ARCHS, final_by_arch):
        for k, seed in enumerate(gt.arm_seeds(arm)):
            end = final + (spread if k % 2 else -spread)
            write_run(gt, work, arm, arch, seed, list(np.linspace(end / 2, end, epochs)))


def choose(out, arm, epochs):
    """A pilot summary that has chosen `arm` (what the later stages read)."""
    (out / "pilot").mkdir(parents=True)
    (out / "pilot" / "pilot_summary.json").write_text(json.dumps(
        {"choice": arm, "arms": {arm: {"schedule_epochs": epochs}}}))


def write_table_run(gt, work, arch, seed, top1, top5=99.0, loss=1.0):
    """A finished table-v2 run of `arch` and `seed` with this final val top-1."""
    rd = gt.run_dir(work / "table_v2", arch, seed)
    rd.mkdir(parents=True, exist_ok=True)
    (rd / "eval.json").write_text(json.dumps({"single_view": {"top1": top1, "top5": top5, "loss": loss, "clips": 2000}}))


def test_the_pilot_rule_picks_the_first_arm_that_meets_both_criteria(gt, tmp_path, capsys):
    work = tmp_path / "work"
    for seed in (0, 1):                                      # v2-noise: two runs at chance decide it
        write_run(gt, work, "v2-noise", gt.PILOT_ARCHS[0], seed, [10.0] * 6)
    fill_arm(gt, work, "v3", (40, 80, 55), spread=6.0)       # all above 2x chance, SD 6.9 > 3
    s = gt.pilot_report(work, tmp_path / "out" / "pilot")
    assert s["arms"]["v2-noise"]["decided_fail"] and not s["arms"]["v3"]["meets_ii"]
    assert s["arms"]["v3"]["pooled_seed_sd"] == pytest.approx(6.0 * (4 / 3) ** 0.5)
    assert s["choice"] is None and s["partial"]              # v3-noise undecided: no choice yet
    fill_arm(gt, work, "v3-noise", (40, 80, 55), spread=1.0)
    s = gt.pilot_report(work, tmp_path / "out" / "pilot")
    e = s["arms"]["v3-noise"]
    assert s["choice"] == "v3-noise" and e["meets"] and e["complete"] and not s["partial"]
    # by epoch: the first epoch's values are half the finals (sr1 at 19-21: one run below 20%
    # fails (i)); every later epoch meets both, which is reported; the table keeps the arm's 6
    assert not e["by_epoch"][1]["meets"] and all(e["by_epoch"][k]["meets"] for k in range(2, 7))
    assert e["first_epoch_meeting"] == 2 and e["schedule_epochs"] == 6
    assert gt.chosen_protocol(tmp_path / "out") == ("v3-noise", 6)
    assert "Choice: **v3-noise**" in (tmp_path / "out" / "pilot" / "pilot_report.md").read_text()


def test_an_arm_with_one_run_in_twelve_below_twice_chance_fails_and_later_arms_use_their_seeds(gt, tmp_path):
    work = tmp_path / "work"
    for seed in (0, 1):
        write_run(gt, work, "v2-noise", gt.PILOT_ARCHS[0], seed, [10.0] * 6)
    fill_arm(gt, work, "v3", (40, 80, 55), spread=6.0)
    fill_arm(gt, work, "v3-noise", (40, 80, 55), spread=1.0)
    rd = gt.run_dir(work / "pilot" / "v3-noise", gt.PILOT_ARCHS[2], 3)
    (rd / "eval.json").write_text(json.dumps({"single_view": {"top1": 15.0, "loss": 2.0, "clips": 2000}}))
    assert gt.failed_runs(work, "v3-noise") == 1 and gt.arm_failed(work, "v3-noise")   # 1 > 5% of 12
    s = gt.pilot_report(work, tmp_path / "out" / "pilot")
    assert not s["arms"]["v3-noise"]["meets_i"] and s["choice"] is None
    fill_arm(gt, work, "v3-e3", (40, 80, 55), spread=1.0)    # seeds 4-7, 3 epochs
    assert {p.name.rsplit("-", 1)[1] for p in (work / "pilot" / "v3-e3").iterdir()} == {"seed4", "seed5", "seed6", "seed7"}
    s = gt.pilot_report(work, tmp_path / "out" / "pilot")
    assert s["choice"] == "v3-e3" and s["arms"]["v3-e3"]["epochs"] == 3 and s["arms"]["v3-e3"]["seeds"] == [4, 5, 6, 7]
    with pytest.raises(SystemExit, match="has not chosen"):
        gt.chosen_protocol(tmp_path / "elsewhere")


def test_an_arm_is_decided_on_criterion_ii_once_its_finished_architectures_exceed_the_limit(gt, tmp_path, monkeypatch):
    """The pooled SD can only grow as architectures finish: st4's four seeds alone with a seed
    variance above 3 x 3.0^2 decide the arm; below it the arm stays open, and a partly
    finished architecture does not count."""
    work, arm, st4 = tmp_path / "work", "v3-e24", gt.PILOT_ARCHS[2]
    for seed, top1 in zip((0, 1, 2), (60.0, 80.0, 70.0)):         # 3 of 4 seeds: not counted
        write_run(gt, work, arm, st4, seed, [top1])
    assert not gt.arm_failed(work, arm) and gt.seed_sd_lower_bound(gt.finished_top1(work, arm), 4) == 0.0
    write_run(gt, work, arm, st4, 3, [75.0])                        # var 72.9: bound sqrt(72.9 / 3) = 4.9
    bound = gt.seed_sd_lower_bound(gt.finished_top1(work, arm), 4)
    assert bound == pytest.approx((np.var([60, 80, 70, 75], ddof=1) / 3) ** 0.5) and bound > gt.MAX_SEED_SD
    assert gt.arm_failed(work, arm) and gt.failed_runs(work, arm) == 0
    def train(cmds, jobs):
        raise AssertionError(f"a decided arm trains nothing, got {len(cmds)} runs")
    monkeypatch.setattr(gt, "run_parallel", train)
    gt.stage_pilot(work, tmp_path / "2d.pt", [arm], 2, complete_failed=False)
    s = gt.pilot_report(work, tmp_path / "out" / "pilot")
    assert s["arms"][arm]["decided_fail"] and not s["arms"][arm]["complete"]
    # a spread inside the limit (SD 4.5 on st4: bound 2.6) leaves the arm open
    close = {st4: [70.0, 75.0, 80.0, 71.0]}
    assert gt.seed_sd_lower_bound(close, 4) < gt.MAX_SEED_SD and not gt.decided_fail(close, arm)


def test_pilot_commands_carry_the_arm_schedule_and_resume(gt, tmp_path):
    cmd, log = gt.pilot_cmd(tmp_path, tmp_path / "2d.pt", "v3-e12", gt.PILOT_ARCHS[1], 0)
    text = " ".join(map(str, cmd))
    assert "train.epochs=12" in text and "data.temporal_version=3" in text and "--resume" not in text
    rd = gt.run_dir(tmp_path / "pilot" / "v3-e12", gt.PILOT_ARCHS[1], 0)
    (rd / "checkpoints").mkdir(parents=True)
    (rd / "checkpoints" / "last.pt").write_bytes(b"")
    assert gt.pilot_cmd(tmp_path, tmp_path / "2d.pt", "v3-e12", gt.PILOT_ARCHS[1], 0)[0][-1] == "--resume"
    (rd / "eval.json").write_text("{}")
    assert gt.pilot_cmd(tmp_path, tmp_path / "2d.pt", "v3-e12", gt.PILOT_ARCHS[1], 0) is None


def test_the_demo_recipe_rule_applied_to_the_v2_table(gt, tmp_path):
    rng = np.random.default_rng(0)
    archs = [f"a{i}" for i in range(20)]
    mean = np.linspace(30, 80, 20)
    frame = pd.DataFrame([{"arch": a, "seed": s, "top1": m + rng.normal(0, 0.5)}
                          for a, m in zip(archs, mean) for s in (0, 1, 2)])
    frame.to_csv(tmp_path / "standalone.csv", index=False)
    for recipe, est in {"fair": mean, "uniform": rng.permutation(mean), "sandwich": mean[::-1]}.items():
        pd.DataFrame({"arch": archs, "estimated_top1": est}).to_csv(tmp_path / f"estimates_{recipe}.csv", index=False)
    c = gt.recipe_choice(tmp_path, n_boot=200)
    assert c["seeds"] == [0, 1, 2] and c["n"] == 20
    assert c["recipes"]["fair"]["kendall_tau"]["value"] > 0.9 and c["recipes"]["sandwich"]["kendall_tau"]["value"] < -0.9
    assert c["demo_recipe"]["choice"] == "fair" and c["demo_recipe"]["separated"]
    (tmp_path / "estimates_fair.csv").unlink()             # uniform's tau is near 0, sandwich's -1:
    c = gt.recipe_choice(tmp_path, n_boot=200)                         # uniform is highest and separated
    assert c["demo_recipe"]["highest_tau"] == "uniform" and len(c["comparisons"]) == 1
    assert gt.recipe_choice(tmp_path / "none", n_boot=200) is None


def test_on_a_partial_table_the_demo_rule_uses_the_seeds_every_architecture_has(gt, tmp_path):
    """Seed 2 on 4 of 20 architectures: the rule is applied on seeds 0 and 1 of all 20 (as
    section 4 scores), and its tau equals a naive one against their mean."""
    from scipy.stats import kendalltau

    rng = np.random.default_rng(1)
    archs = [f"a{i}" for i in range(20)]
    top1 = {(a, s): 50 + i + rng.normal(0, 3) for i, a in enumerate(archs) for s in (0, 1)}
    top1 |= {(a, 2): 0.0 for a in archs[:4]}               # would flip the order if it were used
    pd.DataFrame([{"arch": a, "seed": s, "top1": v} for (a, s), v in top1.items()]).to_csv(
        tmp_path / "standalone.csv", index=False)
    est = rng.permutation(20).astype(float)
    pd.DataFrame({"arch": archs, "estimated_top1": est}).to_csv(tmp_path / "estimates_uniform.csv", index=False)
    c = gt.recipe_choice(tmp_path, n_boot=100)
    assert c["seeds"] == [0, 1] and c["n"] == 20
    mean01 = [(top1[a, 0] + top1[a, 1]) / 2 for a in archs]
    assert c["recipes"]["uniform"]["kendall_tau"]["value"] == pytest.approx(kendalltau(est, mean01).statistic)
    assert c["demo_recipe"]["choice"] == "uniform" and not c["demo_recipe"]["separated"]     # one recipe


def test_table_v2_commands_and_report_on_fake_runs(gt, tmp_path, monkeypatch):
    """Once the pilot has chosen (arm, schedule): the table's architecture list (v1's 34 plus the
    new GFLOPs-stratified ones, read back unchanged), its commands (seed-major, the arm's
    overrides and schedule, none for a finished run), and the report of a partial table in
    `nas.bench`'s format."""
    from experiments.ranking_fidelity import read_archs
    from nas.bench import load_bench
    from supernet.registry import build_model

    work, out = tmp_path / "work", tmp_path / "out"
    choose(out, "v3-e24", 24)
    assert gt.chosen_protocol(out) == ("v3-e24", 24)
    archs = gt.table_archs(out / "table_v2")
    v1 = read_archs(gt.V1 / "archs.txt")
    assert archs[:len(v1)] == v1 and len(archs) == len(v1) + gt.NEW_ARCHS >= 36
    space = build_model("mlp3d-nano", gt.INPUT, gt.CLASSES).space
    assert len({str(space.canonical(space.parse(a))) for _, a in archs}) == len(archs)
    assert gt.table_archs(out / "table_v2") == archs                  # read back, never redrawn

    rng = np.random.default_rng(0)
    finished = {a: 30 + 10 * i for i, (_, a) in enumerate(archs[:5])}
    for a, mean in finished.items():
        for seed in gt.TABLE_SEEDS:
            write_table_run(gt, work, a, seed, mean + float(rng.normal(0, 1)))
    lone = archs[5][1]                                              # one seed of a sixth: not complete
    write_table_run(gt, work, lone, 0, 15.0, top5=50.0, loss=2.2)

    sent = []
    monkeypatch.setattr(gt, "run_parallel", lambda cmds, jobs, on_start=None: sent.extend(cmds))
    gt.stage_table(work, tmp_path / "2d.pt", out, 2)
    assert len(sent) == len(archs) * len(gt.TABLE_SEEDS) - 16
    first = " ".join(map(str, sent[0][0]))
    assert "train.epochs=24" in first and "data.temporal_version=3" in first and "train.seed=0" in first
    seeds = [int(next(x for x in map(str, c) if x.startswith("train.seed=")).split("=")[1]) for c, _ in sent]
    assert seeds == sorted(seeds)                                    # whole seeds first

    timed = gt.run_dir(work / "table_v2", archs[0][1], 0)          # one run with per-step rates
    (timed / "config.yaml").write_text("train: {batch_size: 32}\n")
    pd.DataFrame({"step": [1, 2, 3, 4], "clips_per_s": [0.0, 16.0, 32.0, 64.0]}).to_csv(timed / "metrics.csv", index=False)
    s = gt.table_report(work, out)
    assert s["partial"] and s["archs_complete"] == 5 and s["archs_planned"] == len(archs) and s["runs"] == 16
    minutes = (32 / 16 + 32 / 32 + 32 / 64) / 60                  # a zero rate (no step timed) is skipped
    assert s["training"]["runs_timed"] == 1 and s["training"]["runs"] == 16
    assert s["training"]["process_hours_timed"] == pytest.approx(minutes / 60)
    assert s["training"]["process_hours_estimated"] == pytest.approx(16 * minutes / 60)   # 15 untimed at the median
    assert pd.read_csv(out / "table_v2" / "standalone.csv")["train_minutes"].notna().sum() == 1
    assert s["runs_below_2x_chance"] == 1 and s["seed_ceiling"]["n"] == 5 and s["seed_ceiling"]["value"] > 0.5
    assert "seed_precision_at_5" not in s                            # 5 of 5: always 1, left out
    assert s["protocol"] == "v3-e24" and s["epochs"] == 24 and "supernet_recipes" not in s
    bench = load_bench(out / "table_v2")
    assert len(bench) == 6 and json.loads((out / "table_v2" / "benchmark.json").read_text())["partial"]
    top1 = [json.loads((gt.run_dir(work / "table_v2", archs[4][1], k) / "eval.json").read_text())
            ["single_view"]["top1"] for k in gt.TABLE_SEEDS]
    assert bench.top1(archs[4][1]) == pytest.approx(np.mean(top1)) and bench.top1(lone) == 15.0

    md = (out / "table_v2" / "report.md").read_text()                 # the table's report.md
    assert md.startswith(f"# Standalone table v2 (PARTIAL: 16 of {3 * len(archs)} planned runs; 5 of {len(archs)}")
    assert "- Runs: 16 (partial table); below 2x chance (20% top-1): 1 (6.2%)." in md
    rows = [r for r in md.splitlines() if r.startswith("| ") and "`" in r]
    assert len(rows) == 6 and [r.split("`")[1] for r in rows] == [a for _, a in archs[4::-1]] + [lone]
    cells = rows[0].split(" | ")
    assert cells[5:8] == [f"{x:.2f}" for x in top1] and cells[8] == f"{np.mean(top1):.2f}"
    assert rows[-1].split(" | ")[5:9] == ["15.00", "–", "–", "15.00"]      # one seed: no SD


def test_a_complete_table_reports_as_complete(gt, tmp_path):
    """Every architecture with every seed: summary, benchmark.json and report.md say complete,
    and no line of report.md reads as a partial table's."""
    work, out = tmp_path / "work", tmp_path / "out"
    choose(out, "v3-e24", 24)
    archs = [a for _, a in gt.table_archs(out / "table_v2")]
    rng = np.random.default_rng(1)
    for i, a in enumerate(archs):
        for seed in gt.TABLE_SEEDS:
            write_table_run(gt, work, a, seed, 30.0 + i + float(rng.normal(0, 0.5)))
    timed = gt.run_dir(work / "table_v2", archs[0], 0)
    (timed / "config.yaml").write_text("train: {batch_size: 32}\n")
    pd.DataFrame({"step": [1, 2], "clips_per_s": [16.0, 32.0]}).to_csv(timed / "metrics.csv", index=False)
    s = gt.table_report(work, out)
    runs = len(archs) * len(gt.TABLE_SEEDS)
    assert not s["partial"] and s["runs"] == runs and s["archs_complete"] == len(archs)
    assert len(s["seed_pairs"]) == 3 and s["seed_ceiling"]["n"] == len(archs) and s["seed_ceiling"]["value"] > 0.9
    assert json.loads((out / "table_v2" / "benchmark.json").read_text())["partial"] is False
    md = (out / "table_v2" / "report.md").read_text()
    assert md.startswith(f"# Standalone table v2 (complete: {runs} runs)")
    assert f"- Runs: {runs}; below 2x chance" in md and "partial" not in md.lower() and "so far" not in md
    assert "Ordered by the mean top-1 over seeds 0, 1, 2." in md and "process-hours (about CPU-hours) for the whole table." in md


def test_a_table_with_seed_0_only_reports_without_a_seed_ceiling(gt, tmp_path):
    """Seed-major runs finish seed 0 of many architectures first: that partial table is reported
    (runs, fraction below 2x chance) with no seed-to-seed figures, which need two seeds."""
    work, out = tmp_path / "work", tmp_path / "out"
    choose(out, "v3-e24", 24)
    archs = gt.table_archs(out / "table_v2")
    for i, (_, a) in enumerate(archs[:4]):
        write_table_run(gt, work, a, 0, 40.0 + 10 * i)
    s = gt.table_report(work, out)
    assert s["partial"] and s["runs"] == 4 and s["archs_complete"] == 0 and s["runs_below_2x_chance"] == 0
    assert "seed_ceiling" not in s and "pooled_seed_sd" not in s and "seed_pairs" not in s
    assert not list((out / "table_v2").glob("seed_pairs.*"))             # no pair, no figure


def test_a_table_with_two_seeds_reports_each_seed_pair_on_the_architectures_it_has(gt, tmp_path):
    """Seed 1 of the first architectures while seed 2 is missing: the pair (0, 1) is scored on
    the 7 architectures with both seeds, against a naive tau, precision@5 and SD; no pair with
    fewer than 3 architectures, no precision@5 with 5 or fewer, and no all-seed ceiling yet."""
    from scipy.stats import kendalltau

    work, out = tmp_path / "work", tmp_path / "out"
    choose(out, "v3-e24", 24)
    archs = [a for _, a in gt.table_archs(out / "table_v2")]
    s0 = [50.0, 60.0, 70.0, 80.0, 85.0, 40.0, 45.0, 30.0]
    s1 = [52.0, 58.0, 75.0, 83.0, 79.0, 65.0, 44.0]          # the 6th enters seed 1's top 5
    for a, top1 in zip(archs, s0):
        write_table_run(gt, work, a, 0, top1)
    for a, top1 in zip(archs, s1):
        write_table_run(gt, work, a, 1, top1)
    write_table_run(gt, work, archs[0], 2, 50.0)             # two archs with seed 2: too few
    write_table_run(gt, work, archs[1], 2, 61.0)
    s = gt.table_report(work, out)
    assert "seed_ceiling" not in s and len(s["seed_pairs"]) == 1
    assert sorted(f.name for f in (out / "table_v2").glob("seed_pairs.*")) == ["seed_pairs.pdf", "seed_pairs.png"]
    p = s["seed_pairs"][0]
    assert p["seeds"] == [0, 1] and p["n"] == 7
    assert p["kendall_tau"] == pytest.approx(kendalltau(s0[:7], s1).statistic)
    assert p["ci95"][0] <= p["kendall_tau"] <= p["ci95"][1]
    top5 = [set(np.argsort(v)[-5:]) for v in (s0[:7], s1)]
    assert p["precision_at_5"] == pytest.approx(len(top5[0] & top5[1]) / 5) == pytest.approx(0.8)
    d = np.subtract(s0[:7], s1)
    assert p["seed_sd"] == pytest.approx(np.sqrt(np.mean(d ** 2) / 2))
    write_table_run(gt, work, archs[2], 2, 71.0)             # a third: pairs (0, 2), (1, 2) with n = 3
    s = gt.table_report(work, out)
    assert [q["seeds"] for q in s["seed_pairs"]] == [[0, 1], [0, 2], [1, 2]]
    assert [q["n"] for q in s["seed_pairs"]] == [7, 3, 3]
    assert [q["precision_at_5"] for q in s["seed_pairs"]] == [pytest.approx(0.8), None, None]
    assert s["seed_ceiling"]["n"] == 3 and "seed_precision_at_5" not in s    # every seed on 3 archs
    for a, top1 in zip(archs[3:7], s1[3:]):                  # every seed on 7: p@5 is the pair mean
        write_table_run(gt, work, a, 2, top1 + 0.5)
    s = gt.table_report(work, out)
    assert s["seed_ceiling"]["n"] == 7
    assert s["seed_precision_at_5"] == pytest.approx(np.mean([q["precision_at_5"] for q in s["seed_pairs"]]))


def test_the_proxies_stage_scores_the_table_list_on_the_chosen_arms_data(gt, tmp_path, monkeypatch):
    import experiments.ranking_fidelity as rf

    out = tmp_path / "out"
    choose(out, "v3-noise", 6)
    ran = []
    monkeypatch.setattr(rf, "run", lambda cmd, log=None: ran.append([str(c) for c in cmd]))
    gt.stage_proxies(tmp_path / "work", out)
    cmd = ran[0]
    assert cmd[cmd.index("--archs") + 1] == str(out / "table_v2" / "archs.txt")
    assert cmd[cmd.index("--out") + 1] == str(out / "estimators_v2")
    sets = [cmd[i + 1] for i, x in enumerate(cmd) if x == "--set"]
    assert sets == ["data.temporal_version=3"]              # the data of the arm, not its init option
    (out / "estimators_v2").mkdir()
    (out / "estimators_v2" / "proxies.csv").write_text("arch\n")
    gt.stage_proxies(tmp_path / "work", out)                # computed once
    assert len(ran) == 1
    gt.stage_estimators_report(out)
    assert ran[1][1].endswith("estimators_report.py") and ran[1][ran[1].index("--label") + 1] == "v2"


def test_the_supernet_and_estimate_stages_train_on_the_chosen_arm_and_add_the_greedy_results(gt, tmp_path, monkeypatch):
    """Commands only (nothing trains): the three recipes' supernets get the arm's overrides; once
    they exist, each greedy result joins the table's list (a new canonical form only), and
    every recipe's `nas correlate` scores the final list with the table's schedule and seeds,
    estimates only."""
    import experiments.ranking_fidelity as rf
    from experiments.ranking_fidelity import RECIPES, read_archs

    work, out = tmp_path / "work", tmp_path / "out"
    choose(out, "v3-e24", 24)
    archs = gt.table_archs(out / "table_v2")
    sent, ran = [], []
    monkeypatch.setattr(rf, "run_parallel", lambda cmds, jobs: sent.extend(cmds))
    monkeypatch.setattr(gt, "run_parallel", lambda cmds, jobs: sent.extend(cmds))
    monkeypatch.setattr(rf, "run", lambda cmd, log=None: ran.append([str(c) for c in cmd]))
    gt.stage_supernets(work, tmp_path / "2d.pt", out, 2)
    assert len(sent) == len(RECIPES)
    for cmd, _ in sent:
        text = " ".join(map(str, cmd))
        assert " pretrain " in text and "data.temporal_version=3" in text
    for i, recipe in enumerate(RECIPES):                     # supernets trained, searched
        rd = work / "v2" / f"supernet-{recipe}"
        rd.mkdir(parents=True)
        (rd / "supernet.pt").write_bytes(b"")
        (rd / "config.yaml").write_text("train: {batch_size: 32}\n")
        pd.DataFrame({"step": [1, 2, 3], "clips_per_s": [32.0, 16.0, 64.0 * (i + 1)]}).to_csv(rd / "metrics.csv", index=False)
        (work / "v2" / f"search-{recipe}").mkdir(parents=True)
        best = archs[0][1] if i == 0 else ("sr4-st4-" * 4).strip("-") if i == 1 else "sw2-sr4-lr2-st4-sw4-sr2-lr4-st2"
        (work / "v2" / f"search-{recipe}" / "best_arch.txt").write_text(best + "\n")
    corr = work / "v2" / "corr-uniform"                      # uniform's correlate ran 42 s
    corr.mkdir(parents=True)
    (corr / "correlate_config.yaml").write_text("")
    (corr / "cost_table.json").write_text("{}")
    pd.DataFrame({"arch": [archs[0][1]], "canonical_arch": [archs[0][1]], "estimated_acc": [50.0],
                  "estimated_loss": [1.0], "gflops": [0.07]}).to_csv(corr / "correlation.csv", index=False)
    for name, t in (("correlate_config.yaml", 1000.0), ("cost_table.json", 1010.0), ("correlation.csv", 1042.0)):
        os.utime(corr / name, (t, t))
    gt.stage_estimates(work, tmp_path / "2d.pt", out, 2)
    costs = json.loads((out / "table_v2" / "supernets.json").read_text())["recipes"]
    assert [costs[r]["train_seconds"] for r in RECIPES] == [pytest.approx(3 + 0.5 / (i + 1)) for i in range(3)]
    assert costs["uniform"]["steps"] == 3 and costs["uniform"]["eval_seconds"] == 42.0
    assert costs["fair"]["eval_seconds"] is None                          # not estimated yet
    final = read_archs(out / "table_v2" / "archs.txt")
    assert final[:len(archs)] == archs and len(final) == len(archs) + 2     # the first result was listed
    assert [src for src, _ in final[len(archs):]] == [f"greedy-{r}-v2" for r in list(RECIPES)[1:]]
    for recipe in RECIPES:                                    # each search's raw outputs are kept
        kept = out / "table_v2" / "search" / recipe / "best_arch.txt"
        assert kept.read_text() == (work / "v2" / f"search-{recipe}" / "best_arch.txt").read_text()
    assert len(ran) == len(RECIPES)
    for cmd in ran:
        assert "correlate" in cmd and "--estimates-only" in cmd and cmd[cmd.index("--epochs") + 1] == "24"
        assert "data.temporal_version=3" in cmd and cmd[cmd.index("--seeds") + 1:cmd.index("--seeds") + 4] == ["0", "1", "2"]
        listed = Path(cmd[cmd.index("--archs") + 1]).read_text().split()
        assert listed == [a for _, a in final]


def test_runs_in_the_committed_table_are_neither_retrained_nor_dropped_on_a_fresh_machine(gt, tmp_path, monkeypatch):
    """The committed ``standalone.csv`` is the ledger of finished runs: with an empty work folder
    (a fresh machine) the table stage skips them and the report keeps them beside the new runs,
    in the list's order; a row of another protocol is neither."""
    work, out = tmp_path / "work", tmp_path / "out"
    choose(out, "v3-e24", 24)
    archs = gt.table_archs(out / "table_v2")
    for i, (_, a) in enumerate(archs[:3]):
        write_table_run(gt, work, a, 0, 50.0 + i)
    gt.table_report(work, out)                                        # committed: 3 runs of seed 0
    ledger = pd.read_csv(out / "table_v2" / "standalone.csv")
    assert set(ledger["init_from"]) == {gt.repo_path(gt.TWO_D)} and set(ledger["machine"]) == {"unrecorded"}
    other = ledger.iloc[[0]].assign(arch=archs[3][1], protocol="v3-e12", epochs=12, top1=11.0)
    lost = ledger.iloc[[0]].assign(arch=archs[4][1], init_from="runs/gt/2d/model.pt", top1=12.0)
    pd.concat([ledger, other, lost]).to_csv(out / "table_v2" / "standalone.csv", index=False)

    fresh = tmp_path / "fresh"
    started = gt.run_dir(fresh / "table_v2", archs[1][1], 1)
    sent = []

    def launch(cmds, jobs, on_start):                                 # starts one: archs[1], seed 1
        sent.extend(cmds)
        on_start(next(i for i, (c, _) in enumerate(cmds) if f"output_dir={started}" in map(str, c)))

    monkeypatch.setattr(gt, "run_parallel", launch)
    gt.stage_table(fresh, gt.TWO_D, out, 2)
    assert len(sent) == len(archs) * len(gt.TABLE_SEEDS) - 3
    trained = {next(x for x in map(str, c) if x.startswith("output_dir=")) for c, _ in sent}
    for _, a in archs[:3]:
        assert f"output_dir={gt.run_dir(fresh / 'table_v2', a, 0)}" not in trained
    assert f"output_dir={gt.run_dir(fresh / 'table_v2', archs[3][1], 0)}" in trained
    assert f"output_dir={gt.run_dir(fresh / 'table_v2', archs[4][1], 0)}" in trained     # another 2D init

    assert [p.name for p in (fresh / "table_v2").iterdir()] == ["machines"]   # nas train needs empty folders
    assert list((fresh / "table_v2" / "machines").iterdir()) == [gt.machine_file(started)]   # recorded at launch
    write_table_run(gt, fresh, archs[1][1], 1, 60.0)                  # a new run on the fresh machine
    s = gt.table_report(fresh, out)
    frame = pd.read_csv(out / "table_v2" / "standalone.csv")
    assert s["runs"] == 4 and s["runs_below_2x_chance"] == 0
    assert list(zip(frame["arch"], frame["seed"])) == [(archs[0][1], 0), (archs[1][1], 0), (archs[1][1], 1),
                                                       (archs[2][1], 0)]
    assert frame["top1"].tolist() == [50.0, 51.0, 60.0, 52.0] and set(frame["protocol"]) == {"v3-e24"}
    from nas.provenance import machine_info
    assert frame["machine"].tolist() == ["unrecorded"] * 2 + [machine_info()["cpu"], "unrecorded"]


def test_run_parallel_launches_in_order_logs_and_raises_on_a_failed_command(tmp_path):
    """The study's process pool: `on_start` sees each command's index just before its launch,
    output goes to its log, and a failed command fails the pool after the others ran."""
    import sys
    from experiments.ranking_fidelity import run_parallel

    cmds = [([sys.executable, "-c", f"print('run {i}')"], tmp_path / f"{i}.log") for i in range(3)]
    seen = []
    run_parallel(cmds, 2, on_start=seen.append)
    assert seen == [0, 1, 2] and [(tmp_path / f"{i}.log").read_text() for i in range(3)] == ["run 0\n", "run 1\n", "run 2\n"]
    bad = [([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "bad.log"), cmds[0]]
    with pytest.raises(RuntimeError, match="1 command"):
        run_parallel(bad, 1)
    assert (tmp_path / "0.log").read_text() == "run 0\nrun 0\n"


def test_the_demo_follows_the_rule_at_equal_single_path_passes(gt):
    """README section 4's rule for nas demo's epochs, on the demo config (62 steps an epoch, 450
    warm-up steps, 30 uniform epochs = 1860 passes) and on the study's own numbers."""
    assert gt.equal_pass_epochs(30, 62, 450, 1) == 30
    assert gt.equal_pass_epochs(30, 62, 450, 4) == 13          # 450 + 356 * 4 = 1874 (12: 1626)
    assert gt.equal_pass_epochs(30, 62, 450, 11) == 9          # 450 + 108 * 11 = 1638 (10: 2320)
    assert gt.equal_pass_epochs(16, 156, 400, 4) == 6          # v1 study: sandwich 6 epochs (2544 passes)
