"""The papers' figures and search progress, with matplotlib (PNG and PDF).

* `plot_correlation`: MLP-3D Fig. 6 — real vs estimated accuracy, least-squares line with its
  95% confidence band, Kendall τ and Spearman ρ in the legend.
* `plot_variants`: Fig. 4 — top-1 vs GFLOPs of the named variants over group sizes, one line
  per variant, the searched architecture marked.
* `plot_arch`: Fig. 7 — an architecture block by block, stages separated, each block labelled
  with its choice and coloured by its size parameter (group size, chunk length) or by strategy.
* `plot_search`: objective of each evaluated architecture over time with the best so far, and
  the accuracy–GFLOPs scatter with its Pareto front (max V; min GFLOPs, and min C when C is
  latency), every point with its SE of V as an error bar (results with ``top1_se``); with a
  latency cost, a third panel of accuracy against latency.
* `plot_seed_pairs`: a benchmark table's top-1 under one seed against another, per seed pair
  (the ceiling any estimator's ranking is measured against).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from search_spaces.errors import InputFileError

from .search.engine import pareto_table  # noqa: E402
from .stats import correlations, least_squares_band  # noqa: E402
from .utils import atomic_write  # noqa: E402

VARIANT_STYLE = {"2d": ("2D (per frame)", "k", "o"), "sr": ("MLP-3D-SR", "tab:blue", "s"),
                 "lr": ("MLP-3D-LR", "tab:orange", "^"), "st": ("MLP-3D-ST", "tab:green", "D"),
                 "sr-lr": ("MLP-3D-SR-LR", "tab:red", "v"), "sr-sw": ("MLP-3D-SR-SW", "tab:purple", "P")}


def save_figure(fig, out: str | Path) -> list[Path]:
    """Write `out`.png and `out`.pdf (folders created) and close the figure."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    for p in paths:                           # atomically: a killed run leaves no torn figure
        atomic_write(p, lambda f, p=p: fig.savefig(f, format=p.suffix[1:], dpi=150, bbox_inches="tight"))
    plt.close(fig)
    return paths


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputFileError(f"{what} needs columns {list(columns)}; missing {missing} (have {list(df.columns)})")


def plot_correlation(df: pd.DataFrame, out: str | Path, title: str = "", labels: bool = False,
                     error_bars: bool = False) -> list[Path]:
    """Fig. 6 from columns ``estimated_acc`` and ``real_acc`` (percent). `labels`: each point
    named by its ``arch``; `error_bars`: ± one SE from ``estimated_se`` and ``real_se``
    (written by `nas correlate`)."""
    _require(df, ["estimated_acc", "real_acc"] + (["arch"] if labels else [])
             + (["estimated_se", "real_se"] if error_bars else []), "the correlation plot"
             + (" with labels" if labels else "") + (" with error bars" if error_bars else ""))
    x, y = df["estimated_acc"].to_numpy(float), df["real_acc"].to_numpy(float)
    corr = {c.name: c for c in correlations(x, y)}
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    pad = 0.05 * max(np.ptp(x), 1e-6)
    grid = np.linspace(x.min() - pad, x.max() + pad, 100)
    fit, lo, hi, (a, b) = least_squares_band(x, y, grid)
    ax.fill_between(grid, lo, hi, color="tab:blue", alpha=0.18, label="95% confidence band")
    ax.plot(grid, fit, color="tab:blue", lw=1.5, label=f"least squares: y = {a:.2f} + {b:.2f}x")
    scatter_kw = {"c": df["gflops"], "cmap": "viridis"} if "gflops" in df else {"color": "tab:red"}
    pts = ax.scatter(x, y, s=36, edgecolor="k", linewidth=0.5, zorder=3,
                     label=f"architectures (n={len(x)})", **scatter_kw)
    if "gflops" in df:
        fig.colorbar(pts, ax=ax, label="GFLOPs")
    if error_bars:
        ax.errorbar(x, y, xerr=df["estimated_se"].to_numpy(float), yerr=df["real_se"].to_numpy(float),
                    fmt="none", ecolor="0.35", elinewidth=0.7, capsize=1.5, zorder=2, label="± 1 SE")
    if labels:
        for xi, yi, name in zip(x, y, df["arch"]):
            ax.annotate(str(name), (xi, yi), textcoords="offset points", xytext=(3, 3), fontsize=5,
                        color="0.25")
    tau, rho = corr["kendall_tau"], corr["spearman_rho"]
    ax.plot([], [], " ", label=f"Kendall τ = {tau.value:.2f} [{tau.low:.2f}, {tau.high:.2f}]")
    ax.plot([], [], " ", label=f"Spearman ρ = {rho.value:.2f} [{rho.low:.2f}, {rho.high:.2f}]")
    ax.set_xlabel("estimated top-1 with shared weights (%)")
    ax.set_ylabel("real top-1 trained standalone (%)")
    ax.set_title(title or "Real vs estimated accuracy")
    ax.legend(fontsize=7, loc="best", framealpha=0.9)
    ax.grid(alpha=0.3)
    return save_figure(fig, out)


