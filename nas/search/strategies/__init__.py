"""Search strategies (`nas search --strategy NAME`)."""
from __future__ import annotations

from .base import Candidate, Outcome, Strategy, best_of
from .evolution import EvolutionSearch
from .greedy import GreedySearch
from .optuna_search import OptunaNSGA2, OptunaTPE
from .random_search import RandomSearch

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (GreedySearch, EvolutionSearch, RandomSearch, OptunaTPE, OptunaNSGA2)}


def make_strategy(name: str, **params) -> Strategy:
    """The strategy `name` with `params` (unknown names and bad values: one-line errors)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; allowed: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](**params)


__all__ = ["Candidate", "Outcome", "Strategy", "best_of", "STRATEGIES", "make_strategy"]
