"""What each training step sees: the architecture(s) it trains and the clips of its batch.

Both are pure functions of (seed, step) or (seed, epoch), so every DDP rank agrees without
communication and a resumed run continues exactly where it stopped.
"""
from __future__ import annotations

import random
from typing import Iterator

import torch

from search_spaces import Arch, SearchSpace
from search_spaces.errors import ConfigError


def step_rng(seed: int, step: int, salt: int = 0) -> random.Random:
    """A `random.Random` determined by (seed, step, salt) alone."""
    return random.Random((int(seed) * 1_000_003 + int(step)) * 31 + salt)


SAMPLERS = ("uniform", "fair", "sandwich")


class ArchSampler:
    """Architectures for each optimizer step of supernet pretraining.

    ``uniform``: one architecture per step, every unit's choice uniform and independent
    (SPOS). ``fair``: FairNAS's strict fairness: each step trains m = max_i |choices(i)|
    architectures on the same batch and accumulates their gradients before one update; unit
    i's choices appear in a random permutation across the m (units with fewer choices are
    padded with random picks), so every choice of a block receives the same number of updates.
    ``sandwich`` (BigNAS / AttentiveNAS): each step trains the `largest` architecture, the
    `smallest` and `sandwich_random` uniform random ones on the same batch, gradients
    accumulated before one update; the training loop (`is_distilling`) gives the largest
    the labels and every other path the largest one's detached soft predictions (in-place
    distillation). The caller defines largest and smallest (vidnas: by GFLOPs, see
    `nas.costs.unit_table.extreme_archs`).

    Warm start (optional): the first `warmup_steps` steps train only `warmup_arch`, as
    Once-for-All trains its largest network before sampling subnets. On the bundled CPU data
    MLP-3D-nano's supernet sat at chance for 10+ epochs under uniform sampling from scratch,
    while a fixed SR network left the plateau after ~300 steps; warming up on the SR network
    at S_max (whose W_S uses every interval matrix w_dt of Eq. 5) gets the shared weights
    past that plateau before sampling starts.
    """

    def __init__(self, space: SearchSpace, kind: str = "uniform", seed: int = 0,
                 warmup_arch: Arch | str | None = None, warmup_steps: int = 0,
                 largest: Arch | str | None = None, smallest: Arch | str | None = None,
                 sandwich_random: int = 2):
        if kind not in SAMPLERS:
            raise ConfigError(f"unknown architecture sampler {kind!r}; allowed: {', '.join(SAMPLERS)}")
        self.space, self.kind, self.seed = space, kind, int(seed)
        self.warmup_arch = space.parse(warmup_arch) if warmup_arch is not None else None
        self.warmup_steps = int(warmup_steps) if warmup_arch is not None else 0
        self.largest = self.smallest = None
        self.sandwich_random = int(sandwich_random)
        if kind == "sandwich":
            if largest is None or smallest is None:
                raise ConfigError("the sandwich sampler needs the largest and the smallest architecture")
            if self.sandwich_random < 0:
                raise ConfigError(f"sandwich_random must be >= 0, got {sandwich_random}")
            self.largest, self.smallest = space.parse(largest), space.parse(smallest)

    @property
    def paths_per_step(self) -> int:
        if self.kind == "uniform":
            return 1
        if self.kind == "sandwich":
            return 2 + self.sandwich_random
        return max(len(self.space.choices(i)) for i in range(self.space.num_units))

    def is_distilling(self, step: int) -> bool:
        """Whether the paths after the first learn from its soft predictions at `step`
        (sandwich steps; not the warm start's single-path steps)."""
        return self.kind == "sandwich" and step >= self.warmup_steps

    def archs_for_step(self, step: int) -> list[Arch]:
        if step < self.warmup_steps:
            return [self.warmup_arch]
        rng = step_rng(self.seed, step)
        if self.kind == "uniform":
            return [self.space.sample(rng)]
        if self.kind == "sandwich":
            return [self.largest, self.smallest] + [self.space.sample(rng) for _ in range(self.sandwich_random)]
        m = self.paths_per_step
        columns = []
        for i in range(self.space.num_units):
            choices = list(self.space.choices(i))
            perm = rng.sample(choices, len(choices)) + [rng.choice(choices) for _ in range(m - len(choices))]
            columns.append(perm)
        return [Arch(tuple(col[k] for col in columns)) for k in range(m)]

    def state_dict(self) -> dict:
        return {"kind": self.kind, "seed": self.seed, "warmup_steps": self.warmup_steps,
                "warmup_arch": str(self.warmup_arch) if self.warmup_arch is not None else "",
                "largest": str(self.largest) if self.largest is not None else "",
                "smallest": str(self.smallest) if self.smallest is not None else "",
                "sandwich_random": self.sandwich_random}


class RankSlices(torch.utils.data.Sampler):
    """Rank r's share of every global batch of `base`'s order (for DDP).

    `base` yields one epoch's items in order (e.g. ``(index, augmentation seed)`` pairs, and
    has `set_epoch`); cut into global batches of `global_batch`, each split evenly across
    `world` processes, rank r takes its slice. A loader with batch size
    ``global_batch // world`` then gives one process with batch B and N processes with B/N
    exactly the same clips per step, which makes DDP results equal to single-process ones.
    The incomplete last global batch is dropped so every rank sees the same number of steps.
    """

    def __init__(self, base, global_batch: int, rank: int = 0, world: int = 1):
        if global_batch % world:
            raise ConfigError(f"global batch size {global_batch} is not divisible by {world} processes")
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside 0..{world - 1}")
        self.base, self.batch, self.rank, self.world = base, global_batch, rank, world
        self.per_rank = global_batch // world

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def batches_per_epoch(self) -> int:
        return len(self.base) // self.batch

    def __iter__(self) -> Iterator:
        items = list(self.base)
        lo, hi = self.rank * self.per_rank, (self.rank + 1) * self.per_rank
        for b in range(self.batches_per_epoch()):
            yield from items[b * self.batch:(b + 1) * self.batch][lo:hi]

    def __len__(self) -> int:
        return self.batches_per_epoch() * self.per_rank
