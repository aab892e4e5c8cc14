"""ECO-Lite as modified in Hajimolahoseini et al. (Table I): a per-frame 2D-Net, then a 3D-Net whose 3D convs
are searched over split strategies (``search_spaces.conv_split``).

2D-Net (Table I, the first layers of Inception-V3): conv2D-1 3x3/2 32, conv2D-2 3x3 32,
conv2D-3 3x3 64, pool1 3x3/2 (max), conv2D-4 1x1 80, conv2D-5 3x3 192, pool2 3x3/2,
inception 3a (256) and 3b (288) as Inception-V3's Mixed_5b/5c (1x1; 1x1-5x5; 1x1-3x3-3x3;
avg pool-1x1), and "3c [-96]": only the 1x1 (64) -> 3x3 (96) branch, as ECO-Lite keeps
inception_3c's double-3x3 branch up to 96 channels. Each conv is conv-BN-ReLU. Table I's
sizes come from 243^2 inputs and unpadded convs; we pad every 3x3 conv and pool ('same') so
that ECO's 224^2 input gives the same 28^2 maps (a 2D-Net choice, not searched).

3D-Net (Table I "conv3D-1..3", the last layers of 3D-ResNet18 as in ECO's res3a_2..res5b):
conv3D-1 = a 3x3x3 conv 96 -> 128 and a basic block (two 3x3x3 convs, identity shortcut);
conv3D-2 / conv3D-3 = a basic block with stride 2 in time and space (N -> N/2, 28 -> 14)
and a 1x1x1 conv + BN shortcut, then a basic block, at 256 / 512 channels; global average
pool, dropout 0.5, FC. The 1x1x1 shortcut is our reading: with it the Conv3D network has
33.4M parameters at 400 classes against Table II's 33.7M (a 3x3x3 shortcut, as in ECO's own
prototxt, would give 37.7M).

Searchable units (one strategy per block, every 3x3x3 conv of the block uses it):
``conv3d_1.in``, ``conv3d_1.b1``, ``conv3d_2.b0``, ``conv3d_2.b1``, ``conv3d_3.b0``,
``conv3d_3.b1``. Supernet weights: `SplitConv3d` paths (one op + BN per strategy); the
shortcut is shared (it sees the block input, which no choice of the block changes).
BN statistics of a sampled subnet should be recalibrated before evaluating it (the search
engine offers this).

Variants: ``eco-lite`` (Table I widths, 16 x 224 x 224 clips) and ``eco-nano`` (every channel
count / 8, 16 x 32 x 32 clips, for a laptop CPU).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from search_spaces.conv_split import DROP_IN_STRATEGIES, ConvSplitChoice, ConvSplitSpace, SplitUnit, conv_out
from search_spaces.errors import VidnasInputError

from ..base import SearchableUnit, Supernet
from ..ops import four_d
from ..ops.conv3d_split import SplitConv3d, choice_state
from ..registry import register_model


@dataclass(frozen=True)
class EcoVariant:
    """Widths of the 2D-Net (Table I) and of the 3D-Net's three stages."""

    stem: tuple[int, int, int, int, int]                 # conv2D-1..5
    inception: tuple[tuple[int, int, int, int, int, int], ...]  # 3a, 3b: 1x1, 5x5 red, 5x5, 3x3 red, 3x3, pool
    partial_3c: tuple[int, int]                           # 3c: 1x1 reduce, 3x3 out (the 3D-Net input)
    widths: tuple[int, int, int]                          # conv3D-1..3
    description: str


ECO_VARIANTS = {
    "lite": EcoVariant((32, 32, 64, 80, 192), ((64, 48, 64, 64, 96, 32), (64, 48, 64, 64, 96, 64)),
                       (64, 96), (128, 256, 512), "ECO-Lite of Hajimolahoseini et al. Table I"),
    # Not in the paper: every width / 8, small enough for a laptop CPU.
    "nano": EcoVariant((4, 4, 8, 10, 24), ((8, 6, 8, 8, 12, 4), (8, 6, 8, 8, 12, 8)),
                       (8, 12), (16, 32, 64), "ECO-Lite with widths / 8"),
}
STAGE_STRIDES = (1, 2, 2)      # Table I: N x 28^2 -> N/2 x 14^2 -> N/4 x 7^2


