"""`DataConfig`: what to load and how, as one validated dataclass.

Four datasets share it:

* ``synthetic-temporal``   bundled, procedurally generated; the label is in the ORDER of the
  frames (Something-Something-like, see `nas.data.synthetic`).
* ``synthetic-appearance`` bundled, procedurally generated; the label is in every frame
  (Kinetics-like).
* ``video-list``           real videos: a folder ``root`` plus list files ``path label``
  (PySlowFast / MMAction2 format, see `nas.data.video`), decoded by ``decoder`` (a name in
  the `nas.data.decoders` registry: ``pyav``, seek-based, is the default).
* ``frame-folder``         videos stored as folders of image files (MMAction2 "rawframes"
  lists ``<dir> <num frames> <label>`` with ``filename_tmpl`` and ``start_index``, or
  PySlowFast frame-list CSVs, see `nas.data.frames`).

Fields left at ``None`` get a dataset-dependent default in ``__post_init__`` (so a built
config always holds concrete values): ``flip`` is off for the temporal synthetic set (a
mirror swaps "move left" and "move right") and on otherwise; ``scale`` (the area range of
the random resized crop) is ``(1.0, 1.0)`` (no crop) for the synthetic sets, whose frames are
already ``size`` x ``size``, and ``(0.08, 1.0)`` for real videos (the MViT recipe that
MorphMLP follows, MorphMLP Sec. 4.1). For Something-Something lists set ``flip: false``
yourself (MorphMLP Sec. 4.2: no flip on temporal datasets).

Every bad value raises a one-line `ValueError` naming the field, the value and what is
allowed; build one from plain data (YAML) with `supernet.training.config.from_dict`, which
also rejects unknown keys and wrong types.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from search_spaces.errors import ConfigError

from supernet.utils.config import from_dict

from .augment import RandAugmentSpec
from .decoders import decoder_names

TEMPORAL_VERSIONS = (2, 3)     # synthetic-temporal generator versions that can be generated
DATASETS = ("synthetic-temporal", "synthetic-appearance", "video-list", "frame-folder")
SAMPLINGS = ("uniform", "dense")
SYNTHETIC_MAX_CLASSES = 10


@dataclass
class AugmentConfig:
    """``data.augment``: the papers' clip augmentations (`nas.data.augment`), all off by
    default, so a config without this section trains exactly as before.

    MLP-3D Sec. 3.4 (label smoothing, RandAugment, random erasing, drop path) and PySlowFast's
    MViT recipe that MorphMLP follows (``rand-m7-n4-mstd0.5-inc1``, erasing 0.25, mixup 0.8,
    cutmix 1.0) are in ``experiments/configs/paper/``.
    """

    rand_augment: str = ""            # "" off; timm's form "rand-m7-n4-mstd0.5-inc1" (same ops for every frame)
    erase_prob: float = 0.0           # random erasing: probability of one box per clip (all frames)
    erase_area: tuple[float, float] = (0.02, 1 / 3)   # its area range, fraction of the frame
    erase_aspect: float = 0.3         # its aspect ratio in [erase_aspect, 1 / erase_aspect]
    repeat: int = 1                   # repeated (batch) augmentation: each clip k times per batch
    mixup_alpha: float = 0.0          # mixup Beta(alpha, alpha); 0 off
    cutmix_alpha: float = 0.0         # cutmix Beta(alpha, alpha); 0 off
    mix_prob: float = 1.0             # probability that a batch is mixed (when either is on)
    mix_switch_prob: float = 0.5      # both on: probability of cutmix rather than mixup

    def __post_init__(self):
        if isinstance(self.erase_area, list):
            self.erase_area = tuple(self.erase_area)
        self.validate()

    @property
    def mixes(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def validate(self) -> "AugmentConfig":
        key = "data.augment"
        if not isinstance(self.rand_augment, str):
            raise ConfigError(f"{key}.rand_augment must be a string like 'rand-m7-n4-mstd0.5-inc1' "
                              f"or '' (off), got {self.rand_augment!r}")
        if self.rand_augment:
            RandAugmentSpec.parse(self.rand_augment, f"{key}.rand_augment")
        for name, low, high, closed in (("erase_prob", 0.0, 1.0, True), ("mix_prob", 0.0, 1.0, True),
                                        ("mix_switch_prob", 0.0, 1.0, True),
                                        ("erase_aspect", 0.0, 1.0, True),
                                        ("mixup_alpha", 0.0, 100.0, True), ("cutmix_alpha", 0.0, 100.0, True)):
            value = getattr(self, name)
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
                  and math.isfinite(value) and low <= value <= high
                  and not (name == "erase_aspect" and value <= 0))
            if not ok:
                allowed = "(0, 1]" if name == "erase_aspect" else f"[{low:g}, {high:g}]"
                raise ConfigError(f"{key}.{name}={value!r} is not allowed; use a number in {allowed}")
        area = self.erase_area
        if (not isinstance(area, tuple) or len(area) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in area)
                or not 0.0 < area[0] <= area[1] < 1.0):
            raise ConfigError(f"{key}.erase_area={area!r} is not allowed; use "
                              f"[low, high] with 0 < low <= high < 1")
        if not isinstance(self.repeat, int) or isinstance(self.repeat, bool) or not 1 <= self.repeat <= 64:
            raise ConfigError(f"{key}.repeat={self.repeat!r} is not allowed; use an integer in 1..64 "
                              f"(it must also divide each process's batch)")
        return self


@dataclass
class DataConfig:
    """Where clips come from and how they are sampled, augmented and normalised."""

    dataset: str = "synthetic-temporal"   # what to load: a bundled generated set, a video list or frame folders
    root: str = ""                    # video-list / frame-folder: folder list paths are relative to
    train_list: str = ""              # video-list: "path label"; frame-folder: "dir frames label"
    val_list: str = ""   # validation list, same format as train_list
    decoder: str = "pyav"             # video-list: a nas.data.decoders registry name
    filename_tmpl: str = "img_{:05d}.jpg"   # frame-folder: frame file names (MMAction2)
    start_index: int = 1              # frame-folder: number of the first frame file
    num_classes: int = 10   # classes of the dataset (labels 0 .. num_classes - 1)
    num_frames: int = 16              # T of every clip
    size: int = 32                    # crop size (synthetic: frame size, 32 or 64 suggested)
    sampling: str = "uniform"         # uniform (sparse, SSv2) | dense (Kinetics)
    frame_interval: int = 4           # dense sampling stride, in frames
    flip: bool | None = None          # None: off for synthetic-temporal, on otherwise
    scale: tuple[float, float] | None = None   # random resized crop area range (train)
    test_clips: int = 1               # multi-view test: temporal clips ...
    test_crops: int = 1               # ... x spatial crops (1 = center, 3 = three-crop)
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)   # per-channel normalisation mean (of 1)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)   # per-channel normalisation std (of 1)
    train_clips_per_class: int = 300  # synthetic sets only
    val_clips_per_class: int = 50   # synthetic sets only: validation clips per class
    beats: int = 4                    # synthetic-temporal: static segments per clip
    noise: float = 0.03               # synthetic: per-pixel Gaussian noise std (of 255)
    temporal_version: int = 2         # synthetic-temporal generator: 2, or 3 (adds a hue cue, `cue`)
    cue: float = 0.75                 # synthetic-temporal v3: P(the object's hue marks the attribute pair)
    seed: int = 0                     # synthetic generation seed (val uses a derived seed); every dataset: the seed of un-keyed clip draws
    cache_dir: str = ""               # "" -> $VIDNAS_CACHE or ~/.cache/vidnas
    augment: AugmentConfig = field(default_factory=AugmentConfig)   # training clips only

    def __post_init__(self):
        for name in ("scale", "mean", "std"):
            value = getattr(self, name)
            if isinstance(value, list):
                setattr(self, name, tuple(value))
        if self.flip is None:
            self.flip = self.dataset != "synthetic-temporal"
        if self.scale is None:
            self.scale = (1.0, 1.0) if self.is_synthetic else (0.08, 1.0)
        self.validate()

    @property
    def is_synthetic(self) -> bool:
        return self.dataset.startswith("synthetic-")

    @property
    def clip_span(self) -> int:
        """Frames a video needs for one clip without repeating any: ``num_frames`` (uniform)
        or ``(num_frames - 1) * frame_interval + 1`` (dense); shorter videos repeat frames."""
        if self.sampling == "dense":
            return (self.num_frames - 1) * self.frame_interval + 1
        return self.num_frames

    @property
    def num_views(self) -> int:
        """V of the multi-view test mode: temporal clips x spatial crops."""
        return self.test_clips * self.test_crops

    def validate(self) -> "DataConfig":
        _one_of("dataset", self.dataset, DATASETS)
        _one_of("sampling", self.sampling, SAMPLINGS)
        for name, low in (("num_classes", 2), ("num_frames", 1), ("size", 8),
                          ("frame_interval", 1), ("test_clips", 1), ("beats", 4),
                          ("train_clips_per_class", 1), ("val_clips_per_class", 1),
                          ("seed", 0)):
            _int_at_least(name, getattr(self, name), low)
        if self.test_crops not in (1, 3):
            raise ConfigError(f"DataConfig.test_crops must be 1 or 3, got {self.test_crops!r}")
        if not isinstance(self.flip, bool):
            raise ConfigError(f"DataConfig.flip must be true or false, got {self.flip!r}")
        _float_tuple("scale", self.scale, 2)
        if not 0.0 < self.scale[0] <= self.scale[1] <= 1.0:
            raise ConfigError(f"DataConfig.scale must satisfy 0 < low <= high <= 1, "
                              f"got {self.scale!r}")
        _float_tuple("mean", self.mean, 3)
        _float_tuple("std", self.std, 3)
        if min(self.std) <= 0:
            raise ConfigError(f"DataConfig.std must be positive, got {self.std!r}")
        if not isinstance(self.noise, (int, float)) or not 0.0 <= self.noise <= 0.5:
            raise ConfigError(f"DataConfig.noise must be a number in [0, 0.5], got {self.noise!r}")
        self._validate_files()
        for name in ("root", "train_list", "val_list", "cache_dir"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"DataConfig.{name} must be a string path, "
                                  f"got {getattr(self, name)!r}")
        if isinstance(self.augment, dict):
            self.augment = from_dict(AugmentConfig, self.augment, prefix="data.augment.")
        if not isinstance(self.augment, AugmentConfig):
            raise ConfigError(f"DataConfig.augment must be a mapping of augment keys, got {self.augment!r}")
        self.augment.validate()
        if self.is_synthetic:
            self._validate_synthetic()
        elif not self.train_list and not self.val_list:
            raise ConfigError(f"DataConfig: dataset {self.dataset!r} needs train_list and/or "
                              f"val_list")
        return self

    def _validate_files(self) -> None:
        _one_of("decoder", self.decoder, decoder_names())
        _int_at_least("start_index", self.start_index, 0)
        tmpl = self.filename_tmpl
        try:
            ok = isinstance(tmpl, str) and tmpl.format(1) != tmpl.format(2) and "/" not in tmpl
        except (IndexError, KeyError, ValueError, AttributeError, TypeError):
            ok = False
        if not ok:
            raise ConfigError(f"DataConfig.filename_tmpl={tmpl!r} must be a file name with one "
                              f"integer field, e.g. 'img_{{:05d}}.jpg'")

    def _validate_synthetic(self) -> None:
        if self.num_classes > SYNTHETIC_MAX_CLASSES:
            raise ConfigError(f"DataConfig.num_classes={self.num_classes}: the synthetic sets "
                              f"have at most {SYNTHETIC_MAX_CLASSES} classes")
        if self.dataset == "synthetic-temporal":
            if self.temporal_version not in TEMPORAL_VERSIONS or isinstance(self.temporal_version, bool):
                raise ConfigError(f"DataConfig.temporal_version={self.temporal_version!r} is not allowed; "
                                  f"use {' or '.join(map(str, TEMPORAL_VERSIONS))}")
            if isinstance(self.cue, bool) or not isinstance(self.cue, (int, float)) or not 0.0 <= self.cue <= 1.0:
                raise ConfigError(f"DataConfig.cue={self.cue!r} must be a number in [0, 1]")
            if self.num_classes % 2:
                raise ConfigError(f"DataConfig.num_classes={self.num_classes}: synthetic-temporal "
                                  f"classes come in pairs (increase/decrease), use 2, 4, .. 10")
            if self.num_frames % self.beats:
                raise ConfigError(f"DataConfig.num_frames={self.num_frames} must be a multiple of "
                                  f"beats={self.beats} for synthetic-temporal")
            if self.flip:
                raise ConfigError("DataConfig.flip=true on synthetic-temporal would swap the "
                                  "left/right and clockwise/counter-clockwise classes; use false")

    PATH_FIELDS = ("root", "train_list", "val_list", "cache_dir")
    # keys that only the generated sets read: a written config of real videos leaves them out
    SYNTHETIC_ONLY = ("train_clips_per_class", "val_clips_per_class", "beats", "noise",
                      "temporal_version", "cue", "cache_dir")
    # the allowed values the configuration reference lists (`supernet.utils.config.schema_reference`)
    CHOICES = {"dataset": DATASETS, "sampling": SAMPLINGS, "test_crops": (1, 3),
               "temporal_version": TEMPORAL_VERSIONS,
               "decoder": lambda: __import__("nas.data.decoders", fromlist=["decoder_names"]).decoder_names()}

    @staticmethod
    def absolute_paths(data: dict[str, Any]) -> dict[str, Any]:
        """`data` (plain dict) with relative path fields made absolute against the current
        directory, for processes that run elsewhere (Ray Tune workers change directory)."""
        out = dict(data)
        for name in DataConfig.PATH_FIELDS:
            if out.get(name):
                out[name] = os.path.abspath(os.path.expanduser(out[name]))
        return out


def _one_of(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"DataConfig.{name}={value!r} is not allowed; use one of "
                          f"{', '.join(allowed)}")


def _int_at_least(name: str, value, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"DataConfig.{name} must be an integer >= {low}, got {value!r}")


def _float_tuple(name: str, value, length: int) -> None:
    if (not isinstance(value, tuple) or len(value) != length
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ConfigError(f"DataConfig.{name} must be {length} numbers, got {value!r}")
