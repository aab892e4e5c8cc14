"""Two bundled video datasets drawn from a seed: no download, made on first use and cached.

Both render one object on a plain background, 3-channel, square frames of ``size`` pixels,
with per-pixel Gaussian noise that is redrawn for every frame (so no two frames of a clip are
identical) but fixed per clip index (same seed -> bit-identical clips).

**synthetic-temporal** (in the spirit of Something-Something: the label is the order of
events). A clip is ``beats`` segments ("beats", default 4) of ``num_frames / beats`` frames;
within a beat the scene is static apart from the noise. A scene is one arrow-shaped object
(an isosceles triangle, so its rotation is visible) with five attributes:

    x position, y position, size, rotation angle, visibility (contrast against the background)

Class ``2 * a + d`` (a in x, y, size, angle, visibility; d in increase, decrease): move
right / left, move down / up, approach / recede, rotate clockwise / counter-clockwise,
appear / disappear (the first ``num_classes`` of these). Attribute ``a`` steps through
``beats`` evenly spaced levels (plus a jitter of at most 0.2 steps, so levels never swap),
upwards or downwards; the other four attributes keep one random level for the whole clip;
colour, background and base angle are random per clip.

What order carries: the two classes of a pair (``2a``, ``2a + 1``) draw the same multiset of
beats with the same distribution, so a per-frame or bag-of-frames model (2D, S = 1, mean over
time) can tell which attribute changes but not in which direction: at most 50% on the ten
classes, against 100% for an order-aware model. Reversing a clip maps class ``c`` to
``c ^ 1`` exactly. (For a tubelet model, no tubelet should straddle two beats:
``num_frames / beats`` a multiple of the tubelet depth; the default 16 frames / 4 beats
matches MLP-3D's depth 4.)

Level ranges (frame side = 1): x and y 0.30..0.70, size (radius) 0.11..0.23, angle 0..150
degrees on top of a random base angle (range < 180 degrees, so every step has one visible
direction), visibility 0.3..0.9. Increasing angle is clockwise on screen (y points down).

**Version 3** (``temporal_version: 3``) adds a graded first-order cue: with probability
``cue`` (default 0.75) the object's hue lies in the band of its attribute pair (hue in
``[a / 5, (a + 1) / 5)`` for pair ``a``), otherwise anywhere; nothing else changes. Reading
the hue alone gives the pair with probability ``cue + (1 - cue) / 5`` and the direction at
chance: a bag-of-frames ceiling of ``(cue + (1 - cue) / 5) / 2`` (40% at 0.75), against 100%
for an order-aware model. Why: under version 2 a network whose time mixing cannot see across
beats (S = 1 everywhere, or short-range S = 2 at 2 tokens per beat) has exactly nothing to
learn. Its output is a linear head on the mean of per-beat features. For "attribute a
varies" against "attribute a holds one random level", that mean score is the average of the
single-level scores, so no linear head separates them: such networks stay at 10% by
construction, which made half the v1 benchmark's runs uninformative
(experiments/results/ground_truth/). Version 2 stays the default and generates the same
clips as before.

(Version 1 of this generator also permuted the other attributes over the beats, so that even
the bag of frames was label-free; MLP-3D-nano did not learn it from scratch in 10 CPU minutes,
so version 2 holds them still, like the static context of a Something-Something clip.)

**synthetic-appearance** (in the spirit of Kinetics: the label is in every frame). Class
``c`` is a shape (disc, square, triangle, cross, ring: ``c // 2``) times a colour family
(warm or cool hue: ``c % 2``); size, exact hue, background, start position, velocity (the
object bounces off the borders) and spin are random and independent of the class.

Storage: uint8 tensors in ``$VIDNAS_CACHE`` (or ``cache_dir``, default ``~/.cache/vidnas``),
one file per (flavour, split, generation parameters), named by a hash of those parameters,
written atomically and loaded with ``torch.load(..., weights_only=True)``. The temporal set
stores one frame per beat; frames are repeated and noised when a clip is read.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from supernet.training.checkpoint import atomic_torch_save

from .base import ClipDataset
from .seeding import mix_seed
from .config import DataConfig
from .transforms import ClipTransform

log = logging.getLogger(__name__)

GENERATOR_VERSION = 2
SPLIT_CODES = {"train": 0, "val": 1}

# (attribute, name of the increasing class, name of the decreasing class)
TEMPORAL_ATTRIBUTES = (
    ("x", "move right", "move left"),
    ("y", "move down", "move up"),
    ("size", "approach (grow)", "recede (shrink)"),
    ("angle", "rotate clockwise", "rotate counter-clockwise"),
    ("visibility", "appear (fade in)", "disappear (fade out)"),
)
# Value of level 0 and the step between levels, per attribute (positions and radius are in
# units of the frame side; angle in radians; visibility is the blending weight).
TEMPORAL_LEVELS = {
    "x": (0.3, 0.4 / 3),
    "y": (0.3, 0.4 / 3),
    "size": (0.11, 0.04),
    "angle": (0.0, np.radians(50)),
    "visibility": (0.3, 0.2),
}
JITTER = 0.2            # uniform jitter, in level steps (< 0.5 keeps the levels ordered)
NUM_LEVELS = 4          # the ranges above are level 0 .. level NUM_LEVELS - 1

APPEARANCE_SHAPES = ("disc", "square", "triangle", "cross", "ring")
COLOUR_FAMILIES = (("warm", -0.04, 0.14), ("cool", 0.47, 0.68))   # hue ranges


def temporal_class_names(num_classes: int = 10) -> list[str]:
    names = [n for _, inc, dec in TEMPORAL_ATTRIBUTES for n in (inc, dec)]
    return names[:num_classes]


def appearance_class_names(num_classes: int = 10) -> list[str]:
    names = [f"{fam} {shape}" for shape in APPEARANCE_SHAPES for fam, _, _ in COLOUR_FAMILIES]
    return names[:num_classes]


# ---- rendering ---------------------------------------------------------------------------
def _polygon_distance(u: np.ndarray, v: np.ndarray, vertices) -> np.ndarray:
    """Signed distance-like field of a convex polygon (counter-clockwise, radius units)."""
    d = None
    for (ax, ay), (bx, by) in zip(vertices, vertices[1:] + vertices[:1]):
        nx, ny = by - ay, -(bx - ax)                 # outward normal of a CCW edge
        norm = np.hypot(nx, ny)
        e = ((u - ax) * nx + (v - ay) * ny) / norm
        d = e if d is None else np.maximum(d, e)
    return d


ARROW = [(1.1, 0.0), (-0.55, 0.45), (-0.55, -0.45)]      # centroid at 0, points along +u
TRIANGLE = [(np.cos(a), np.sin(a)) for a in (0.0, 2 * np.pi / 3, 4 * np.pi / 3)]


def _shape_distance(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance in radius units (< 0 inside) of a unit-radius shape at the origin."""
    if shape == "arrow":
        return _polygon_distance(u, v, ARROW)
    if shape == "triangle":
        return _polygon_distance(u, v, TRIANGLE)
    if shape == "disc":
        return np.hypot(u, v) - 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) - 0.75
    if shape == "cross":
        return np.minimum(np.maximum(np.abs(u) - 1.0, np.abs(v) - 0.3),
                          np.maximum(np.abs(u) - 0.3, np.abs(v) - 1.0))
    if shape == "ring":
        return np.abs(np.hypot(u, v) - 0.7) - 0.3
    raise ValueError(f"unknown shape {shape!r}")


