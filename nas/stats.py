"""Rank and linear correlation between estimated (shared-weight) and real (standalone) accuracy,
with percentile-bootstrap 95% intervals (MLP-3D Sec. 4.3, Fig. 6), and the ranking measures a
NAS user acts on: precision@k, regret, and the seed-to-seed ceiling."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from search_spaces.errors import VidnasInputError

PAIRWISE_TAU_MAX_N = 3000      # above this many points the n x n sign matrices cost more than scipy's sort
BATCH_ELEMENTS = 4_000_000     # resamples x n x n sign-matrix entries held at once by the bootstrap


def _undefined_as_nan(num, denom):
    """num / denom, NaN where denom is 0 (a constant side) or NaN; a float for 0-d input."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def kendall_tau(x, y):
    """Kendall's tau-b over the last axis, the value `scipy.stats.kendalltau` gives (a pair tied
    in x or y drops out of that side's count): sum(sx * sy) / sqrt(sum(sx^2) * sum(sy^2)) over
    the sign matrices of all pairs (each pair counted twice on both sides, which cancels).
    Stacked resamples (k, n) give k values in one pass: the bootstrap's thousands of small
    calls are what scipy's per-call setup makes slow (`experiments/benchmarks/bench_stats.py`).
    Inputs longer than `PAIRWISE_TAU_MAX_N` go to scipy, a row at a time."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape[-1] > PAIRWISE_TAU_MAX_N:
        return SCIPY_MEASURES["kendall_tau"](x, y)
    sx, sy = np.sign(x[..., :, None] - x[..., None, :]), np.sign(y[..., :, None] - y[..., None, :])
    return _undefined_as_nan((sx * sy).sum((-2, -1)), np.sqrt((sx * sx).sum((-2, -1)) * (sy * sy).sum((-2, -1))))


def pearson_r(x, y):
    """Pearson's r over the last axis (as `scipy.stats.pearsonr`, clipped to [-1, 1])."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    xm, ym = x - x.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)
    r = np.clip(_undefined_as_nan((xm * ym).sum(-1), np.sqrt((xm * xm).sum(-1) * (ym * ym).sum(-1))), -1.0, 1.0)
    return float(r) if r.ndim == 0 else r


def spearman_rho(x, y):
    """Spearman's rho over the last axis: Pearson's r of the ranks, ties given their average
    rank (`scipy.stats.spearmanr`)."""
    return pearson_r(stats.rankdata(x, axis=-1), stats.rankdata(y, axis=-1))


def _rowwise(scipy_fn):
    """A scipy correlation as a measure below: a float for 1-D input, one value per row for (k, n)."""
    def measure(x, y):
        if np.ndim(x) == 1:
            return float(scipy_fn(x, y).statistic)
        return np.array([scipy_fn(a, b).statistic for a, b in zip(x, y)], dtype=float)
    return measure


# name -> measure(x, y) over the last axis: a float for 1-D input, one value per row for (k, n)
MEASURES = {"kendall_tau": kendall_tau, "spearman_rho": spearman_rho, "pearson_r": pearson_r}
# the same measures computed by scipy, call by call: the reference MEASURES must equal
# (tests/nas/test_correlate.py, experiments/benchmarks/bench_stats.py), and tau's path for long inputs
SCIPY_MEASURES = {"kendall_tau": _rowwise(stats.kendalltau), "spearman_rho": _rowwise(stats.spearmanr),
                  "pearson_r": _rowwise(stats.pearsonr)}