def plot_variants(df: pd.DataFrame, out: str | Path, searched: dict | None = None,
                  title: str = "") -> list[Path]:
    """Fig. 4 from columns ``variant``, ``group_size``, ``gflops``, ``top1`` (percent).

    `searched`: optional {"gflops": ..., "top1": ..., "label": ...} drawn as a star.
    """
    _require(df, ["variant", "group_size", "gflops", "top1"], "the variants plot")
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for variant, rows in df.groupby("variant", sort=False):
        rows = rows.sort_values("group_size")
        label, color, marker = VARIANT_STYLE.get(variant, (variant, None, "o"))
        ax.plot(rows["gflops"], rows["top1"], marker=marker, color=color, label=label, lw=1.3, ms=5)
    for (gflops, size), rows in df.groupby(["gflops", "group_size"]):   # one S label per column
        ax.annotate(f"S={int(size)}", (gflops, rows["top1"].min()), textcoords="offset points",
                    xytext=(0, -12), ha="center", fontsize=7, color="0.3")
    ax.margins(x=0.08, y=0.08)
    if searched:
        ax.scatter([searched["gflops"]], [searched["top1"]], marker="*", s=220, color="gold",
                   edgecolor="k", zorder=5, label=searched.get("label", "searched"))
    ax.set_xlabel("GFLOPs per clip")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title or "MLP-3D variants: accuracy vs computation")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return save_figure(fig, out)


def _size_field(choice, space=None) -> str | None:
    """The field that colours the architecture plot: the space's `plot_field`, else the first
    integer field of a choice (group size, chunk length), if any."""
    if space is not None and getattr(space, "plot_field", None):
        return space.plot_field
    for f in dataclasses.fields(choice):
        if isinstance(getattr(choice, f.name), int) and not isinstance(getattr(choice, f.name), bool):
            return f.name
    return None


def arch_legend(space, arch) -> tuple[list, list[tuple[str, Any]]]:
    """Box colours and legend (label, colour) of the architecture plot; labels come from the
    space (`SearchSpace.plot_field` / `plot_labels`)."""
    field = _size_field(arch[0], space)
    if field:
        label = getattr(space, "plot_labels", {}).get(field, field.replace("_", " "))
        values = sorted({getattr(c, field) for c in space.choices(0)} | {getattr(c, field) for c in arch})
        cmap = plt.get_cmap("viridis", max(len(values), 2))
        color_of = {v: cmap(i) for i, v in enumerate(values)}
        return [color_of[getattr(c, field)] for c in arch], [(f"{label} {v}", color_of[v]) for v in values]
    kinds = sorted({c.token for c in arch})
    cmap = plt.get_cmap("tab10")
    color_of = {k: cmap(i % 10) for i, k in enumerate(kinds)}
    return [color_of[c.token] for c in arch], [(k, color_of[k]) for k in kinds]