def render_frames(shape: np.ndarray, cx, cy, radius, angle, alpha, colour, background,
                  size: int, chunk: int = 2048) -> np.ndarray:
    """Draw one object per frame: uint8 frames (F, size, size, 3).

    Per-frame arrays (F,): `shape` (index into ``("arrow",) + APPEARANCE_SHAPES``), centre
    `cx`, `cy` and `radius` in frame units, `angle` (radians; increasing = clockwise on
    screen, whose y axis points down), `alpha` (blend weight); `colour` and `background`
    are (F, 3) in [0, 1]. Edges are anti-aliased by a one-pixel coverage ramp.
    """
    shapes = ("arrow",) + APPEARANCE_SHAPES
    grid = ((np.arange(size) + 0.5) / size).astype(np.float32)
    cx, cy, radius, angle, alpha = (np.asarray(a, dtype=np.float32)
                                    for a in (cx, cy, radius, angle, alpha))
    colour, background = colour.astype(np.float32), background.astype(np.float32)
    out = np.empty((len(cx), size, size, 3), dtype=np.uint8)
    for lo in range(0, len(cx), chunk):
        sl = slice(lo, lo + chunk)
        dx = grid[None, None, :] - cx[sl, None, None]
        dy = grid[None, :, None] - cy[sl, None, None]
        cos, sin = np.cos(angle[sl])[:, None, None], np.sin(angle[sl])[:, None, None]
        r = radius[sl, None, None]
        u, v = (dx * cos + dy * sin) / r, (-dx * sin + dy * cos) / r
        dist = np.empty_like(u)
        for k, name in enumerate(shapes):
            sel = shape[sl] == k
            if sel.any():
                dist[sel] = _shape_distance(name, u[sel], v[sel])
        cover = np.clip(0.5 - dist * r * size, 0.0, 1.0)          # distance in pixels
        weight = (alpha[sl, None, None] * cover)[..., None]
        bg = background[sl, None, None, :]
        img = bg + weight * (colour[sl, None, None, :] - bg)
        out[sl] = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return out


