"""Video data: bundled synthetic datasets, real video lists, transforms and resumable loaders.

Usage (all the training loop needs)::

    from nas.data import DataConfig, build_dataset, build_loader, fixed_subset

    cfg = DataConfig(dataset="synthetic-temporal", size=32, num_frames=16)
    train = build_dataset(cfg, "train")               # items (clip (3, T, H, W), label)
    val = build_dataset(cfg, "val", views=True)       # items (clip (V, 3, T, H, W), label)
    loader = build_loader(train, 32, shuffle=True, seed=0, num_workers=2,
                          drop_last=True, epoch=e, start_batch=k)   # resume: epoch e, batch k
    for clips, labels, skipped in loader: ...         # skipped: bad files dropped in the batch
    subset = fixed_subset(val, 256, seed=0)           # the same 256 items every time

Datasets (``DataConfig.dataset``): ``synthetic-temporal`` and ``synthetic-appearance``
(`nas.data.synthetic`, generated from ``seed`` on first use and cached), ``video-list``
(`nas.data.video`, decoded by a `nas.data.decoders` entry) and ``frame-folder``
(`nas.data.frames`, folders of JPEG frames). Sampling and crops: `nas.data.transforms`.
Loader, subsets and multi-view score averaging: `nas.data.loader`. Scanning a dataset for
unreadable samples: `nas.data.check` (``nas data check``).
"""
from __future__ import annotations

from search_spaces.errors import ConfigError

from .base import BadSampleError, ClipDataset, FrameCountChanged
from .seeding import mix_seed
from .config import DATASETS, DataConfig
from .decoders import DECODERS, VideoInfo, decode_video, get_decoder
from .frames import FrameFolderDataset, read_frame_list
from .images import FrameImages
from .loader import (ClipSampler, ClipSubset, average_view_scores, build_loader,
                     collate_clips, fixed_subset)
from .synthetic import SyntheticVideoDataset
from .transforms import ClipTransform, sample_indices
from .video import VideoListDataset, read_video_list

SPLITS = ("train", "val")

__all__ = [
    "DATASETS", "DECODERS", "SPLITS", "BadSampleError", "ClipDataset", "ClipSampler",
    "ClipSubset", "ClipTransform", "DataConfig", "FrameCountChanged", "FrameFolderDataset",
    "FrameImages", "SyntheticVideoDataset", "VideoInfo", "VideoListDataset",
    "average_view_scores", "build_dataset", "build_loader", "collate_clips", "decode_video",
    "fixed_subset", "get_decoder", "mix_seed", "read_frame_list", "read_video_list",
    "sample_indices",
]


def build_dataset(cfg: DataConfig, split: str, views: bool = False, images: bool = False):
    """The `split` ("train" or "val") of `cfg`'s dataset.

    Transforms: ``train`` -> random temporal jitter, resized crop and flip as configured;
    ``val`` -> the centre clip and centre crop; ``views=True`` (either split) ->
    ``cfg.test_clips x cfg.test_crops`` deterministic views per item, ``(V, 3, T, H, W)``.
    ``images=True`` (2D image models) -> one frame per item, ``(3, H, W)`` (`FrameImages`).
    """
    if images:
        if views:
            raise ConfigError("image datasets have no multi-view mode; use test_clips=1, test_crops=1")
        return FrameImages(build_dataset(cfg, split), train=split == "train")
    if not isinstance(cfg, DataConfig):
        raise ValueError(f"build_dataset needs a DataConfig, got {type(cfg).__name__}")
    cfg.validate()
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    mode = "views" if views else ("train" if split == "train" else "test")
    transform = ClipTransform.from_config(cfg, mode)
    if cfg.is_synthetic:
        return SyntheticVideoDataset(cfg, split, transform)
    list_path = cfg.train_list if split == "train" else cfg.val_list
    if not list_path:
        raise ConfigError(f"DataConfig.{split}_list is empty; the {split} split of a "
                          f"{cfg.dataset} dataset needs a list file")
    return LIST_DATASETS[cfg.dataset](cfg, list_path, transform)


# Datasets read from list files: DataConfig.dataset -> builder(cfg, list_path, transform).
LIST_DATASETS = {
    "video-list": lambda cfg, path, transform: VideoListDataset(
        path, cfg.root, cfg.num_classes, transform, cfg.seed, cfg.decoder),
    "frame-folder": lambda cfg, path, transform: FrameFolderDataset(
        path, cfg.root, cfg.num_classes, transform, cfg.seed, cfg.filename_tmpl,
        cfg.start_index),
}
