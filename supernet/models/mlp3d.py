"""MLP-3D networks (MLP-3D paper, Sec. 3, Table 1) and the 2D CycleMLP they inflate from.

Tokens are channels-last ``(B, T, H, W, C)`` throughout. One MLP-3D block (Eq. 1):

    Y = TokenMix(LN(X)) + X,   Z = ChannelMLP(LN(Y)) + Y
    TokenMix(X) = FC(a_W * X_W + a_H * X_H + a_T * X_T)                       (Eq. 2)

X_W / X_H are Cycle FC along width / height, X_T is Grouped Time Mixing, and the weights a are
ViP's reweighting (mean over all tokens -> MLP C -> C/4 -> 3C -> softmax over the three
branches, per channel). The 2D CycleMLP block is the same with X_T replaced by a channel FC,
which is exactly a GTM with S = 1 (only w_0), so the 2D models below use that op; center
initialization then copies w_0 across.

Choices where the paper is silent (Sec. 3.1 / 3.4, checked against CycleMLP's code):
* Tubelet embedding: Conv3d 3 -> C_1, kernel (4, 7, 7), stride (4, 4, 4), padding (0, 2, 2),
  so 16 x 224 x 224 -> 4 x 56 x 56 (the 2D stem is CycleMLP's 7x7/4 conv, padding 2).
* Stage transition: CycleMLP's 3x3 stride-2 conv, applied per frame (time kept).
* GTM has no bias, as CycleMLP's channel FC (``qkv_bias=False``); S_max is capped at T'.
* Head: LayerNorm, mean over time and space, dropout (0.5, Sec. 3.4), FC.
* Branch order of the reweighting follows CycleMLP's code (width-shift, height-shift, third).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from search_spaces.gtm import GTM_TYPES, GTMChoice, GTMSpace

from ..base import SearchableUnit, Supernet
from ..ops.cycle_fc import CycleFC
from ..ops.gtm import GTM, GroupedTimeMixing
from ..ops.layers import DropPath, Mlp, linear_drop_path_rates
from ..registry import register_model


@dataclass(frozen=True)
class MLPVariant:
    """Stage widths, depths and MLP ratios of one network size."""

    embed_dims: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    mlp_ratios: tuple[float, float, float, float]
    description: str


# CycleMLP's own per-variant configs (its code's CycleMLP_B1..B5).
CYCLEMLP_VARIANTS = {
    "b1": MLPVariant((64, 128, 320, 512), (2, 2, 4, 2), (4, 4, 4, 4), "CycleMLP-B1"),
    "b2": MLPVariant((64, 128, 320, 512), (2, 3, 10, 3), (4, 4, 4, 4), "CycleMLP-B2"),
    "b3": MLPVariant((64, 128, 320, 512), (3, 4, 18, 3), (8, 8, 4, 4), "CycleMLP-B3"),
    "b4": MLPVariant((64, 128, 320, 512), (3, 8, 27, 3), (8, 8, 4, 4), "CycleMLP-B4"),
    "b5": MLPVariant((96, 192, 384, 768), (3, 4, 24, 3), (4, 4, 4, 4), "CycleMLP-B5"),
}

# Table 1: XS/S/M/L take the free parameters of CycleMLP-B1/B2/B3/B5.
MLP3D_VARIANTS = {
    "xs": CYCLEMLP_VARIANTS["b1"],
    "s": CYCLEMLP_VARIANTS["b2"],
    "m": CYCLEMLP_VARIANTS["b3"],
    "l": CYCLEMLP_VARIANTS["b5"],
    # Not in the paper: small enough to pretrain on a laptop CPU in minutes.
    "nano": MLPVariant((32, 64, 128, 256), (2, 2, 2, 2), (4, 4, 4, 4), "laptop-CPU MLP-3D"),
}

TUBELET_KERNEL, TUBELET_STRIDE, TUBELET_PADDING = (4, 7, 7), (4, 4, 4), (0, 2, 2)


def init_weights(module: nn.Module) -> None:
    """CycleMLP's initialisation: truncated normal (std 0.02) linear weights, zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class TubeletEmbed(nn.Module):
    """Overlapped tubelets 7x7x4, stride 4x4x4 (Sec. 3.1): clip (B, 3, T, H, W) -> tokens."""

    def __init__(self, in_chans: int, dim: int):
        super().__init__()
        self.proj = nn.Conv3d(in_chans, dim, TUBELET_KERNEL, TUBELET_STRIDE, TUBELET_PADDING)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"MLP-3D expects clips (B, 3, T, H, W), got shape {tuple(x.shape)}")
        return self.proj(x).permute(0, 2, 3, 4, 1).contiguous()


class PatchEmbed2d(nn.Module):
    """CycleMLP's overlapping 7x7 stride-4 patch embedding; tokens (B, 1, H, W, C)."""

    def __init__(self, in_chans: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, 7, 4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"CycleMLP expects images (B, 3, H, W), got shape {tuple(x.shape)}")
        return self.proj(x).permute(0, 2, 3, 1).unsqueeze(1).contiguous()