def _hsv_to_rgb(h, s, v) -> np.ndarray:
    h = np.mod(h, 1.0) * 6.0
    i = np.floor(h).astype(int) % 6
    f = h - np.floor(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.stack(c, -1) for c in
                      ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))], 0)
    return table[i, np.arange(len(h))]


def _clip_colours(rng: np.random.Generator, n: int, hue=None):
    """Object colour and a dark, slightly tinted grey background, per clip."""
    hue = rng.uniform(0.0, 1.0, n) if hue is None else hue
    colour = _hsv_to_rgb(hue, rng.uniform(0.6, 1.0, n), rng.uniform(0.8, 1.0, n))
    background = rng.uniform(0.05, 0.35, (n, 1)) + rng.uniform(-0.03, 0.03, (n, 3))
    return colour, np.clip(background, 0.0, 1.0)


# ---- synthetic-temporal ------------------------------------------------------------------
def class_attribute_levels(rng: np.random.Generator, n: int, beats: int = 4) -> np.ndarray:
    """Step 1 (label-free): levels (n, beats) of the class attribute, increasing; level k
    is k (scaled to ``0 .. NUM_LEVELS - 1``) plus a jitter of at most `JITTER` steps."""
    steps = np.arange(beats)[None, :] + rng.uniform(-JITTER, JITTER, (n, beats))
    return steps * (NUM_LEVELS - 1) / (beats - 1)


