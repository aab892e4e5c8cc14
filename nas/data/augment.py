"""Clip augmentations of the papers' recipes: RandAugment, random erasing, mixup / cutmix.

MLP-3D (Qiu et al., "MLP-3D: A MLP-like 3D Architecture with Grouped Time Mixing", Sec. 3.4)
trains with label smoothing, RandAugment (Cubuk et al.), random erasing (Zhong et al.) and
drop path, and its final retraining (Sec. 4.2) adds batch augmentation (Hoffer et al.,
`nas.data.loader.ClipSampler`'s ``repeat``). MorphMLP ("MorphMLP: An Efficient MLP-Like
Backbone for Spatial-Temporal Representation Learning", Sec. 4.1) follows PySlowFast's MViT
recipe, which adds mixup and cutmix; "Revisiting 3D ResNets for Video Recognition" (3D
ResNet-RS, Sec. 3) applies RandAugment "to all frames in a video clip" with the same
parameters. Every random draw takes the item's `torch.Generator` (per-clip ops) or a
generator seeded by (seed, step, rank) (batch mixing), so a resumed run draws the same.

* `RandAugmentSpec` parses timm's ``rand-m7-n4-mstd0.5-inc1`` string (M magnitude out of 10,
  N ops per clip, ``mstd`` Gaussian noise on M per op, ``inc1`` the "increasing" variants of
  posterize / solarize / enhance, ``mmax`` the cap of M, ``p`` the probability of each op,
  0.5 as in timm). `ClipAugment.rand_augment` applies the N ops with ONE draw per clip: the
  same ops, magnitudes and signs for every frame (PySlowFast's video RandAugment, which maps
  the same PIL op over the frames' list). The 15 ops and their magnitude ranges are timm's
  (``timm.data.auto_augment``); geometric ops fill with the normalisation mean, as
  PySlowFast passes ``img_mean``.
* `ClipAugment.erase`: PySlowFast's ``RandomErasing(mode="pixel", max_count=1, cube=True)``:
  with probability ``erase_prob`` one box (area fraction in ``erase_area``, aspect ratio in
  ``[erase_aspect, 1 / erase_aspect]``, 10 attempts) at the same place in every frame, filled
  with per-pixel N(0, 1) noise in normalised units.
* `ClipMixer`: timm's ``Mixup`` in batch mode at clip level: with probability ``mix_prob``
  the batch is mixed with its reverse, by mixup (``lam ~ Beta(mixup_alpha, mixup_alpha)``)
  or, with probability ``mix_switch_prob`` when both are on, cutmix (one box, the same in
  every frame, ``lam`` corrected to the box's true area). Targets become probabilities
  ``lam * onehot(y) + (1 - lam) * onehot(y_reversed)``; the training loop's cross-entropy
  takes them with ``label_smoothing`` (torch smooths probability targets as
  ``(1 - eps) * p + eps / K``, which equals timm's mixing of smoothed one-hots).

Why hand-written ops and not kornia 0.9.0 (``experiments/benchmarks/bench_augment.py``, one
run on nano clips 16 x 32 x 32, 2 cores, 2026-12-02, commit 0a86378; BENCHMARKS.md section
9): kornia's ``auto.RandAugment`` draws its parameters per image, and
``VideoSequential(same_on_frame=True)`` refuses it ("nn.Sequential is currently unsupported"),
so the same-parameters-per-clip rule needs our own draw anyway; behind that draw, kornia's
functional ops took 2.20 ms of CPU per clip against 0.98 ms for these tensor ops (2.24x; its
``auto.RandAugment``, per frame, 8.2 ms), and the loader with 2 workers and the paper's
augmentations gave 326 clips/s with kornia against 397 with these (1.22x). Kornia would also
add a dependency (kornia-rs) the GPU machines do not have, so it is not used.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from search_spaces.errors import ConfigError

from .seeding import mix_seed

LEVEL_DENOM = 10.0                  # timm: magnitudes are out of 10
RAND_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize",
            "SolarizeAdd", "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY",
            "TranslateX", "TranslateY")
GEOMETRIC = ("Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY")
_SPEC_KEYS = {"m": float, "n": int, "mstd": float, "mmax": float, "inc": int, "p": float}


@dataclass(frozen=True)
class RandAugmentSpec:
    """timm's RandAugment settings (``rand-m7-n4-mstd0.5-inc1``)."""

    m: float = 9.0
    n: int = 2
    mstd: float = 0.0
    mmax: float = 10.0
    inc: bool = False
    p: float = 0.5

    @classmethod
    def parse(cls, text: str, key: str = "data.augment.rand_augment") -> "RandAugmentSpec":
        """``rand-mM-nN[-mstdS][-mmaxX][-incI][-pP]``; a one-line error otherwise."""
        form = "'rand-m<magnitude 0..10>-n<ops >= 1>[-mstd<std >= 0>][-inc<0|1>]', e.g. 'rand-m7-n4-mstd0.5-inc1'"
        parts = str(text).split("-")
        if parts[0] != "rand":
            raise ConfigError(f"{key}={text!r} is not a RandAugment spec; use {form}")
        values: dict = {}
        for part in parts[1:]:
            match = re.fullmatch(r"([a-z]+)([0-9.]+)", part)
            if not match or match.group(1) not in _SPEC_KEYS:
                raise ConfigError(f"{key}={text!r}: {part!r} is not one of m, n, mstd, mmax, inc, p; use {form}")
            name, raw = match.groups()
            try:
                values[name] = _SPEC_KEYS[name](raw)
            except ValueError:
                raise ConfigError(f"{key}={text!r}: {part!r} has no valid number; use {form}") from None
        spec = cls(**{**values, "inc": bool(values.get("inc", 0))})
        if not 0 <= spec.m <= spec.mmax or not 0 < spec.mmax <= 100:
            raise ConfigError(f"{key}={text!r}: the magnitude m must be in [0, mmax={spec.mmax:g}]")
        if spec.n < 1 or spec.n > len(RAND_OPS):
            raise ConfigError(f"{key}={text!r}: n (ops per clip) must be in 1..{len(RAND_OPS)}")
        if spec.mstd < 0 or not 0 < spec.p <= 1 or values.get("inc", 0) not in (0, 1):
            raise ConfigError(f"{key}={text!r}: mstd must be >= 0, p in (0, 1], inc 0 or 1")
        return spec


