"""V(θ) of Eq. 6: top-1 accuracy and loss of the supernet with θ's shared weights.

MLP-3D Sec. 3.4: "given an architecture, the performance can be approximately estimated by
only inferring on validation set with the shared weights". The :class:`Evaluator` holds a
fixed validation subset in memory (same clips, same batches for every candidate) and scores
an :class:`EvalRequest` under ``torch.inference_mode``.

A request is an architecture whose first `decided` units are fixed and whose other units are
drawn at random *per validation batch* (greedy pass 1: "all the operations are randomly
assigned at each forward"). The draw of batch b is ``space.sample(draw_rng(seed, b))``, so
every candidate of a block sees the same random draws and candidates are compared fairly.

Prefix cache (greedy): a request with ``block = i`` promises that units before i are the
same for every candidate of the round. Their output on the validation clips is then the
same for all candidates, so it is computed once (stem activations are kept for the whole
search; the activations entering unit i are kept for the current prefix and extended by one
unit when the next block is evaluated) and each candidate only runs units i.. and the head.
The ops are the same as a full forward, so the cache changes the time, not the numbers.

BatchNorm recalibration (`bn_recalib = N`, for BN-based hosts such as the 3D-conv splits;
MLP spaces use LayerNorm and need none): before scoring θ, every BatchNorm's running
statistics are reset and re-estimated as a cumulative average (momentum None) over N fixed
training batches run through θ, BN layers in training mode and everything else in eval mode.
A BN layer's statistics depend only on the layers before it, so with the prefix cache the
decided prefix is recalibrated once when it is extended, and a candidate only re-estimates the
BN layers from unit i on, from cached training activations; the statistics equal those of a
full recalibration. With random undecided units the training batches get their own draws.

Slices (racing, `nas.search.racing`): a request with ``parts = K`` scores only slice
``part`` of the fixed validation set, batches ``floor(part*B/K) .. floor((part+1)*B/K) - 1``
of its B batches, with the same per-batch draws as a full evaluation. Every result carries
its per-clip correctness (`hits`, packed bits) and per-batch summed losses, so slices add up
exactly to the full evaluation (`nas.search.outcomes`).
"""
from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces import Arch
from search_spaces.errors import ConfigError, DataError

from .confidence import pack_hits, unpack_hits

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def draw_rng(seed: int, index: int, split: str = "val") -> random.Random:
    """The generator of the random-unit draw for batch `index` of `split` (plain ints, so the
    same in every process)."""
    return random.Random(int(seed) * 1_000_003 + index * 2 + (split == "train"))


@dataclass(frozen=True)
class EvalRequest:
    """What to score. Plain data, so it travels to Ray workers unchanged.

    arch: architecture string (units from `decided` on are placeholders when random).
    decided: number of leading units that are fixed (None: all).
    draw_seed: seed of the per-batch draws of the random units (needed when decided < n).
    block: use the prefix cache at this unit (units before it shared by the round).
    part, parts: score only slice `part` of `parts` equal slices of the validation batches.
    """

    arch: str
    decided: int | None = None
    draw_seed: int | None = None
    block: int | None = None
    part: int = 0
    parts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvalRequest":
        return cls(**data)


@dataclass(frozen=True)
class EvalResult:
    """Top-1 (%), mean cross-entropy, counts, and the wall time of one evaluation.

    hits: which clips were right, in clip order (`confidence.pack_hits`); None when the
    scorer has no per-clip outcomes (a standalone table). batch_losses: summed loss of each
    batch, in order (loss = their sum / total). top1_se: given by scorers whose SE is not
    binomial over `total` clips (a table: over training seeds); None = binomial.
    """

    top1: float
    loss: float
    correct: int
    total: int
    seconds: float
    hits: str | None = None
    batch_losses: tuple[float, ...] = ()
    top1_se: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["batch_losses"] = list(self.batch_losses)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvalResult":
        return cls(**{k: data[k] for k in ("top1", "loss", "correct", "total", "seconds")},
                   hits=data.get("hits"), batch_losses=tuple(data.get("batch_losses") or ()),
                   top1_se=data.get("top1_se"))