def final_decisions(best: dict | None) -> dict[int, dict]:
    """Block -> the last decision a search made on it (greedy's last pass), from best_arch.json's
    ``confidence`` section; empty for strategies that make no per-block decisions."""
    conf = (best or {}).get("confidence") or {}
    out: dict[int, dict] = {}
    for d in (conf.get("significant_decisions") or []) + (conf.get("decisions_inside_noise") or []):
        if int(d["block"]) not in out or int(d["pass"]) >= int(out[int(d["block"])]["pass"]):
            out[int(d["block"])] = d
    return out


def score_line(best: dict) -> str:
    """"V = 78.6 ± 1.8% on 500 clips, 0.0385 GFLOPs" from best_arch.json."""
    se = best.get("top1_se")
    clips = best.get("clips") or (best.get("confidence") or {}).get("clips")
    return (f"V = {best['top1_pct']:.1f}" + (f" ± {se:.1f}" if se is not None else "") + "%"
            + (f" on {clips} clips" if clips else "") + f", {best['gflops']:.4g} GFLOPs")


def plot_arch(space, arch, out: str | Path, title: str = "", best: dict | None = None) -> list[Path]:
    """Fig. 7: one box per unit in network order, stages separated, coloured by choice size,
    with a key to the token letters (`SearchSpace.plot_key`, e.g. the GTM types). With `best`
    (a search's best_arch.json): V ± SE and GFLOPs in the title, and the units whose last
    decision was inside the noise (not significant at the search's confidence) hatched."""
    arch = space.parse(arch)
    colors, legend = arch_legend(space, arch)
    decisions = final_decisions(best)
    n = len(arch)
    gaps = [i for i in range(1, n) if space.unit_stages[i] != space.unit_stages[i - 1]]
    xs, x = [], 0.0
    for i in range(n):
        if i in gaps:
            x += 0.6
        xs.append(x)
        x += 1.0
    fig, ax = plt.subplots(figsize=(max(6.0, 0.62 * x + 1.5), 2.6))
    for i, (xi, c, color) in enumerate(zip(xs, arch, colors)):
        noisy = i in decisions and not decisions[i]["significant"]
        ax.add_patch(plt.Rectangle((xi, 0), 0.9, 1.0, facecolor=color, edgecolor="k", lw=0.8,
                                   hatch="///" if noisy else None))
        r, g, b, _ = color
        ink = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
        ax.text(xi + 0.45, 0.5, c.token, ha="center", va="center", fontsize=7, rotation=90, color=ink,
                bbox={"facecolor": color, "edgecolor": "none", "pad": 0.5} if noisy else None)
    stage_starts = [0] + gaps
    for k, s in enumerate(stage_starts):
        e = (stage_starts[k + 1] if k + 1 < len(stage_starts) else n) - 1
        ax.text((xs[s] + xs[e] + 0.9) / 2, -0.18, f"stage {space.unit_stages[s] + 1}", ha="center",
                va="top", fontsize=8)
    for g in gaps:
        ax.axvline(xs[g] - 0.35, color="grey", ls="--", lw=0.8)
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=col, edgecolor="k") for _, col in legend]
    ax.legend(handles, [lab for lab, _ in legend], fontsize=7, loc="upper center",
                      bbox_to_anchor=(0.5, 0.02), ncol=min(len(legend), 6), frameon=False)
    key_handles, key_labels = [], []
    tokens = {c.token for c in arch} | {c.token for i in range(n) for c in space.choices(i)}
    for letters, meaning in space.plot_key.items():       # the letters the space's tokens use
        if any(t == letters or (t.startswith(letters) and t[len(letters):].isdigit()) for t in tokens):
            key_handles.append(plt.Line2D([], [], ls="", marker=""))
            key_labels.append(f"{letters} = {meaning}")
    if decisions:
        significant = sum(d["significant"] for d in decisions.values())
        level = (best.get("confidence") or {}).get("level")
        key_handles += [plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="k"),
                        plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="k", hatch="///")]
        key_labels += [f"decision significant ({significant} of {len(decisions)})",
                       f"decision inside the noise ({len(decisions) - significant})"
                       + (f", level {level:g}" if level else "")]
    if key_handles:                          # a figure legend: kept whole by bbox_inches="tight"
        fig.legend(key_handles, key_labels, fontsize=7, loc="upper left", bbox_to_anchor=(0.9, 0.85),
                   frameon=False, handlelength=1.2 if decisions else 0, handletextpad=0.4)
    ax.set_xlim(-0.2, x)
    ax.set_ylim(-0.75, 1.15)
    ax.axis("off")
    head = title or f"{space.name}: {arch}"
    if best:
        head += "\n" + score_line(best) + (f"; {best['strategy']} search" if best.get("strategy") else "")
    ax.set_title(head, fontsize=9)
    return save_figure(fig, out)