def draw_rand_augment(spec: RandAugmentSpec, generator: torch.Generator) -> list[tuple[str, float]]:
    """The ops of one clip: ``[(op, argument)]`` (N ops chosen with replacement as timm does,
    each kept with probability ``p``; the argument is the op's signed level)."""
    ops = []
    picks = torch.randint(0, len(RAND_OPS), (spec.n,), generator=generator).tolist()
    for pick in picks:
        keep, sign = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        gauss = float(torch.randn(1, generator=generator, dtype=torch.float64)) if spec.mstd > 0 else 0.0
        if keep > spec.p:
            continue
        m = min(max(spec.m + spec.mstd * gauss, 0.0), spec.mmax)
        ops.append((RAND_OPS[pick], _level(RAND_OPS[pick], m / LEVEL_DENOM, spec.inc, sign < 0.5)))
    return ops


def _level(op: str, frac: float, inc: bool, negate: bool) -> float:
    """timm's level functions (``_LEVEL_TO_ARG``) for magnitude fraction `frac` (m / 10)."""
    sign = -1.0 if negate else 1.0
    if op == "Rotate":
        return sign * frac * 30.0                                      # degrees
    if op in ("ShearX", "ShearY"):
        return sign * frac * 0.3
    if op in ("TranslateX", "TranslateY"):
        return sign * frac * 0.45                                      # fraction of the side
    if op in ("Color", "Contrast", "Brightness", "Sharpness"):
        return 1.0 + sign * frac * 0.9 if inc else frac * 1.8 + 0.1    # enhance factor
    if op == "Posterize":
        return float(4 - int(frac * 4) if inc else int(frac * 4))     # bits kept
    if op == "Solarize":
        return float(256 - int(frac * 256) if inc else int(frac * 256))   # threshold /255
    if op == "SolarizeAdd":
        return float(int(frac * 110))
    return 0.0                                                         # AutoContrast, Equalize, Invert


# ---- the ops: x float (3, T, H, W) in [0, 1], the same op on every frame ---------------
def _gray(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)      # (1, T, H, W)


def _blend(degenerate: torch.Tensor, x: torch.Tensor, factor: float) -> torch.Tensor:
    """PIL's ``Image.blend(degenerate, x, factor)`` clipped to [0, 1] (ImageEnhance)."""
    return (degenerate + factor * (x - degenerate)).clamp_(0.0, 1.0)