class Downsample(nn.Module):
    """Stage transition: channels up, space / 2 with a 3x3 stride-2 conv per frame, time kept."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_dim, out_dim, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h, w, c = x.shape
        y = self.proj(x.reshape(b * t, h, w, c).permute(0, 3, 1, 2))
        return y.permute(0, 2, 3, 1).reshape(b, t, y.shape[2], y.shape[3], y.shape[1])


class Head(nn.Module):
    """LayerNorm, mean over all tokens, dropout, FC."""

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x).flatten(1, -2).mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(x)))


class CycleTokenMixer(nn.Module):
    """Eq. 2: reweighted sum of Cycle FC along width and height and a third mixing, then FC.

    `fc_t` is the Grouped Time Mixing (MLP-3D) or the channel FC (2D CycleMLP, a GTM with
    S = 1). `forward(x, *gtm_choice)` passes (type, S) to a supernet GTM.
    """

    def __init__(self, dim: int, fc_t: nn.Module):
        super().__init__()
        self.fc_w = CycleFC(dim, "width")
        self.fc_h = CycleFC(dim, "height")
        self.fc_t = fc_t
        self.reweight = Mlp(dim, dim // 4, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, *gtm_choice) -> torch.Tensor:
        b, c = x.shape[0], x.shape[-1]
        x_w, x_h, x_t = self.fc_w(x), self.fc_h(x), self.fc_t(x, *gtm_choice)
        a = self.reweight((x_w + x_h + x_t).flatten(1, -2).mean(1))      # (B, 3C)
        a = a.view(b, c, 3).softmax(dim=-1).permute(2, 0, 1)            # (3, B, C)
        a = a.view(3, b, *([1] * (x.dim() - 2)), c)
        return self.proj(x_w * a[0] + x_h * a[1] + x_t * a[2])


class CycleBlock(nn.Module):
    """Eq. 1 with a fixed token mixer (2D CycleMLP blocks, exported MLP-3D blocks)."""

    def __init__(self, dim: int, mlp_ratio: float, fc_t: nn.Module, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mix = CycleTokenMixer(dim, fc_t)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def gtm_args(self) -> tuple:
        return ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.token_mix(self.norm1(x), *self.gtm_args()))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class MLP3DBlock(SearchableUnit, CycleBlock):
    """An MLP-3D block whose GTM (type, S) is the unit's choice.

    Supernet mode: `fc_t` is a `GroupedTimeMixing` holding the shared interval matrices.
    Fixed mode: `fc_t` is the `GTM` of one choice holding only the matrices it uses.
    """

    def __init__(self, dim: int, mlp_ratio: float, max_group_size: int, shared: bool,
                 choice: GTMChoice | None = None, drop_path: float = 0.0):
        fc_t = (GroupedTimeMixing(dim, max_group_size, shared=shared) if choice is None
                else GTM(dim, choice.gtm_type, choice.group_size, shared=shared))
        CycleBlock.__init__(self, dim, mlp_ratio, fc_t, drop_path)
        self._init_choice(choice)

    def gtm_args(self) -> tuple:
        if self.fixed:
            return ()
        return self.choice.gtm_type, self.choice.group_size

    def fixed_state(self, choice: GTMChoice) -> dict[str, torch.Tensor]:
        prefix = "token_mix.fc_t."
        state = {k: v for k, v in self.state_dict().items() if not k.startswith(prefix)}
        gtm_state = self.token_mix.fc_t.fixed_state(choice.gtm_type, choice.group_size)
        state.update({prefix + k: v for k, v in gtm_state.items()})
        return state


def build_stage_layers(variant: MLPVariant, make_block, drop_path_rate: float):
    """Blocks of the four stages with a `Downsample` before stages 2-4.

    Returns (layers, layer_stages, unit_layers); `make_block(dim, ratio, index, dpr)` builds
    the block with global index `index`.
    """
    dprs = linear_drop_path_rates(drop_path_rate, variant.depths)
    layers, stages, units = [], [], []
    index = 0
    for s, (dim, depth, ratio) in enumerate(zip(variant.embed_dims, variant.depths, variant.mlp_ratios)):
        if s > 0:
            layers.append(Downsample(variant.embed_dims[s - 1], dim))
            stages.append(s)
        for _ in range(depth):
            units.append(len(layers))
            layers.append(make_block(dim, ratio, index, dprs[index]))
            stages.append(s)
            index += 1
    return nn.ModuleList(layers), stages, units


def time_tokens_of(num_frames: int) -> int:
    """T' after the tubelet embedding; the clip length must be a multiple of 4."""
    if num_frames < TUBELET_KERNEL[0] or num_frames % TUBELET_STRIDE[0]:
        raise ValueError(f"MLP-3D clip length T={num_frames} must be a positive multiple of the "
                         f"tubelet depth {TUBELET_STRIDE[0]} (e.g. 16, 32, 64)")
    return num_frames // TUBELET_STRIDE[0]


