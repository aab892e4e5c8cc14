"""Frames of a clip dataset as an image dataset, for 2D image pretraining.

MLP-3D (Qiu et al., Sec. 3.4 / 4.2) starts every network, supernet and standalone, from an
ImageNet-pretrained 2D CycleMLP inflated by center initialization. Nothing is downloaded
here, so the bundled stand-in for ImageNet is the frames of a bundled clip set (e.g.
``synthetic-appearance``, whose label is visible in every frame). An item is one frame
``(3, H, W)`` of the underlying clip: a frame drawn from the item's augmentation seed when
training (so successive epochs see different frames of each clip), the centre frame when
testing. Bad samples stay ``None``, as for clips.
"""
from __future__ import annotations

from torch.utils.data import Dataset


class FrameImages(Dataset):
    """Images ``(3, H, W)`` taken from the clips ``(3, T, H, W)`` of `clips`."""

    def __init__(self, clips: Dataset, train: bool):
        self.clips, self.train = clips, bool(train)
        self.labels = getattr(clips, "labels", None)
        self.classes = getattr(clips, "classes", None)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, key):
        item = self.clips[key]
        if item is None:
            return None
        clip, label = item
        if clip.dim() != 4:
            raise ValueError(f"FrameImages takes single-view clips (3, T, H, W), got {tuple(clip.shape)}")
        t = clip.shape[1]
        seed = key[1] if isinstance(key, tuple) else None
        frame = (int(seed) % t) if self.train and seed is not None else t // 2
        return clip[:, frame].contiguous(), label