def _affine(x: torch.Tensor, op: str, arg: float, fill: torch.Tensor) -> torch.Tensor:
    """Rotate / shear / translate every frame by one matrix (output pixel -> input point, in
    pixels with centres at +0.5, as PIL's ``Image.transform``), bilinear, filled with `fill`."""
    _, T, H, W = x.shape
    if op == "Rotate":
        a = math.radians(arg)
        cx, cy = W / 2, H / 2
        A = [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]    # PIL: counter-clockwise
        b = [cx - A[0][0] * cx - A[0][1] * cy, cy - A[1][0] * cx - A[1][1] * cy]
    elif op == "ShearX":
        A, b = [[1.0, arg], [0.0, 1.0]], [0.0, 0.0]
    elif op == "ShearY":
        A, b = [[1.0, 0.0], [arg, 1.0]], [0.0, 0.0]
    elif op == "TranslateX":
        A, b = [[1.0, 0.0], [0.0, 1.0]], [arg * W, 0.0]
    else:
        A, b = [[1.0, 0.0], [0.0, 1.0]], [0.0, arg * H]
    # pixels p = S u + t with u in [-1, 1] (align_corners=False): theta = S^-1 [A | A t + b - t] S
    s, t = (W / 2, H / 2), (W / 2, H / 2)
    theta = torch.tensor([[A[i][j] * s[j] / s[i] for j in range(2)]
                          + [(A[i][0] * t[0] + A[i][1] * t[1] + b[i] - t[i]) / s[i]]
                          for i in range(2)], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(T, 2, 3), [T, 3, H, W], align_corners=False)
    shifted = (x - fill).transpose(0, 1)                                  # (T, 3, H, W)
    out = F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.transpose(0, 1).add_(fill).contiguous()


_SMOOTH = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0


def _sharpness(x: torch.Tensor, factor: float) -> torch.Tensor:
    """PIL's ImageEnhance.Sharpness: blend with the SMOOTH-filtered frame (borders kept)."""
    C, T, H, W = x.shape
    if H < 3 or W < 3:
        return x
    flat = x.transpose(0, 1).reshape(T * C, 1, H, W)
    smooth = F.conv2d(flat, _SMOOTH.to(x.dtype).view(1, 1, 3, 3)).view(T, C, H - 2, W - 2)
    degenerate = x.clone()
    degenerate[:, :, 1:-1, 1:-1] = smooth.transpose(0, 1)
    return _blend(degenerate, x, factor)


