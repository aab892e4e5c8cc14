"""Issue 24, honest figures: what search_progress, searched_arch and Fig. 6 draw, read back from
the matplotlib objects (texts, legend entries, lines, hatches, axis limits)."""
from pathlib import Path

import pandas as pd
import pytest

import nas.plots
from nas.cli import main
from supernet.registry import build_model

ARCH = "sr4-lr2-sr4-sr2-sr4-sr4-sr1-sr4"


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions draw, kept open instead of saved."""
    kept = []

    def keep(fig, out):
        kept.append(fig)
        return [Path(out).with_suffix(".png")]
    monkeypatch.setattr(nas.plots, "save_figure", keep)
    yield kept
    import matplotlib.pyplot as plt
    for fig in kept:
        plt.close(fig)


def best_json(noisy_blocks=(1, 6)) -> dict:
    """A best_arch.json as a greedy search writes it: 2 passes over 8 blocks; the last pass's
    decisions on `noisy_blocks` inside the noise (pass 1 had block 0 inside the noise too)."""
    decisions = [{"pass": p, "block": b, "significant": not (b in noisy_blocks if p == 2 else b == 0)}
                 for p in (1, 2) for b in range(8)]
    return {"arch": ARCH, "strategy": "greedy", "alpha": 0.005, "top1_pct": 78.6, "top1_se": 1.83,
            "clips": 500, "gflops": 0.038467, "context": {"checkpoint": "runs/x/supernet/supernet.pt",
                                                          "chance_pct": 10.0, "space_gflops": [0.0340, 0.0403]},
            "confidence": {"level": 0.95, "significant_decisions": [d for d in decisions if d["significant"]],
                           "decisions_inside_noise": [d for d in decisions if not d["significant"]]}}


def results() -> pd.DataFrame:
    archs = ["sr1-*-*-*-*-*-*-*", "sr2-sr2-sr2-sr2-sr2-sr2-sr2-sr2", ARCH, "sr1-sr1-sr1-sr1-sr1-sr1-sr1-sr1"]
    top1, gflops = [60.0, 70.2, 78.6, 15.6], [0.0362, 0.0361, 0.0385, 0.0341]
    return pd.DataFrame({"eval_id": range(4), "strategy": "greedy", "arch": archs, "top1_pct": top1,
                         "top1_se": [2.0, 2.0, 1.83, 1.6], "clips": 500, "loss": 1.0, "gflops": gflops,
                         "cost": gflops, "cost_unit": "GFLOPs",
                         "objective": [t - 0.005 * g for t, g in zip(top1, gflops)]})


def legend_texts(fig) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


def test_search_progress_draws_chance_the_space_range_and_names_the_search(figures):
    nas.plots.plot_search(results(), "unused", best=best_json())
    (fig,) = figures
    assert fig._suptitle.get_text() == ("greedy search of supernet/supernet.pt on 500 validation clips "
                                        "(α = 0.005)")
    for ax in fig.axes:                              # chance on every panel, at 10%
        chance = [ln for ln in ax.get_lines() if ln.get_label() == "chance (10%)"]
        assert len(chance) == 1 and list(chance[0].get_ydata()) == [10.0, 10.0]
    gflops_ax = fig.axes[1]
    lo, hi = gflops_ax.get_xlim()
    assert lo < 0.0340 and hi > 0.0403                  # the whole space, not only the points
    marks = [t.get_text() for t in gflops_ax.texts]
    assert marks == ["smallest in the space", "largest in the space"]


def test_search_progress_without_context_still_draws(figures):
    nas.plots.plot_search(results(), "unused")
    (fig,) = figures
    assert fig._suptitle.get_text() == "greedy search on 500 validation clips"
    assert not any(ln.get_label().startswith("chance") for ax in fig.axes for ln in ax.get_lines())


def test_searched_arch_keys_the_gtm_types_and_hatches_decisions_inside_the_noise(figures):
    space = build_model("mlp3d-nano").space
    nas.plots.plot_arch(space, ARCH, "unused", best=best_json(noisy_blocks=(1, 6)))
    (fig,) = figures
    ax = fig.axes[0]
    hatched = [p for p in ax.patches if p.get_hatch()]
    boxes = [p for p in ax.patches if p.get_width() == 0.9]
    assert len(boxes) == 8 and [boxes.index(p) for p in hatched] == [1, 6]   # the last pass decides
    texts = legend_texts(fig)
    assert {"sr = short-range GTM", "lr = long-range GTM", "sw = shift-window GTM",
            "st = shift-token GTM"} <= set(texts)
    assert "decision significant (6 of 8)" in texts and "decision inside the noise (2), level 0.95" in texts
    assert "V = 78.6 ± 1.8% on 500 clips, 0.03847 GFLOPs; greedy search" in ax.get_title()


def test_searched_arch_without_a_search_has_no_decision_key(figures):
    space = build_model("mlp3d-nano").space
    nas.plots.plot_arch(space, ARCH, "unused")
    (fig,) = figures
    texts = legend_texts(fig)
    assert "sr = short-range GTM" in texts and not any(t.startswith("decision") for t in texts)
    assert not any(p.get_hatch() for p in fig.axes[0].patches)


def correlation() -> pd.DataFrame:
    return pd.DataFrame({"arch": ["a1", "a2", "a3", "a4"], "gflops": [1.0, 2.0, 3.0, 4.0],
                         "estimated_acc": [10.0, 40.0, 55.0, 70.0], "real_acc": [20.0, 45.0, 50.0, 80.0],
                         "estimated_se": [1.0, 2.0, 2.2, 2.0], "real_se": [1.5, 2.2, 2.2, 1.8]})


def test_fig6_labels_and_error_bars_are_optional(figures):
    nas.plots.plot_correlation(correlation(), "unused")
    nas.plots.plot_correlation(correlation(), "unused", labels=True, error_bars=True)
    plain, full = (fig.axes[0] for fig in figures)
    assert not plain.texts and "± 1 SE" not in legend_texts(figures[0])
    assert [t.get_text() for t in full.texts] == ["a1", "a2", "a3", "a4"]
    assert "± 1 SE" in legend_texts(figures[1])
    bars = [c for c in full.containers if c.get_label() == "± 1 SE"]
    assert len(bars) == 1 and len(bars[0].lines[2]) == 2             # x and y bar collections
    with pytest.raises(ValueError, match="with error bars needs columns .*missing \\['estimated_se', 'real_se'\\]"):
        nas.plots.plot_correlation(correlation().drop(columns=["estimated_se", "real_se"]), "unused",
                                   error_bars=True)


def test_plot_command_reads_the_search_best_arch_and_refuses_misplaced_flags(tmp_path, capsys):
    import json

    search = tmp_path / "search"
    search.mkdir()
    results().to_csv(search / "results.csv", index=False)
    (search / "best_arch.json").write_text(json.dumps(best_json()))
    assert main(["plot", "search", "--csv", str(search / "results.csv"), "--out", str(tmp_path / "p")]) == 0
    assert f"from {search / 'best_arch.json'} (--best)" in capsys.readouterr().out
    assert (tmp_path / "p.png").stat().st_size > 5_000
    assert main(["plot", "arch", "--model", "mlp3d-nano", "--arch", ARCH, "--best",
                 str(search / "best_arch.json"), "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a.png").stat().st_size > 5_000
    capsys.readouterr()
    assert main(["plot", "search", "--csv", str(search / "results.csv"), "--labels", "--out", str(tmp_path / "x")]) == 2
    assert "--labels and --error-bars are for nas plot correlation" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["plot", "arch", "--model", "mlp3d-nano", "--arch", ARCH, "--best", str(tmp_path / "bad.json"),
                 "--out", str(tmp_path / "y")]) == 2
    assert "must be a search's best_arch.json" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()


def test_real_se_is_over_seeds_when_there_are_several_else_binomial():
    from nas.correlate import real_se

    one = [{"top1": 80.0, "single_view": {"top1": 80.0, "clips": 400}}]
    assert real_se(one) == pytest.approx(100 * (0.8 * 0.2 / 400) ** 0.5)
    views = [{"top1": 80.0, "single_view": {"top1": 70.0, "clips": 400},
              "multi_view": {"top1": 80.0, "clips": 100}}]       # the reported (multi-view) top-1's clips
    assert real_se(views) == pytest.approx(100 * (0.8 * 0.2 / 100) ** 0.5)
    three = [{"top1": t, "single_view": {"top1": t, "clips": 400}} for t in (70.0, 80.0, 90.0)]
    assert real_se(three) == pytest.approx(10.0 / 3 ** 0.5)


def test_search_records_the_plot_context(supernet_ckpt, tmp_path):
    import json

    out = tmp_path / "s"
    assert main(["search", "--checkpoint", str(supernet_ckpt), "--out", str(out), "--strategy", "random",
                 "--budget", "2", "--val-size", "8", "--threads", "1", "--no-progress"]) == 0
    context = json.loads((out / "best_arch.json").read_text())["context"]
    lo, hi = context["space_gflops"]
    assert context["checkpoint"] == str(supernet_ckpt) and context["chance_pct"] == 10.0
    frame = pd.read_csv(out / "results.csv")
    assert lo <= frame["gflops"].min() and frame["gflops"].max() <= hi and lo < hi


def seed_table():
    """Three seeds of 8 architectures: two near 40%, six in an 83-87% cluster; seed 2 misses two."""
    import numpy as np
    s0 = [40.0, 41.0, 83.0, 84.0, 85.0, 86.0, 86.5, 87.0]
    s1 = [40.5, 40.0, 84.0, 83.5, 86.0, 85.0, 87.0, 86.0]
    s2 = [39.0, np.nan, 83.5, 84.5, 85.5, np.nan, 86.0, 87.5]
    return pd.DataFrame({0: s0, 1: s1, 2: s2}, index=[f"a{i}" for i in range(8)])


def test_seed_pairs_draws_one_column_per_pair_with_the_figures_it_is_given(figures):
    pairs = [{"seeds": [0, 1], "n": 8, "kendall_tau": 0.5, "ci95": [0.1, 0.8], "seed_sd": 0.61},
             {"seeds": [0, 2], "n": 6, "kendall_tau": 0.73, "ci95": [0.2, 1.0], "seed_sd": 0.4}]
    nas.plots.plot_seed_pairs(seed_table(), pairs, "unused", chance=10.0)
    (fig,) = figures
    assert len(fig.axes) == 4                                     # 2 rows x 2 pairs
    texts = legend_texts(fig)
    assert "Kendall τ = 0.50 [0.10, 0.80]" in texts and "seed SD = 0.40 points, n = 6" in texts
    assert texts.count("2× chance (20%)") == 2
    full, zoom = fig.axes[0], fig.axes[2]                          # pair (0, 1): full range, zoom
    assert full.get_xlabel() == "top-1, seed 0 (%)" and full.get_ylabel() == "top-1, seed 1 (%)"
    assert full.get_xlim()[0] < 20.0 and full.get_xlim()[1] > 87.0  # 2x chance and every point
    lo, hi = zoom.get_xlim()
    assert lo == pytest.approx(83.0 - 0.5) and hi == pytest.approx(87.0 + 0.5)   # the cluster shown, not the two at 40%
    assert zoom.get_title() == "zoom: the 6 of 8 at or above the lower quartile"
    right = fig.axes[1].collections[0].get_offsets()               # pair (0, 2): NaN rows dropped
    assert len(right) == 6


def test_seed_pairs_without_a_pair_or_with_a_missing_seed_is_an_input_error():
    from search_spaces.errors import InputFileError

    with pytest.raises(InputFileError, match="at least one seed pair"):
        nas.plots.plot_seed_pairs(seed_table(), [], "unused")
    with pytest.raises(InputFileError, match=r"missing \[3\]"):
        nas.plots.plot_seed_pairs(seed_table(), [{"seeds": [0, 3], "n": 3, "kendall_tau": 0.0,
                                                  "ci95": [0, 0], "seed_sd": 1.0}], "unused")
