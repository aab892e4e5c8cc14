"""3D ResNet-RS (Du et al., Table 1 and Sec. 3.1) with its 3D convs searched over split strategies.

Network (R3D-RS-50 of Table 1, right):

* Input: a 32-frame clip, subsampled in time by 2 ("Downsample", 32 -> 16 frames).
* 3D ResNet-D stem: 5x3x3 conv /2 in time and space (32), 1x3x3 (32), 1x3x3 (64), each
  conv-BN-ReLU; max pool 1x3x3 /(1, 2, 2). 16 x 224^2 -> 8 x 112^2 -> 8 x 56^2.
* C2..C5: bottleneck blocks (3, 4, 6, 3 for depth 50; 101 / 152 / 200 use the depths of
  ResNet-101 / 152 / 200), widths 64 / 128 / 256 / 512, output 4x width. A block is
  reduce conv (t x 1 x 1, C -> w) -> 1 x 3 x 3 (w -> w, spatial stride 2 in the first block
  of C3-C5) -> 1 x 1 x 1 (w -> 4w) -> SE (ratio 0.25 of 4w) -> self-gating -> stochastic
  depth -> + shortcut -> ReLU; the temporal kernel t is 1 in C2, C3 and 3 in C4, C5
  (Table 1, left). Shortcut: 1x1x1 conv (spatial stride) + BN in each stage's first block.
* Head: global average pool, dropout 0.5 (Sec. 4.1), FC (400 Kinetics classes).

Choices where Du et al. is silent (checked against tensorflow/models' ``resnet_3d.py`` /
``nn_blocks_3d.py``, the code Du et al. points to): self-gating (S3D-G: pooled 1x1x1 conv + bias,
sigmoid, multiply) only in the *last* block of each stage, as that code does; with it
R3D-RS-50 has 48.1M parameters against Table 3's 48.2M (gating every block would give 62.6M).
SE: pooled 1x1x1 conv 4w -> w (+ bias), ReLU, 1x1x1 conv w -> 4w (+ bias), sigmoid. The
order SE -> SG -> SD is Sec. 3.1's. Stochastic depth: rate 0.2 (Sec. 4.3) scaled by
stage, k/5 in stage Ck (the TF code's rule). No temporal stride after the stem.

Searchable units: the C4 / C5 blocks, the 3D-conv blocks of the original (temporal kernel 3).
Each treats its spatio-temporal core as a 3 x 3 x 3 conv w -> w at the middle position:

* ``rs`` is the original block (temporal kernel in the reduce conv, 1 x 3 x 3 middle);
* any other strategy keeps a 1 x 1 x 1 reduce conv and replaces the middle conv by that
  strategy's drop-in op for a t x 3 x 3 conv (``c3d`` gives the classic R3D bottleneck).

C2 / C3 blocks are fixed (2D in the original). The default architecture (all ``rs``) is
Du et al.'s network. Supernet weights: the 1x1x1 reduce conv + BN is shared by the drop-in
strategies (its input does not depend on the choice), ``rs`` owns its t x 1 x 1 reduce conv;
each strategy owns its middle op + BN and the BN after the expand conv; expand conv, SE,
self-gating and shortcut weights are shared. Recalibrate BN statistics of a sampled subnet
before evaluating it (the search engine offers this).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.conv_split import (STRATEGIES, STRATEGY_TOKENS, ConvSplitChoice, ConvSplitSpace,
                                      SplitUnit, conv_out, strategy_of)
from search_spaces.errors import VidnasInputError

from ..base import SearchableUnit, Supernet
from ..ops import four_d
from ..ops.conv3d_split import ConvBN, build_split_op, choice_state
from ..ops.layers import DropPath
from ..registry import register_family, register_model
from .eco import VideoHead, init_conv_bn


@dataclass(frozen=True)
class RSVariant:
    """Blocks per stage C2..C5, bottleneck widths, stem widths, temporal kernel per stage."""

    depths: tuple[int, int, int, int]
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    stem: tuple[int, int, int] = (32, 32, 64)
    temporal_kernels: tuple[int, int, int, int] = (1, 1, 3, 3)
    description: str = ""


RS_VARIANTS = {
    "50": RSVariant((3, 4, 6, 3), description="R3D-RS-50 (Du et al. Table 1)"),
    "101": RSVariant((3, 4, 23, 3), description="R3D-RS-101"),
    "152": RSVariant((3, 8, 36, 3), description="R3D-RS-152"),
    "200": RSVariant((3, 24, 36, 3), description="R3D-RS-200"),
    # Not in the paper: the same layout, small enough for a laptop CPU.
    "nano": RSVariant((1, 1, 2, 1), (8, 16, 32, 64), (8, 8, 16), description="laptop-CPU R3D-RS"),
}
# Du et al. Table 3, Kinetics-400 (400 classes), millions of parameters.
PAPER_PARAMS_M = {"50": 48.2, "101": 85.1, "152": 114.9, "200": 121.6}
EXPANSION = 4
SELF_GATING = ("last", "all", "none")


class ConvBNReLU3d(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel, stride=(1, 1, 1)):
        super().__init__(nn.Conv3d(c_in, c_out, kernel, stride, tuple(k // 2 for k in kernel), bias=False),
                         nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))


class RSStem(nn.Module):
    """Temporal downsample, then the 3D ResNet-D stem (5x3x3 /2, 1x3x3, 1x3x3) and max pool."""

    def __init__(self, widths, temporal_downsample: int = 2, temporal_kernel: int = 5,
                 temporal_stride: int = 2):
        super().__init__()
        c1, c2, c3 = widths
        self.temporal_downsample = temporal_downsample
        self.conv1 = ConvBNReLU3d(3, c1, (temporal_kernel, 3, 3), (temporal_stride, 2, 2))
        self.conv2 = ConvBNReLU3d(c1, c2, (1, 3, 3))
        self.conv3 = ConvBNReLU3d(c2, c3, (1, 3, 3))
        self.pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))

    def out_size(self, size) -> tuple[int, int, int]:
        T, H, W = size
        T = -(-T // self.temporal_downsample)
        k, s = self.conv1[0].kernel_size[0], self.conv1[0].stride[0]
        return conv_out(T, k, s), conv_out(conv_out(H, 3, 2), 3, 2), conv_out(conv_out(W, 3, 2), 3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"R3D-RS expects clips (B, 3, T, H, W), got shape {tuple(x.shape)}")
        x = x[:, :, ::self.temporal_downsample]
        return self.pool(self.conv3(self.conv2(self.conv1(x))))


class SqueezeExcite3d(nn.Module):
    """3D SE (Sec. 3.1): global average pool, 1x1x1 C -> C·ratio, ReLU, back to C, sigmoid."""

    def __init__(self, channels: int, ratio: float):
        super().__init__()
        reduced = max(1, int(channels * ratio))
        self.reduce = nn.Conv3d(channels, reduced, 1)
        self.expand = nn.Conv3d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3, 4), keepdim=True)
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(s))))


class SelfGating3d(nn.Module):
    """S3D-G feature gating: global average pool, 1x1x1 conv C -> C (+ bias), sigmoid, multiply."""

    def __init__(self, channels: int):
        super().__init__()
        self.proj = nn.Conv3d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.proj(x.mean(dim=(2, 3, 4), keepdim=True)))


class SqueezeExcite4d(nn.Module):
    """`SqueezeExcite3d` on the 4D layout ``(B, C, T, H·W)`` of the deploy graph (pool over T and H·W)."""

    def __init__(self, se: SqueezeExcite3d):
        super().__init__()
        self.reduce, self.expand = se.reduce, se.expand

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(s))))


class SelfGating4d(nn.Module):
    """`SelfGating3d` on the 4D layout."""

    def __init__(self, gate: SelfGating3d):
        super().__init__()
        self.proj = gate.proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.proj(x.mean(dim=(2, 3), keepdim=True)))


def _gate_rule(module, shape, lower_child) -> nn.Module:
    """SE / self-gating in a 4D unit: the 4D form, with its 1x1x1 convs lowered too."""
    out = SqueezeExcite4d(module) if isinstance(module, SqueezeExcite3d) else SelfGating4d(module)
    for name, child in list(out.named_children()):
        setattr(out, name, lower_child(child, name))
    return out


four_d.register_rule(SqueezeExcite3d, _gate_rule)
four_d.register_rule(SelfGating3d, _gate_rule)


class RSBottleneck(nn.Module):
    """R3D-RS bottleneck holding one path per strategy in `strategies` (see module docstring).

    `run(x, strategy)` computes the block with one strategy; `forward` uses the only one held.
    """

    def __init__(self, in_channels: int, width: int, temporal_kernel: int, stride: int,
                 strategies, se_ratio: float, self_gating: bool, drop_path: float):
        super().__init__()
        names = [strategy_of(s) for s in strategies]
        out = EXPANSION * width
        t = temporal_kernel
        self.strategies = tuple(names)
        reduce = {}
        if any(s != "rs_reduce" for s in names):
            reduce["pw"] = ConvBN(nn.Conv3d(in_channels, width, 1, bias=False), width)
        if "rs_reduce" in names:
            reduce["rs"] = ConvBN(nn.Conv3d(in_channels, width, (t, 1, 1), 1, (t // 2, 0, 0), bias=False), width)
        self.reduce = nn.ModuleDict(reduce)
        middle = {}
        for s in names:
            kernel = (1, 3) if s == "rs_reduce" else (t, 3)
            middle[STRATEGY_TOKENS[s]] = ConvBN(
                build_split_op("conv3d" if s == "rs_reduce" else s, width, width, kernel, (1, stride)), width)
        self.middle = nn.ModuleDict(middle)
        self.expand = nn.Conv3d(width, out, 1, bias=False)
        self.expand_bn = nn.ModuleDict({STRATEGY_TOKENS[s]: nn.BatchNorm3d(out) for s in names})
        self.se = SqueezeExcite3d(out, se_ratio) if se_ratio else None
        self.gate = SelfGating3d(out) if self_gating else None
        self.drop_path = DropPath(drop_path)
        self.shortcut = None
        if stride != 1 or in_channels != out:
            self.shortcut = nn.Sequential(nn.Conv3d(in_channels, out, 1, (1, stride, stride), bias=False),
                                          nn.BatchNorm3d(out))

    @staticmethod
    def path_keys(strategy: str) -> dict[str, str]:
        """ModuleDict entry used by `strategy` in each choice-dependent part."""
        tok = STRATEGY_TOKENS[strategy]
        return {"reduce": "rs" if tok == "rs" else "pw", "middle": tok, "expand_bn": tok}

    def run(self, x: torch.Tensor, strategy: str) -> torch.Tensor:
        keys = self.path_keys(strategy)
        y = F.relu(self.reduce[keys["reduce"]](x))
        y = F.relu(self.middle[keys["middle"]](y))
        y = self.expand_bn[keys["expand_bn"]](self.expand(y))
        if self.se is not None:
            y = self.se(y)
        if self.gate is not None:
            y = self.gate(y)
        y = self.drop_path(y)
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x, self.strategies[0])


class RSUnit(SearchableUnit, RSBottleneck):
    """A C4 / C5 bottleneck whose split strategy is the unit's choice."""

    def __init__(self, in_channels: int, width: int, temporal_kernel: int, stride: int,
                 strategies, choice: ConvSplitChoice | None, **block_kwargs):
        held = strategies if choice is None else (choice.strategy,)
        RSBottleneck.__init__(self, in_channels, width, temporal_kernel, stride, held, **block_kwargs)
        self._init_choice(choice)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x, self.choice.strategy)

    def fixed_state(self, choice: ConvSplitChoice) -> dict[str, torch.Tensor]:
        return choice_state(self, self.path_keys(choice.strategy))


