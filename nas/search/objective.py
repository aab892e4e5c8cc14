"""The search objective: V(θ) − α·C(θ) (MLP-3D, Sec. 3.4, Eq. 6), its units, and rankings.

V is top-1 accuracy on the fixed validation subset in percent, C the cost of the exported
subnet: GFLOPs from fvcore by default (one multiply-add = one FLOP), or the measured median
forward latency in milliseconds. α = 5e-3 per cost unit by default (the paper's value). An
optional hard limit on GFLOPs removes architectures from the search instead of penalising.

Ties (common: V moves in steps of 100 / N on N validation clips) are broken by the lower
validation loss, a finer measure of the same quality (paper silent).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from search_spaces.errors import ConfigError

COST_KINDS = ("flops", "latency", "memory")
COST_UNITS = {"flops": "GFLOPs", "latency": "ms", "memory": "MB"}
DEFAULT_ALPHA = 5e-3                # Sec. 3.4


@dataclass(frozen=True)
class Objective:
    """Eq. 6 with its knobs: trade-off `alpha`, cost `kind`, optional `max_gflops` limit."""

    alpha: float = DEFAULT_ALPHA
    kind: str = "flops"
    max_gflops: float | None = None
    max_memory_mb: float | None = None          # hard limit on peak inference memory (MB = 2^20 B)

    def __post_init__(self):
        if self.kind not in COST_KINDS:
            raise ConfigError(f"cost kind {self.kind!r} is not allowed; use one of {', '.join(COST_KINDS)}")
        if not isinstance(self.alpha, (int, float)) or isinstance(self.alpha, bool) \
                or not math.isfinite(self.alpha) or self.alpha < 0:
            raise ConfigError(f"alpha must be a finite number >= 0, got {self.alpha!r}")
        if self.max_gflops is not None and not (isinstance(self.max_gflops, (int, float))
                                                and self.max_gflops > 0):
            raise ConfigError(f"max_gflops must be a positive number or None, got {self.max_gflops!r}")
        if self.max_memory_mb is not None and not (isinstance(self.max_memory_mb, (int, float))
                                                   and self.max_memory_mb > 0):
            raise ConfigError(f"max_memory_mb must be a positive number or None, got {self.max_memory_mb!r}")

    @property
    def unit(self) -> str:
        return COST_UNITS[self.kind]

    def value(self, top1_pct: float, cost: float) -> float:
        """Eq. 6: V − α·C, V in percent, C in `unit`."""
        return float(top1_pct) - self.alpha * float(cost)

    def allows(self, gflops: float) -> bool:
        """Whether an architecture of `gflops` GFLOPs passes the hard limit."""
        return self.max_gflops is None or gflops <= self.max_gflops + 1e-12

    def allows_memory(self, mb: float) -> bool:
        """Whether an architecture whose peak inference memory is `mb` MB passes the limit."""
        return self.max_memory_mb is None or mb <= self.max_memory_mb + 1e-9

    def describe(self) -> str:
        limit = "" if self.max_gflops is None else f"; hard limit C_flops <= {self.max_gflops:g} GFLOPs"
        if self.max_memory_mb is not None:
            limit += f"; hard limit peak inference memory <= {self.max_memory_mb:g} MB"
        cost = {"flops": "GFLOPs of the exported subnet (fvcore, 1 multiply-add = 1 FLOP)",
                "latency": "forward latency of the exported subnet (ms; measured, or summed from a "
                           "latency table)",
                "memory": "peak activation memory of a step of the exported subnet (MB = 2^20 bytes)"}[self.kind]
        return (f"objective = V - alpha*C (MLP-3D Eq. 6): V = top-1 accuracy (%), C = {cost}, "
                f"alpha = {self.alpha:g} per {self.unit}{limit}")


def rank_key(objective: float, loss: float) -> tuple[float, float]:
    """Sort key, smaller is better: higher objective, then lower loss."""
    return (-objective, loss)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points of (accuracy to maximise, cost to minimise),
    sorted by cost; of identical points only the first is kept."""
    order = sorted(range(len(points)), key=lambda i: (points[i][1], -points[i][0], i))
    front, best_acc = [], -math.inf
    for i in order:
        if points[i][0] > best_acc:
            front.append(i)
            best_acc = points[i][0]
    return front



def pareto_front_nd(points: Sequence[Sequence[float]], maximize: Sequence[bool]) -> list[int]:
    """Indices of the non-dominated points over several objectives (`maximize[k]` says the
    direction of objective k), in input order; of identical points only the first is kept.
    With (accuracy, cost) it is the set `pareto_front` returns."""
    pts = np.asarray(points, dtype=float).reshape(len(points), len(maximize))
    pts = pts * np.where(np.asarray(maximize, dtype=bool), 1.0, -1.0)      # all maximised
    front = []
    for i, p in enumerate(pts):
        ge = np.all(pts >= p, axis=1)
        same = np.all(pts == p, axis=1)
        if not np.any(ge & ~same) and not np.any(same[:i]):
            front.append(i)
    return front