def search_title(df: pd.DataFrame, best: dict | None) -> str:
    """What was searched: strategy, checkpoint and validation clips (from best_arch.json and
    the results' ``strategy`` / ``clips`` columns)."""
    best = best or {}
    strategy = best.get("strategy") or (df["strategy"].iloc[0] if "strategy" in df and len(df) else None)
    checkpoint = (best.get("context") or {}).get("checkpoint")
    clips = best.get("clips") or (int(df["clips"].max()) if "clips" in df and len(df) else None)
    parts = [f"{strategy} search" if strategy else "search"]
    if checkpoint:
        parts.append(f"of {Path(str(checkpoint)).parent.name}/{Path(str(checkpoint)).name}")
    if clips:
        parts.append(f"on {clips} validation clips")
    if best.get("alpha") is not None:
        parts.append(f"(α = {best['alpha']:g})")
    return " ".join(parts)


def plot_search(df: pd.DataFrame, out: str | Path, title: str = "", best: dict | None = None) -> list[Path]:
    """Search progress from a search's ``results.csv`` (columns ``objective``, ``top1_pct``,
    ``gflops``, in evaluation order; ``top1_se``, ``cost`` and ``cost_unit`` when present).
    With `best` (the search's best_arch.json, its ``context``): chance level drawn on every
    panel and the GFLOPs axis spanning the whole space (smallest to largest architecture), so
    that a cluster of evaluated points is seen against what the space offers. The title names
    the strategy, checkpoint and validation clips."""
    _require(df, ["objective", "top1_pct", "gflops"], "the search plot")
    context = (best or {}).get("context") or {}
    chance, space_gflops = context.get("chance_pct"), context.get("space_gflops")
    other = "cost_unit" in df and len(df) and (df["cost_unit"] != "GFLOPs").any()
    fig, axes = plt.subplots(1, 3 if other else 2, figsize=(15 if other else 10, 4))
    ax1 = axes[0]
    order = np.arange(1, len(df) + 1)
    ax1.scatter(order, df["objective"], s=10, alpha=0.6, label="evaluated architecture")
    ax1.plot(order, np.maximum.accumulate(df["objective"].to_numpy(float)), color="tab:red", lw=1.5,
             label="best so far")
    ax1.set_xlabel("evaluation")
    ax1.set_ylabel("objective V − αC (%)")
    ax1.ticklabel_format(axis="y", useOffset=False)
    front = pareto_table(df)                 # complete architectures only (no greedy '*' rows)
    se = "top1_se" in df
    panels = [(axes[1], "gflops", "GFLOPs per clip")]
    if other:
        panels.append((axes[2], "cost", f"C ({df['cost_unit'].iloc[0]})"))
    for ax, col, label in panels:
        ax.errorbar(df[col], df["top1_pct"], yerr=df["top1_se"] if se else None, fmt="o", ms=3,
                    alpha=0.45, elinewidth=0.6, label="evaluated architecture" + (" (± SE)" if se else ""))
        f = front.sort_values(col)
        ax.errorbar(f[col], f["top1_pct"], yerr=f["top1_se"] if se else None, fmt="-o", color="tab:red",
                    ms=4, lw=1.3, capsize=2, label="Pareto front" + (" (V, GFLOPs, C)" if other else ""))
        ax.set_xlabel(label)
        ax.set_ylabel("estimated top-1 (%)")
    if space_gflops:
        lo, hi = space_gflops
        ax = axes[1]
        for value, what in ((lo, "smallest"), (hi, "largest")):
            ax.axvline(value, color="0.4", ls="--", lw=0.8)
            ax.annotate(f"{what} in the space", (value, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(2, -2), textcoords="offset points", rotation=90, va="top", fontsize=6,
                        color="0.3")
        pad = 0.04 * max(hi - lo, 1e-12)
        data = df["gflops"].to_numpy(float)
        ax.set_xlim(min(lo, data.min()) - pad, max(hi, data.max()) + pad)
    for ax in axes:
        if chance is not None:
            ax.axhline(chance, color="0.3", ls=":", lw=1.0, label=f"chance ({chance:.3g}%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or search_title(df, best), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)


def plot_seed_pairs(wide: pd.DataFrame, pairs: Sequence[dict], out: str | Path, title: str = "",
                    chance: float | None = None) -> list[Path]:
    """Standalone top-1 of one seed against another, one column per seed pair: the noise floor of
    any ranking measured on the table. `wide`: one row per architecture, one column per seed
    (NaN where a run has not finished). `pairs`: the figures to print on each panel, as
    ``experiments/ground_truth.py``'s ``seed_pairs`` writes them (``seeds``, ``n``,
    ``kendall_tau``, ``ci95``, ``seed_sd``); only those pairs are drawn. The top row spans every
    architecture (with 2× `chance` when given); the bottom row zooms on the upper three quarters
    of them, where most networks sit a few points apart."""
    if not pairs:
        raise InputFileError("the seed-pair plot needs at least one seed pair with 3 or more architectures "
                             "finished under both seeds; got none")
    _require(wide, [s for p in pairs for s in p["seeds"]], "the seed-pair plot")
    fig, axes = plt.subplots(2, len(pairs), figsize=(4.4 * len(pairs), 8.4), squeeze=False)
    for (ax, zoom), p in zip(axes.T, pairs):
        a, b = p["seeds"]
        both = wide[[a, b]].dropna()
        x, y = both[a].to_numpy(float), both[b].to_numpy(float)
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
        pad = 0.05 * max(hi - lo, 1.0)
        cut = np.quantile(np.minimum(x, y), 0.25)
        near = (x >= cut) & (y >= cut)
        spans = ((ax, (min(lo, 2 * chance) if chance is not None else lo) - pad, hi + pad, "every architecture"),
                 (zoom, min(x[near].min(), y[near].min()) - 0.5, max(x[near].max(), y[near].max()) + 0.5,
                  f"zoom: the {int(near.sum())} of {len(x)} at or above the lower quartile"))
        for axis, l, h, what in spans:
            axis.plot([l, h], [l, h], color="0.5", ls="--", lw=0.8, label="y = x")
            axis.scatter(x, y, s=30, edgecolor="k", linewidth=0.4, color="tab:blue", zorder=3)
            axis.set_xlim(l, h)
            axis.set_ylim(l, h)
            axis.set_aspect("equal")
            axis.grid(alpha=0.3)
            axis.set_title(what, fontsize=8)
            axis.set_xlabel(f"top-1, seed {a} (%)")
            axis.set_ylabel(f"top-1, seed {b} (%)")
        if chance is not None:
            ax.axhline(2 * chance, color="tab:red", ls=":", lw=0.9, label=f"2× chance ({2 * chance:.3g}%)")
            ax.axvline(2 * chance, color="tab:red", ls=":", lw=0.9)
        lo_ci, hi_ci = p["ci95"]
        ax.plot([], [], " ", label=f"Kendall τ = {p['kendall_tau']:.2f} [{lo_ci:.2f}, {hi_ci:.2f}]")
        ax.plot([], [], " ", label=f"seed SD = {p['seed_sd']:.2f} points, n = {p['n']}")
        ax.legend(fontsize=7, loc="upper left", framealpha=0.9)
    fig.suptitle(title or "Standalone top-1: one seed against another", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)
