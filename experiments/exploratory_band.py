"""Exploratory, post hoc (ground-truth README, section 4): the supernet recipes and the
parameter count on the architectures whose seed-0 standalone run is above 80%, i.e. without
the bottom of table v2 (sr1, sr2, st2, st8 ...) that makes ranking easy. The cut was chosen
after the seed-0 results were seen, so nothing here is part of the protocol or its targets.

    python experiments/exploratory_band.py                 # seeds as the estimators report uses
    python experiments/exploratory_band.py --seeds 0 1     # the first version (seeds 0 and 1)

Prints Kendall τ with its percentile-bootstrap 95% interval against the mean top-1 over the
seeds, the paired τ difference of each recipe against ``params`` and each seed pair's τ, with
the same statistics as `experiments/estimators_report.py` (`nas.stats`, 2000 resamples).
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from experiments.estimators_report import real_accuracy  # noqa: E402
from experiments.ranking_fidelity import RECIPES  # noqa: E402
from nas.stats import correlations, paired_difference  # noqa: E402

TABLE = ROOT / "experiments" / "results" / "ground_truth" / "table_v2"
CUT = 80.0


def tau_text(x, y, n_boot: int) -> str:
    t = next(m for m in correlations(x, y, n_boot=n_boot) if m.name == "kendall_tau")
    return f"{t.value:.2f} [{t.low:.2f}, {t.high:.2f}]"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", help="seeds to average (default: real_accuracy's)")
    p.add_argument("--n-boot", type=int, default=2000)
    args = p.parse_args(argv)
    wide = real_accuracy(TABLE, args.seeds)
    band = wide[wide["seed0"] > CUT]
    y = band["real_acc"].to_numpy()
    seeds = [c for c in band.columns if c.startswith("seed")]
    print(f"{len(band)} of {len(wide)} architectures with seed 0 above {CUT:.0f}; mean over {', '.join(seeds)}")
    info = pd.read_csv(TABLE / "standalone.csv").drop_duplicates("arch").set_index("arch")
    params = info["params_m"].loc[band.index].to_numpy()
    print(f"params: tau {tau_text(params, y, args.n_boot)}")
    for r in RECIPES:
        est = pd.read_csv(TABLE / f"estimates_{r}.csv").set_index("arch")["estimated_top1"].loc[band.index].to_numpy()
        d = paired_difference(est, params, y, n_boot=args.n_boot)
        print(f"supernet {r}: tau {tau_text(est, y, args.n_boot)}; minus params {d.value:+.2f} [{d.low:+.2f}, {d.high:+.2f}]")
    for a, b in itertools.combinations(seeds, 2):
        print(f"{a} against {b}: tau {tau_text(band[a].to_numpy(), band[b].to_numpy(), args.n_boot)}")


if __name__ == "__main__":
    main()
