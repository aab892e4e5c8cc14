"""Evolutionary search with a GFLOPs constraint, as Single Path One-Shot (SPOS) does.

Generation 0 is `population` distinct random architectures that satisfy the limit. Every
later generation makes `population` new distinct ones from the `topk` best seen so far (the
parents): half by mutation (`space.mutate`, each unit resampled with `mutation_prob`, at
least one unit changed) of a random parent, half by uniform crossover (`space.crossover`)
of two random parents. A child is kept only if it satisfies the limit and its canonical
architecture was never evaluated; after `max_tries` rejections per wanted child the
generation is topped up with random architectures (small spaces), and the search stops when
nothing new can be found. SPOS defaults: population 50, 20 generations, top-10 parents,
mutation probability 0.1, 25 mutations + 25 crossovers.

Predictor-guided evolution (Once-for-All style; ``predictor_share`` < 1): every later
generation makes ``ceil(population / predictor_share)`` children the same way, an accuracy
predictor (`nas.search.predictor`, kind ``predictor``: mlp or ridge) is fitted on every
complete architecture evaluated so far, and only the `population` children with the best
predicted objective V̂ − αC reach the evaluator (the others may be made again later). The
evaluation budget stays population × generations; the predictor decides where it goes.
"""
from __future__ import annotations

import math

from search_spaces.errors import ConfigError

from ..store import row_key
from .base import Candidate, Outcome, Strategy, best_of, sample_unique


class EvolutionSearch(Strategy):
    name = "evolution"
    smoke_params = {"population": 4, "generations": 3, "topk": 2}
    defaults = {"population": 50, "generations": 20, "topk": 10, "mutation_prob": 0.1,
                "crossover_fraction": 0.5, "max_tries": 10, "predictor_share": 1.0, "predictor": "mlp"}

    def validate(self) -> None:
        from ..predictor import KINDS                # lazy: the strategy registry (nas search --help) loads without torch

        self.positive("population", "generations", "topk", "max_tries")
        for k in ("mutation_prob", "crossover_fraction"):
            if not 0.0 <= self.params[k] <= 1.0:
                raise ConfigError(f"strategy {self.name}: {k} must be in [0, 1], got {self.params[k]}")
        if not 0.0 < self.params["predictor_share"] <= 1.0:
            raise ConfigError(f"strategy {self.name}: predictor_share must be in (0, 1], got "
                              f"{self.params['predictor_share']}")
        if self.params["predictor"] not in KINDS:
            raise ConfigError(f"strategy {self.name}: predictor must be one of {', '.join(KINDS)}, got "
                              f"{self.params['predictor']!r}")

    def estimate(self, space) -> int:
        return self.params["population"] * self.params["generations"]

    def _children(self, ctx, rng, parents, seen: set, size: int | None = None) -> list:
        space, prm = ctx.space, self.params
        size = prm["population"] if size is None else size
        n_cross = int(round(size * prm["crossover_fraction"]))
        wanted = {"mutate": size - n_cross, "cross": n_cross}
        out = []
        for kind, count in wanted.items():
            made = 0
            for _ in range(count * prm["max_tries"]):
                if made == count:
                    break
                if kind == "mutate":
                    child = space.mutate(rng.choice(parents), rng, prm["mutation_prob"])
                else:
                    child = space.crossover(rng.choice(parents), rng.choice(parents), rng)
                key = row_key(space, child)
                if key not in seen and ctx.feasible(child):
                    seen.add(key)
                    out.append(child)
                    made += 1
        missing = size - len(out)
        return out + sample_unique(ctx, rng, missing, seen, prm["max_tries"]) if missing else out

    def _screen(self, ctx, gen: int, pool: list, history: list, seen: set) -> list:
        """The `population` children of `pool` with the best predicted objective (the
        others are released from `seen`)."""

        from ..predictor import Predictor            # lazy: the strategy registry (nas search --help) loads without torch

        keep = self.params["population"]
        done = [(r, a) for r, a in history if r.is_complete]
        if len(pool) <= keep or len(done) < 2:
            return pool[:keep]
        pred = Predictor.fit(ctx.space, [a for _, a in done], [r.top1_pct for r, _ in done],
                             self.params["predictor"], seed=ctx.derive_seed("evolution-predictor", gen))
        v = pred.predict(pool)
        score = [v[k] - ctx.objective.alpha * ctx.cost_of(a)[2] for k, a in enumerate(pool)]
        order = sorted(range(len(pool)), key=lambda k: (-score[k], k))
        for k in order[keep:]:
            seen.discard(row_key(ctx.space, pool[k]))
        return [pool[k] for k in sorted(order[:keep])]

    def run(self, ctx) -> Outcome:
        rng = ctx.rng("evolution")
        seen: set = set()
        history: list = []                  # (record, arch)
        population = sample_unique(ctx, rng, self.params["population"], seen, self.params["max_tries"])
        for gen in range(self.params["generations"]):
            if gen:
                ranked = sorted(history, key=lambda ra: (-ra[0].objective, ra[0].loss, ra[0].eval_id))
                parents = [a for _, a in ranked[: self.params["topk"]]]
                share = self.params["predictor_share"]
                if share < 1.0:
                    pool = self._children(ctx, rng, parents, seen,
                                          math.ceil(self.params["population"] / share))
                    population = self._screen(ctx, gen, pool, history, seen)
                else:
                    population = self._children(ctx, rng, parents, seen)
            if not population:
                ctx.log(f"evolution: no new architecture in generation {gen}; stopping")
                break
            records = ctx.evaluate([Candidate(a, round=gen) for a in population])
            history += list(zip(records, population))
            top = records[best_of(records)]
            ctx.log(f"evolution generation {gen}: {len(population)} new, best of generation "
                    f"{top.arch} objective={top.objective:.4f}")
        if not history:
            raise ConfigError("evolution: no architecture satisfies the constraints")
        k = best_of([r for r, _ in history])
        return Outcome(history[k][1], history[k][0], {"evaluated": len(history)})
