"""MorphMLP networks (MorphMLP paper, Sec. 3.3, Fig. 7-8): video S/B, image T/S/B/L, and nano.

Tokens are channels-last ``(B, T, H, W, C)`` throughout (images: T = 1). One block (Fig. 7):

    X_t = X + MorphFC_t(LN(X))                    (video only)
    Y   = X + MorphFC_s(LN(X_t))                  skip residual (Fig. 7 red line, Table 7)
    Z   = Y + MLP(LN(Y))

The searchable units hold the blocks of one decision unit (one block, or a whole stage with
``granularity="stage"``); a unit's choice is the spatial chunk L of MorphFC_s and, in video
models, the temporal chunk L_t of MorphFC_t (``search_spaces/morph.py``). All chunk lengths
share the same C x C weights (``supernet/ops/morph_fc.py``), so the supernet, every exported
network and every architecture have the same parameters and FLOPs.

Choices where the paper is silent, read from the public code (MTLab/MorphMLP,
``slowfast/models/morphmlp.py`` and its K400 configs):

* Patch embedding (Sec. 3.3 "56 x 56 x T/2 x C_1"): conv 3x3x3 stride (2, 2, 2) to C_1 / 2,
  BatchNorm, GELU, conv 1x3x3 stride (1, 2, 2) to C_1, BatchNorm. Images use kernel depth 1
  and no time stride (Sec. 3.3 "exclude the temporal dimension"; the image code is not public).
* Stage transition: conv 1x3x3 stride (1, 2, 2), then LayerNorm; time is kept.
* MLP ratio 3 in every stage; MorphFC_s / MorphFC_t FCs with bias (``QKV_BIAS=True``).
* The last stage's MorphFC_s has two branches (one spatial FC + channel FC, the code's
  ``MorphFC_S2``): its L = 49 chunk is the whole 7 x 7 map in either direction.
* MorphFC_t groups channels into L_t groups of C / L_t with L_t = T' (whole clip): the code's
  8 groups for 16-frame clips (T' = 8), so each FC is C x C.
* Head: LayerNorm, mean over all tokens, FC (no dropout in the code's model; optional here).
* Initialisation: truncated normal (std 0.02) for every Linear, including MorphFC_t. The code
  sets MorphFC_t's FC to zero and its projection to all ones for fine-tuning from image
  weights; from that start every output row of the FC gets the same gradient, so the
  temporal FC stays rank one, and we do not copy it (Sec. 4.1 says "randomly initialize").
* Image widths of MorphMLP-T are not given: (84, 168, 336, 588) = 3/4 of S's, which keeps
  L | C for the paper's chunk lengths and gives Table 8's 23.4M / 4.0G exactly. S/B/L use
  (112, 224, 392, 784) as the video models.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from search_spaces.morph import MorphChoice, MorphSpace
from search_spaces.errors import VidnasInputError

from ..base import SearchableUnit, Supernet
from ..ops.layers import DropPath, Mlp, linear_drop_path_rates
from ..ops.morph_fc import MorphFCS, MorphFCT, SharedMorphFCS, SharedMorphFCT
from ..registry import register_family, register_model
from .mlp3d import Downsample, Head, init_weights

PAPER_DIMS = (112, 224, 392, 784)
PAPER_BRANCHES = (3, 3, 3, 2)     # MorphFC_s branches per stage (the code's MorphFC_S2 last)


@dataclass(frozen=True)
class MorphVariant:
    """Widths, depths, MLP ratio and MorphFC_s branches per stage of one network size."""

    embed_dims: tuple[int, ...]
    depths: tuple[int, ...]
    video: bool
    description: str
    mlp_ratio: float = 3.0
    branches: tuple[int, ...] = PAPER_BRANCHES


MORPH_VARIANTS = {
    # Sec. 3.3: video S and B.
    "s": MorphVariant(PAPER_DIMS, (3, 4, 9, 3), True, "MorphMLP-S video (Sec. 3.3)"),
    "b": MorphVariant(PAPER_DIMS, (4, 6, 15, 4), True, "MorphMLP-B video (Sec. 3.3)"),
    # Sec. 3.3 "Adaption to Image domain": no MorphFC_t; T and L are image-only sizes.
    "img-t": MorphVariant((84, 168, 336, 588), (3, 4, 7, 3), False, "MorphMLP-T image (Table 4a)"),
    "img-s": MorphVariant(PAPER_DIMS, (3, 4, 9, 3), False, "MorphMLP-S image (Table 4a)"),
    "img-b": MorphVariant(PAPER_DIMS, (4, 6, 15, 4), False, "MorphMLP-B image (Table 4a)"),
    "img-l": MorphVariant(PAPER_DIMS, (4, 8, 18, 6), False, "MorphMLP-L image (Table 4a)"),
    # Not in the paper: trains on a laptop CPU on 16x32x32 / 16x64x64 clips in minutes.
    "nano": MorphVariant((32, 64, 128, 256), (2, 2, 2, 2), True, "laptop-CPU MorphMLP"),
}


def _halve(n: int) -> int:
    """Output length of a kernel-3, padding-1, stride-2 convolution."""
    return (n - 1) // 2 + 1


def token_shapes(variant: MorphVariant, input_size) -> tuple[int, list[tuple[int, int]]]:
    """T' (0 for images) and the (H, W) token map of each stage for an input size."""
    size = tuple(int(v) for v in input_size)
    want = 3 if variant.video else 2
    if len(size) != want or min(size) < 1:
        kind = "clips T x H x W" if variant.video else "images H x W"
        raise VidnasInputError(f"{variant.description} takes {kind}, got input size {input_size!r}")
    time_tokens = _halve(size[0]) if variant.video else 0
    h, w = _halve(_halve(size[-2])), _halve(_halve(size[-1]))
    sizes = [(h, w)]
    for _ in variant.depths[1:]:
        h, w = _halve(h), _halve(w)
        sizes.append((h, w))
    return time_tokens, sizes


