"""How well does a weight-sharing supernet rank video architectures? A resumable study on
MLP-3D-nano at T' = 8, and the standalone table it ships as a tabular video-NAS benchmark.

    python experiments/ranking_fidelity.py --stage pilot      # fixes the standalone schedule
    python experiments/ranking_fidelity.py                    # the whole study (resumes)
    python experiments/ranking_fidelity.py --stage report     # tables and figures from what is done

Protocol (fixed before any result was looked at; docs/results.md, "How well does the supernet rank?"):

* Space: MLP-3D-nano on 32-frame 32 x 32 clips of the bundled synthetic-temporal set, T' = 8,
  S in {1, 2, 4, 8}: 15 choices per block, 12 distinct functions, 8 blocks.
* Initialization (MLP-3D Sec. 4.2): a 2D CycleMLP-nano trained on single frames of the bundled
  synthetic-appearance set (the stand-in for ImageNet); every network, the supernets and each
  standalone one, starts from it by center initialization. No standalone run ever starts from
  supernet weights.
* Supernet recipes: uniform (SPOS), fair (FairNAS) and sandwich (BigNAS: largest, smallest and
  2 random paths per step, in-place distillation), each after the same 400-step warm start on
  the largest network, at about the same compute: single-path forward/backward passes 2496
  (uniform, 16 epochs), 2544 (sandwich, 6 epochs), 3760 (fair, 4 epochs: the nearest whole
  number of epochs; 1.5x).
* Architectures: the named variants at every S (canonical, unique), the greedy-searched one of
  each recipe, and random ones at evenly spaced GFLOPs quantiles of a random pool, to at least
  `--archs` distinct canonical architectures.
* Standalone: each architecture trained with seeds 0 and 1 with one schedule for all
  (experiments/configs/train_mlp3d_nano_t8_cpu.yaml; its length set by the pilot, see below),
  evaluated on the 2000 validation clips.
* Estimates: each recipe's shared-weight top-1 of every architecture on the same 2000 clips.
* Report per recipe: Kendall tau, Spearman rho, Pearson r against the mean standalone top-1 with
  bootstrap 95% intervals, precision@5, regret; the seed-to-seed tau (the ceiling); Fig. 6 per
  recipe and a summary figure; between recipes, the paired bootstrap interval of each tau
  difference (the same resampled architectures for both).
* Which recipe `nas demo` uses (rule fixed before the complete table was seen): the recipe with
  the highest tau, if the paired 95% interval of its tau minus every other recipe's lies above
  0; otherwise the recipes are tied within the study's noise and the demo keeps uniform (a
  change of default needs evidence, and uniform trains one path per step, the cheapest).

Pilot (``--stage pilot``): 6 architectures x 2 seeds trained for `PILOT_EPOCHS` epochs with a
validation pass after every epoch; the schedule is the smallest epoch count e at which the
seed-to-seed tau is within 0.1 of its best over the epochs and the mean top-1 within 3 points of
its final value (rule fixed before the pilot ran).

Every step is a `nas` command, printed before it runs, and resumes: a finished step is skipped,
an interrupted one continues from its checkpoint. Work files go to ``--work`` (default
runs/ranking_fidelity); the committed results to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.correlate import run_dir, spanning_archs  # noqa: E402
from nas.utils import atomic_write_json, atomic_write_text  # noqa: E402

CONFIGS = ROOT / "experiments" / "configs"
CONFIG_2D = CONFIGS / "pretrain_cyclemlp_nano_2d_cpu.yaml"
CONFIG_SUPERNET = CONFIGS / "pretrain_mlp3d_nano_t8_cpu.yaml"
CONFIG_STANDALONE = CONFIGS / "train_mlp3d_nano_t8_cpu.yaml"
INPUT = (32, 32, 32)
CLASSES = 10
# epochs (156 steps each): 400 warm-start steps of the largest network, then 1, 4 or 15 paths a
# step: 2496, 2544 and 3760 single-path forward/backward passes (fair: the nearest whole epoch
# count above uniform's budget; 3 epochs would give it 0.57x).
RECIPES = {"uniform": 16, "sandwich": 6, "fair": 4}
DEMO_DEFAULT = "uniform"          # kept on a tie (module docstring: the rule)
WARMUP_STEPS = 400
SEEDS = (0, 1)
PLATEAU_TOP1 = 20.0        # a run below 2x chance (10 classes) has not left the chance plateau
VAL_CLIPS = 2000                                           # the whole val split (200 per class)
SEARCH_VAL_CLIPS = 500                                     # greedy search's validation subset
PILOT_ARCHS = ("sr1-sr1-sr1-sr1-sr1-sr1-sr1-sr1", "sr2-sr2-sr2-sr2-sr2-sr2-sr2-sr2",
               "sr8-sr8-sr8-sr8-sr8-sr8-sr8-sr8", "lr4-lr4-lr4-lr4-lr4-lr4-lr4-lr4",
               "st4-st4-st4-st4-st4-st4-st4-st4", "sr4-sw4-sr4-sw4-sr4-sw4-sr4-sw4")
PILOT_EPOCHS = 6
NAS = [sys.executable, "-m", "nas.cli"]


def show(cmd: list[str]) -> str:
    return "$ " + " ".join(shlex.quote(str(a)) for a in cmd)


def run(cmd: list[str], log: Path | None = None) -> None:
    """Print and run one command (stdout to `log` when given)."""
    print(show(cmd), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if log is None:
        subprocess.run([str(c) for c in cmd], check=True, env=env)
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        subprocess.run([str(c) for c in cmd], check=True, env=env, stdout=f, stderr=subprocess.STDOUT)


def run_parallel(cmds: list[tuple[list[str], Path]], jobs: int, on_start=None) -> None:
    """Run commands `jobs` at a time (one thread each), output to their logs; raise if any fails.
    ``on_start(i)`` is called just before the i-th command is launched."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    pending, running, failed = list(enumerate(cmds)), [], []
    while pending or running:
        while pending and len(running) < jobs:
            i, (cmd, log) = pending.pop(0)
            if on_start is not None:
                on_start(i)
            print(show(cmd) + f"   > {log}", flush=True)
            log.parent.mkdir(parents=True, exist_ok=True)
            f = open(log, "a")
            proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=f, stderr=subprocess.STDOUT)
            running.append((proc, f, cmd))
        time.sleep(2)
        for item in [r for r in running if r[0].poll() is not None]:
            running.remove(item)
            item[1].close()
            if item[0].returncode:
                failed.append(show(item[2]))
    if failed:
        raise RuntimeError(f"{len(failed)} command(s) failed; first: {failed[0]}")


