"""What every search strategy shares: its parameters, candidates, and the registry."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from search_spaces import Arch
from search_spaces.errors import ConfigError

from ..store import Record, row_key


@dataclass(frozen=True)
class Candidate:
    """An architecture a strategy asks to score (see `EvalRequest` for decided/draw/block)."""

    arch: Arch
    decided: int | None = None
    draw_seed: int | None = None
    block: int | None = None
    round: int = 0


@dataclass
class Outcome:
    """The strategy's answer: its best architecture, that architecture's record, extras."""

    arch: Arch
    record: Record
    info: dict[str, Any] = field(default_factory=dict)


class Strategy:
    """Base class: `defaults` lists the parameters (and their types) a strategy takes."""

    name: ClassVar[str] = "base"
    defaults: ClassVar[dict[str, Any]] = {}
    reports_pareto: ClassVar[bool] = False    # the summary prints the Pareto front (multi-objective)
    smoke_params: ClassVar[dict[str, Any]] = {}   # a seconds-long run (tests over every registered strategy)

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ConfigError(f"strategy {self.name}: unknown parameter {unknown[0]!r}; "
                              f"allowed: {', '.join(self.defaults) or 'none'}")
        self.params = {**self.defaults, **{k: v for k, v in params.items() if v is not None}}
        for k, v in self.params.items():
            want = type(self.defaults[k])
            if want is float and isinstance(v, int) and not isinstance(v, bool):
                v = self.params[k] = float(v)
            if not isinstance(v, want) or isinstance(v, bool) != (want is bool):
                raise ConfigError(f"strategy {self.name}: {k} must be {want.__name__}, got {v!r}")
        self.validate()

    def validate(self) -> None:
        """Check parameter ranges (one-line ValueError)."""

    def positive(self, *names: str) -> None:
        for k in names:
            if self.params[k] < 1:
                raise ConfigError(f"strategy {self.name}: {k} must be >= 1, got {self.params[k]!r}")

    def estimate(self, space) -> int:
        """Rough number of evaluations (for the progress bar)."""
        return 0

    def run(self, ctx) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError


def best_of(records: list[Record]) -> int:
    """Index of the best record: highest objective, then lowest loss, then first."""
    return min(range(len(records)), key=lambda k: (-records[k].objective, records[k].loss, k))


def sample_unique(ctx, rng, count: int, seen: set, max_tries: int) -> list:
    """Up to `count` random feasible architectures whose keys are not in `seen` (added)."""
    out = []
    for _ in range(count * max_tries):
        if len(out) == count:
            break
        arch = ctx.space.sample(rng)
        key = row_key(ctx.space, arch)
        if key not in seen and ctx.feasible(arch):
            seen.add(key)
            out.append(arch)
    return out