def variant_space(variant: str, input_size, granularity: str = "block", spatial_candidates=None,
                  temporal_candidates=None) -> MorphSpace:
    """The search space of a variant at an input size, without building the network."""
    if variant not in MORPH_VARIANTS:
        raise VidnasInputError(f"unknown MorphMLP variant {variant!r}; allowed: {', '.join(MORPH_VARIANTS)}")
    cfg = MORPH_VARIANTS[variant]
    time_tokens, sizes = token_shapes(cfg, input_size)
    return MorphSpace(cfg.depths, cfg.embed_dims, sizes, time_tokens, granularity,
                      spatial_candidates, temporal_candidates)


class MorphStem(nn.Module):
    """Patch embedding (Sec. 3.3): clip (B, 3, T, H, W) or image (B, 3, H, W) -> tokens
    (B, T', H/4, W/4, C) with two BatchNorm'd 3x3 stride-2 convs, the first also 3 x stride 2
    in time for clips."""

    def __init__(self, in_chans: int, dim: int, video: bool):
        super().__init__()
        self.video = video
        kt, st = (3, 2) if video else (1, 1)
        self.proj1 = nn.Conv3d(in_chans, dim // 2, (kt, 3, 3), (st, 2, 2), (kt // 2, 1, 1))
        self.norm1 = nn.BatchNorm3d(dim // 2)
        self.act = nn.GELU()
        self.proj2 = nn.Conv3d(dim // 2, dim, (1, 3, 3), (1, 2, 2), (0, 1, 1))
        self.norm2 = nn.BatchNorm3d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        want = 5 if self.video else 4
        if x.dim() != want:
            kind = "clips (B, 3, T, H, W)" if self.video else "images (B, 3, H, W)"
            raise ValueError(f"MorphMLP expects {kind}, got shape {tuple(x.shape)}")
        if not self.video:
            x = x.unsqueeze(2)
        x = self.norm2(self.proj2(self.act(self.norm1(self.proj1(x)))))
        return x.permute(0, 2, 3, 4, 1).contiguous()


class MorphDownsample(Downsample):
    """Stage transition: 3x3 stride-2 conv per frame, then LayerNorm (the code's Downsample)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(super().forward(x))


class MorphBlock(nn.Module):
    """One MorphMLP block (Fig. 7). With `choice` its ops are fixed to that choice; without,
    they are the shared ops and `forward` takes the choice."""

    def __init__(self, dim: int, mlp_ratio: float, branches: int, temporal: bool,
                 choice: MorphChoice | None = None, drop_path: float = 0.0):
        super().__init__()
        self.fixed = choice is not None
        if temporal:
            self.norm_t = nn.LayerNorm(dim)
            self.fc_t = SharedMorphFCT(dim) if choice is None else MorphFCT(dim, choice.temporal)
        else:
            self.norm_t = self.fc_t = None
        self.norm_s = nn.LayerNorm(dim)
        self.fc_s = (SharedMorphFCS(dim, branches) if choice is None
                     else MorphFCS(dim, choice.spatial, branches))
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, choice: MorphChoice | None = None) -> torch.Tensor:
        spatial = () if self.fixed else (choice.spatial,)
        xt = x
        if self.fc_t is not None:
            xt = x + self.fc_t(self.norm_t(x), *(() if self.fixed else (choice.temporal,)))
        x = x + self.drop_path(self.fc_s(self.norm_s(xt), *spatial))      # skip residual
        return x + self.drop_path(self.mlp(self.norm_mlp(x)))


class MorphUnit(SearchableUnit):
    """The blocks of one decision unit (one block, or a stage), all computing its choice."""

    def __init__(self, blocks: list[MorphBlock], choice: MorphChoice | None = None):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self._init_choice(choice)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        choice = self.choice
        for block in self.blocks:
            x = block(x, choice)
        return x

    def fixed_state(self, choice: MorphChoice) -> dict[str, torch.Tensor]:
        """Every chunk length uses all of the unit's weights (L·D = C), so the fixed unit's
        state is the whole state."""
        return dict(self.state_dict())


class MorphMLP(Supernet):
    """MorphMLP: a supernet over chunk lengths (``arch=None``) or the fixed network of `arch`.

    Args:
        variant: key of `MORPH_VARIANTS` ("s", "b", "img-t", "img-s", "img-b", "img-l", "nano").
        input_size: (T, H, W) for video variants, (H, W) for image ones; decides the valid
            chunk lengths of each stage.
        num_classes: classifier outputs.
        arch: None for the supernet, or an architecture (Arch, string or JSON dict).
        granularity: "block" (a choice per block) or "stage" (a choice per stage).
        spatial_candidates / temporal_candidates: restrict the chunk lengths searched.
        drop_path_rate: stochastic depth of the last block (linear ramp; 0.1 / 0.3 in Sec. 4.1).
        head_dropout: dropout before the classifier.
    """

    def __init__(self, variant: str, input_size, num_classes: int, arch=None,
                 granularity: str = "block", spatial_candidates=None, temporal_candidates=None,
                 drop_path_rate: float = 0.0, head_dropout: float = 0.0):
        super().__init__()
        self.space = variant_space(variant, input_size, granularity, spatial_candidates,
                                   temporal_candidates)
        cfg = self.variant = MORPH_VARIANTS[variant]
        self.build_kwargs = dict(variant=variant, input_size=tuple(input_size), num_classes=num_classes,
                                 granularity=granularity, spatial_candidates=spatial_candidates,
                                 temporal_candidates=temporal_candidates,
                                 drop_path_rate=drop_path_rate, head_dropout=head_dropout)
        fixed = None if arch is None else self.space.parse(arch)
        dprs = iter(linear_drop_path_rates(drop_path_rate, cfg.depths))

        def unit(stage: int, num_blocks: int) -> MorphUnit:
            choice = None if fixed is None else fixed[len(self.unit_layers)]
            blocks = [MorphBlock(cfg.embed_dims[stage], cfg.mlp_ratio, cfg.branches[stage], cfg.video,
                                 choice, next(dprs)) for _ in range(num_blocks)]
            return MorphUnit(blocks, choice)

        self.stem = MorphStem(3, cfg.embed_dims[0], cfg.video)
        layers, self.layer_stages, self.unit_layers = [], [], []
        for s, depth in enumerate(cfg.depths):
            if s > 0:
                layers.append(MorphDownsample(cfg.embed_dims[s - 1], cfg.embed_dims[s]))
                self.layer_stages.append(s)
            for n in ([1] * depth if granularity == "block" else [depth]):
                layers.append(unit(s, n))
                self.unit_layers.append(len(layers) - 1)
                self.layer_stages.append(s)
        self.layers = nn.ModuleList(layers)
        self.head = Head(cfg.embed_dims[-1], num_classes, head_dropout)
        self.apply(init_weights)
        self._init_arch(fixed)


def _register_variants() -> None:
    for key, cfg in MORPH_VARIANTS.items():
        if key == "nano":
            default_input, classes = (16, 32, 32), 10
        else:
            default_input, classes = ((16, 224, 224), 400) if cfg.video else ((224, 224), 1000)

        def build(input_size, num_classes, arch=None, _key=key, **kwargs):
            return MorphMLP(_key, input_size, num_classes, arch=arch, **kwargs)
        register_model(f"morphmlp-{key}", "morphmlp", default_input, classes, cfg.description)(build)


register_family("morphmlp", "MorphMLP (chunk lengths per block)", demo_config="pretrain_morphmlp_nano_cpu.yaml")
_register_variants()
