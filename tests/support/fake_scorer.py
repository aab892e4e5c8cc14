"""A scorer with known per-clip outcomes, for tests of confidence, racing and the predictor.

Architectures of the search tests' toy kernel space (tests.support.search: 3 units, kernels
1/3/5). Clip j of N has a fixed difficulty u_j; architecture θ gets it right iff u_j < q(θ),
q = 0.2 + 0.125 * (sum of the units' choice indices) (+ optional per-architecture flips), so a
better architecture is right on a superset of the clips: candidates differing in one unit are
well separated. Random units (greedy pass 1) are drawn per batch exactly as the real evaluator
draws them.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from nas.search import build_cost_table
from nas.search.confidence import pack_hits
from nas.search.evaluator import EvalRequest, EvalResult, draw_rng
from nas.search.recipes import EvaluatorFactory
from search_spaces import Arch
from tests.support.search import ToyNet


def quality(space, arch: Arch, step: float = 0.125) -> float:
    return 0.2 + step * sum(space.choices(i).index(c) for i, c in enumerate(arch))


class OracleScorer:
    def __init__(self, clips: int, batches: int, seed: int, flip: float, step: float):
        self.model = toy_model()
        self.space = self.model.space
        rng = np.random.default_rng(seed)
        self.u = rng.permutation((np.arange(clips) + 0.5) / clips)
        self.bounds = [b * clips // batches for b in range(batches + 1)]
        self.flip, self.step = flip, step
        self.calls: list[EvalRequest] = []

    def hits(self, arch: Arch, lo: int, hi: int) -> np.ndarray:
        out = self.u[lo:hi] < quality(self.space, arch, self.step)
        if self.flip:
            seed = int.from_bytes(hashlib.sha256(str(arch).encode()).digest()[:4], "big")
            out ^= np.random.default_rng(seed).random(len(self.u))[lo:hi] < self.flip
        return out

    def evaluate(self, request: EvalRequest | dict) -> EvalResult:
        if isinstance(request, dict):
            request = EvalRequest.from_dict(request)
        self.calls.append(request)
        arch = self.space.parse(request.arch)
        n, nb = self.space.num_units, len(self.bounds) - 1
        decided = n if request.decided is None else request.decided
        batches = range(request.part * nb // request.parts, (request.part + 1) * nb // request.parts)
        hits, losses = [], []
        for b in batches:
            a = arch if decided >= n else Arch(arch.choices[:decided] + self.space.sample(
                draw_rng(request.draw_seed, b)).choices[decided:])
            h = self.hits(a, self.bounds[b], self.bounds[b + 1])
            hits.append(h)
            losses.append(float(np.sum(1.0 - h) + (1.0 - quality(self.space, a, self.step)) * len(h)))
        hit = np.concatenate(hits)
        return EvalResult(100.0 * hit.sum() / len(hit), sum(losses) / len(hit), int(hit.sum()), len(hit),
                          0.001, pack_hits(hit), tuple(losses))


_TOY = {}


TOY_SPEC = {"name": "toy-kernel-net", "input_size": [16], "num_classes": 4}


def toy_model(spec: bool = True):
    """The search tests' toy BN network (tests.support.search); with `spec`, the registry-like spec the engine reads
    (the toy is not registered, so the cost table is traced without it)."""
    torch.manual_seed(0)
    model = ToyNet()
    if spec:
        model.spec = dict(TOY_SPEC)
    return model


def toy_cost_table():
    if "table" not in _TOY:
        table = build_cost_table(toy_model(spec=False), (16,))
        table.model_spec = dict(TOY_SPEC)
        _TOY["table"] = table
    return _TOY["table"]


class OracleFactory(EvaluatorFactory):
    """Recipe of an `OracleScorer` (the engine builds one per process)."""

    def __init__(self, clips: int = 512, batches: int = 8, seed: int = 0, flip: float = 0.0,
                 step: float = 0.125):
        self.args = (clips, batches, seed, flip, step)
        self.key = f"oracle-{self.args}"
        self.built: list[OracleScorer] = []

    def model_spec(self):
        return toy_model().spec

    def cost_model(self):
        return toy_model()

    def build(self) -> OracleScorer:
        self.built.append(OracleScorer(*self.args))
        return self.built[-1]

    def describe(self):
        return {"source": "oracle", "args": list(self.args)}
