"""Frame sampling and spatial transforms of a clip: decoded uint8 frames -> network input.

Temporal sampling, `sample_indices` (a pure function of the video length):

* ``uniform`` (sparse, TSN-style, used for Something-Something): the video is cut into
  N equal segments and one frame is taken from each: a random one when training, the middle
  one when testing (test clip c of C takes the point at (c + 1/2) / C of every segment).
* ``dense`` (Kinetics): N frames ``frame_interval`` apart from one start frame: a random start
  when training; test clip c of C starts at the middle of the c-th of C equal bins of the
  possible start positions (one clip: the video's centre).
* Short videos (MLP-3D Sec. 3.4: "all the frames are repeated until obtaining enough
  frames"): when the video has fewer frames than a clip needs, every frame is repeated in
  place, in order (nearest-neighbour stretching: 5 frames -> 0 0 0 1 1 1 ...), never looped,
  so a temporal dataset's order of events survives. For dense sampling "shorter" means shorter
  than the span ``(N - 1) * frame_interval + 1``; such a video is sampled uniformly over its
  whole length instead.

Spatial transforms (the same crop and flip for every frame of a clip):

* train: random resized crop (area in ``scale``, aspect ratio in [3/4, 4/3], torchvision's
  recipe) resized to ``size`` x ``size``, then a horizontal flip with probability 1/2 when
  ``flip`` is on (off for temporal datasets, MorphMLP Sec. 4.2); with ``data.augment``
  (`nas.data.augment.ClipAugment`) then RandAugment before and random erasing after the
  normalisation, one draw per clip for all its frames (off by default: no extra draw);
* test: the short side scaled to ``size`` and a centre crop; three-crop takes the start, the
  centre and the end of the long side (SlowFast's testing, MLP-3D Sec. 4.2). Implemented as
  the largest square at that position resized to ``size`` (the same pixels, one resize).
* views (multi-view test): ``test_clips`` temporal clips x ``test_crops`` crops, clip-major,
  stacked to ``(V, 3, T, size, size)``; the evaluator averages their scores
  (`nas.data.loader.average_view_scores`). The frames of all views are fetched in one call,
  so a lazy video (`nas.data.decoders`) decodes the video once for all of them.

The resize is antialiased bilinear (``F.interpolate(..., antialias=True)``'s weights) done as
two matrix products with cached weights, fused with the flip and the normalisation
(`crop_resize_normalize`): the same output up to float rounding, a fraction of the time.
Every random draw takes an explicit `torch.Generator`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
import numpy as np
import torch

from .augment import ClipAugment

ASPECT_RATIO = (3 / 4, 4 / 3)
MODES = ("train", "test", "views")


def sample_indices(video_frames: int, num_frames: int, sampling: str = "uniform",
                   frame_interval: int = 1, clip: int | None = None, num_clips: int = 1,
                   generator: torch.Generator | None = None) -> list[int]:
    """Frame indices (length `num_frames`, non-decreasing) of one clip of a video.

    ``clip=None`` is training (random; needs `generator`), ``clip=c`` is test clip c of
    `num_clips` (deterministic).
    """
    L, N = int(video_frames), int(num_frames)
    if L < 1:
        raise ValueError(f"cannot sample from a video with {video_frames} frames")
    if N < 1 or frame_interval < 1:
        raise ValueError(f"num_frames and frame_interval must be >= 1, got {num_frames}, "
                         f"{frame_interval}")
    if sampling not in ("uniform", "dense"):
        raise ValueError(f"sampling must be 'uniform' or 'dense', got {sampling!r}")
    if clip is not None and not 0 <= clip < num_clips:
        raise ValueError(f"test clip {clip} out of range 0..{num_clips - 1}")
    if clip is None and generator is None:
        raise ValueError("training sampling (clip=None) needs a torch.Generator")
    span = (N - 1) * frame_interval + 1
    if sampling == "dense" and L >= span:
        if clip is None:
            start = int(torch.randint(0, L - span + 1, (1,), generator=generator))
        else:
            start = (L - span) * (2 * clip + 1) // (2 * num_clips)
        return [start + i * frame_interval for i in range(N)]
    if clip is None:                       # a random frame of each of N equal segments
        u = torch.rand(N, generator=generator, dtype=torch.float64)
        pos = ((torch.arange(N, dtype=torch.float64) + u) * L / N).floor().long()
        return pos.clamp_(max=L - 1).tolist()
    return [(2 * num_clips * i + 2 * clip + 1) * L // (2 * num_clips * N) for i in range(N)]


def random_resized_crop_box(height: int, width: int, scale: tuple[float, float],
                            generator: torch.Generator,
                            ratio: tuple[float, float] = ASPECT_RATIO) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random crop with area fraction in `scale` and aspect ratio
    (w / h) in `ratio`; after 10 misses, the centre crop of the nearest allowed ratio.
    ``scale[0] >= 1`` is the whole frame."""
    if scale[0] >= 1.0:
        return 0, 0, height, width
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        r = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * r[0])
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * r[1])
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def square_crop_boxes(height: int, width: int, crops: int) -> list[tuple[int, int, int, int]]:
    """Test crops (top, left, side, side): the largest square at the centre (1 crop) or at the
    start, centre and end of the long side (3 crops)."""
    if crops not in (1, 3):
        raise ValueError(f"test crops must be 1 or 3, got {crops!r}")
    side = min(height, width)
    slack_h, slack_w = height - side, width - side
    positions = [0.5] if crops == 1 else [0.0, 0.5, 1.0]
    return [(int(slack_h * p), int(slack_w * p), side, side) for p in positions]


