"""A worked vidnas plug-in: a joint GTM x MLP-ratio x depth space on MLP-3D, in one file.

    VIDNAS_PLUGINS=experiments.plugins.elastic_mlp3d nas space --model elastic-mlp3d-nano

Registered through the public registries only (`register_space`, `register_model`), on the
supernet contract of `supernet/base.py`; nothing in `search_spaces/`, `supernet/` or `nas/`
knows this space. Per MLP-3D block (MLP-3D, Qiu et al., arXiv:2206.06292, Eq. 1) the unit
chooses, jointly as in AutoFormer (Chen et al., arXiv:2107.00651):

* the Grouped Time Mixing type and group size S of the MLP-3D space (`GTMSpace`, Sec. 3.3);
* the channel-MLP expansion ratio r in {2, 3, 4} (Once-for-All's elastic expansion, Cai et
  al., arXiv:1908.09791): the op owns the largest hidden layer (4C units) and ratio r uses
  its first r*C hidden units, i.e. the first r*C rows of fc1 and columns of fc2 (slices,
  no copies);
* elastic depth (Once-for-All): the last block(s) of each stage may be skipped; a skipped
  block is the identity.

Every choice keeps the block's input and output shape (B, T, H, W, C), so the unit's cost
depends only on its own choice and the cost table stays exact; `export` keeps only the
sliced weights (a skipped block keeps none).

Tokens: ``<gtm>e<r>`` such as ``sr4e3`` (short-range S = 4, MLP ratio 3; ``e`` as in OFA's
``k3e4``), and ``skip``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces import Arch, Choice, SearchSpace, register_space
from search_spaces.gtm import GTM_TYPES, GTMChoice, GTMSpace
from supernet.base import Supernet
from supernet.models.mlp3d import (MLP3D_VARIANTS, Head, MLP3DBlock, TubeletEmbed, build_stage_layers,
                                   init_weights, time_tokens_of)
from supernet.ops.layers import Mlp
from supernet.registry import register_model

MLP_RATIOS = (2, 3, 4)
SKIP_TOKEN = "skip"
_TOKEN = re.compile(r"^([a-z]+\d+)e(\d+)$")


# ---- the space (no torch) -----------------------------------------------------------------
@dataclass(frozen=True)
class ElasticChoice(Choice):
    """MLP ratio r, GTM type and S of one block; ``mlp_ratio == 0`` is the skipped block
    (then ``gtm_type == "none"`` and ``group_size == 0``). The ratio comes first so that
    `nas plot arch` colours blocks by it (0 = skipped)."""

    mlp_ratio: int
    gtm_type: str
    group_size: int

    def __post_init__(self):
        if not isinstance(self.mlp_ratio, int) or isinstance(self.mlp_ratio, bool) or self.mlp_ratio < 0:
            raise ValueError(f"MLP ratio must be a non-negative integer (0 = skip), got {self.mlp_ratio!r}")
        if self.skip:
            if (self.gtm_type, self.group_size) != ("none", 0):
                raise ValueError(f"a skipped block has gtm_type 'none' and group_size 0, got "
                                 f"{self.gtm_type!r}, {self.group_size!r}")
        else:
            GTMChoice(self.gtm_type, self.group_size)          # validates the GTM part

    @property
    def skip(self) -> bool:
        return self.mlp_ratio == 0

    @property
    def gtm(self) -> GTMChoice:
        return GTMChoice(self.gtm_type, self.group_size)

    @property
    def token(self) -> str:
        return SKIP_TOKEN if self.skip else f"{self.gtm.token}e{self.mlp_ratio}"

    @classmethod
    def of(cls, gtm: GTMChoice, mlp_ratio: int) -> "ElasticChoice":
        return cls(int(mlp_ratio), gtm.gtm_type, gtm.group_size)


SKIP = ElasticChoice(0, "none", 0)


@register_space
class ElasticMLP3DSpace(SearchSpace):
    """Per MLP-3D block: a GTM choice of `GTMSpace` x an MLP ratio, and ``skip`` for the last
    `skip_last` blocks of each stage (every stage keeps at least one block).

    Args:
        depths, time_tokens, max_group_size, gtm_types: as `GTMSpace` (which checks them).
        mlp_ratios: the expansion ratios searched (default 2, 3, 4); the op holds the largest.
        skip_last: how many blocks at the end of each stage may be skipped (0: fixed depth).
    """

    name = "elastic_mlp3d"
    choice_cls = ElasticChoice

    def __init__(self, depths, time_tokens: int, max_group_size: int = 16, gtm_types=GTM_TYPES,
                 mlp_ratios=MLP_RATIOS, skip_last: int = 1):
        self.gtm = GTMSpace(depths, time_tokens, max_group_size, gtm_types)
        self.mlp_ratios = tuple(int(r) for r in mlp_ratios)
        self.skip_last = int(skip_last)
        if not self.mlp_ratios or min(self.mlp_ratios) < 1 or len(set(self.mlp_ratios)) != len(self.mlp_ratios):
            raise ValueError(f"mlp_ratios must be distinct positive integers, got {mlp_ratios!r}")
        if self.skip_last < 0:
            raise ValueError(f"skip_last must be >= 0 (blocks per stage), got {skip_last!r}")
        self.unit_names, self.unit_stages = self.gtm.unit_names, self.gtm.unit_stages
        joint = tuple(ElasticChoice.of(g, r) for g in self.gtm.choices(0) for r in self.mlp_ratios)
        self.skippable = tuple(bi >= d - min(self.skip_last, d - 1)
                               for d in self.gtm.depths for bi in range(d))
        self._choices = tuple(joint + (SKIP,) if s else joint for s in self.skippable)

    def config(self) -> dict[str, Any]:
        return {**self.gtm.config(), "space": self.name, "mlp_ratios": list(self.mlp_ratios),
                "skip_last": self.skip_last}

    def parse_token(self, token: str) -> ElasticChoice:
        token = token.strip()
        if token == SKIP_TOKEN:
            return SKIP
        m = _TOKEN.match(token)
        if not m:
            raise ValueError("expected <gtm>e<ratio> such as sr4e3, or skip")
        return ElasticChoice.of(self.gtm.parse_token(m.group(1)), int(m.group(2)))

    def explain(self, i: int, choice: ElasticChoice) -> str:
        if choice.skip:
            return f"only the last {self.skip_last} block(s) of a stage may be skipped, never a stage's first"
        if choice.mlp_ratio not in self.mlp_ratios:
            return f"MLP ratio {choice.mlp_ratio} is not searched (ratios {', '.join(map(str, self.mlp_ratios))})"
        return self.gtm.explain(i, choice.gtm)

    def canonical(self, arch: Arch) -> Arch:
        """The GTM part's canonical form (`GTMSpace.canonical`: e.g. every type at S = 1 is
        sr1); ratios and skips are distinct functions."""
        self.validate(arch)
        filler = self.gtm.choices(0)[0]
        gtm = self.gtm.canonical(Arch(tuple(filler if c.skip else c.gtm for c in arch)))
        return Arch(tuple(c if c.skip else ElasticChoice.of(g, c.mlp_ratio) for c, g in zip(arch, gtm)))

    def default_arch(self) -> Arch:
        """MLP-3D's default GTM arch (`GTMSpace.default_arch`) at the largest ratio, full depth."""
        r = max(self.mlp_ratios)
        return self.validate(Arch(tuple(ElasticChoice.of(g, r) for g in self.gtm.default_arch())))