class MLP3D(Supernet):
    """MLP-3D: a supernet over GTM choices (``arch=None``) or the fixed network of `arch`.

    Args:
        variant: key of `MLP3D_VARIANTS` ("xs", "s", "m", "l", "nano").
        input_size: (T, H, W) of the clips; T' = T / 4 decides the allowed group sizes.
        num_classes: classifier outputs.
        arch: None for the supernet, or an architecture (Arch, string or JSON dict).
        max_group_size: S_max (default 16), capped at T'.
        shared_gtm: Eq. 5 interval sharing (default) or Eq. 4 free W_S (False).
        gtm_types: GTM types to search over.
        drop_path_rate: stochastic depth rate of the last block (linear ramp).
        head_dropout: dropout before the classifier (0.5 in Sec. 3.4).
    """

    def __init__(self, variant: str, input_size, num_classes: int, arch=None,
                 max_group_size: int = 16, shared_gtm: bool = True, gtm_types=GTM_TYPES,
                 drop_path_rate: float = 0.0, head_dropout: float = 0.5):
        super().__init__()
        if variant not in MLP3D_VARIANTS:
            raise ValueError(f"unknown MLP-3D variant {variant!r}; allowed: {', '.join(MLP3D_VARIANTS)}")
        self.build_kwargs = dict(variant=variant, input_size=tuple(input_size), num_classes=num_classes,
                                 max_group_size=max_group_size, shared_gtm=shared_gtm,
                                 gtm_types=tuple(gtm_types), drop_path_rate=drop_path_rate,
                                 head_dropout=head_dropout)
        cfg = MLP3D_VARIANTS[variant]
        self.variant = cfg
        t_tokens = time_tokens_of(int(input_size[0]))
        s_max = min(int(max_group_size), t_tokens)
        self.space = GTMSpace(cfg.depths, t_tokens, s_max, gtm_types)
        fixed = None if arch is None else self.space.parse(arch)

        def make_block(dim, ratio, index, dpr):
            choice = None if fixed is None else fixed[index]
            return MLP3DBlock(dim, ratio, s_max, shared_gtm, choice, dpr)

        self.stem = TubeletEmbed(3, cfg.embed_dims[0])
        self.layers, self.layer_stages, self.unit_layers = build_stage_layers(cfg, make_block, drop_path_rate)
        self.head = Head(cfg.embed_dims[-1], num_classes, head_dropout)
        self.apply(init_weights)
        self._init_arch(fixed)


class CycleMLP(nn.Module):
    """The 2D CycleMLP image classifier (CycleMLP-B1..B5) built from the same blocks."""

    def __init__(self, variant: str, num_classes: int = 1000, drop_path_rate: float = 0.0,
                 head_dropout: float = 0.0):
        super().__init__()
        if variant not in CYCLEMLP_VARIANTS:
            raise ValueError(f"unknown CycleMLP variant {variant!r}; allowed: {', '.join(CYCLEMLP_VARIANTS)}")
        cfg = CYCLEMLP_VARIANTS[variant]
        self.variant = cfg

        def make_block(dim, ratio, index, dpr):
            return CycleBlock(dim, ratio, GTM(dim, "short_range", 1), dpr)   # channel FC

        self.stem = PatchEmbed2d(3, cfg.embed_dims[0])
        self.layers, self.layer_stages, _ = build_stage_layers(cfg, make_block, drop_path_rate)
        self.head = Head(cfg.embed_dims[-1], num_classes, head_dropout)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for layer in self.layers:
            h = layer(h)
        return self.head(h)


def _register_variants() -> None:
    for key, cfg in MLP3D_VARIANTS.items():
        default_input = (16, 32, 32) if key == "nano" else (16, 224, 224)

        def build(input_size, num_classes, arch=None, _key=key, **kwargs):
            return MLP3D(_key, input_size, num_classes, arch=arch, **kwargs)
        register_model(f"mlp3d-{key}", "mlp3d", default_input, 10 if key == "nano" else 174,
                       f"MLP-3D-{key.upper()} ({cfg.description} widths/depths)")(build)
    for key, cfg in CYCLEMLP_VARIANTS.items():
        def build_2d(input_size, num_classes, arch=None, _key=key, **kwargs):
            if arch is not None:
                raise ValueError(f"cyclemlp-{_key} is a fixed 2D image model; it takes no --arch")
            return CycleMLP(_key, num_classes, **kwargs)
        register_model(f"cyclemlp-{key}", "cyclemlp", (224, 224), 1000,
                       f"{cfg.description} 2D image model", searchable=False)(build_2d)


_register_variants()