def set_flags(sets) -> list[str]:
    """``--set KEY=VALUE`` for each override, as `nas` commands take them."""
    return [x for s in sets for x in ("--set", s)]


def repo_path(path: Path) -> str:
    """`path` as a table names it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def resume_flag(out: Path) -> list[str]:
    return ["--resume"] if (out / "checkpoints" / "last.pt").exists() else []


# ---- stages --------------------------------------------------------------------------------
def stage_2d(work: Path) -> Path:
    out = work / "2d"
    if not (out / "model.pt").exists():
        run(NAS + ["pretrain", "--config", CONFIG_2D, "--set", f"output_dir={out}",
                   "--set", "train.threads=1"] + resume_flag(out), work / "logs" / "2d.log")
    return out / "model.pt"


def supernet_cmd(work: Path, recipe: str, two_d: Path, extra: tuple[str, ...] = ()) -> tuple[list[str], Path] | None:
    """`extra`: more `--set` overrides (the ground-truth study's data protocol)."""
    out = work / f"supernet-{recipe}"
    if (out / "supernet.pt").exists():
        return None
    sets = [f"output_dir={out}", f"train.sampler={recipe}", f"train.epochs={RECIPES[recipe]}",
            f"center_init_from={two_d}", "train.threads=1", *extra]
    return (NAS + ["pretrain", "--config", CONFIG_SUPERNET] + set_flags(sets)
            + resume_flag(out), work / "logs" / f"supernet-{recipe}.log")


def stage_supernets(work: Path, two_d: Path, jobs: int) -> None:
    cmds = [c for r in RECIPES if (c := supernet_cmd(work, r, two_d)) is not None]
    run_parallel(cmds, jobs)


def stage_search(work: Path, jobs: int) -> dict[str, str]:
    """Greedy search (MLP-3D Sec. 3.4) on each finished supernet; returns recipe -> searched
    arch for the recipes searched so far (a supernet still training is searched on a rerun)."""
    cmds = []
    for recipe in RECIPES:
        out = work / f"search-{recipe}"
        if (out / "best_arch.txt").exists():
            continue
        if not (work / f"supernet-{recipe}" / "supernet.pt").exists():
            print(f"skipping the {recipe} search: its supernet is not trained yet")
            continue
        resume = ["--resume"] if (out / "search_config.yaml").exists() else []
        cmds.append((NAS + ["search", "--checkpoint", work / f"supernet-{recipe}" / "supernet.pt",
                            "--strategy", "greedy", "--val-size", str(SEARCH_VAL_CLIPS), "--threads", "1",
                            "--out", out, "--no-progress"] + resume, work / "logs" / f"search-{recipe}.log"))
    run_parallel(cmds, jobs)
    return {r: (work / f"search-{r}" / "best_arch.txt").read_text().strip() for r in RECIPES
            if (work / f"search-{r}" / "best_arch.txt").exists()}


def architecture_list(searched: dict[str, str], random_count: int, seed: int = 0) -> list[tuple[str, str]]:
    """(sources, arch) pairs, distinct canonical forms: the named variants, `random_count`
    random architectures at evenly spaced GFLOPs quantiles of a random pool (fixed by `seed`,
    drawn before any search ran), then the greedy result of each recipe (an arch already listed
    gets the recipe's tag added)."""
    from nas.costs.unit_table import load_or_build_cost_table
    from supernet.registry import build_model

    model = build_model("mlp3d-nano", INPUT, CLASSES)
    space = model.space
    out: dict[str, list[str]] = {}

    def add(source, arch) -> bool:
        key = str(space.canonical(space.parse(arch)))
        new = key not in out
        out.setdefault(key, []).append(source)
        return new
    for variant, s, arch in space.named_variants():
        add(f"named:{variant}" + (f"-S{s}" if s else ""), arch)
    table = load_or_build_cost_table(model, INPUT)
    added, draw = 0, seed
    while added < random_count:
        for arch in spanning_archs(space, table.gflops, random_count - added, draw):
            if added < random_count and str(space.canonical(arch)) not in out:
                added += add("random", str(arch))
        draw += 1
    for recipe, arch in searched.items():
        add(f"greedy:{recipe}", arch)
    return [(",".join(src), arch) for arch, src in out.items()]


def read_archs(path: Path) -> list[tuple[str, str]]:
    return [(line.split("#")[1].strip(), line.split("#")[0].strip())
            for line in path.read_text().splitlines() if line.strip()]


def write_archs(path: Path, archs: list[tuple[str, str]]) -> None:
    atomic_write_text(path, "".join(f"{a}  # {src}\n" for src, a in archs))


def stage_pilot(work: Path, out: Path, jobs: int) -> None:
    """Seed-to-seed agreement and accuracy per epoch for a few architectures (sets the schedule)."""
    cmds = []
    for arch in PILOT_ARCHS:
        for seed in SEEDS:
            rd = run_dir(work / "pilot", arch, seed)
            if (rd / "eval.json").exists():
                continue
            cmds.append((NAS + ["train", "--config", CONFIG_STANDALONE, "--arch", arch,
                                "--set", f"output_dir={rd}", "--set", f"train.seed={seed}",
                                "--set", f"train.epochs={PILOT_EPOCHS}", "--set", "train.eval_every=1",
                                "--set", f"center_init_from={work / '2d' / 'model.pt'}",
                                "--set", "train.threads=1"] + resume_flag(rd),
                         work / "logs" / f"pilot-{arch}-seed{seed}.log"))
    run_parallel(cmds, jobs)
    report_pilot(work, out)


def report_pilot(work: Path, out: Path) -> int | None:
    from scipy import stats

    rows = []
    for arch in PILOT_ARCHS:
        for seed in SEEDS:
            path = run_dir(work / "pilot", arch, seed) / "eval_curve.csv"
            if path.exists():
                for r in pd.read_csv(path).to_dict("records"):
                    rows.append({"arch": arch, "seed": seed, **r})
    if not rows:
        return None
    curve = pd.DataFrame(rows)
    atomic_write_text(out / "pilot_curves.csv", curve.to_csv(index=False))
    summary = []
    for epoch, g in curve.groupby("epoch"):
        wide = g.pivot(index="arch", columns="seed", values="val_top1").dropna()
        tau = stats.kendalltau(wide[SEEDS[0]], wide[SEEDS[1]]).statistic if len(wide) >= 3 else np.nan
        summary.append({"epoch": int(epoch), "archs": len(wide), "seed_kendall_tau": tau,
                        "mean_top1": g["val_top1"].mean(), "min_top1": g["val_top1"].min(),
                        "max_top1": g["val_top1"].max()})
    table = pd.DataFrame(summary)
    atomic_write_text(out / "pilot_summary.csv", table.to_csv(index=False))
    print(table.to_string(index=False))
    complete = table[table["archs"] == len(PILOT_ARCHS)]
    if len(complete) < PILOT_EPOCHS:
        print(f"pilot incomplete ({len(complete)} of {PILOT_EPOCHS} epochs done for every run)")
        return None
    best_tau, final = complete["seed_kendall_tau"].max(), complete["mean_top1"].iloc[-1]
    ok = complete[(complete["seed_kendall_tau"] >= best_tau - 0.1) & (complete["mean_top1"] >= final - 3.0)]
    chosen = int(ok["epoch"].min())
    print(f"pilot rule: smallest epoch with seed tau >= {best_tau:.3f} - 0.1 and mean top-1 >= "
          f"{final:.2f} - 3: {chosen} epochs")
    return chosen


def standalone_cmd(work: Path, arch: str, seed: int, epochs: int) -> tuple[list[str], Path] | None:
    """`nas train` of one (arch, seed) of the benchmark (None when finished). `nas correlate`
    later finds it under the same runs folder and reuses it (it checks the config is equal)."""
    rd = run_dir(work / "standalone", arch, seed)
    if (rd / "eval.json").exists():
        return None
    return (NAS + ["train", "--config", CONFIG_STANDALONE, "--arch", arch, "--set", f"output_dir={rd}",
                   "--set", f"train.seed={seed}", "--set", f"train.epochs={epochs}",
                   "--set", f"center_init_from={work / '2d' / 'model.pt'}", "--set", "train.threads=1"]
            + resume_flag(rd), work / "logs" / f"standalone-{arch}-seed{seed}.log")


def stage_standalone(work: Path, archs: list[tuple[str, str]], epochs: int, jobs: int) -> None:
    cmds = [c for _, a in archs for s in SEEDS if (c := standalone_cmd(work, a, s, epochs)) is not None]
    run_parallel(cmds, jobs)


def stage_estimates(work: Path, archs_file: Path, epochs: int, estimates_only: bool = False,
                    two_d: Path | None = None, extra: tuple[str, ...] = (), seeds: tuple[int, ...] = SEEDS) -> None:
    """One `nas correlate` per recipe over the same architectures: its shared-weight estimates
    on the 2000 validation clips; the standalone runs are all reused (none is trained here
    once the standalone stage is done; `estimates_only` trains none in any case). `two_d`,
    `extra` (`--set` overrides) and `seeds` describe the standalone runs (default: this study's)."""
    two_d = two_d or work / "2d" / "model.pt"
    for recipe in RECIPES:
        ckpt = work / f"supernet-{recipe}" / "supernet.pt"
        if not ckpt.exists():
            print(f"skipping the {recipe} estimates: {ckpt} does not exist yet")
            continue
        sets = [f"center_init_from={two_d}", "train.threads=1", *extra]
        run(NAS + ["correlate", "--checkpoint", ckpt, "--archs", archs_file, "--train-config",
                   CONFIG_STANDALONE, "--epochs", str(epochs), *set_flags(sets),
                   "--seeds", *map(str, seeds), "--runs", work / "standalone", "--val-size", str(VAL_CLIPS),
                   "--out", work / f"corr-{recipe}", *(["--estimates-only"] if estimates_only else [])],
            work / "logs" / f"corr-{recipe}.log")


# ---- report --------------------------------------------------------------------------------
def standalone_table(work: Path, archs: list[tuple[str, str]], epochs: int, two_d: Path,
                     runs: Path | None = None, seeds: tuple[int, ...] = SEEDS, **columns) -> pd.DataFrame:
    """The `nas.bench` rows of the finished runs in `runs` (default ``work/standalone``), one
    per (architecture, seed); `columns` are added to every row (e.g. the ground-truth arm)."""
    from nas.costs.unit_table import load_or_build_cost_table
    from supernet.registry import build_model

    model = build_model("mlp3d-nano", INPUT, CLASSES)
    table = load_or_build_cost_table(model, INPUT)
    space = model.space
    rows = []
    for source, arch in archs:
        a = space.parse(arch)
        for seed in seeds:
            path = run_dir(runs or work / "standalone", arch, seed) / "eval.json"
            if not path.exists():
                continue
            ev = json.loads(path.read_text())
            single = ev["single_view"]
            rows.append({"arch": arch, "canonical_arch": str(space.canonical(a)), "source": source,
                         "seed": seed, "top1": single["top1"], "top5": single["top5"], "loss": single["loss"],
                         "clips": single["clips"], "gflops": table.gflops(a), "params_m": table.params(a) / 1e6,
                         "epochs": epochs, "init": "center-2d",
                         "init_from": repo_path(two_d),
                         **columns})
    return pd.DataFrame(rows)


def ranking_report(frame: pd.DataFrame, estimates: pd.DataFrame) -> dict:
    """Stats of one recipe: estimates joined with the per-seed standalone table."""
    from nas.correlate import ranking_stats

    wide = frame.pivot(index="arch", columns="seed", values="top1")
    wide = wide.dropna()
    joined = estimates.set_index("arch").join(wide, how="inner")
    joined["real_acc"] = joined[list(SEEDS)].mean(axis=1)
    for s in SEEDS:
        joined[f"real_acc_seed{s}"] = joined[s]
    joined = joined.drop(columns=list(SEEDS)).reset_index()
    stats = ranking_stats(joined.rename(columns={"estimated_top1": "estimated_acc"}))
    return {r.measure: {"value": r.value, "ci95": [r.ci95_low, r.ci95_high], "n": int(r.n)}
            for r in stats.itertuples()}, joined


def compare_recipes(joined: dict[str, pd.DataFrame]) -> list[dict]:
    """Paired bootstrap of tau(a) - tau(b) for each pair of recipes, on the architectures
    all of them estimated (`nas.stats.paired_difference`)."""
    from nas.stats import paired_difference

    names = [r for r in RECIPES if r in joined]
    if len(names) < 2:
        return []
    common = sorted(set.intersection(*(set(joined[r]["arch"]) for r in names)))
    real = joined[names[0]].set_index("arch").loc[common, "real_acc"].to_numpy()
    est = {r: joined[r].set_index("arch").loc[common, "estimated_top1"].to_numpy() for r in names}
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = paired_difference(est[a], est[b], real)
            out.append({"a": a, "b": b, "kendall_tau_difference": d.value, "ci95": [d.low, d.high], "n": d.n})
    return out


def learners_only(frame: pd.DataFrame, joined: dict[str, pd.DataFrame]) -> dict:
    """A post-hoc diagnostic, not part of the pre-set protocol: tau of each recipe and the
    seed-to-seed tau on the architectures whose two seeds both left the chance plateau
    (top-1 >= `PLATEAU_TOP1`), i.e. the ranking among networks that learned."""
    from nas.stats import correlations, seed_ceiling

    wide = frame.pivot(index="arch", columns="seed", values="top1").dropna()
    keep = wide[(wide[list(SEEDS)] >= PLATEAU_TOP1).all(axis=1)]
    out = {"archs": int(len(keep)), "threshold_top1": PLATEAU_TOP1}
    if len(keep) < 3:
        return out
    c = seed_ceiling(keep[list(SEEDS)].to_numpy())
    out["seed_ceiling"] = {"value": c.value, "ci95": [c.low, c.high], "n": c.n}
    for r, j in joined.items():
        j = j[j["arch"].isin(keep.index)]
        tau = next(m for m in correlations(j["estimated_top1"], j["real_acc"]) if m.name == "kendall_tau")
        out[r] = {"value": tau.value, "ci95": [tau.low, tau.high], "n": tau.n}
    return out


def demo_recipe(recipes: dict, comparisons: list[dict]) -> dict:
    """The pre-registered rule (module docstring): the top recipe by tau if every paired
    interval against it excludes 0 on the right side, else `DEMO_DEFAULT`."""
    if not comparisons:
        return {"choice": DEMO_DEFAULT, "separated": False, "reason": "fewer than two recipes estimated"}
    best = max(recipes, key=lambda r: recipes[r]["kendall_tau"]["value"])
    lows = []
    for c in comparisons:
        if best in (c["a"], c["b"]):
            lo, hi = c["ci95"]
            lows.append(lo if c["a"] == best else -hi)           # interval of tau(best) - tau(other)
    separated = all(lo > 0 for lo in lows)
    return {"choice": best if separated else DEMO_DEFAULT, "highest_tau": best, "separated": bool(separated),
            "reason": (f"{best} has the highest tau and its paired 95% interval against every other recipe "
                       "lies above 0") if separated else
                      (f"{best} has the highest tau, but a paired 95% interval of its difference to another "
                       f"recipe includes 0: tied within the noise, the demo keeps {DEMO_DEFAULT}")}


def plot_summary(summary: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recipes = [r for r in RECIPES if r in summary["recipes"]]
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    for i, r in enumerate(recipes):
        t = summary["recipes"][r]["kendall_tau"]
        lo, hi = t["ci95"]
        ax.errorbar([i], [t["value"]], yerr=[[t["value"] - lo], [hi - t["value"]]], fmt="o", capsize=4,
                    color="C0")
    ceil = summary.get("seed_ceiling")
    if ceil:
        ax.axhspan(ceil["ci95"][0], ceil["ci95"][1], color="C1", alpha=0.15, lw=0)
        ax.axhline(ceil["value"], color="C1", lw=1.5, label=f"seed-to-seed tau {ceil['value']:.2f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xticks(range(len(recipes)),
                  [f"{r}\n(n={summary['recipes'][r]['kendall_tau']['n']})" for r in recipes])
    ax.set_xlim(-0.5, len(recipes) - 0.5)
    ax.set_ylabel("Kendall tau (estimate vs standalone)")
    ax.set_title(f"{summary['n_archs']} architectures x {len(SEEDS)} seeds" +
                 (" (partial)" if summary.get("partial") else ""), fontsize=9)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylim(-0.2, 1.0)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(path.with_suffix(f".{ext}"), dpi=150)
    plt.close(fig)


def _ci(m: dict | None) -> str:
    if not m or m.get("value") is None:
        return "–"
    lo, hi = m.get("ci95") or [None, None]
    if lo is None or lo != lo:                                   # no interval (NaN)
        return f"{m['value']:.2f}"
    return f"{m['value']:.2f} [{lo:.2f}, {hi:.2f}]"


def report_markdown(summary: dict, frame: pd.DataFrame) -> str:
    """The tables of the docs/results.md section, from summary.json and the standalone table."""
    lines = [f"# Ranking fidelity{' (PARTIAL)' if summary.get('partial') else ''}", "",
             f"{summary['n_archs']} of {summary['archs_planned']} architectures have both seeds "
             f"({', '.join(map(str, summary['seeds']))}); standalone: {summary['standalone_epochs']} epochs "
             "from the 2D checkpoint (center init).", "",
             "| recipe | archs | Kendall τ [95% CI] | Spearman ρ | Pearson r | precision@5 | regret (points) "
             "| supernet steps |", "|---|---|---|---|---|---|---|---|"]
    for r, e in summary["recipes"].items():
        p5 = next((v for k, v in e.items() if k.startswith("precision_at_")), None)
        p5k = next((k for k in e if k.startswith("precision_at_")), "precision_at_5")
        lines.append(f"| {r} | {e['kendall_tau']['n']} | {_ci(e['kendall_tau'])} | {_ci(e['spearman_rho'])} | "
                     f"{_ci(e['pearson_r'])} | {_ci(p5)}{'' if p5k == 'precision_at_5' else ' (' + p5k + ')'} | "
                     f"{e['regret_top1']['value']:.2f} | {e.get('supernet_steps', '–')} |")
    lo = summary.get("learners_only")
    if lo and "seed_ceiling" in lo:
        lines += ["", f"Post-hoc, on the {lo['archs']} architectures whose seeds both reached "
                      f"{lo['threshold_top1']:.0f}%: seed-to-seed τ {_ci(lo['seed_ceiling'])}; "
                  + "; ".join(f"{r} {_ci(lo[r])}" for r in RECIPES if r in lo) + "."]
    if summary.get("recipe_comparisons"):
        lines += ["", "| recipes | τ difference [paired 95% CI] |", "|---|---|"]
        for c in summary["recipe_comparisons"]:
            lo, hi = c["ci95"]
            lines.append(f"| {c['a']} − {c['b']} | {c['kendall_tau_difference']:+.2f} [{lo:+.2f}, {hi:+.2f}] |")
    if summary.get("demo_recipe"):
        lines += ["", f"`nas demo` recipe: **{summary['demo_recipe']['choice']}** ({summary['demo_recipe']['reason']})."]
    c = summary.get("seed_ceiling")
    if c:
        lines += ["", f"Seed-to-seed ceiling: Kendall τ between the two standalone seeds = {_ci(c)} "
                      f"over {c['n']} architectures."]
    if "seed_precision_at_5" in summary:
        lines += ["", f"Seed-to-seed precision@5 (how many of seed 1's top 5 are in seed 0's): "
                      f"{summary['seed_precision_at_5']:.2f}."]
    if "plateau" in summary:
        p = summary["plateau"]
        lines += ["", f"Chance plateau (top-1 < {p['threshold_top1']:.0f}%): {p['runs_at_chance']} of {p['runs']} "
                      f"runs; architectures with both seeds learned {p['archs_both_seeds_learned']}, both at chance "
                      f"{p['archs_both_at_chance']}, seeds disagreeing {p['archs_seeds_disagree']}."]
    if len(frame):
        wide = frame.pivot(index="arch", columns="seed", values="top1")
        lines += ["", "| architecture | " + " | ".join(f"seed {s}" for s in wide.columns) + " |",
                  "|---|" + "---|" * len(wide.columns)]
        for arch, row in wide.loc[wide.mean(axis=1).sort_values(ascending=False).index].iterrows():
            lines.append(f"| `{arch}` | " + " | ".join("–" if v != v else f"{v:.1f}" for v in row) + " |")
    return "\n".join(lines) + "\n"


SEARCH_FILES = ("results.csv", "best_arch.json", "best_arch.txt", "pareto.csv", "search_config.yaml",
                "cost_table.json", "outcomes.npz")


def copy_searches(work: Path, out: Path) -> None:
    """Each finished greedy search's raw outputs (results with SE, per-clip outcomes, the best
    architecture with its confidence section) into ``out/search/<recipe>/``."""
    from supernet.utils.io import atomic_write

    for recipe in RECIPES:
        folder = work / f"search-{recipe}"
        if (folder / "best_arch.txt").exists():
            for name in SEARCH_FILES:
                if (folder / name).exists():
                    data = (folder / name).read_bytes()
                    atomic_write(out / "search" / recipe / name, lambda f, data=data: f.write(data))


def stage_report(work: Path, out: Path, archs: list[tuple[str, str]], epochs: int) -> dict:
    from nas.plots import plot_correlation
    from supernet.registry import build_model

    two_d = work / "2d" / "model.pt"
    frame = standalone_table(work, archs, epochs, two_d)
    complete = frame.groupby("arch")["seed"].nunique().eq(len(SEEDS)).sum() if len(frame) else 0
    partial = complete < len(archs)
    atomic_write_text(out / "standalone.csv", frame.to_csv(index=False))
    model = build_model("mlp3d-nano", INPUT, CLASSES)
    summary = {"partial": bool(partial), "n_archs": int(complete), "archs_planned": len(archs),
               "seeds": list(SEEDS), "standalone_epochs": epochs, "recipes": {}}
    if len(frame) and complete >= 3:
        wide = frame.pivot(index="arch", columns="seed", values="top1").dropna()
        from nas.stats import seed_ceiling
        c = seed_ceiling(wide[list(SEEDS)].to_numpy())
        summary["seed_ceiling"] = {"value": c.value, "ci95": [c.low, c.high], "n": c.n}
        from nas.stats import seed_precision_at_k      # the noise reference of precision@5: seed 0 vs seed 1
        summary["seed_precision_at_5"] = seed_precision_at_k(wide[list(SEEDS)].to_numpy(), min(5, len(wide)))
        summary["standalone_top1"] = {"mean": float(wide.mean(axis=1).mean()),
                                      "min": float(wide.mean(axis=1).min()), "max": float(wide.mean(axis=1).max()),
                                      "mean_abs_seed_diff": float((wide[SEEDS[0]] - wide[SEEDS[1]]).abs().mean())}
        learned = wide[list(SEEDS)] >= PLATEAU_TOP1        # a diagnostic of the plateau, not a filter
        summary["plateau"] = {"threshold_top1": PLATEAU_TOP1, "runs": int(learned.size),
                              "runs_at_chance": int((~learned).to_numpy().sum()),
                              "archs_both_seeds_learned": int(learned.all(axis=1).sum()),
                              "archs_both_at_chance": int((~learned).all(axis=1).sum()),
                              "archs_seeds_disagree": int((learned.any(axis=1) & ~learned.all(axis=1)).sum())}
    copy_searches(work, out)
    joined_by_recipe = {}
    for recipe in RECIPES:
        corr = work / f"corr-{recipe}" / "correlation.csv"
        if not corr.exists():
            continue
        est = pd.read_csv(corr).rename(columns={"estimated_acc": "estimated_top1"})
        est = est[["arch", "canonical_arch", "estimated_top1", "estimated_loss", "gflops"]]
        atomic_write_text(out / f"estimates_{recipe}.csv", est.to_csv(index=False))
        if complete < 3:
            continue
        stats, joined = ranking_report(frame, est)
        joined_by_recipe[recipe] = joined
        atomic_write_text(out / f"correlation_{recipe}.csv", joined.to_csv(index=False))
        plot_correlation(joined.rename(columns={"estimated_top1": "estimated_acc"}), out / f"fig6_{recipe}",
                         title=f"{recipe} supernet" + (" (partial)" if partial else ""))
        searched = (work / f"search-{recipe}" / "best_arch.txt")
        entry = {**stats, "estimates_clips": VAL_CLIPS}
        if searched.exists():
            arch = str(model.space.canonical(model.space.parse(searched.read_text().strip())))
            hit = joined[joined["arch"] == arch]
            entry["greedy_arch"] = arch
            entry["greedy_standalone_top1"] = float(hit["real_acc"].iloc[0]) if len(hit) else None
        metrics = work / f"supernet-{recipe}" / "metrics.csv"
        if metrics.exists():
            m = pd.read_csv(metrics)
            entry["supernet_steps"] = int(m["step"].max())
            entry["supernet_last_epoch_train_acc"] = float(m[m["epoch"] == m["epoch"].max()]["acc"].mean())
        summary["recipes"][recipe] = entry
    if joined_by_recipe and "plateau" in summary:
        summary["learners_only"] = learners_only(frame, joined_by_recipe)
    if joined_by_recipe:
        summary["recipe_comparisons"] = compare_recipes(joined_by_recipe)
        summary["demo_recipe"] = demo_recipe(summary["recipes"], summary["recipe_comparisons"])
    if summary["recipes"] and "seed_ceiling" in summary:
        plot_summary(summary, out / "tau_summary")
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "report.md", report_markdown(summary, frame))
    atomic_write_json(out / "benchmark.json", {
        "name": "vidnas ranking-fidelity standalone table (MLP-3D-nano, synthetic-temporal, T'=8)",
        "space": model.space.config(), "model_spec": model.spec, "input_size": list(INPUT),
        "protocol": {"dataset": "synthetic-temporal (bundled), 32 frames of 32x32, 10 classes, 500 train / "
                                "200 val clips per class, generator seed 0",
                     "init": "center-2d: CycleMLP-nano trained on single frames of synthetic-appearance "
                             "(experiments/configs/pretrain_cyclemlp_nano_2d_cpu.yaml), center initialization",
                     "standalone_config": str(CONFIG_STANDALONE.relative_to(ROOT)), "epochs": epochs,
                     "seeds": list(SEEDS), "metric": "single-view top-1 (%) on the 2000 val clips",
                     "command": "python experiments/ranking_fidelity.py"},
        "partial": bool(partial)})
    print(json.dumps({k: v for k, v in summary.items() if k != "recipes"}, indent=1))
    for r, e in summary["recipes"].items():
        print(f"{r}: tau {e['kendall_tau']['value']:.3f} {e['kendall_tau']['ci95']}, "
              f"precision@5 {e.get('precision_at_5', {}).get('value')}, regret {e['regret_top1']['value']:.2f}")
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage", default="all",
                   choices=["all", "pilot", "supernets", "archs", "standalone", "search", "estimates", "report"])
    p.add_argument("--work", default="runs/ranking_fidelity", help="checkpoints and runs (not committed)")
    p.add_argument("--out", default="experiments/results/ranking_fidelity", help="committed results")
    p.add_argument("--random-archs", type=int, default=17, help="random architectures besides the named "
                   "variants (14) and the greedy results (<= 3)")
    p.add_argument("--epochs", type=int, help="standalone epochs (default: the pilot's choice)")
    p.add_argument("--jobs", type=int, default=2, help="processes at once (one thread each)")
    p.add_argument("--estimates-only", action="store_true", help="estimates stage: shared-weight "
                   "estimates only, no standalone training (the report then covers the finished runs)")
    args = p.parse_args(argv)
    work, out = Path(args.work).resolve(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stage_2d(work)
    if args.stage == "pilot":
        stage_pilot(work, out, args.jobs)
        return 0
    if args.stage in ("all", "supernets"):
        stage_supernets(work, work / "2d" / "model.pt", args.jobs)
        if args.stage == "supernets":
            return 0
    archs_file = out / "archs.txt"
    if not archs_file.exists() or args.stage == "archs":          # named + random, before any search
        write_archs(archs_file, architecture_list({}, args.random_archs))
    if args.stage == "archs":
        return 0
    epochs = args.epochs or report_pilot(work, out)
    if epochs is None:
        raise SystemExit("the standalone schedule is not fixed yet: run --stage pilot first (or pass --epochs)")
    if args.stage in ("all", "standalone"):
        stage_standalone(work, read_archs(archs_file), epochs, args.jobs)
    if args.stage in ("all", "search"):
        searched = stage_search(work, args.jobs)
        archs = read_archs(archs_file)
        listed = {a for _, a in archs}
        full = architecture_list(searched, args.random_archs)
        assert [a for _, a in full][:len(archs)] == [a for _, a in archs], "archs.txt changed"
        write_archs(archs_file, full)
        stage_standalone(work, [x for x in full if x[1] not in listed], epochs, args.jobs)
    if args.stage in ("all", "estimates"):
        plain = work / "archs_plain.txt"
        atomic_write_text(plain, "".join(a + "\n" for _, a in read_archs(archs_file)))
        stage_estimates(work, plain, epochs, args.estimates_only)
    stage_report(work, out, read_archs(archs_file), epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
