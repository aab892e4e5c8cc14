"""Random search: the baseline with the same evaluation budget as evolution.

`budget` distinct (canonical) architectures drawn uniformly under the GFLOPs limit, scored in
rounds of `batch` (rounds only group work for parallel evaluation; the draws do not depend
on it). Default budget = SPOS evolution's 50 x 20 evaluations.
"""
from __future__ import annotations

from search_spaces.errors import VidnasInputError

from .base import Candidate, Outcome, Strategy, best_of, sample_unique


class RandomSearch(Strategy):
    name = "random"
    defaults = {"budget": 1000, "batch": 50, "max_tries": 10}
    smoke_params = {"budget": 6, "batch": 4}

    def validate(self) -> None:
        self.positive("budget", "batch", "max_tries")

    def estimate(self, space) -> int:
        return self.params["budget"]

    def run(self, ctx) -> Outcome:
        rng = ctx.rng("random")
        seen: set = set()
        archs = sample_unique(ctx, rng, self.params["budget"], seen, self.params["max_tries"])
        if not archs:
            raise VidnasInputError("random: no architecture satisfies the constraints")
        if len(archs) < self.params["budget"]:
            ctx.log(f"random: only {len(archs)} distinct architectures found for budget "
                    f"{self.params['budget']}")
        records = []
        step = self.params["batch"]
        for r, start in enumerate(range(0, len(archs), step)):
            records += ctx.evaluate([Candidate(a, round=r) for a in archs[start:start + step]])
        k = best_of(records)
        return Outcome(archs[k], records[k], {"evaluated": len(records)})