def take_frames(frames, indices: list[int]) -> np.ndarray:
    """uint8 (len(indices), H, W, 3) as numpy from a tensor, an array or a lazy video (asked
    once, for the distinct indices, so a lazy video decodes each frame once)."""
    distinct = sorted(set(int(i) for i in indices))
    out = frames[distinct]
    out = out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    if len(distinct) == len(indices) and distinct == list(indices):
        return out
    where = {f: k for k, f in enumerate(distinct)}
    return out[[where[int(i)] for i in indices]]


@functools.lru_cache(maxsize=512)
def resize_weights(in_size: int, out_size: int) -> torch.Tensor:
    """float32 (out_size, in_size): the antialiased bilinear resize along one axis, the
    weights of ``F.interpolate(mode="bilinear", align_corners=False, antialias=True)`` (a
    triangle filter stretched by the scale when shrinking, normalised per output pixel)."""
    scale = in_size / out_size
    support = scale if scale >= 1.0 else 1.0          # bilinear: half-width 1, times the scale
    inv = 1.0 / scale if scale >= 1.0 else 1.0
    weights = np.zeros((out_size, in_size), np.float64)
    for i in range(out_size):
        centre = scale * (i + 0.5)
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), in_size)
        w = np.clip(1.0 - np.abs((np.arange(lo, hi) - centre + 0.5) * inv), 0.0, None)
        weights[i, lo:hi] = w / w.sum()
    return torch.from_numpy(weights.astype(np.float32))


@functools.lru_cache(maxsize=512)
def _row_bands(in_size: int, out_size: int, block: int = 8) -> tuple:
    """`resize_weights` cut into blocks of `block` output rows with the input rows each
    block reads: ``(r0, r1, lo, hi, weights[r0:r1, lo:hi])``."""
    weights = resize_weights(in_size, out_size)
    bands = []
    for r0 in range(0, out_size, block):
        rows = weights[r0:r0 + block]
        used = torch.nonzero(rows.sum(0)).flatten()
        lo, hi = int(used[0]), int(used[-1]) + 1
        bands.append((r0, r0 + len(rows), lo, hi, rows[:, lo:hi].contiguous()))
    return tuple(bands)


