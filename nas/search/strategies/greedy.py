"""Greedy block-by-block search (MLP-3D, Sec. 3.4, Fig. 5).

Paper: "At the beginning of architecture search, all the operations are randomly assigned at
each forward. Then, the operation of each block is decided in turn by choosing the
best-performing operation. We repeat the search process three times", ranking by Eq. 6.

Pass 1 (Fig. 5): blocks are decided in network order. For block i every choice c is scored
with blocks < i fixed to their decisions, block i = c, and blocks > i drawn at random per
validation batch. The draws come from one seed per (pass, block), so every candidate of
block i sees exactly the same random blocks (a fair comparison), and the candidates share
the decided prefix, whose activations the evaluator caches (`Evaluator`, prefix cache).
The best candidate (objective V − αC, then loss, then choice order) becomes block i.

Passes 2..R (the repeats; paper silent on how a repeat uses the previous one): coordinate
ascent from the current best architecture θ*. Each block i in order is re-decided among its
choices with every other block fixed to θ* (no random blocks any more), θ* is updated at
once, and the prefix cache again serves blocks < i. Ties keep the current choice, so a pass
never makes θ* worse and the search stops early when a pass changes nothing.

C(θ) for a partly random architecture is the cost of the decided blocks and the candidate
plus the *expected* cost of the random blocks (mean over their choices, `CostTable.flops`),
which is the same for every candidate of the block and so leaves their ranking to V and to
the candidate's own cost. A hard GFLOPs limit keeps a candidate only when the cheapest
completion of its decided blocks fits. Equivalent choices (`space.canonical`) share one
evaluation through the result cache.

Every decision is logged with its margin over the runner-up candidate of the block and the
paired test on the clips both were scored on (`ctx.compare`: McNemar's exact test); a
decision whose margin is not significant at the search's confidence level is flagged as
inside the noise, and all decisions go to best_arch.json's `confidence` section.
"""
from __future__ import annotations

from search_spaces import Arch
from search_spaces.errors import VidnasInputError

from .base import Candidate, Outcome, Strategy


class GreedySearch(Strategy):
    name = "greedy"
    defaults = {"repeats": 3}
    smoke_params = {"repeats": 2}

    def validate(self) -> None:
        self.positive("repeats")

    def estimate(self, space) -> int:
        return self.params["repeats"] * sum(len(space.choices(i)) for i in range(space.num_units))

    def _pick(self, records, current: int | None) -> int:
        """Best by (objective, -loss); exact ties keep `current`, else the first choice."""
        return min(range(len(records)), key=lambda k: (-records[k].objective, records[k].loss,
                                                       k != current, k))

    def run(self, ctx) -> Outcome:
        from ..evaluator import draw_rng             # lazy: the strategy registry (nas search --help) loads without torch

        space = ctx.space
        n = space.num_units
        best: Arch | None = None
        passes, decisions = [], []
        for p in range(self.params["repeats"]):
            decided: list = []
            changed = []
            for i in range(n):
                choices = space.choices(i)
                if best is None:                               # pass 1: random blocks after i
                    random_after = i < n - 1
                    seed = ctx.derive_seed("greedy", p, i) if random_after else None
                    tail = space.sample(draw_rng(seed, 0)).choices[i + 1:] if random_after else ()
                    archs = [Arch(tuple(decided) + (c,) + tail) for c in choices]
                    cands = [Candidate(a, i + 1 if random_after else None, seed, i, p + 1) for a in archs]
                    current = None
                else:                                          # later passes: coordinate ascent
                    cands = [Candidate(best.replace(i, c), None, None, i, p + 1) for c in choices]
                    current = choices.index(best[i])
                keep = [k for k, c in enumerate(cands) if ctx.feasible(c.arch, c.decided or n)]
                if not keep:
                    raise VidnasInputError(f"greedy: no choice of unit {i} fits max_gflops="
                                           f"{ctx.objective.max_gflops}")
                records = ctx.evaluate([cands[k] for k in keep])
                local = self._pick(records, keep.index(current) if current in keep else None)
                pick = keep[local]
                if len({r.key for r in records}) > 1:
                    decisions.append(self._decision(ctx, p, i, records, local))
                if best is None:
                    decided.append(choices[pick])
                elif pick != current:
                    changed.append(f"{space.unit_names[i]}: {best[i].token}->{choices[pick].token}")
                    best = best.replace(i, choices[pick])
            if best is None:
                best = Arch(tuple(decided))
            record = ctx.evaluate([Candidate(best, round=p + 1)])[0]
            passes.append({"pass": p + 1, "arch": str(best), "objective": record.objective,
                           "changed": changed if p else "all"})
            ctx.log(f"greedy pass {p + 1}: {best}  V={record.top1_pct:.2f}%  "
                    f"C={record.cost:.4g} {record.cost_unit}  objective={record.objective:.4f}"
                    + (f"  changed: {', '.join(changed) or 'nothing'}" if p else ""))
            if p and not changed:
                break
        return Outcome(best, ctx.evaluate([Candidate(best)])[0], {"passes": passes, "decisions": decisions})

    def _decision(self, ctx, p: int, i: int, records, pick: int) -> dict:
        """The decision of block i: the chosen candidate against the runner-up, logged."""
        rest = [k for k in range(len(records)) if records[k].key != records[pick].key]   # not an alias
        runner = min(rest, key=lambda k: (-records[k].objective, records[k].loss, k))
        c = ctx.compare(records[pick], records[runner])
        unit = ctx.space.unit_names[i]
        ctx.log(f"greedy pass {p + 1} block {i} ({unit}): {records[pick].arch.split('-')[i]} over "
                f"{records[runner].arch.split('-')[i]}, {c.describe()}")
        return {"pass": p + 1, "block": i, "unit": unit, "chosen": records[pick].arch,
                "runner_up": records[runner].arch, **c.to_dict()}
