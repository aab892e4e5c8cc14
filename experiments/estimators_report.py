"""Every estimator on one standalone table with one set of statistics (issue 22, part 3, the
proxies' share): zero-cost proxies from `nas proxies` beside the supernet recipes' estimates.

    python experiments/estimators_report.py --table experiments/results/ranking_fidelity \\
        --proxies experiments/results/estimators_v1 --label v1

Per estimator, against the mean standalone top-1 over the table's seeds (`nas.stats`): Kendall
τ, Spearman ρ and Pearson r with percentile-bootstrap 95% intervals (architectures resampled),
precision@5, the paired bootstrap difference of τ against ``params`` (the same resampled
architectures for both), and the cost in CPU-seconds for all architectures (the proxies'
``<proxy>_seconds`` summed, plus the cost table for params and flops; a supernet's cost is its
training, given in steps where the table does not record CPU time). A proxy flagged degenerate
in proxies.json (relative spread below the threshold) gets no τ: its ranking is rounding noise.
Writes ``summary.json`` and ``report.md`` next to proxies.csv.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.stats import correlations, paired_difference, precision_at_k, seed_ceiling  # noqa: E402
from nas.utils import atomic_write_json, atomic_write_text  # noqa: E402

RECIPES = ("uniform", "sandwich", "fair")
BASELINE = "params"


def real_accuracy(table: Path) -> pd.DataFrame:
    frame = pd.read_csv(table / "standalone.csv")
    wide = frame.pivot(index="arch", columns="seed", values="top1").dropna()
    wide.columns = [f"seed{s}" for s in wide.columns]
    wide["real_acc"] = wide.mean(axis=1)
    return wide


def estimators(proxies_dir: Path, table: Path) -> tuple[dict[str, pd.Series], dict, dict]:
    """{name: estimate per arch}, {name: cost description}, proxies.json."""
    frame = pd.read_csv(proxies_dir / "proxies.csv").set_index("arch")
    info = json.loads((proxies_dir / "proxies.json").read_text())
    out, cost = {}, {}
    table_cpu = info.get("cost_table_cpu_seconds", 0.0)
    for name in info["proxies"]:
        out[name] = frame[name]
        seconds = float(frame[f"{name}_seconds"].sum())
        extra = table_cpu if name in ("params", "flops") else 0.0
        cost[name] = {"cpu_seconds": seconds + extra,
                      "what": "cost table once + lookups" if extra else "one call per architecture"}
    summary = table / "summary.json"
    steps = json.loads(summary.read_text())["recipes"] if summary.is_file() else {}
    for recipe in RECIPES:
        path = table / f"estimates_{recipe}.csv"
        if path.is_file():
            out[f"supernet_{recipe}"] = pd.read_csv(path).set_index("arch")["estimated_top1"]
            n = steps.get(recipe, {}).get("supernet_steps")
            cost[f"supernet_{recipe}"] = {"cpu_seconds": None, "what": f"supernet training ({n} steps after "
                                          "the shared 400-step warm start; CPU time not recorded in v1) + "
                                          "one evaluation on 2000 clips per architecture"}
    return out, cost, info


def _ci(d: dict | None, digits: int = 2, sign: bool = False) -> str:
    if not d or d.get("value") is None or not math.isfinite(d["value"]):
        return "–"
    f = f"{{:{'+' if sign else ''}.{digits}f}}"
    lo, hi = d["ci95"]
    return f"{f.format(d['value'])} [{f.format(lo)}, {f.format(hi)}]"


def report(table: Path, proxies_dir: Path, label: str, n_boot: int = 2000) -> dict:
    real = real_accuracy(table)
    ests, cost, info = estimators(proxies_dir, table)
    common = sorted(set(real.index).intersection(*(set(s.dropna().index) for s in ests.values()
                                                   if s.notna().any())))
    y = real.loc[common, "real_acc"].to_numpy()
    base = ests[BASELINE].loc[common].to_numpy()
    rows = {}
    for name, series in ests.items():
        entry = {"cost": cost[name]}
        flagged = info["proxies"].get(name, {})
        if flagged.get("degenerate"):
            entry.update(degenerate=True, relative_spread=flagged["relative_spread"])
            rows[name] = entry
            continue
        x = series.loc[common].to_numpy(dtype=float)
        if not np.isfinite(x).all():
            entry["undefined"] = flagged.get("note", "non-finite values")
            rows[name] = entry
            continue
        for c in correlations(x, y, n_boot=n_boot):
            entry[c.name] = {"value": c.value, "ci95": [c.low, c.high], "n": c.n}
        entry["precision_at_5"] = precision_at_k(x, y, 5)
        if name != BASELINE:
            d = paired_difference(x, base, y, n_boot=n_boot)
            entry["tau_minus_params"] = {"value": d.value, "ci95": [d.low, d.high], "n": d.n}
        if name in info["proxies"]:
            entry["relative_spread"] = info["proxies"][name]["relative_spread"]
        rows[name] = entry
    ceiling = seed_ceiling(real.loc[common, [c for c in real.columns if c.startswith("seed")]].to_numpy(),
                           n_boot=n_boot)
    summary = {"label": label, "table": str(table.relative_to(ROOT) if table.is_relative_to(ROOT) else table),
               "n_boot": n_boot, "n_archs": len(common), "seeds": [c for c in real.columns if c.startswith("seed")],
               "seed_ceiling": {"value": ceiling.value, "ci95": [ceiling.low, ceiling.high], "n": ceiling.n},
               "proxy_settings": {k: info[k] for k in ("model", "input", "seed", "batch", "degenerate_threshold")},
               "estimators": rows}
    return summary


def markdown(s: dict) -> str:
    lines = [f"# Every estimator on the {s['label']} table ({s['n_archs']} architectures x {len(s['seeds'])} seeds)", "",
             f"Standalone table: `{s['table']}/standalone.csv` (label **{s['label']}**; mean top-1 over seeds). "
             f"Seed-to-seed Kendall τ (the ceiling): {_ci(s['seed_ceiling'])}. 95% intervals: percentile "
             f"bootstrap over architectures, {s['n_boot']} resamples; τ − τ(params): paired bootstrap on the "
             "same resamples.", "",
             "| estimator | Kendall τ [95% CI] | Spearman ρ [95% CI] | precision@5 | τ − τ(params) [paired 95% CI] "
             "| cost, CPU-s for all archs |", "|---|---|---|---|---|---|"]
    for name, e in s["estimators"].items():
        c = e["cost"]["cpu_seconds"]
        cost = f"{c:.1f}" if c is not None else "training (see summary.json)"
        if e.get("degenerate"):
            lines.append(f"| {name} | degenerate (relative spread {e['relative_spread']:.1e}): not ranked | – | – | – | {cost} |")
            continue
        if "undefined" in e:
            lines.append(f"| {name} | undefined: {e['undefined']} | – | – | – | {cost} |")
            continue
        lines.append(f"| {name} | {_ci(e['kendall_tau'])} | {_ci(e['spearman_rho'])} | {e['precision_at_5']:.2f} | "
                     f"{_ci(e.get('tau_minus_params'), sign=True) if name != BASELINE else '(baseline)'} | {cost} |")
    p = s["proxy_settings"]
    lines += ["", f"Proxies: `nas proxies` on {p['model']} at {'x'.join(map(str, p['input']))}, seed {p['seed']}, "
              f"batch {p['batch']} (command.txt); degenerate threshold {p['degenerate_threshold']:g}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, required=True, help="folder with standalone.csv (and estimates_*.csv)")
    parser.add_argument("--proxies", type=Path, required=True, help="a nas proxies output folder")
    parser.add_argument("--label", required=True, help="the table's version label, e.g. v1")
    parser.add_argument("--n-boot", type=int, default=2000)
    args = parser.parse_args()
    s = report(args.table.resolve(), args.proxies.resolve(), args.label, args.n_boot)
    atomic_write_json(args.proxies / "summary.json", s)
    text = markdown(s)
    atomic_write_text(args.proxies / "report.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