def crop_resize_normalize(frames: np.ndarray, box: tuple[int, int, int, int], size: int,
                          mean, std, flip: bool = False) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> normalised float32 (3, T, size, size): the crop `box`, resized
    (bilinear, antialiased: the same as ``F.interpolate(..., antialias=True)`` up to float
    rounding), optionally mirrored, then ``(x / 255 - mean) / std`` per channel.

    The resize is two matrix products with cached weight matrices (`resize_weights`), rows
    first in blocks that read only the input rows they need, on channels-last data, so the
    large input is read once and never transposed. Per-clip work stays single-threaded in
    data-loader workers (they set one torch thread).
    """
    top, left, h, w = box
    T = frames.shape[0]
    crop = frames[:, top:top + h, left:left + w]
    mean = torch.tensor(mean, dtype=torch.float32).view(3, 1)
    inv_std = 1 / torch.tensor(std, dtype=torch.float32).view(3, 1)
    if (h, w) == (size, size):
        x = crop[:, :, ::-1] if flip else crop
        x = torch.from_numpy(x.astype(np.float32).transpose(3, 0, 1, 2).copy())
        x.mul_(np.float32(1 / 255))
    else:
        src = torch.from_numpy(crop.astype(np.float32)).view(T, h, w * 3)
        if h >= 2 * size:                              # shrinking rows: read only the band
            rows = torch.empty(T, size, w * 3)
            for r0, r1, lo, hi, weights in _row_bands(h, size):
                torch.matmul(weights, src[:, lo:hi], out=rows[:, r0:r1])
        else:
            rows = torch.matmul(resize_weights(h, size), src)
        cols = resize_weights(w, size)
        cols = cols.flip(0) if flip else cols
        rows = rows.view(T, size, w, 3).permute(3, 0, 1, 2).reshape(3 * T * size, w)
        x = torch.mm(rows, cols.t()).view(3, T, size, size).mul_(1 / 255)
    flat = x.view(3, -1)
    flat.sub_(mean).mul_(inv_std)
    return x


@dataclass(frozen=True)
class ClipTransform:
    """Sample, crop, flip and normalise: frames uint8 (L, H, W, 3) -> float clip.

    `frames` is a uint8 tensor or array, or any object with that ``shape`` whose
    ``frames[indices]`` returns those frames (e.g. `nas.data.video.DecodedVideo`).
    """

    num_frames: int
    size: int
    mode: str = "test"                    # train | test | views
    sampling: str = "uniform"
    frame_interval: int = 1
    flip: bool = False
    scale: tuple[float, float] = (0.08, 1.0)
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)
    test_clips: int = 1
    test_crops: int = 1
    augment: ClipAugment | None = None      # train mode: RandAugment, erasing (nas.data.augment)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"transform mode must be one of {', '.join(MODES)}, "
                             f"got {self.mode!r}")

    @classmethod
    def from_config(cls, cfg, mode: str) -> "ClipTransform":
        augment = ClipAugment.from_config(cfg.augment, cfg.mean) if mode == "train" else None
        return cls(cfg.num_frames, cfg.size, mode, cfg.sampling, cfg.frame_interval, cfg.flip,
                   tuple(cfg.scale), tuple(cfg.mean), tuple(cfg.std), cfg.test_clips,
                   cfg.test_crops, augment)

    @property
    def num_views(self) -> int:
        return self.test_clips * self.test_crops if self.mode == "views" else 1

    def indices(self, video_frames: int, clip: int | None = None, num_clips: int = 1,
                generator: torch.Generator | None = None) -> list[int]:
        return sample_indices(video_frames, self.num_frames, self.sampling,
                              self.frame_interval, clip, num_clips, generator)

    def crop(self, x: np.ndarray, box, flip: bool = False) -> torch.Tensor:
        """uint8 (T, H, W, 3) -> normalised float32 clip (3, T, size, size)."""
        return crop_resize_normalize(x, box, self.size, self.mean, self.std, flip)

    def augmented(self, x: np.ndarray, box, flip: bool, generator: torch.Generator) -> torch.Tensor:
        """The train crop with `augment`: crop and resize to [0, 1], RandAugment (one draw for
        the clip), normalise, random erasing (one box for the clip); draws after the crop's."""
        clip = crop_resize_normalize(x, box, self.size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), flip)
        clip = self.augment.rand_augment_clip(clip, generator)
        mean = torch.tensor(self.mean, dtype=clip.dtype).view(3, 1)
        inv_std = 1 / torch.tensor(self.std, dtype=clip.dtype).view(3, 1)
        clip = clip.contiguous()
        clip.view(3, -1).sub_(mean).mul_(inv_std)
        return self.augment.erase(clip, generator)

    def __call__(self, frames, generator: torch.Generator) -> torch.Tensor:
        shape, dtype = tuple(frames.shape), str(getattr(frames, "dtype", "uint8"))
        if len(shape) != 4 or shape[-1] != 3 or dtype.split(".")[-1] != "uint8":
            raise ValueError(f"expected uint8 frames (L, H, W, 3), got {dtype} {shape}")
        L, H, W, _ = shape
        if self.mode == "train":                       # draws: indices, crop, flip
            indices = self.indices(L, generator=generator)
            box = random_resized_crop_box(H, W, self.scale, generator)
            flip = self.flip and float(torch.rand(1, generator=generator)) < 0.5
            if self.augment is None:
                return self.crop(take_frames(frames, indices), box, flip)
            return self.augmented(take_frames(frames, indices), box, flip, generator)
        clips = self.test_clips if self.mode == "views" else 1
        boxes = square_crop_boxes(H, W, self.test_crops if self.mode == "views" else 1)
        per_clip = [self.indices(L, clip=c, num_clips=clips) for c in range(clips)]
        every = [i for indices in per_clip for i in indices]
        x = take_frames(frames, every)                 # one decode for all the views
        views = []
        for c in range(clips):
            part = x[c * self.num_frames:(c + 1) * self.num_frames]
            views.extend(self.crop(part, box) for box in boxes)
        return torch.stack(views) if self.mode == "views" else views[0]