class ConvBNReLU2d(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class InceptionA(nn.Module):
    """Inception-V3's Mixed_5b/5c block: four branches concatenated."""

    def __init__(self, c_in: int, widths):
        super().__init__()
        b1, r5, b5, r3, b3, pool = widths
        self.branch1x1 = ConvBNReLU2d(c_in, b1, 1)
        self.branch5x5 = nn.Sequential(ConvBNReLU2d(c_in, r5, 1), ConvBNReLU2d(r5, b5, 5))
        self.branch3x3dbl = nn.Sequential(ConvBNReLU2d(c_in, r3, 1), ConvBNReLU2d(r3, b3, 3),
                                          ConvBNReLU2d(b3, b3, 3))
        self.branch_pool = ConvBNReLU2d(c_in, pool, 1)
        self.out_channels = b1 + b5 + b3 + pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(x, 3, 1, 1)
        return torch.cat([self.branch1x1(x), self.branch5x5(x), self.branch3x3dbl(x),
                          self.branch_pool(pooled)], dim=1)


class Eco2dNet(nn.Module):
    """The 2D-Net of Table I applied to every frame: clip (B, 3, T, H, W) -> (B, C, T, H/8, W/8)."""

    def __init__(self, variant: EcoVariant):
        super().__init__()
        c1, c2, c3, c4, c5 = variant.stem
        self.frames = nn.Sequential(
            ConvBNReLU2d(3, c1, 3, 2), ConvBNReLU2d(c1, c2, 3), ConvBNReLU2d(c2, c3, 3),
            nn.MaxPool2d(3, 2, 1),
            ConvBNReLU2d(c3, c4, 1), ConvBNReLU2d(c4, c5, 3),
            nn.MaxPool2d(3, 2, 1))
        blocks, c = [], c5
        for widths in variant.inception:
            blocks.append(InceptionA(c, widths))
            c = blocks[-1].out_channels
        r, out = variant.partial_3c
        blocks.append(nn.Sequential(ConvBNReLU2d(c, r, 1), ConvBNReLU2d(r, out, 3)))
        self.inception = nn.Sequential(*blocks)
        self.out_channels = out

    @staticmethod
    def out_hw(height: int, width: int) -> tuple[int, int]:
        """Map size after the three stride-2 layers (conv2D-1, pool1, pool2)."""
        for _ in range(3):
            height, width = conv_out(height, 3, 2), conv_out(width, 3, 2)
        return height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"ECO expects clips (B, 3, T, H, W), got shape {tuple(x.shape)}")
        b, c, t, h, w = x.shape
        y = self.inception(self.frames(x.transpose(1, 2).reshape(b * t, c, h, w)))
        return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)


class EcoConvUnit(SearchableUnit):
    """conv3D-1's first conv (96 -> 128) + BN + ReLU, split by the unit's strategy."""

    def __init__(self, unit: SplitUnit, strategies, choice: ConvSplitChoice | None):
        super().__init__()
        held = strategies if choice is None else (choice.strategy,)
        self.conv = SplitConv3d(unit.in_channels, unit.out_channels, (3, 3), unit.stride, held)
        self._init_choice(choice)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x, self.choice.strategy))

    def fixed_state(self, choice: ConvSplitChoice) -> dict[str, torch.Tensor]:
        return choice_state(self, {"conv.paths": choice.token})


class EcoBasicBlock(SearchableUnit):
    """3D-ResNet basic block: two 3x3x3 convs (split by the unit's strategy) + shortcut."""

    def __init__(self, unit: SplitUnit, strategies, choice: ConvSplitChoice | None):
        super().__init__()
        held = strategies if choice is None else (choice.strategy,)
        c_in, c_out, st, ss = unit.in_channels, unit.out_channels, *unit.stride
        self.conv1 = SplitConv3d(c_in, c_out, (3, 3), (st, ss), held)
        self.conv2 = SplitConv3d(c_out, c_out, (3, 3), (1, 1), held)
        self.shortcut = None
        if (st, ss) != (1, 1) or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv3d(c_in, c_out, 1, (st, ss, ss), bias=False),
                                          nn.BatchNorm3d(c_out))
        self._init_choice(choice)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        strategy = self.choice.strategy
        y = self.conv2(F.relu(self.conv1(x, strategy)), strategy)
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))

    def fixed_state(self, choice: ConvSplitChoice) -> dict[str, torch.Tensor]:
        return choice_state(self, {"conv1.paths": choice.token, "conv2.paths": choice.token})


class VideoHead(nn.Module):
    """Global average pool over (T, H, W), dropout, FC (Table I pool3 + fc)."""

    def __init__(self, channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(x.mean(dim=(2, 3, 4))))


