"""The clip dataset contract shared by the synthetic sets and real video lists.

A `ClipDataset` item is ``(clip, label)`` with ``clip`` float32 ``(3, T, H, W)`` (or
``(V, 3, T, H, W)`` in multi-view mode), or ``None`` when the sample's file is missing or
corrupt: the loader's collate function drops those and counts them (see `nas.data.loader`).
One warning line is logged per bad file and process.

Keys: ``dataset[i]`` or ``dataset[(i, seed)]``. The seed drives every random choice of that
item (temporal jitter, crop, flip) through its own `torch.Generator`, so an item depends only
on (index, seed), never on the worker that loads it or on global RNG state. The loader's
sampler hands out ``(index, seed)`` pairs drawn from the epoch's generator; a plain index
uses a fixed seed derived from the dataset seed and the index.
"""
from __future__ import annotations

import logging

import torch
from torch.utils.data import Dataset

from .seeding import mix_seed
from .transforms import ClipTransform

log = logging.getLogger("nas.data")


class BadSampleError(Exception):
    """A sample that cannot be read (missing or corrupt file): skipped, never fatal."""


class FrameCountChanged(Exception):
    """A lazy video found, while decoding, that it has another number of frames than its
    index said; ``video`` holds the fully decoded frames to sample the item from again."""

    def __init__(self, video):
        super().__init__(f"decoded {len(video)} frames, not the indexed count")
        self.video = video


class ClipDataset(Dataset):
    """Base class: subclasses set ``labels`` and ``classes`` and implement `load_frames`
    (uint8 ``(L, H, W, 3)``, or a lazy video with that ``shape`` whose ``frames[indices]``
    decodes those frames; raise `BadSampleError` for unreadable samples), `sample_name` and,
    for `nas data check`, `probe` (a `nas.data.decoders.VideoInfo`)."""

    labels: list[int]
    classes: list[str]

    def __init__(self, transform: ClipTransform, seed: int = 0):
        self.transform = transform
        self.seed = int(seed)
        self._warned: set[str] = set()

    def __len__(self) -> int:
        return len(self.labels)

    def load_frames(self, index: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample_name(self, index: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def probe(self, index: int, full: bool = False):  # pragma: no cover - abstract
        raise NotImplementedError

    def item_seed(self, index: int) -> int:
        """The seed of a plain-index key (fixed per index)."""
        return mix_seed(self.seed, index, 0xA06)

    def __getitem__(self, key):
        index, seed = key if isinstance(key, tuple) else (key, None)
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} clips")
        index %= len(self)
        item_seed = self.item_seed(index) if seed is None else int(seed)
        try:
            frames = self.load_frames(index)
            try:
                clip = self.transform(frames, torch.Generator().manual_seed(item_seed))
            except FrameCountChanged as changed:     # sample again from the true length
                clip = self.transform(changed.video, torch.Generator().manual_seed(item_seed))
        except BadSampleError as exc:
            name = self.sample_name(index)
            if name not in self._warned:
                self._warned.add(name)
                log.warning("skipping bad video %s: %s", name, exc)
            return None
        return clip, self.labels[index]
