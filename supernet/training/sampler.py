"""What each training step sees: the architecture(s) it trains and the clips of its batch.

Both are pure functions of (seed, step) or (seed, epoch), so every DDP rank agrees without
communication and a resumed run continues exactly where it stopped.
"""
from __future__ import annotations

import random
from typing import Iterator

import torch

from search_spaces import Arch, SearchSpace


def step_rng(seed: int, step: int, salt: int = 0) -> random.Random:
    """A `random.Random` determined by (seed, step, salt) alone."""
    return random.Random((int(seed) * 1_000_003 + int(step)) * 31 + salt)


class ArchSampler:
    """Architectures for each optimizer step of supernet pretraining.

    ``uniform``: one architecture per step, every unit's choice uniform and independent
    (SPOS). ``fair``: FairNAS's strict fairness: each step trains m = max_i |choices(i)|
    architectures on the same batch and accumulates their gradients before one update; unit
    i's choices appear in a random permutation across the m (units with fewer choices are
    padded with random picks), so every choice of a block receives the same number of updates.
    """

    def __init__(self, space: SearchSpace, kind: str = "uniform", seed: int = 0):
        if kind not in ("uniform", "fair"):
            raise ValueError(f"unknown architecture sampler {kind!r}; allowed: uniform, fair")
        self.space, self.kind, self.seed = space, kind, int(seed)

    @property
    def paths_per_step(self) -> int:
        if self.kind == "uniform":
            return 1
        return max(len(self.space.choices(i)) for i in range(self.space.num_units))

    def archs_for_step(self, step: int) -> list[Arch]:
        rng = step_rng(self.seed, step)
        if self.kind == "uniform":
            return [self.space.sample(rng)]
        m = self.paths_per_step
        columns = []
        for i in range(self.space.num_units):
            choices = list(self.space.choices(i))
            perm = rng.sample(choices, len(choices)) + [rng.choice(choices) for _ in range(m - len(choices))]
            columns.append(perm)
        return [Arch(tuple(col[k] for col in columns)) for k in range(m)]

    def state_dict(self) -> dict:
        return {"kind": self.kind, "seed": self.seed}


class GlobalBatchSampler(torch.utils.data.Sampler):
    """Index batches of one epoch: a seeded permutation cut into global batches, each split
    evenly across `world` processes (rank r takes its slice).

    One process with batch B and N processes with B/N each see exactly the same clips per
    step, which is what makes DDP results equal to single-process ones. `start_batch` skips
    the batches already trained when resuming mid-epoch (without loading them).
    """

    def __init__(self, num_items: int, global_batch: int, seed: int, epoch: int, shuffle: bool = True,
                 rank: int = 0, world: int = 1, start_batch: int = 0, drop_last: bool = True):
        if global_batch % world:
            raise ValueError(f"global batch size {global_batch} is not divisible by {world} processes")
        if num_items < global_batch and drop_last:
            raise ValueError(f"dataset has {num_items} items, fewer than one batch of {global_batch}")
        self.n, self.batch, self.seed, self.epoch = num_items, global_batch, seed, epoch
        self.shuffle, self.rank, self.world = shuffle, rank, world
        self.start, self.drop_last = start_batch, drop_last

    def batches_per_epoch(self) -> int:
        full, rest = divmod(self.n, self.batch)
        return full if self.drop_last or rest == 0 else full + 1

    def order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator().manual_seed(int(self.seed) * 100_003 + int(self.epoch))
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        order = self.order()
        for b in range(self.start, self.batches_per_epoch()):
            chunk = order[b * self.batch:(b + 1) * self.batch]
            per = -(-len(chunk) // self.world)
            yield chunk[self.rank * per:(self.rank + 1) * per]

    def __len__(self) -> int:
        return max(self.batches_per_epoch() - self.start, 0)