class Eco2dNet4d(nn.Module):
    """`Eco2dNet` handing its maps on in the 4D layout ``(B, C, T, H·W)`` of the deploy graph
    (the original ends with a 5D reshape + transpose, which the 4D blocks would undo)."""

    def __init__(self, stem: Eco2dNet):
        super().__init__()
        self.frames, self.inception = stem.frames, stem.inception

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inception(self.frames(four_d.to_frames(x, x.shape[3], x.shape[4])))
        return four_d.from_frames(y, x.shape[0])


class VideoHead4d(nn.Module):
    """`VideoHead` on the 4D layout (mean over T and H·W)."""

    def __init__(self, head: VideoHead):
        super().__init__()
        self.dropout, self.fc = head.dropout, head.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(x.mean(dim=(2, 3))))


four_d.register_stem(Eco2dNet, Eco2dNet4d)
four_d.register_head(VideoHead, VideoHead4d)
four_d.register_layout_free(EcoConvUnit, EcoBasicBlock)


def eco_units(variant: EcoVariant, in_channels: int, size) -> list[SplitUnit]:
    """The six searchable blocks with the sizes they see on a 2D-Net output of `size`."""
    T, H, W = size
    units = [SplitUnit("conv3d_1.in", 0, in_channels, variant.widths[0], (3, 3), (1, 1), (T, H, W))]
    c = variant.widths[0]
    for s, (width, stride) in enumerate(zip(variant.widths, STAGE_STRIDES)):
        for b in range(2):
            if s == 0 and b == 0:
                continue                       # conv3D-1's first conv is the unit above
            st = stride if b == 0 else 1
            units.append(SplitUnit(f"conv3d_{s + 1}.b{b}", s, c, width, (3, 3), (st, st), (T, H, W)))
            T, H, W = conv_out(T, 3, st), conv_out(H, 3, st), conv_out(W, 3, st)
            c = width
    return units


def init_conv_bn(module: nn.Module) -> None:
    """Kaiming-normal (fan-out) convs, unit-gamma zero-beta norms, small FC (torchvision's)."""
    if isinstance(module, (nn.Conv2d, nn.Conv3d)):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.01)
        nn.init.zeros_(module.bias)


class EcoLite(Supernet):
    """ECO-Lite: a supernet over per-block split strategies (``arch=None``) or the fixed
    network of `arch` (e.g. ``space.strategy_arch("padd")``, a row of Table II).

    Args:
        variant: ``"lite"`` or ``"nano"`` (`ECO_VARIANTS`).
        input_size: (T, H, W) of the clips.
        num_classes: classifier outputs.
        arch: None for the supernet, or an architecture (Arch, string or JSON dict).
        strategies: the drop-in strategies to search over (default: all eight).
        head_dropout: dropout before the FC.
    """

    def __init__(self, variant: str, input_size, num_classes: int, arch=None,
                 strategies=DROP_IN_STRATEGIES, head_dropout: float = 0.5):
        super().__init__()
        if variant not in ECO_VARIANTS:
            raise VidnasInputError(f"unknown ECO variant {variant!r}; allowed: {', '.join(ECO_VARIANTS)}")
        self.build_kwargs = dict(variant=variant, input_size=tuple(input_size), num_classes=num_classes,
                                 strategies=tuple(strategies), head_dropout=head_dropout)
        cfg = ECO_VARIANTS[variant]
        T, H, W = (int(v) for v in input_size)
        self.stem = Eco2dNet(cfg)
        units = eco_units(cfg, self.stem.out_channels, (T, *Eco2dNet.out_hw(H, W)))
        self.space = ConvSplitSpace(units, strategies)
        fixed = None if arch is None else self.space.parse(arch)
        layers = []
        for i, unit in enumerate(units):
            choice = None if fixed is None else fixed[i]
            block = EcoConvUnit if i == 0 else EcoBasicBlock
            layers.append(block(unit, [c.strategy for c in self.space.choices(i)], choice))
        self.layers = nn.ModuleList(layers)
        self.layer_stages = [u.stage for u in units]
        self.unit_layers = list(range(len(units)))
        self.head = VideoHead(cfg.widths[-1], num_classes, head_dropout)
        self.apply(init_conv_bn)
        self._init_arch(fixed)


def _register_variants() -> None:
    for key, cfg in ECO_VARIANTS.items():
        default_input = (16, 32, 32) if key == "nano" else (16, 224, 224)

        def build(input_size, num_classes, arch=None, _key=key, **kwargs):
            return EcoLite(_key, input_size, num_classes, arch=arch, **kwargs)
        register_model(f"eco-{key}", "conv3d_split", default_input, 10 if key == "nano" else 400,
                       f"{cfg.description}; 3D convs searched over split strategies")(build)


_register_variants()
