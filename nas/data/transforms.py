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
  ``flip`` is on (off for temporal datasets, MorphMLP Sec. 4.2);
* test: the short side scaled to ``size`` and a centre crop; three-crop takes the start, the
  centre and the end of the long side (SlowFast's testing, MLP-3D Sec. 4.2). Implemented as
  the largest square at that position resized to ``size`` (the same pixels, one resize).
* views (multi-view test): ``test_clips`` temporal clips x ``test_crops`` crops, clip-major,
  stacked to ``(V, 3, T, size, size)``; the evaluator averages their scores
  (`nas.data.loader.average_view_scores`).

Every random draw takes an explicit `torch.Generator`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

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
    """uint8 (len(indices), H, W, 3) as numpy from a tensor, an array or a lazy video."""
    out = frames[indices]
    return out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)


def crop_resize(frames: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """uint8 (T, H, W, 3) -> float32 (T, 3, size, size) in [0, 1] (bilinear, antialiased).

    Per-clip work stays in numpy (single-threaded): torch's intra-op threads only pay off
    on the resize, and spin badly on small tensors when the cores are busy with the model.
    """
    top, left, h, w = box
    x = frames[:, top:top + h, left:left + w].transpose(0, 3, 1, 2)
    if (h, w) == (size, size):
        return x.astype(np.float32) * np.float32(1 / 255)
    x = torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True).numpy()


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

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"transform mode must be one of {', '.join(MODES)}, "
                             f"got {self.mode!r}")

    @classmethod
    def from_config(cls, cfg, mode: str) -> "ClipTransform":
        return cls(cfg.num_frames, cfg.size, mode, cfg.sampling, cfg.frame_interval, cfg.flip,
                   tuple(cfg.scale), tuple(cfg.mean), tuple(cfg.std), cfg.test_clips,
                   cfg.test_crops)

    @property
    def num_views(self) -> int:
        return self.test_clips * self.test_crops if self.mode == "views" else 1

    def indices(self, video_frames: int, clip: int | None = None, num_clips: int = 1,
                generator: torch.Generator | None = None) -> list[int]:
        return sample_indices(video_frames, self.num_frames, self.sampling,
                              self.frame_interval, clip, num_clips, generator)

    def normalize(self, x: np.ndarray) -> torch.Tensor:
        """float (T, 3, H, W) in [0, 1] -> normalised float32 tensor (3, T, H, W)."""
        mean = np.asarray(self.mean, dtype=np.float32).reshape(3, 1, 1, 1)
        inv_std = 1 / np.asarray(self.std, dtype=np.float32).reshape(3, 1, 1, 1)
        x = np.ascontiguousarray(x.transpose(1, 0, 2, 3), dtype=np.float32)
        return torch.from_numpy((x - mean) * inv_std)

    def __call__(self, frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        shape, dtype = tuple(frames.shape), str(getattr(frames, "dtype", "uint8"))
        if len(shape) != 4 or shape[-1] != 3 or dtype.split(".")[-1] != "uint8":
            raise ValueError(f"expected uint8 frames (L, H, W, 3), got {dtype} {shape}")
        L, H, W, _ = shape
        if self.mode == "train":
            x = take_frames(frames, self.indices(L, generator=generator))
            x = crop_resize(x, random_resized_crop_box(H, W, self.scale, generator), self.size)
            if self.flip and float(torch.rand(1, generator=generator)) < 0.5:
                x = x[..., ::-1]
            return self.normalize(x)
        clips = self.test_clips if self.mode == "views" else 1
        boxes = square_crop_boxes(H, W, self.test_crops if self.mode == "views" else 1)
        views = []
        for c in range(clips):
            x = take_frames(frames, self.indices(L, clip=c, num_clips=clips))
            views.extend(self.normalize(crop_resize(x, box, self.size)) for box in boxes)
        return torch.stack(views) if self.mode == "views" else views[0]