def temporal_levels(rng: np.random.Generator, labels: np.ndarray,
                    beats: int = 4) -> np.ndarray:
    """Levels (n, A, beats) in clip order: the class attribute ``label // 2`` runs through its
    levels up (even label) or down (odd label); every other attribute holds one random level
    for the whole clip."""
    n, num_attrs = len(labels), len(TEMPORAL_ATTRIBUTES)
    levels = np.repeat(rng.uniform(0, NUM_LEVELS - 1, (n, num_attrs, 1)), beats, axis=-1)
    ramp = class_attribute_levels(rng, n, beats)
    ramp = np.where((labels % 2 == 1)[:, None], ramp[:, ::-1], ramp)
    levels[np.arange(n), labels // 2] = ramp
    return levels


def level_values(levels: np.ndarray) -> np.ndarray:
    """Attribute values (n, A, beats) of levels (n, A, beats), by `TEMPORAL_LEVELS`."""
    names = [a for a, _, _ in TEMPORAL_ATTRIBUTES]
    base = np.array([TEMPORAL_LEVELS[a][0] for a in names])[None, :, None]
    step = np.array([TEMPORAL_LEVELS[a][1] for a in names])[None, :, None]
    return base + levels * step


def monotone_label(values: np.ndarray) -> int:
    """The label that attribute values (A, beats) in clip order encode; -1 if not exactly one
    attribute is strictly monotone (the others are constant)."""
    diffs = np.diff(values, axis=-1)
    inc, dec = (diffs > 0).all(-1), (diffs < 0).all(-1)
    hits = [2 * a for a in np.flatnonzero(inc)] + [2 * a + 1 for a in np.flatnonzero(dec)]
    return hits[0] if len(hits) == 1 else -1


def cue_hues(rng: np.random.Generator, labels: np.ndarray, cue: float) -> np.ndarray:
    """Version 3's hues: in the band ``[a / 5, (a + 1) / 5)`` of pair ``a = label // 2`` with
    probability `cue`, else uniform in [0, 1)."""
    n, bands = len(labels), len(TEMPORAL_ATTRIBUTES)
    marked = rng.uniform(0.0, 1.0, n) < cue
    in_band = (labels // 2 + rng.uniform(0.0, 1.0, n)) / bands
    return np.where(marked, in_band, rng.uniform(0.0, 1.0, n))


def generate_temporal(num_classes: int, clips_per_class: int, size: int, beats: int,
                      seed: int, version: int = 2, cue: float = 0.75
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(keyframes uint8 (N, beats, size, size, 3), labels (N,), values (N, 5, beats) float).

    `values` are the attribute values in clip order (x, y, size, angle offset, visibility),
    kept for tests and inspection. `version` 3 draws the hue by `cue_hues` (module docstring).
    """
    rng = np.random.default_rng(seed)
    n = num_classes * clips_per_class
    labels = rng.permutation(np.arange(n) % num_classes)
    values = level_values(temporal_levels(rng, labels, beats))
    colour, background = _clip_colours(rng, n, cue_hues(rng, labels, cue) if version == 3 else None)
    base_angle = rng.uniform(0.0, 2 * np.pi, n)
    x, y, radius, angle, alpha = (values[:, a].reshape(-1) for a in range(5))
    frames = render_frames(np.zeros(n * beats, dtype=int), x, y, radius,
                           angle + np.repeat(base_angle, beats), alpha,
                           np.repeat(colour, beats, 0), np.repeat(background, beats, 0), size)
    return (torch.from_numpy(frames.reshape(n, beats, size, size, 3)),
            torch.from_numpy(labels.astype(np.int64)), torch.from_numpy(values))


# ---- synthetic-appearance ----------------------------------------------------------------
def _bounce(start: np.ndarray, velocity: np.ndarray, t: np.ndarray, lo: np.ndarray,
            hi: np.ndarray) -> np.ndarray:
    """Position at times t of a point moving at constant speed, reflected at lo and hi."""
    span = (hi - lo)[:, None]
    q = np.mod(start[:, None] - lo[:, None] + velocity[:, None] * t[None, :], 2 * span)
    return lo[:, None] + span - np.abs(q - span)


def generate_appearance(num_classes: int, clips_per_class: int, size: int, num_frames: int,
                        seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames uint8 (N, num_frames, size, size, 3), labels (N,))."""
    rng = np.random.default_rng(seed)
    n = num_classes * clips_per_class
    labels = rng.permutation(np.arange(n) % num_classes)
    families = np.array([COLOUR_FAMILIES[c % 2][1:] for c in labels])
    hue = rng.uniform(families[:, 0], families[:, 1])
    colour, background = _clip_colours(rng, n, hue)
    radius = rng.uniform(0.14, 0.22, n)
    lo, hi = radius + 0.03, 1.0 - radius - 0.03
    t = np.arange(num_frames, dtype=np.float64)
    x = _bounce(rng.uniform(lo, hi), rng.uniform(-0.035, 0.035, n), t, lo, hi)
    y = _bounce(rng.uniform(lo, hi), rng.uniform(-0.035, 0.035, n), t, lo, hi)
    angle = rng.uniform(0, 2 * np.pi, (n, 1)) + rng.uniform(-0.2, 0.2, (n, 1)) * t[None, :]
    shape = np.repeat(labels // 2 + 1, num_frames)                     # 0 is the arrow
    per_frame = lambda a: np.repeat(a, num_frames, 0)                   # noqa: E731
    frames = render_frames(shape, x.reshape(-1), y.reshape(-1), per_frame(radius),
                           angle.reshape(-1), np.ones(n * num_frames), per_frame(colour),
                           per_frame(background), size)
    return (torch.from_numpy(frames.reshape(n, num_frames, size, size, 3)),
            torch.from_numpy(labels.astype(np.int64)))


# ---- cache -------------------------------------------------------------------------------
def cache_root(cache_dir: str = "") -> Path:
    """`cache_dir`, else ``$VIDNAS_CACHE``, else ``~/.cache/vidnas``."""
    root = cache_dir or os.environ.get("VIDNAS_CACHE") or os.path.join("~", ".cache", "vidnas")
    return Path(root).expanduser()


def generation_params(cfg: DataConfig, split: str) -> dict:
    """Everything the cached tensors depend on (noise and clip length are applied on read
    for the temporal set, so they are not part of its key)."""
    if split not in SPLIT_CODES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_CODES)}, got {split!r}")
    temporal = cfg.dataset == "synthetic-temporal"
    params = {"dataset": cfg.dataset, "version": cfg.temporal_version if temporal else GENERATOR_VERSION,
              "split": split,
              "num_classes": cfg.num_classes, "size": cfg.size,
              "clips_per_class": (cfg.train_clips_per_class if split == "train"
                                  else cfg.val_clips_per_class),
              "seed": split_seed(cfg.seed, split)}
    if temporal:
        params["beats"] = cfg.beats
        if cfg.temporal_version == 3:
            params["cue"] = float(cfg.cue)
    else:
        params["num_frames"] = cfg.num_frames
    return params


def split_seed(seed: int, split: str) -> int:
    """Separate, fixed generation seeds for the train and val splits."""
    return mix_seed(seed, SPLIT_CODES[split], 0x5EED)


def cache_path(cfg: DataConfig, split: str) -> Path:
    params = generation_params(cfg, split)
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return cache_root(cfg.cache_dir) / f"{cfg.dataset}-{split}-{cfg.size}px-{key}.pt"


def load_or_generate(cfg: DataConfig, split: str) -> dict[str, torch.Tensor]:
    """The cached tensors of one split, generated (and saved atomically) on first use."""
    path = cache_path(cfg, split)
    if path.exists():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:      # a truncated or foreign file: rebuild it
            log.warning("regenerating unreadable synthetic cache %s (%s)", path, exc)
    params = generation_params(cfg, split)
    if cfg.dataset == "synthetic-temporal":
        frames, labels, values = generate_temporal(cfg.num_classes, params["clips_per_class"],
                                                   cfg.size, cfg.beats, params["seed"],
                                                   cfg.temporal_version, cfg.cue)
        data = {"frames": frames, "labels": labels, "values": values}
    else:
        frames, labels = generate_appearance(cfg.num_classes, params["clips_per_class"],
                                             cfg.size, cfg.num_frames, params["seed"])
        data = {"frames": frames, "labels": labels}
    atomic_torch_save(data, path)
    return data


# ---- dataset -----------------------------------------------------------------------------
NOISY_CLIPS_BYTES = 512 << 20     # a split's noisy clips are kept after their first read when they fit


class SyntheticVideoDataset(ClipDataset):
    """A synthetic split as a clip dataset: items ``(clip (3, T, S, S) float, label)``.

    Clips go through the same `ClipTransform` as real videos (with the default ``scale`` of
    (1, 1) and frames already ``size`` pixels, train and test transforms are the identity
    apart from the optional flip of the appearance set).
    """

    def __init__(self, cfg: DataConfig, split: str, transform: ClipTransform):
        if not cfg.is_synthetic:
            raise ValueError(f"SyntheticVideoDataset needs a synthetic dataset, "
                             f"got {cfg.dataset!r}")
        data = load_or_generate(cfg, split)
        super().__init__(transform, seed=split_seed(cfg.seed, split))
        self.frames = data["frames"]
        self.labels = data["labels"].tolist()
        self.values = data.get("values")
        self.repeat = cfg.num_frames // self.frames.shape[1]
        self.noise = float(cfg.noise) * 255.0
        clip_bytes = self.frames[0].numel() * self.repeat
        keep = self.noise > 0 and len(self.labels) * clip_bytes <= NOISY_CLIPS_BYTES
        self._noisy: dict[int, np.ndarray] | None = {} if keep else None
        names = (temporal_class_names if cfg.dataset == "synthetic-temporal"
                 else appearance_class_names)
        self.classes = names(cfg.num_classes)
        self.name = f"{cfg.dataset}/{split}"

    def __len__(self) -> int:
        return len(self.labels)

    def sample_name(self, index: int) -> str:
        return f"{self.name}[{index}]"

    def load_frames(self, index: int) -> np.ndarray:
        """uint8 (T, S, S, 3): keyframes repeated to T frames, plus this clip's fixed noise.

        The noise is a function of the index, so a noisy clip is drawn once and kept, read-only,
        when the split's fit in `NOISY_CLIPS_BYTES` (drawing it was ~10% of a CPU training step
        of MLP-3D-nano on 32-pixel clips)."""
        if self._noisy is not None and (kept := self._noisy.get(index)) is not None:
            return kept
        frames = self.frames[index].numpy()
        if self.repeat > 1:
            frames = np.repeat(frames, self.repeat, axis=0)
        if self.noise <= 0:
            return frames
        rng = np.random.default_rng(mix_seed(self.seed, index, 0x401))
        noisy = frames + rng.standard_normal(frames.shape, dtype=np.float32) * self.noise
        noisy = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        if self._noisy is not None:
            noisy.setflags(write=False)
            self._noisy[index] = noisy
        return noisy