four_d.register_layout_free(RSUnit)


class ResNetRS3D(Supernet):
    """3D ResNet-RS: a supernet over the split strategies of its C4 / C5 blocks
    (``arch=None``) or the fixed network of `arch` (default arch: Du et al.'s own network).

    Args:
        variant: ``"50"``, ``"101"``, ``"152"``, ``"200"`` or ``"nano"`` (`RS_VARIANTS`).
        input_size: (T, H, W) of the clips (Du et al.: 32 x 224 x 224).
        num_classes: classifier outputs (400 for Kinetics-400).
        arch: None for the supernet, or an architecture (Arch, string or JSON dict).
        strategies: strategies to search over (default: all, including ``rs``).
        se_ratio: SE ratio of the 4w block output (0.25, Sec. 3.1; 0 disables SE).
        self_gating: ``"last"`` block of each stage (default), ``"all"`` or ``"none"``.
        drop_path_rate: stochastic depth rate of C5 (0.2, Sec. 4.3); stage Ck uses rate·k/5.
        head_dropout: dropout before the FC (0.5, Sec. 4.1).
        temporal_downsample: input frame subsampling before the stem (Table 1: 32 -> 16).
    """

    def __init__(self, variant: str, input_size, num_classes: int, arch=None,
                 strategies=STRATEGIES, se_ratio: float = 0.25, self_gating: str = "last",
                 drop_path_rate: float = 0.2, head_dropout: float = 0.5, temporal_downsample: int = 2):
        super().__init__()
        if variant not in RS_VARIANTS:
            raise VidnasInputError(f"unknown R3D-RS variant {variant!r}; allowed: {', '.join(RS_VARIANTS)}")
        if self_gating not in SELF_GATING:
            raise VidnasInputError(f"self_gating must be one of {', '.join(SELF_GATING)}, got {self_gating!r}")
        if not isinstance(temporal_downsample, int) or temporal_downsample < 1:
            raise VidnasInputError(f"temporal_downsample must be a positive int, got {temporal_downsample!r}")
        self.build_kwargs = dict(variant=variant, input_size=tuple(input_size), num_classes=num_classes,
                                 strategies=tuple(strategies), se_ratio=se_ratio, self_gating=self_gating,
                                 drop_path_rate=drop_path_rate, head_dropout=head_dropout,
                                 temporal_downsample=temporal_downsample)
        cfg = RS_VARIANTS[variant]
        self.stem = RSStem(cfg.stem, temporal_downsample)
        T, H, W = self.stem.out_size(tuple(int(v) for v in input_size))
        plan, units = [], []
        c_in = cfg.stem[-1]
        for s, (depth, width, t) in enumerate(zip(cfg.depths, cfg.widths, cfg.temporal_kernels)):
            for b in range(depth):
                stride = 2 if (s > 0 and b == 0) else 1
                searchable = t > 1
                if searchable:
                    units.append(SplitUnit(f"c{s + 2}.b{b}", s, width, width, (t, 3), (1, stride),
                                           (T, H, W), bottleneck=True))
                gate = self_gating == "all" or (self_gating == "last" and b == depth - 1)
                plan.append((s, c_in, width, t, stride, searchable, gate))
                c_in = EXPANSION * width
                H, W = conv_out(H, 3, stride), conv_out(W, 3, stride)
        if not units:
            raise VidnasInputError(f"R3D-RS-{variant} has no block with a temporal kernel > 1 to search")
        self.space = ConvSplitSpace(units, strategies)
        fixed = None if arch is None else self.space.parse(arch)
        layers, unit_layers = [], []
        for s, c, width, t, stride, searchable, gate in plan:
            kwargs = dict(se_ratio=se_ratio, self_gating=gate, drop_path=drop_path_rate * (s + 2) / 5)
            if searchable:
                i = len(unit_layers)
                unit_layers.append(len(layers))
                layers.append(RSUnit(c, width, t, stride, [ch.strategy for ch in self.space.choices(i)],
                                     None if fixed is None else fixed[i], **kwargs))
            else:
                layers.append(RSBottleneck(c, width, t, stride, ("conv3d",), **kwargs))
        self.layers = nn.ModuleList(layers)
        self.layer_stages = [p[0] for p in plan]
        self.unit_layers = unit_layers
        self.head = VideoHead(c_in, num_classes, head_dropout)
        self.apply(init_conv_bn)
        self._init_arch(fixed)


def _register_variants() -> None:
    for key, cfg in RS_VARIANTS.items():
        default_input = (16, 64, 64) if key == "nano" else (32, 224, 224)

        def build(input_size, num_classes, arch=None, _key=key, **kwargs):
            return ResNetRS3D(_key, input_size, num_classes, arch=arch, **kwargs)
        register_model(f"r3d-rs-{key}", "conv3d_split", default_input, 10 if key == "nano" else 400,
                       f"{cfg.description}; C4/C5 3D convs searched over split strategies")(build)


# BatchNorm hosts: a sampled path's BN statistics are re-estimated before it is scored
register_family("conv3d_split", "3D-conv split strategies on BatchNorm hosts (R3D-RS, ECO)",
                demo_config="pretrain_r3d_rs_nano_cpu.yaml", search_defaults={"bn_recalib": 4})
_register_variants()
