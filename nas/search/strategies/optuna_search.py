"""Optuna strategies: TPE on the objective V − αC, and NSGA-II on accuracy vs cost.

The space becomes one categorical parameter per unit (its tokens). Trials are asked in
rounds of `batch` (all asked before any is told, so a round can be scored in parallel) with
Optuna's ask-and-tell interface. TPE maximises Eq. 6; NSGA-II maximises V and minimises C
(GFLOPs by default) and the engine reports the Pareto front. With a GFLOPs limit, the
samplers get a ``constraints_func`` (C_flops − limit <= 0) and infeasible trials are told
V = 0 without being evaluated.

The study lives in ``optuna.db`` (SQLite) in the search folder, so it resumes. To make a
resumed study end exactly where an uninterrupted one ends, the sampler is rebuilt before
each ask with a seed derived from the trial number (so a sample depends only on the study's
stored history, not on how long the process has lived), and a round whose trials were asked
but not all told before a crash is finished from the parameters stored with its trials.
In a finite space (a standalone table) a suggestion is moved to the nearest member
(`ctx.project`); trials then repeat architectures, which the result cache scores once.
"""
from __future__ import annotations

import warnings

from search_spaces import Arch
from search_spaces.errors import ConfigError

from .base import Candidate, Outcome, Strategy, best_of

OPTUNA_DB = "optuna.db"        # the study, in the search folder (this strategy's own storage)

class OptunaSearch(Strategy):
    """Shared ask-and-tell loop; subclasses give the sampler and the trial values."""

    directions: tuple[str, ...] = ("maximize",)

    def validate(self) -> None:
        self.positive("budget", "batch")

    def estimate(self, space) -> int:
        return self.params["budget"]

    def make_sampler(self, seed: int, constraints):  # pragma: no cover - abstract
        raise NotImplementedError

    def values(self, record) -> list[float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, ctx) -> Outcome:
        import optuna  # lazy: Optuna is heavy and absent on the GPU machines
        from optuna.distributions import CategoricalDistribution  # lazy: Optuna is heavy and absent on the GPU machines
        from optuna.trial import TrialState  # lazy: Optuna is heavy and absent on the GPU machines

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        space = ctx.space
        names = [f"u{i:02d}_{space.unit_names[i]}" for i in range(space.num_units)]
        dists = {nm: CategoricalDistribution([c.token for c in space.choices(i)])
                 for i, nm in enumerate(names)}
        def arch_of(params) -> Arch:      # moved into a finite space (a table) if needed
            return ctx.project(space.validate(Arch(tuple(space.parse_token(params[nm]) for nm in names))))

        limit = ctx.objective.max_gflops
        constraints = ((lambda t: [ctx.table.gflops(arch_of(t.params)) - limit])
                       if limit is not None else None)
        storage = self.storage(ctx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.create_study(storage=storage, study_name="vidnas-search",
                                        directions=list(self.directions), load_if_exists=True,
                                        sampler=self.make_sampler(0, constraints))
        budget, size = self.params["budget"], self.params["batch"]
        evaluated: list = []                                 # (record, arch) in trial order
        for rnd, lo in enumerate(range(0, budget, size)):
            hi = min(lo + size, budget)
            have = [t for t in study.get_trials(deepcopy=False) if lo <= t.number < hi]
            live = {t.number: arch_of(t.params) for t in have if t.state == TrialState.RUNNING}
            told = {t.number: arch_of(t.params) for t in have if t.state != TrialState.RUNNING}
            for number in range(lo + len(have), hi):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    study.sampler = self.make_sampler(ctx.derive_seed(self.name, number), constraints)
                    trial = study.ask(dists)
                if trial.number != number:
                    raise RuntimeError(f"{self.name}: study {storage} is used by another "
                                       f"process (asked trial {number}, got {trial.number})")
                live[number] = arch_of(trial.params)
            archs = {**told, **live}
            ok = [m for m in sorted(archs) if ctx.feasible(archs[m])]
            records = dict(zip(ok, ctx.evaluate([Candidate(archs[m], round=rnd) for m in ok])))
            for number in sorted(live):
                values = (self.values(records[number]) if number in records
                          else self.infeasible_values(ctx, live[number]))
                study.tell(number, values)
            evaluated += [(records[m], archs[m]) for m in ok]
        if not evaluated:
            raise ConfigError(f"{self.name}: no architecture satisfies the constraints")
        k = best_of([r for r, _ in evaluated])
        return Outcome(evaluated[k][1], evaluated[k][0], {"trials": len(study.trials)})

    @staticmethod
    def storage(ctx) -> str | None:
        """The study's storage: ``optuna.db`` (SQLite) in the search folder, so a resumed
        search continues the study; in memory when the search has no folder."""
        return None if ctx.out_dir is None else f"sqlite:///{(ctx.out_dir / OPTUNA_DB).resolve()}"

    def infeasible_values(self, ctx, arch) -> list[float]:
        cost = ctx.cost_of(arch)[2]
        return [ctx.objective.value(0.0, cost)]


class OptunaTPE(OptunaSearch):
    name = "optuna-tpe"
    defaults = {"budget": 1000, "batch": 4, "startup_trials": 10}
    smoke_params = {"budget": 8, "batch": 3, "startup_trials": 3}

    def make_sampler(self, seed: int, constraints):
        import optuna  # lazy: Optuna is heavy and absent on the GPU machines
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.params["startup_trials"],
                                          constraints_func=constraints)

    def values(self, record) -> list[float]:
        return [record.objective]


class OptunaNSGA2(OptunaSearch):
    name = "optuna-nsga2"
    reports_pareto = True
    directions = ("maximize", "minimize")
    defaults = {"budget": 1000, "batch": 4, "population": 50}
    smoke_params = {"budget": 8, "batch": 3, "population": 4}

    def validate(self) -> None:
        super().validate()
        if self.params["population"] < 2:
            raise ConfigError(f"strategy {self.name}: population must be >= 2, got {self.params['population']}")

    def make_sampler(self, seed: int, constraints):
        import optuna  # lazy: Optuna is heavy and absent on the GPU machines
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=self.params["population"],
                                             constraints_func=constraints)

    def values(self, record) -> list[float]:
        return [record.top1_pct, record.cost]

    @staticmethod
    def storage(ctx) -> str | None:
        """The study's storage: ``optuna.db`` (SQLite) in the search folder, so a resumed
        search continues the study; in memory when the search has no folder."""
        return None if ctx.out_dir is None else f"sqlite:///{(ctx.out_dir / OPTUNA_DB).resolve()}"

    def infeasible_values(self, ctx, arch) -> list[float]:
        return [0.0, ctx.cost_of(arch)[2]]