# ---- the ops and the network -----------------------------------------------------------------
class ElasticMlp(Mlp):
    """The channel MLP of Eq. 1 owning the largest hidden layer; `forward(x, hidden)` computes
    the MLP of the first `hidden` hidden units (OFA elastic expansion) from weight slices."""

    def sliced(self, hidden: int) -> tuple[torch.Tensor, ...]:
        """(fc1 weight, fc1 bias, fc2 weight, fc2 bias) of the first `hidden` units (views)."""
        if not 1 <= hidden <= self.fc1.out_features:
            raise ValueError(f"hidden width {hidden} outside 1..{self.fc1.out_features}")
        return (self.fc1.weight[:hidden], self.fc1.bias[:hidden], self.fc2.weight[:, :hidden],
                self.fc2.bias)

    def forward(self, x: torch.Tensor, hidden: int | None = None) -> torch.Tensor:
        if hidden is None or hidden == self.fc1.out_features:
            return super().forward(x)
        w1, b1, w2, b2 = self.sliced(hidden)
        return self.drop(F.linear(self.drop(self.act(F.linear(x, w1, b1))), w2, b2))

    def fixed_state(self, hidden: int) -> dict[str, torch.Tensor]:
        return dict(zip(("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"), self.sliced(hidden)))


class ElasticBlock(MLP3DBlock):
    """An MLP-3D block (`MLP3DBlock`: GTM of the unit's choice) with an elastic channel MLP,
    or the identity when skipped. Supernet mode holds GTM's shared matrices and the 4C MLP;
    fixed mode holds only its choice's weights (none for ``skip``)."""

    def __init__(self, dim: int, max_ratio: int, max_group_size: int, shared: bool,
                 choice: ElasticChoice | None = None, drop_path: float = 0.0):
        self.dim = dim
        if choice is not None and choice.skip:
            nn.Module.__init__(self)
            self._init_choice(choice)
            self.regularization_choice = None
            return
        ratio = max_ratio if choice is None else choice.mlp_ratio
        super().__init__(dim, ratio, max_group_size, shared, choice, drop_path)
        self.mlp = ElasticMlp(dim, dim * ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        choice = self.choice
        if choice.skip:                                    # elastic depth: the identity
            return x
        hidden = None if self.fixed else choice.mlp_ratio * self.dim
        x = x + self.drop_path(self.token_mix(self.norm1(x), *self.gtm_args()))
        return x + self.drop_path(self.mlp(self.norm2(x), hidden))

    def fixed_state(self, choice: ElasticChoice) -> dict[str, torch.Tensor]:
        if choice.skip:
            return {}
        state = super().fixed_state(choice)                # GTM sliced, the rest whole
        state.update({"mlp." + k: v for k, v in self.mlp.fixed_state(choice.mlp_ratio * self.dim).items()})
        return state


class ElasticMLP3D(Supernet):
    """MLP-3D over the joint space (``arch=None``: supernet) or the fixed network of `arch`.

    Args are `supernet.models.mlp3d.MLP3D`'s plus `mlp_ratios` and `skip_last` of
    `ElasticMLP3DSpace`; the variants' own MLP ratios are replaced by the searched ones.
    """

    def __init__(self, variant: str, input_size, num_classes: int, arch=None,
                 max_group_size: int = 16, shared_gtm: bool = True, gtm_types=GTM_TYPES,
                 mlp_ratios=MLP_RATIOS, skip_last: int = 1, drop_path_rate: float = 0.0,
                 head_dropout: float = 0.5):
        super().__init__()
        if variant not in MLP3D_VARIANTS:
            raise ValueError(f"unknown MLP-3D variant {variant!r}; allowed: {', '.join(MLP3D_VARIANTS)}")
        self.build_kwargs = dict(variant=variant, input_size=tuple(input_size), num_classes=num_classes,
                                 max_group_size=max_group_size, shared_gtm=shared_gtm,
                                 gtm_types=tuple(gtm_types), mlp_ratios=tuple(mlp_ratios),
                                 skip_last=skip_last, drop_path_rate=drop_path_rate, head_dropout=head_dropout)
        cfg = self.variant = MLP3D_VARIANTS[variant]
        t_tokens = time_tokens_of(int(input_size[0]))
        s_max = min(int(max_group_size), t_tokens)
        self.space = ElasticMLP3DSpace(cfg.depths, t_tokens, s_max, gtm_types, mlp_ratios, skip_last)
        fixed = None if arch is None else self.space.parse(arch)
        max_ratio = max(self.space.mlp_ratios)

        def make_block(dim, _ratio, index, dpr):
            choice = None if fixed is None else fixed[index]
            return ElasticBlock(dim, max_ratio, s_max, shared_gtm, choice, dpr)

        self.stem = TubeletEmbed(3, cfg.embed_dims[0])
        self.layers, self.layer_stages, self.unit_layers = build_stage_layers(cfg, make_block, drop_path_rate)
        self.head = Head(cfg.embed_dims[-1], num_classes, head_dropout)
        self.apply(init_weights)
        self._init_arch(fixed)


def _register() -> None:
    for key, cfg in MLP3D_VARIANTS.items():
        nano = key == "nano"

        def build(input_size, num_classes, arch=None, _key=key, **kwargs):
            return ElasticMLP3D(_key, input_size, num_classes, arch=arch, **kwargs)
        register_model(f"elastic-mlp3d-{key}", "elastic_mlp3d", (16, 32, 32) if nano else (16, 224, 224),
                       10 if nano else 174, f"MLP-3D-{key.upper()} x elastic MLP ratio and depth "
                       f"(plug-in; {cfg.description} widths)")(build)


_register()
