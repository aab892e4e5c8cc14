"""Search strategies (`nas search --strategy NAME`)."""
from __future__ import annotations

from search_spaces.errors import VidnasInputError

from .base import Candidate, Outcome, Strategy, best_of
from .evolution import EvolutionSearch
from .greedy import GreedySearch
from .optuna_search import OptunaNSGA2, OptunaTPE
from .random_search import RandomSearch

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (GreedySearch, EvolutionSearch, RandomSearch, OptunaTPE, OptunaNSGA2)}
DEFAULT_STRATEGY = GreedySearch.name       # MLP-3D Sec. 3.4
# flag -> strategy parameter of `nas search` (--population 8), applied only to the strategies that take it
STRATEGY_FLAGS = {
    "repeats": int, "population": int, "generations": int, "topk": int, "mutation_prob": float,
    "crossover_fraction": float, "budget": int, "batch": int, "startup_trials": int,
    "predictor_share": float, "predictor": str,
}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make `cls` a `nas search --strategy` choice under `cls.name`
    (plug-ins, see `nas.plugins`)."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise VidnasInputError(f"register_strategy needs a Strategy subclass, got {cls!r}")
    if STRATEGIES.get(cls.name, cls) is not cls:
        raise VidnasInputError(f"strategy {cls.name!r} registered twice ({STRATEGIES[cls.name].__module__} "
                               f"and {cls.__module__})")
    STRATEGIES[cls.name] = cls
    return cls


def make_strategy(name: str, **params) -> Strategy:
    """The strategy `name` with `params` (unknown names and bad values: one-line errors)."""
    if name not in STRATEGIES:
        raise VidnasInputError(f"unknown strategy {name!r}; allowed: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](**params)


__all__ = ["Candidate", "Outcome", "Strategy", "best_of", "STRATEGIES", "DEFAULT_STRATEGY", "STRATEGY_FLAGS", "make_strategy", "register_strategy"]
