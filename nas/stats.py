"""Rank and linear correlation between estimated (shared-weight) and real (standalone) accuracy,
with percentile-bootstrap 95% intervals (MLP-3D Sec. 4.3, Fig. 6)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

MEASURES = {
    "kendall_tau": lambda x, y: stats.kendalltau(x, y).statistic,
    "spearman_rho": lambda x, y: stats.spearmanr(x, y).statistic,
    "pearson_r": lambda x, y: stats.pearsonr(x, y).statistic,
}


@dataclass
class Correlation:
    name: str
    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.name} = {self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def _safe(fn, x, y) -> float:
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(x, y))


def correlations(estimated, real, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> list[Correlation]:
    """Kendall τ, Spearman ρ and Pearson r with bootstrap intervals (pairs resampled)."""
    x = np.asarray(estimated, dtype=float)
    y = np.asarray(real, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"estimated and real accuracies must be 1-D of one length, got {x.shape} and {y.shape}")
    if len(x) < 3:
        raise ValueError(f"correlation needs at least 3 architectures, got {len(x)}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    out = []
    for name, fn in MEASURES.items():
        boots = np.array([_safe(fn, x[i], y[i]) for i in idx])
        boots = boots[np.isfinite(boots)]
        lo, hi = (np.quantile(boots, [(1 - level) / 2, (1 + level) / 2]) if len(boots) else (np.nan, np.nan))
        out.append(Correlation(name, _safe(fn, x, y), float(lo), float(hi), len(x)))
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
