"""Loaders that are exact to resume, skip bad samples, and fixed validation subsets.

`build_loader(dataset, batch_size, shuffle, seed, num_workers, drop_last, sampler=None,
epoch=0, start_batch=0)` returns a `DataLoader` whose batches are ``(clips, labels, skipped)``:

* order: a `ClipSampler` draws the epoch's permutation and one augmentation seed per item
  from a `torch.Generator` seeded by ``(seed, epoch)``; it never touches global RNG state,
  and the DataLoader gets its own generator too, so building a loader does not perturb
  model-side randomness. Items are ``dataset[(index, item_seed)]``: the same clip, crop and
  flip whatever ``num_workers`` is.
* resume: ``epoch=e, start_batch=k`` yields exactly batches k, k+1, ... of epoch e (the
  first ``k * batch_size`` items of the epoch's order are dropped before batching). A custom
  ``sampler`` gets ``set_epoch(epoch)`` if it has it and is wrapped to skip the same way.
* bad samples: a dataset returns ``None`` for a missing or corrupt file (after one warning
  line); `collate_clips` drops them, and ``skipped`` is how many were dropped in this batch,
  for the epoch summary. If every sample of a batch is bad, ``clips`` and ``labels`` are
  empty (``labels.numel() == 0``) and the batch should be skipped.

Multi-view batches are ``(B, V, 3, T, H, W)``: run the model on ``clips.flatten(0, 1)`` and
combine with `average_view_scores`.

`fixed_subset(dataset, n, seed)` is the search engine's validation subset: the same n items
for the same (dataset, n, seed), balanced over classes when the dataset has ``labels``.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from search_spaces.errors import ConfigError

from .seeding import mix_seed


class ClipSampler(Sampler):
    """Yields ``(index, item_seed)`` for one epoch: a fixed-seed permutation (or 0..n-1).

    ``repeat=k`` is repeated (batch) augmentation (Hoffer et al., "Augment your batch", which
    MLP-3D Sec. 4.2 uses for its final retraining; DeiT's ``RASampler`` counts the epoch the
    same way): the epoch keeps its length in clips (``size`` items, the same steps), made of
    the first ``ceil(size / k)`` clips of the permutation, each k times in a row with k
    different seeds, so with a batch divisible by k every batch holds k differently
    augmented views of each of its clips. ``repeat=1`` draws exactly what it drew before.
    """

    def __init__(self, size: int, shuffle: bool = False, seed: int = 0, epoch: int = 0,
                 start: int = 0, repeat: int = 1):
        self.size, self.shuffle, self.seed = int(size), bool(shuffle), int(seed)
        self.epoch, self.start, self.repeat = int(epoch), int(start), int(repeat)
        if self.repeat < 1:
            raise ConfigError(f"data.augment.repeat={repeat!r} is not allowed; use an integer >= 1")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def skip(self, items: int) -> None:
        """Start the epoch after its first `items` items."""
        self.start = int(items)

    def order(self) -> tuple[list[int], list[int]]:
        """The whole epoch: indices and their augmentation seeds."""
        gen = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, 0xE90C))
        if self.shuffle:
            indices = torch.randperm(self.size, generator=gen)
        else:
            indices = torch.arange(self.size)
        seeds = torch.randint(0, 2 ** 62, (self.size,), generator=gen)
        if self.repeat > 1:            # the first ceil(n / k) clips, each k times in a row
            indices = indices[:-(-self.size // self.repeat)].repeat_interleave(self.repeat)[:self.size]
        return indices.tolist(), seeds.tolist()

    def __iter__(self):
        indices, seeds = self.order()
        return iter(list(zip(indices, seeds))[self.start:])

    def __len__(self) -> int:
        return max(self.size - self.start, 0)


class SkipSampler(Sampler):
    """Any sampler without its first `start` items."""

    def __init__(self, sampler, start: int):
        self.sampler, self.start = sampler, int(start)

    def __iter__(self):
        return itertools.islice(iter(self.sampler), self.start, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.start, 0)


def collate_clips(batch: list) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Stack the good items, drop the ``None`` ones: ``(clips, labels, skipped)``."""
    good = [item for item in batch if item is not None]
    skipped = len(batch) - len(good)
    if not good:
        return torch.empty(0), torch.empty(0, dtype=torch.long), skipped
    # numpy's single-threaded copy: torch.stack's intra-op threads spin when cores are busy
    clips = torch.from_numpy(np.stack([clip.numpy() for clip, _ in good]))
    labels = torch.tensor([label for _, label in good], dtype=torch.long)
    return clips, labels, skipped


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)          # workers decode and crop; leave the cores to the model