def as_batches(data: Iterable, device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Materialise `(clips, labels[, ...])` batches (a loader or a list) on `device`."""
    out = []
    for item in data:
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ValueError("evaluation batches must be (clips, labels) pairs; got "
                             f"{type(item).__name__}")
        x, y = item[0], item[1]
        out.append((torch.as_tensor(x).to(device), torch.as_tensor(y).to(device).long()))
    return out


def batchnorm_modules(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, _BN_TYPES)]


class Evaluator:
    """Scores architectures of `model` (a supernet) on fixed in-memory validation batches.

    Args:
        model: the supernet (its weights are used as they are; it is put in eval mode).
        val_batches: iterable of ``(clips, labels)`` batches (kept in memory, in order).
        train_batches: batches for BN recalibration (the first `bn_recalib` are used).
        bn_recalib: N > 0 re-estimates BatchNorm statistics on N training batches per θ.
        prefix_cache: reuse the stem / decided-prefix activations of greedy rounds.
        device: where to evaluate.
    """

    def __init__(self, model: nn.Module, val_batches: Iterable, train_batches: Iterable | None = None,
                 bn_recalib: int = 0, prefix_cache: bool = True, device="cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.space = model.space
        self.val = as_batches(val_batches, self.device)
        if not self.val:
            raise DataError("the validation subset is empty; give at least one batch")
        if not isinstance(bn_recalib, int) or isinstance(bn_recalib, bool) or bn_recalib < 0:
            raise ConfigError(f"bn_recalib must be an integer >= 0, got {bn_recalib!r}")
        self.bn_recalib = bn_recalib
        self.train: list = []
        if bn_recalib:
            if not batchnorm_modules(model):
                raise ConfigError(f"bn_recalib={bn_recalib}: {type(model).__name__} has no BatchNorm "
                                  "layers (LayerNorm networks need no recalibration); use 0")
            self.train = as_batches(train_batches or [], self.device)[:bn_recalib]
            if len(self.train) < bn_recalib:
                raise ConfigError(f"bn_recalib={bn_recalib} needs {bn_recalib} training batches, "
                                  f"got {len(self.train)}")
        self.prefix_cache = bool(prefix_cache)
        self._stem: tuple[list, list] | None = None
        self._prefix: tuple[tuple, list, list] | None = None    # (choices, val acts, train acts)
        self.stats = {"evaluations": 0, "unit_forwards": 0}

    @property
    def num_clips(self) -> int:
        return sum(len(y) for _, y in self.val)

    def slice_batches(self, part: int, parts: int) -> range:
        """Indices of the validation batches of slice `part` of `parts`."""
        nb = len(self.val)
        if not isinstance(parts, int) or not 1 <= parts <= nb:
            raise ConfigError(f"racing needs at most one slice per validation batch: {parts} slices "
                              f"asked, the validation subset has {nb} batches (use fewer slices, "
                              "or smaller batches)")
        if not 0 <= part < parts:
            raise ValueError(f"slice {part} outside 0..{parts - 1}")
        return range(part * nb // parts, (part + 1) * nb // parts)

    # ---- architectures per batch -------------------------------------------------------
    def batch_archs(self, arch: Arch, decided: int | None, draw_seed: int | None,
                    split: str = "val") -> list[Arch]:
        """The architecture each batch of `split` runs (random units drawn per batch)."""
        n = self.space.num_units
        count = len(self.val) if split == "val" else len(self.train)
        if decided is None or decided >= n:
            return [arch] * count
        if draw_seed is None:
            raise ValueError(f"request leaves units {decided}..{n - 1} random but has no draw_seed")
        head = arch.choices[:decided]
        return [Arch(head + self.space.sample(draw_rng(draw_seed, b, split)).choices[decided:])
                for b in range(count)]

    # ---- BN helpers --------------------------------------------------------------------
    def _bn_modules_from(self, start: int, stop: int | None) -> list:
        """BN modules run by units start..stop-1 (with the layers before them), plus the
        stem when start == 0 and the head when stop is None."""
        mods: list[nn.Module] = []
        if start == 0 and stop == 0:
            mods.append(self.model.stem)
        else:
            layers = self.model.layers
            first = 0 if start == 0 else self.model.unit_layers[start - 1] + 1
            last = len(layers) if stop is None else self.model.unit_layers[stop - 1] + 1
            mods.extend(layers[first:last])
            if stop is None:
                mods.append(self.model.head)
        return [bn for m in mods for bn in batchnorm_modules(m)]

    @staticmethod
    def _begin_recalib(bns) -> list:
        saved = []
        for bn in bns:
            saved.append(bn.momentum)
            bn.reset_running_stats()
            bn.momentum = None                      # cumulative moving average
            bn.train()
        return saved

    @staticmethod
    def _end_recalib(bns, saved) -> None:
        for bn, momentum in zip(bns, saved):
            bn.momentum = momentum
            bn.eval()

    # ---- forwards ----------------------------------------------------------------------
    def _run_units(self, h, arch: Arch, start: int, stop: int | None) -> torch.Tensor:
        self.model.set_arch(arch)
        n = self.space.num_units
        self.stats["unit_forwards"] += (n if stop is None else stop) - start
        h = self.model.forward_units(h, start, n if stop is None else stop)
        return self.model.forward_head(h) if stop is None else h

    def _stem_acts(self, batches: range | None = None) -> tuple[list, list]:
        """Stem outputs of the validation (and recalibration) clips; BN in the stem is
        recalibrated first. Without the prefix cache only `batches` are computed (the
        others are None)."""
        if self._stem is not None and self.prefix_cache:
            return self._stem
        train = []
        if self.train:
            bns = self._bn_modules_from(0, 0)
            saved = self._begin_recalib(bns)
            train = [self.model.forward_stem(x) for x, _ in self.train]
            self._end_recalib(bns, saved)
        want = range(len(self.val)) if batches is None or self.prefix_cache else batches
        val = [self.model.forward_stem(x) if b in want else None for b, (x, _) in enumerate(self.val)]
        if self.prefix_cache:
            self._stem = (val, train)
        return val, train

    def _advance(self, acts: tuple[list, list], arch_val: list[Arch], arch_train: list[Arch],
                 start: int, stop: int | None) -> tuple[list, list]:
        """Run units start..stop-1 (and the head when stop is None) on cached activations:
        training batches first, re-estimating the BN layers of that range."""
        val, train = acts
        new_train = []
        if self.train:
            bns = self._bn_modules_from(start, stop)
            saved = self._begin_recalib(bns)
            new_train = [self._run_units(h, a, start, stop) for h, a in zip(train, arch_train)]
            self._end_recalib(bns, saved)
        new_val = [self._run_units(h, a, start, stop) for h, a in zip(val, arch_val)]
        return new_val, new_train

    def _prefix_acts(self, arch: Arch, block: int, batches: range | None = None) -> tuple[list, list]:
        """Activations entering unit `block` for the fixed prefix ``arch[:block]`` (every
        validation batch: a cached prefix serves all slices)."""
        prefix = arch.choices[:block]
        if self.prefix_cache and self._prefix is not None and self._prefix[0] == prefix:
            return self._prefix[1], self._prefix[2]
        start, acts = 0, self._stem_acts(batches)
        if self.prefix_cache and self._prefix is not None:
            done = self._prefix[0]
            if len(done) <= block and prefix[:len(done)] == done:
                start, acts = len(done), (self._prefix[1], self._prefix[2])
        for i in range(start, block):               # one unit at a time, as in a full forward
            acts = self._advance(acts, [arch] * len(self.val), [arch] * len(self.train), i, i + 1)
        if self.prefix_cache:
            self._prefix = (prefix, acts[0], acts[1])
        return acts

    # ---- scoring -----------------------------------------------------------------------
    @torch.inference_mode()
    def evaluate(self, request: EvalRequest | dict) -> EvalResult:
        """Top-1 (%) and mean loss of one request on the validation subset."""
        if isinstance(request, dict):
            request = EvalRequest.from_dict(request)
        start_time = time.perf_counter()
        arch = self.space.parse(request.arch)
        n = self.space.num_units
        decided = n if request.decided is None else int(request.decided)
        block = 0 if request.block is None else int(request.block)
        if not 0 <= block < n or not 0 <= decided <= n or block > decided:
            raise ValueError(f"request block={request.block} decided={request.decided} outside 0..{n}")
        if not self.prefix_cache:
            block = 0
        batches = self.slice_batches(request.part, request.parts)
        acts = self._prefix_acts(arch, block, batches)
        arch_val = self.batch_archs(arch, decided, request.draw_seed, "val")
        arch_train = self.batch_archs(arch, decided, request.draw_seed, "train")
        acts = ([acts[0][b] for b in batches], acts[1])
        logits, _ = self._advance(acts, [arch_val[b] for b in batches], arch_train, block, None)
        hits, losses = [], []
        for out, b in zip(logits, batches):
            y = self.val[b][1]
            hits.append((out.argmax(dim=1) == y).cpu())
            losses.append(float(F.cross_entropy(out.float(), y, reduction="sum")))
        hit = torch.cat(hits).numpy()
        correct, total = int(hit.sum()), len(hit)
        self.stats["evaluations"] += 1
        return EvalResult(100.0 * correct / total, sum(losses) / total, correct, total,
                          time.perf_counter() - start_time, pack_hits(hit), tuple(losses))



class FewShotEvaluator:
    """Scores each architecture on the sub-supernet of its few-shot part (`nas.fewshot`).

    `evaluators[p]` is an `Evaluator` of part p's supernet; all share one validation subset. A
    request whose random units reach into the split units (``decided < split.units``, a
    greedy round) draws its architecture per batch: each batch is scored by the part of its
    own draw, one batch at a time, and the counts are summed (BN recalibration, where on, uses
    the training-batch draws of the part that scores the batch)."""

    def __init__(self, split, evaluators: list[Evaluator]):
        if len(evaluators) != split.num_parts:
            raise ValueError(f"{split.num_parts} parts but {len(evaluators)} evaluators")
        self.split, self.parts = split, evaluators
        self.space = split.space
        self.stats = {"evaluations": 0, "unit_forwards": 0}

    @property
    def num_clips(self) -> int:
        return self.parts[0].num_clips

    def slice_batches(self, part: int, parts: int) -> range:
        return self.parts[0].slice_batches(part, parts)

    def part_of(self, arch) -> int:
        return self.split.part_of(self.space.parse(arch))

    def evaluate(self, request: EvalRequest | dict) -> EvalResult:
        if isinstance(request, dict):
            request = EvalRequest.from_dict(request)
        arch = self.space.parse(request.arch)
        decided = self.space.num_units if request.decided is None else int(request.decided)
        first = self.parts[0]
        if decided >= self.split.units:
            return self._count(self.parts[self.split.part_of(arch)].evaluate(request))
        batches = first.slice_batches(request.part, request.parts)
        drawn = first.batch_archs(arch, decided, request.draw_seed, "val")
        owners = [self.split.part_of(drawn[b]) for b in batches]
        if len(set(owners)) == 1:
            return self._count(self.parts[owners[0]].evaluate(request))
        nb = len(first.val)
        results = [self.parts[p].evaluate(EvalRequest(request.arch, request.decided, request.draw_seed,
                                                      request.block, b, nb))
                   for b, p in zip(batches, owners)]
        for r in results:
            self._count(r)
        self.stats["evaluations"] -= len(results) - 1
        correct, total = sum(r.correct for r in results), sum(r.total for r in results)
        losses = tuple(x for r in results for x in r.batch_losses)
        hits = np.concatenate([unpack_hits(r.hits, r.total) for r in results])
        return EvalResult(100.0 * correct / total, sum(losses) / total, correct, total,
                          sum(r.seconds for r in results), pack_hits(hits), losses)

    def _count(self, result: EvalResult) -> EvalResult:
        self.stats["evaluations"] += 1
        self.stats["unit_forwards"] = sum(e.stats["unit_forwards"] for e in self.parts)
        return result