@dataclass
class Correlation:
    name: str
    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.name} = {self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def _bootstrap(statistic, n: int, n_boot: int, seed: int, level: float) -> tuple[float, float, float]:
    """`statistic` on all `n` rows, and its percentile interval over `n_boot` resamples of the
    rows with replacement; resamples where the statistic is undefined (NaN) are dropped.
    `statistic` takes a (k, n) array of row indices, k resamples at once, and returns k values
    (a measure of MEASURES is NaN where a side is constant). The resamples are drawn one by
    one, so the generator stream is the same whatever the batch size."""
    rng = np.random.default_rng(seed)
    rows = np.stack([rng.integers(0, n, n) for _ in range(n_boot)]) if n_boot else np.empty((0, n), int)
    step = max(1, BATCH_ELEMENTS // max(n * n, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(np.asarray(statistic(np.arange(n)[None]), dtype=float).reshape(-1)[0])
        boots = np.concatenate([np.asarray(statistic(rows[i:i + step]), dtype=float).reshape(-1)
                                for i in range(0, n_boot, step)] or [np.empty(0)])
    boots = boots[np.isfinite(boots)]
    if not len(boots):
        return value, float("nan"), float("nan")
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return value, float(lo), float(hi)


def correlations(estimated, real, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> list[Correlation]:
    """Kendall τ, Spearman ρ and Pearson r with percentile-bootstrap intervals (pairs resampled).

    Why not `scipy.stats.bootstrap(paired=True, method="percentile")`: tried on the same data
    it gives the same intervals within Monte-Carlo error (±0.02 at 2000 resamples) as long as
    no resample is constant, but one resample whose estimates (or real accuracies) are all
    equal, where a correlation is undefined, makes its whole interval NaN. Few architectures
    with tied accuracies hit that; here such resamples are dropped (tested)."""
    x = np.asarray(estimated, dtype=float)
    y = np.asarray(real, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"estimated and real accuracies must be 1-D of one length, got {x.shape} and {y.shape}")
    if len(x) < 3:
        raise VidnasInputError(f"correlation needs at least 3 architectures, got {len(x)}")
    out = []
    for name, fn in MEASURES.items():                 # one seed: every measure sees the same resamples
        out.append(Correlation(name, *_bootstrap(lambda rows, fn=fn: fn(x[rows], y[rows]), len(x), n_boot, seed, level),
                               len(x)))
    return out


def least_squares_band(x, y, grid, level: float = 0.95):
    """Least-squares line y = a + b x on `grid`, with the `level` confidence band of the mean."""
    x, y, grid = (np.asarray(v, dtype=float) for v in (x, y, grid))
    n = len(x)
    if np.ptp(x) == 0:                          # no spread: a flat line through the mean
        return np.full_like(grid, y.mean()), np.full_like(grid, y.min()), np.full_like(grid, y.max()), (y.mean(), 0.0)
    b, a = np.polyfit(x, y, 1)
    fit = a + b * grid
    resid = y - (a + b * x)
    dof = max(n - 2, 1)
    s = np.sqrt(np.sum(resid ** 2) / dof)
    sxx = np.sum((x - x.mean()) ** 2)
    t = stats.t.ppf((1 + level) / 2, dof)
    half = t * s * np.sqrt(1.0 / n + (grid - x.mean()) ** 2 / max(sxx, 1e-12))
    return fit, fit - half, fit + half, (a, b)


def _order(values) -> np.ndarray:
    """Indices from best to worst (stable: ties keep the given order)."""
    return np.argsort(-np.asarray(values, dtype=float), kind="stable")


def precision_at_k(estimated, real, k: int = 5) -> float:
    """Share of the real top-k that the estimate also puts in its top-k (ties: first listed)."""
    x, y = np.asarray(estimated, dtype=float), np.asarray(real, dtype=float)
    if x.shape != y.shape or not 1 <= k <= len(x):
        raise VidnasInputError(f"precision@k needs 1 <= k <= {len(x)} and equal lengths, got k={k}")
    return len(set(_order(x)[:k]) & set(_order(y)[:k])) / k


def regret(estimated, real) -> float:
    """Real accuracy of the truly best architecture minus that of the estimate's best (>= 0)."""
    x, y = np.asarray(estimated, dtype=float), np.asarray(real, dtype=float)
    if x.shape != y.shape or not len(x):
        raise ValueError("regret needs two non-empty sequences of one length")
    return float(y.max() - y[_order(x)[0]])


def paired_difference(estimated_a, estimated_b, real, measure: str = "kendall_tau", n_boot: int = 2000,
                      seed: int = 0, level: float = 0.95) -> Correlation:
    """`measure`(a, real) - `measure`(b, real) for two estimators of the same architectures,
    with a paired percentile-bootstrap interval: each resample draws one set of architectures
    for both, so what they share (the same hard and easy networks) cancels. An interval that
    excludes 0 separates the two estimators; overlapping single intervals cannot say that."""
    a, b, y = (np.asarray(v, dtype=float) for v in (estimated_a, estimated_b, real))
    if not a.shape == b.shape == y.shape or a.ndim != 1:
        raise ValueError(f"paired difference needs three 1-D sequences of one length, got "
                         f"{a.shape}, {b.shape} and {y.shape}")
    if measure not in MEASURES:
        raise VidnasInputError(f"unknown measure {measure!r}; allowed: {', '.join(MEASURES)}")
    if len(a) < 3:
        raise VidnasInputError(f"paired difference needs at least 3 architectures, got {len(a)}")
    fn = MEASURES[measure]

    return Correlation(f"{measure}_difference", *_bootstrap(lambda rows: fn(a[rows], y[rows]) - fn(b[rows], y[rows]),
                                                            len(a), n_boot, seed, level), len(a))


def seed_precision_at_k(per_seed, k: int = 5) -> float:
    """precision@k of one training seed's ranking against another's, the mean over seed pairs:
    the noise reference for an estimator's precision@k. `per_seed` is (archs, seeds)."""
    table = np.asarray(per_seed, dtype=float)
    if table.ndim != 2 or table.shape[1] < 2:
        raise VidnasInputError(f"seed precision@k needs archs x >= 2 seeds, got shape {table.shape}")
    pairs = [(a, b) for a in range(table.shape[1]) for b in range(a + 1, table.shape[1])]
    return float(sum(precision_at_k(table[:, a], table[:, b], k) for a, b in pairs) / len(pairs))


def seed_ceiling(per_seed, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Correlation:
    """Kendall tau between the standalone accuracies of two training seeds (architectures
    resampled for the interval): no estimator can rank one seed's results better than
    another seed of the same training does. `per_seed` is (archs, seeds); with more than two
    seeds the mean over seed pairs."""
    table = np.asarray(per_seed, dtype=float)
    if table.ndim != 2 or table.shape[1] < 2 or table.shape[0] < 3:
        raise VidnasInputError(f"seed ceiling needs >= 3 architectures x >= 2 seeds, got shape {table.shape}")
    pairs = [(a, b) for a in range(table.shape[1]) for b in range(a + 1, table.shape[1])]

    def tau(rows):
        """Mean over seed pairs of tau on the resampled rows (k, n); pairs where tau is undefined
        are left out, NaN when all are."""
        vals = np.stack([np.asarray(MEASURES["kendall_tau"](table[rows, a], table[rows, b]), dtype=float)
                         for a, b in pairs])
        return np.nanmean(vals, axis=0)
    n = table.shape[0]
    return Correlation("seed_kendall_tau", *_bootstrap(tau, n, n_boot, seed, level), n)