def build_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, seed: int = 0,
                 num_workers: int = 0, drop_last: bool = False, sampler=None, epoch: int = 0,
                 start_batch: int = 0) -> DataLoader:
    """The loader of epoch `epoch`, starting at batch `start_batch` (see the module doc)."""
    for name, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0),
                             ("epoch", epoch, 0), ("start_batch", start_batch, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"build_loader: {name} must be an integer >= {low}, got {value!r}")
    if sampler is None:
        sampler = ClipSampler(len(dataset), shuffle, seed, epoch)
    elif shuffle:
        raise ValueError("build_loader: shuffle=True with a custom sampler; let the sampler "
                         "shuffle")
    elif hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    if start_batch:
        if isinstance(sampler, ClipSampler):
            sampler.skip(start_batch * batch_size)
        else:
            sampler = SkipSampler(sampler, start_batch * batch_size)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      collate_fn=collate_clips, drop_last=drop_last,
                      worker_init_fn=_worker_init if num_workers else None,
                      generator=torch.Generator().manual_seed(mix_seed(seed, epoch, 0x10AD)))


class ClipSubset(Dataset):
    """Items `indices` of a clip dataset; keys (plain or ``(index, seed)``) pass through."""

    def __init__(self, dataset: Dataset, indices):
        self.dataset, self.indices = dataset, [int(i) for i in indices]
        labels = getattr(dataset, "labels", None)
        self.labels = None if labels is None else [labels[i] for i in self.indices]
        self.classes = getattr(dataset, "classes", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self.dataset[(self.indices[key[0]], key[1])]
        return self.dataset[self.indices[key]]


def fixed_subset(dataset: Dataset, n: int, seed: int = 0) -> ClipSubset:
    """The same `n` items every time (all of them if ``n >= len(dataset)``), in dataset order.

    With ``dataset.labels``, classes take turns (each class's items in a seeded random
    order), so the subset is as balanced as the classes allow.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"fixed_subset: n must be a positive integer, got {n!r}")
    size = len(dataset)
    gen = torch.Generator().manual_seed(mix_seed(seed, 0x5B5E7))
    perm = torch.randperm(size, generator=gen).tolist()
    labels = getattr(dataset, "labels", None)
    if labels is None:
        chosen = perm[:n]
    else:
        by_class: dict[int, list[int]] = {}
        for i in perm:
            by_class.setdefault(int(labels[i]), []).append(i)
        turns = itertools.zip_longest(*(by_class[c] for c in sorted(by_class)))
        chosen = [i for row in turns for i in row if i is not None][:n]
    return ClipSubset(dataset, sorted(chosen))


def average_view_scores(logits: torch.Tensor, num_views: int) -> torch.Tensor:
    """Video scores from view logits ``(B * V, K)`` (clip-major) or ``(B, V, K)``: the mean
    of the views' softmax probabilities (SlowFast's multi-view testing), ``(B, K)``."""
    if num_views < 1 or logits.shape[-1] < 1:
        raise ValueError(f"average_view_scores: bad num_views={num_views!r}")
    if logits.dim() == 2:
        if logits.shape[0] % num_views:
            raise ValueError(f"average_view_scores: {logits.shape[0]} rows are not a multiple "
                             f"of num_views={num_views}")
        logits = logits.view(-1, num_views, logits.shape[-1])
    elif logits.dim() != 3 or logits.shape[1] != num_views:
        raise ValueError(f"average_view_scores: expected (B*V, K) or (B, {num_views}, K), got "
                         f"{tuple(logits.shape)}")
    return logits.softmax(-1).mean(1)
