"""Search against a standalone table (`nas search --bench-table DIR`) instead of a supernet.

`BenchTableEvaluator` is an evaluator recipe whose V(θ) is the table's mean standalone top-1
over training seeds (`nas.bench`), with the SE of that mean over seeds as `top1_se`; no
checkpoint is needed, the model spec (for costs) comes from benchmark.json. A table holds a
few dozen architectures of a space of millions, so the strategies search the table's
architectures (`TableSpace`), every strategy unchanged:

* sampling draws a table architecture uniformly;
* mutation and crossover apply the space's operator and move to the nearest table
  architecture (Hamming distance on canonical tokens, ties drawn with the search's rng;
  mutation never returns its parent);
* Optuna's per-unit suggestions are moved to the nearest table architecture (ties: the
  first in table order) (`SearchContext.project`);
* greedy pass 1 scores "blocks < i decided, the rest random" as the mean over the table
  architectures that share the decided blocks (the table's analogue of random undecided
  blocks); a candidate no table architecture extends is infeasible, like a GFLOPs limit.

The table has no per-clip outcomes, so `--racing` is refused and comparisons use the two
estimates' SEs (`confidence.compare_estimates`). An architecture that is not in the table
(asked for directly) is a one-line error naming it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces import Arch, as_rng
from search_spaces.errors import VidnasInputError

from ..bench import bench_paths, load_bench
from .evaluator import EvalRequest, EvalResult
from .recipes import EvaluatorFactory


class TableSpace:
    """The architectures of a standalone table, as a search space (see the module docstring).
    Everything not overridden here is the underlying space's."""

    def __init__(self, base, table):
        self.base, self.table = base, table
        self.members = [base.parse(a) for a in table.archs()]
        self._tokens = np.array([[c.token for c in a] for a in self.members])

    def __getattr__(self, name):
        return getattr(self.base, name)

    def size(self) -> int:
        return len(self.members)

    def enumerate(self):
        return iter(self.members)

    def _canon(self, arch: Arch) -> np.ndarray:
        return np.array([c.token for c in self.base.canonical(arch)])

    def admits(self, arch: Arch, decided: int | None = None) -> bool:
        """Whether a table architecture has `arch`'s first `decided` units (all by default)."""
        n = self.base.num_units if decided is None else decided
        return bool(np.any(np.all(self._tokens[:, :n] == self._canon(arch)[:n], axis=1)))

    def prefix_members(self, arch: Arch, decided: int) -> list[Arch]:
        mask = np.all(self._tokens[:, :decided] == self._canon(arch)[:decided], axis=1)
        return [self.members[i] for i in np.flatnonzero(mask)]

    def nearest(self, arch: Arch, rng=None, exclude: tuple = ()) -> Arch:
        """The table architecture nearest to `arch` (Hamming distance on canonical tokens);
        ties drawn with `rng`, or the first in table order without one."""
        dist = np.sum(self._tokens != self._canon(arch), axis=1)
        for a in exclude:
            dist[np.all(self._tokens == self._canon(a), axis=1)] = self.base.num_units + 1
        ties = np.flatnonzero(dist == dist.min())
        return self.members[int(ties[0] if rng is None else rng.choice(list(ties)))]

    def sample(self, rng=None) -> Arch:
        return as_rng(rng).choice(self.members)

    def mutate(self, arch: Arch, rng=None, prob: float | None = None) -> Arch:
        r = as_rng(rng)
        exclude = (arch,) if len(self.members) > 1 else ()
        return self.nearest(self.base.mutate(arch, r, prob), r, exclude)

    def crossover(self, a: Arch, b: Arch, rng=None) -> Arch:
        r = as_rng(rng)
        return self.nearest(self.base.crossover(a, b, r), r)


class TableScorer:
    """The table as an evaluator: a request's V is the table's mean top-1 (see above)."""

    def __init__(self, table):
        self.table = table
        self.space = TableSpace(table.space, table)

    def evaluate(self, request: EvalRequest | dict) -> EvalResult:
        if isinstance(request, dict):
            request = EvalRequest.from_dict(request)
        if request.parts != 1:
            raise VidnasInputError("a standalone table has no per-clip outcomes; racing cannot slice it")
        arch = self.table.space.parse(request.arch)
        n = self.table.space.num_units
        decided = n if request.decided is None else int(request.decided)
        if decided >= n:
            e = self.table.entry(arch)
            return EvalResult(e.top1, e.loss, 0, 0, 0.0, top1_se=e.top1_se)
        members = self.space.prefix_members(arch, decided)
        if not members:
            prefix = "-".join(c.token for c in arch.choices[:decided])
            raise VidnasInputError(f"no architecture in the standalone table starts with {prefix}")
        entries = [self.table.entry(a) for a in members]
        top1 = np.array([e.top1 for e in entries])
        se = float(np.std(top1, ddof=1) / math.sqrt(len(top1))) if len(top1) > 1 else float("nan")
        return EvalResult(float(top1.mean()), float(np.mean([e.loss for e in entries])), 0, 0, 0.0,
                          top1_se=se)


class BenchTableEvaluator(EvaluatorFactory):
    """Evaluator recipe of a standalone benchmark table (folder or standalone.csv)."""

    per_clip = False

    def __init__(self, path: str | Path):
        self.path = str(bench_paths(path)[0].resolve())
        self.table = load_bench(self.path)
        self.key = "bench-" + self.table.sha256()

    def model_spec(self) -> dict[str, Any]:
        return self.table.model_spec

    def cost_model(self):
        model = super().cost_model()
        if model.space.config() != self.table.space.config():
            raise VidnasInputError(f"{self.path}: benchmark.json's model_spec builds space "
                                   f"{model.space.config()}, the table's space is {self.table.space.config()}")
        return model

    def search_space(self, model):
        return TableSpace(model.space, self.table)

    def build(self) -> TableScorer:
        return TableScorer(self.table)

    def describe(self) -> dict[str, Any]:
        return {"source": "bench-table", "table": self.path, "sha256": self.table.sha256(),
                "model": self.table.model_spec, "archs": len(self.table)}