def _quantized(x: torch.Tensor) -> torch.Tensor:
    return (x * 255.0).round_().clamp_(0, 255).long()


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """PIL's ImageOps.equalize per frame and channel (its lookup table, vectorised)."""
    C, T, H, W = x.shape
    q = _quantized(x).reshape(C * T, H * W)
    hist = torch.zeros(C * T, 256, dtype=torch.long).scatter_add_(1, q, torch.ones_like(q))
    last = torch.where(hist > 0, torch.arange(256), -1).amax(1, keepdim=True)
    step = (hist.sum(1, keepdim=True) - hist.gather(1, last)) // 255
    before = hist.cumsum(1) - hist                                        # counts below bin i
    lut = ((step // 2 + before) // step.clamp(min=1)).clamp_(max=255)
    lut = torch.where(step > 0, lut, torch.arange(256).expand_as(lut))
    return (lut.gather(1, q).view(C, T, H, W).to(x.dtype)) / 255.0


def _autocontrast(x: torch.Tensor) -> torch.Tensor:
    """PIL's ImageOps.autocontrast (no cutoff) per frame and channel."""
    lo = x.amin((2, 3), keepdim=True)
    hi = x.amax((2, 3), keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (x - lo) / span.clamp(min=1e-12), x)


def apply_op(x: torch.Tensor, op: str, arg: float, fill: torch.Tensor) -> torch.Tensor:
    """One RandAugment op on a clip (3, T, H, W) in [0, 1]."""
    if op in GEOMETRIC:
        return _affine(x, op, arg, fill)
    if op == "AutoContrast":
        return _autocontrast(x)
    if op == "Equalize":
        return _equalize(x)
    if op == "Invert":
        return 1.0 - x
    if op == "Posterize":
        bits = int(arg)
        if bits >= 8:
            return x
        mask = ~(2 ** (8 - bits) - 1) & 0xFF
        return (_quantized(x) & mask).to(x.dtype) / 255.0
    if op == "Solarize":
        return torch.where(x * 255.0 >= arg, 1.0 - x, x)
    if op == "SolarizeAdd":
        return torch.where(x * 255.0 < 128.0, (x + arg / 255.0).clamp_(max=1.0), x)
    if op == "Color":
        return _blend(_gray(x), x, arg)
    if op == "Contrast":
        return _blend(_gray(x).mean((2, 3), keepdim=True), x, arg)
    if op == "Brightness":
        return _blend(torch.zeros_like(x), x, arg)
    if op == "Sharpness":
        return _sharpness(x, arg)
    raise ValueError(f"unknown RandAugment op {op!r}; one of {', '.join(RAND_OPS)}")


def erase_box(height: int, width: int, area: tuple[float, float], aspect: float,
              generator: torch.Generator) -> tuple[int, int, int, int] | None:
    """(top, left, h, w) of PySlowFast's random-erasing box, or None after 10 misses."""
    log_ratio = (math.log(aspect), math.log(1.0 / aspect))
    for _ in range(10):
        r = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        target = (area[0] + (area[1] - area[0]) * r[0]) * height * width
        ratio = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * r[1])
        h, w = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
        if 0 < w < width and 0 < h < height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            return top, left, h, w
    return None


@dataclass(frozen=True)
class ClipAugment:
    """The per-clip augmentations (train mode of `nas.data.transforms.ClipTransform`)."""

    rand_augment: RandAugmentSpec | None = None
    erase_prob: float = 0.0
    erase_area: tuple[float, float] = (0.02, 1 / 3)
    erase_aspect: float = 0.3
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)

    @classmethod
    def from_config(cls, cfg, mean) -> "ClipAugment | None":
        """From a `nas.data.config.AugmentConfig`; None when no per-clip op is on."""
        spec = RandAugmentSpec.parse(cfg.rand_augment) if cfg.rand_augment else None
        if spec is None and cfg.erase_prob <= 0:
            return None
        return cls(spec, float(cfg.erase_prob), tuple(cfg.erase_area), float(cfg.erase_aspect),
                   tuple(mean))

    def rand_augment_clip(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """RandAugment on x (3, T, H, W) in [0, 1]: one draw, applied to every frame."""
        if self.rand_augment is None:
            return x
        fill = torch.tensor(self.mean, dtype=x.dtype).view(3, 1, 1, 1)
        for op, arg in draw_rand_augment(self.rand_augment, generator):
            x = apply_op(x, op, arg, fill)
        return x

    def erase(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Random erasing on a normalised clip (3, T, H, W), in place: one box, all frames."""
        if self.erase_prob <= 0 or float(torch.rand(1, generator=generator)) >= self.erase_prob:
            return x
        box = erase_box(x.shape[2], x.shape[3], self.erase_area, self.erase_aspect, generator)
        if box is not None:
            top, left, h, w = box
            x[:, :, top:top + h, left:left + w] = torch.randn(
                (x.shape[0], x.shape[1], h, w), generator=generator, dtype=x.dtype)
        return x


class ClipMixer:
    """Mixup / cutmix of a batch with its reverse (timm's batch mode), clip-level: the cutmix
    box is the same in every frame. ``mixer(clips, labels, generator)`` -> (clips, targets)
    with targets float ``(B, num_classes)`` summing to 1."""

    def __init__(self, num_classes: int, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0,
                 prob: float = 1.0, switch_prob: float = 0.5):
        self.num_classes = int(num_classes)
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.prob, self.switch_prob = float(prob), float(switch_prob)

    @classmethod
    def from_config(cls, cfg, num_classes: int) -> "ClipMixer | None":
        if cfg.mixup_alpha <= 0 and cfg.cutmix_alpha <= 0:
            return None
        return cls(num_classes, cfg.mixup_alpha, cfg.cutmix_alpha, cfg.mix_prob, cfg.mix_switch_prob)

    def draw(self, rng: np.random.Generator) -> tuple[float, bool]:
        """(lam, use cutmix); lam = 1 when the batch is left unmixed."""
        apply, switch = rng.random(2)
        if apply >= self.prob:
            return 1.0, False
        cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha <= 0 or switch < self.switch_prob)
        alpha = self.cutmix_alpha if cutmix else self.mixup_alpha
        return float(rng.beta(alpha, alpha)), cutmix

    def __call__(self, clips: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator):
        lam, cutmix = self.draw(rng)
        flipped = clips.flip(0)
        if cutmix:
            H, W = clips.shape[-2:]
            ratio = math.sqrt(1.0 - lam)
            ch, cw = int(H * ratio), int(W * ratio)
            cy, cx = int(rng.integers(0, H)), int(rng.integers(0, W))
            y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, H)
            x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, W)
            clips = clips.clone()
            clips[..., y0:y1, x0:x1] = flipped[..., y0:y1, x0:x1]
            lam = 1.0 - (y1 - y0) * (x1 - x0) / (H * W)
        elif lam < 1.0:
            clips = clips * lam + flipped * (1.0 - lam)
        one_hot = F.one_hot(labels.long(), self.num_classes).to(torch.float32)
        return clips, one_hot * lam + one_hot.flip(0) * (1.0 - lam)


def batch_mixer(cfg, num_classes: int, seed: int, rank: int = 0):
    """The training loop's ``batch_transform(clips, labels, step)`` for ``data.augment``'s
    mixup / cutmix, or None when both are off. Draws come from (seed, step, rank), so a
    resumed run mixes the same pairs with the same lam and box."""
    mixer = ClipMixer.from_config(cfg, num_classes)
    if mixer is None:
        return None

    def transform(clips, labels, step: int):
        return mixer(clips, labels, np.random.default_rng(mix_seed(seed, step, rank, 0x313C)))
    return transform
