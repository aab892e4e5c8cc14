"""How sure a search estimate is: the SE of V, and paired tests on per-clip outcomes.

V (top-1 %) is a proportion over N validation clips, so its standard error is the binomial
one, ``100 * sqrt(p (1 - p) / N)`` percent (about 2.5 points at 80% on 256 clips). Two
candidates scored on the *same* clips are compared paired: only the clips that exactly one
of them got right (the discordant clips) say which is better. The test is McNemar's exact
test: given m discordant clips, the number a candidate wins is Binomial(m, 1/2) when both
are equally good.

Eq. 6 ranks by V - alpha*C, and C is exact (no noise). A cost difference shifts the null:
candidate A is at least as good as B in the objective when its expected net wins on N clips,
``wins - losses``, reach ``shift = N * alpha * (C_A - C_B) / 100`` clips. Given m discordant
clips that boundary is a win probability ``q0 = (1 + shift / m) / 2`` (clipped to [0, 1]),
and the one-sided p-value is ``P(Binomial(m, q0) <= wins)``. With equal costs (or alpha = 0)
it is McNemar's exact one-sided test.
"""
from __future__ import annotations

import base64
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from search_spaces.errors import ConfigError, InputFileError

SE_KIND = "binomial"
TEST_NAME = ("McNemar's exact test (one-sided) on the clips both candidates were scored on; "
             "the cost difference alpha*(C_a - C_b) shifts the null")
DEFAULT_CONFIDENCE = 0.95


def binomial_se(correct: int, n: int) -> float:
    """Standard error (percentage points) of a top-1 of `correct` out of `n` clips."""
    if n <= 0:
        return float("nan")
    p = correct / n
    return 100.0 * math.sqrt(p * (1.0 - p) / n)


def pack_hits(hits) -> str:
    """Per-clip correctness (bools) as base64 text of packed bits (8 clips per byte)."""
    return base64.b64encode(np.packbits(np.asarray(hits, dtype=bool)).tobytes()).decode("ascii")


def unpack_hits(text: str, n: int) -> np.ndarray:
    """Inverse of `pack_hits` for `n` clips."""
    raw = np.frombuffer(base64.b64decode(text.encode("ascii")), dtype=np.uint8)
    if len(raw) * 8 < n:
        raise InputFileError(f"packed outcomes hold {len(raw) * 8} clips, expected {n}")
    return np.unpackbits(raw, count=n).astype(bool)


def discordant(a, b) -> tuple[int, int]:
    """(clips only `a` got right, clips only `b` got right) on equal-length outcome vectors."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes need the same clips, got {a.shape} and {b.shape}")
    return int(np.sum(a & ~b)), int(np.sum(b & ~a))


def worse_pvalue(wins: int, losses: int, shift: float = 0.0) -> float:
    """One-sided p-value of "A is at least as good as B" (see the module docstring).

    wins: clips only A got right; losses: clips only B got right; shift: the cost gap in
    clips (positive when A costs more). Small p: A is significantly worse than B.
    """
    m = wins + losses
    if m == 0:
        return 1.0
    from scipy import stats                          # lazy: the strategy registry (nas search --help) loads without scipy

    q0 = min(1.0, max(0.0, 0.5 * (1.0 + shift / m)))
    return float(stats.binom.cdf(wins, m, q0))


def paired_se(wins: int, losses: int, n: int) -> float:
    """SE (percentage points) of V_A - V_B from per-clip differences d in {-1, 0, 1}
    (sample variance, n - 1)."""
    if n < 2:
        return float("nan")
    mean = (wins - losses) / n
    var = (wins + losses - n * mean * mean) / (n - 1)
    return 100.0 * math.sqrt(max(var, 0.0) / n)


@dataclass(frozen=True)
class Comparison:
    """A against B: objective margin, its SE and a one-sided p-value; paired on their common
    clips (McNemar) when both have per-clip outcomes, else from the two SEs (normal)."""

    paired: bool
    clips: int               # common clips (0 when not paired)
    wins: int                # clips only A got right
    losses: int              # clips only B got right
    v_margin: float          # V_A - V_B on the common clips (percentage points)
    margin: float            # objective margin (V_A - alpha C_A) - (V_B - alpha C_B)
    se: float                # paired SE of the V margin
    p_value: float           # one-sided, H0: B at least as good as A
    level: float             # confidence level of `significant`

    @property
    def significant(self) -> bool:
        return self.p_value < 1.0 - self.level

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["significant"] = self.significant
        return out

    def describe(self) -> str:
        flag = "significant" if self.significant else "INSIDE THE NOISE"
        how = (f"paired SE {self.se:.3f}, {self.wins}:{self.losses} discordant of {self.clips} clips, "
               f"McNemar p={self.p_value:.3g}" if self.paired else
               f"SE {self.se:.3f} from the two SEs, p={self.p_value:.3g}")
        return f"margin {self.margin:+.3f} points ({how}): {flag}"


def compare_outcomes(hits_a, hits_b, cost_a: float, cost_b: float, alpha: float,
                     level: float = DEFAULT_CONFIDENCE) -> Comparison:
    """Paired comparison of A and B on the first min(len) clips of their outcome vectors
    (clips are evaluated in a fixed order, so the common clips are a prefix)."""
    n = min(len(hits_a), len(hits_b))
    if n == 0:
        raise ValueError("paired comparison needs at least one common clip")
    a, b = np.asarray(hits_a[:n], dtype=bool), np.asarray(hits_b[:n], dtype=bool)
    wins, losses = discordant(a, b)
    v_margin = 100.0 * (wins - losses) / n
    cost_gap = alpha * (cost_a - cost_b)
    # H0 "B at least as good as A": B's net wins reach B's cost gap, i.e. A's wins <= ...
    p = worse_pvalue(losses, wins, -cost_gap * n / 100.0)
    return Comparison(True, n, wins, losses, v_margin, v_margin - cost_gap,
                      paired_se(wins, losses, n), p, float(level))


def compare_estimates(v_a: float, se_a: float, v_b: float, se_b: float, cost_a: float, cost_b: float,
                      alpha: float, level: float = DEFAULT_CONFIDENCE) -> Comparison:
    """A against B without per-clip outcomes (e.g. a standalone table's means over seeds):
    independent estimates, SE of the margin sqrt(se_a^2 + se_b^2), normal one-sided p."""
    from scipy import stats                          # lazy: the strategy registry (nas search --help) loads without scipy

    v_margin = v_a - v_b
    margin = v_margin - alpha * (cost_a - cost_b)
    se = math.sqrt(se_a ** 2 + se_b ** 2)
    if not math.isfinite(se):                   # e.g. one training seed: no SE, no test
        p = float("nan")
    else:
        p = float(stats.norm.sf(margin / se)) if se > 0 else (0.0 if margin > 0 else 1.0)
    return Comparison(False, 0, 0, 0, v_margin, margin, se, p, float(level))


def check_level(level: float) -> float:
    if not isinstance(level, (int, float)) or isinstance(level, bool) or not 0.5 <= level < 1.0:
        raise ConfigError(f"confidence must be a number in [0.5, 1), got {level!r}")
    return float(level)
