"""Bootstrap intervals: `nas.stats`'s measures (tau-b from sign matrices, rho and r in numpy)
against scipy's `kendalltau`, `spearmanr` and `pearsonr` on the same resamples, measured
alternately in one run; the intervals must come out the same.

The cases are what the reports compute: `seed_ceiling` of a 38-architecture x 3-seed table
(the v2 table's shape: 3 seed pairs per resample) and `correlations` of 34 estimates (v1's
shape: tau, rho and r). 2000 resamples each, as the reports use.

    python experiments/benchmarks/bench_stats.py [--n-boot 2000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from common import Row, print_table  # noqa: E402  (adds the repo to sys.path)

import nas.stats  # noqa: E402
from nas.stats import correlations, seed_ceiling  # noqa: E402


def timed(fn, repeats: int = 3) -> float:
    """Median wall seconds of `fn()` over `repeats` calls."""
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return sorted(times)[len(times) // 2]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-boot", type=int, default=2000)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    table = np.linspace(30, 85, 38)[:, None] + rng.normal(0, 3, (38, 3))
    est, real = rng.normal(size=34), rng.normal(size=34)
    cases = {"seed_ceiling, 38 archs x 3 seeds": lambda: seed_ceiling(table, n_boot=args.n_boot),
             "correlations, 34 archs": lambda: correlations(est, real, n_boot=args.n_boot)}
    ours_fns = dict(nas.stats.MEASURES)
    scipy_fns = nas.stats.SCIPY_MEASURES

    def interval(result) -> list[tuple[float, float, float]]:
        return [(c.value, c.low, c.high) for c in (result if isinstance(result, list) else [result])]
    rows = []
    for name, fn in cases.items():
        ours, base, same = [], [], True
        for _ in range(2):                                     # alternate: a slow spell hits both
            nas.stats.MEASURES.update(ours_fns)
            ours.append(timed(fn, 1))
            a = interval(fn())
            nas.stats.MEASURES.update(scipy_fns)
            base.append(timed(fn, 1))
            b = interval(fn())
            nas.stats.MEASURES.update(ours_fns)
            same = same and bool(np.allclose(a, b, atol=1e-12, rtol=0))
        o, b_ = min(ours), min(base)
        rows.append(Row(f"{name} (same intervals: {same})", o, b_, "s", ">= 3", b_ / o))
    print_table(f"Correlation bootstrap, {args.n_boot} resamples: numpy measures (ours) vs scipy (baseline)", rows,
                "ratio = scipy / ours (> 1: ours is faster); min of 2 alternating rounds each")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
