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
from search_spaces.errors import ConfigError, InputFileError, VidnasInputError

from ..base import SearchableUnit, Supernet
from ..ops.cycle_fc import CycleFC
from ..ops.gtm import GTM, GroupedTimeMixing
from ..ops.layers import DropPath, Mlp, linear_drop_path_rates, reweighted_sum
from ..registry import RunOption, register_family, register_model
from ..training.checkpoint import check_finite_weights, safe_load
from ..training.sampler import step_rng


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
    # Not in the paper: the 2D twin of mlp3d-nano (same widths and depths), for CPU runs.
    "nano": MLPVariant((32, 64, 128, 256), (2, 2, 2, 2), (4, 4, 4, 4), "laptop-CPU CycleMLP"),
}

# Table 1: XS/S/M/L take the free parameters of CycleMLP-B1/B2/B3/B5.
MLP3D_VARIANTS = {
    "xs": CYCLEMLP_VARIANTS["b1"],
    "s": CYCLEMLP_VARIANTS["b2"],
    "m": CYCLEMLP_VARIANTS["b3"],
    "l": CYCLEMLP_VARIANTS["b5"],
    # Not in the paper: small enough to pretrain on a laptop CPU in minutes.
    "nano": CYCLEMLP_VARIANTS["nano"],
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
        branches = [self.fc_w(x), self.fc_h(x), self.fc_t(x, *gtm_choice)]
        return self.proj(reweighted_sum(branches, self.reweight))


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
        self.regularization_choice: GTMChoice | None = None

    def gtm_args(self) -> tuple:
        if self.training and self.regularization_choice is not None:
            return self.regularization_choice.gtm_type, self.regularization_choice.group_size
        if self.fixed:
            return ()
        return self.choice.gtm_type, self.choice.group_size

    def regularization_choices(self, space: GTMSpace) -> list[GTMChoice]:
        """The choices of `space` this block's weights can compute (random-GTM, Sec. 4.2)."""
        fc_t = self.token_mix.fc_t
        return [c for c in space.choices(0) if fc_t.can_compute(c.gtm_type, c.group_size)]

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
        raise VidnasInputError(f"MLP-3D clip length T={num_frames} must be a positive multiple of the "
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
            raise VidnasInputError(f"unknown MLP-3D variant {variant!r}; allowed: {', '.join(MLP3D_VARIANTS)}")
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
            raise VidnasInputError(f"unknown CycleMLP variant {variant!r}; allowed: {', '.join(CYCLEMLP_VARIANTS)}")
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


def center_inflate_state(net: MLP3D, state_2d: dict[str, torch.Tensor],
                         load_head: bool | None = None) -> dict[str, torch.Tensor]:
    """Center initialization (Sec. 4.2) of `net` from a 2D CycleMLP state dict (ours).

    The 2D patch embedding goes to the temporal center (index 2 of 4, as ViViT's central
    frame) of the tubelet kernel, the other taps zero; every GTM gets w_0 = the 2D channel FC
    and w_dt = 0 for dt != 0 (free W_S: identity blocks on the diagonal); the rest is copied.
    The classifier is copied when the class counts match (or `load_head`).
    """
    def source(key: str, shape) -> torch.Tensor:
        src = state_2d.get(key)
        if src is None or tuple(src.shape) != tuple(shape):
            raise InputFileError(f"2D checkpoint has no tensor {key!r} of shape {tuple(shape)}; "
                                 "is it a CycleMLP of the same variant?")
        return src

    out = {}
    for key, value in net.state_dict().items():
        if key == "stem.proj.weight":                          # (C, 3, 4, 7, 7) <- (C, 3, 7, 7)
            w = torch.zeros_like(value)
            w[:, :, value.shape[2] // 2] = source(key, value.shape[:2] + value.shape[3:])
            out[key] = w
        elif key.endswith("token_mix.fc_t.weight"):
            c = value.shape[-1]
            w0 = source(key, (1, c, c))[0]
            w = torch.zeros_like(value)
            if value.dim() == 3:                               # intervals: w_0 is dt = 0
                token_only = net.get_submodule(key[:-len(".weight")]).token_only
                w[0 if token_only else value.shape[0] // 2] = w0
            else:                                              # free blocks: diagonal
                for i in range(value.shape[0]):
                    w[i, i] = w0
            out[key] = w
        elif key.startswith("head.fc."):
            src = state_2d.get(key)
            same = src is not None and src.shape == value.shape
            out[key] = src if (load_head if load_head is not None else same) else value
        else:
            out[key] = source(key, value.shape)
    return out


def convert_official_cyclemlp(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a checkpoint of the official CycleMLP code (ShoufaChen/CycleMLP) to our keys.

    Their ``network.{i}.{j}`` (stages with Downsample between) become our flat ``layers.{n}``;
    ``attn.sfc_h`` (kernel 1x3: shifts along width) -> ``fc_w``, ``attn.sfc_w`` -> ``fc_h``,
    ``attn.mlp_c`` -> ``fc_t`` (as x @ W, a GTM with S = 1).
    """
    state = state.get("model", state)
    out: dict[str, torch.Tensor] = {}
    stage_items: dict[int, list[tuple[str, torch.Tensor]]] = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "patch_embed":
            out["stem." + ".".join(parts[1:])] = value
        elif parts[0] == "norm":
            out["head.norm." + parts[1]] = value
        elif parts[0] == "head":
            out["head.fc." + parts[1]] = value
        elif parts[0] == "network":
            stage_items.setdefault(int(parts[1]), []).append((".".join(parts[2:]), value))
    flat = 0
    for idx in sorted(stage_items):
        items = stage_items[idx]
        if items[0][0].startswith("proj."):                    # a Downsample
            out.update({f"layers.{flat}.{rest}": value for rest, value in items})
            flat += 1
            continue
        for rest, value in items:                              # a stage: block j -> flat + j
            j, _, tail = rest.partition(".")
            if tail.endswith(".offset"):                       # fixed offsets: ours are computed
                continue
            tail = (tail.replace("attn.sfc_h.", "token_mix.fc_w.").replace("attn.sfc_w.", "token_mix.fc_h.")
                    .replace("attn.mlp_c.", "token_mix.fc_t.").replace("attn.", "token_mix."))
            if tail.endswith(("fc_w.weight", "fc_h.weight")):
                value = value.reshape(value.shape[0], value.shape[1])
            elif tail.endswith("fc_t.weight"):
                value = value.t().unsqueeze(0).contiguous()
            out[f"layers.{flat + int(j)}.{tail}"] = value
        flat += len({r.split(".")[0] for r, _ in items})
    return out


def _probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"random_gtm must be a probability in [0, 1], got {p}")


def random_gtm_hook(model: nn.Module, prob: float, seed: int = 0):
    """Random-GTM regularization (Sec. 4.2) for training a fixed MLP-3D network.

    Returns ``before_step(step)``: with probability `prob` per block and step, the block
    computes a random other GTM choice that its own weights cover (type any, S' <= S; only
    shift-token below a shift-token block); otherwise its own. Evaluation is unaffected.
    """
    if not 0.0 <= prob <= 1.0:
        raise ConfigError(f"random-GTM probability must be in [0, 1], got {prob}")
    pairs = [(b, b.regularization_choices(net.space)) for net in _mlp3d_paths(model) for b in net.units()]

    def before_step(step: int) -> None:
        rng = step_rng(seed, step, salt=17)
        for block, options in pairs:
            block.regularization_choice = rng.choice(options) if rng.random() < prob else None
    return before_step


def _mlp3d_paths(model: nn.Module) -> list[MLP3D]:
    return [model] if isinstance(model, MLP3D) else [model.main, model.extra]


class TwoPathMLP3D(nn.Module):
    """Two-path input (Sec. 4.3): a second MLP-3D path fed with the clip minus its temporal
    mean (background erased); the two pooled features are concatenated before the classifier."""

    def __init__(self, main: MLP3D, extra: MLP3D, num_classes: int, dropout: float):
        super().__init__()
        self.main, self.extra = main, extra
        for path in (main, extra):
            path.head.fc = nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * main.variant.embed_dims[-1], num_classes)
        init_weights(self.fc)
        self.space, self.fixed_arch = main.space, main.fixed_arch

    @property
    def arch(self):
        return self.main.arch

    @property
    def is_fixed(self) -> bool:
        return True

    @staticmethod
    def _features(path: MLP3D, x: torch.Tensor) -> torch.Tensor:
        return path.head.pool(path.forward_units(path.forward_stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        background_erased = x - x.mean(dim=2, keepdim=True)
        feats = torch.cat([self._features(self.main, x), self._features(self.extra, background_erased)], dim=1)
        return self.fc(self.dropout(feats))


def _register_variants() -> None:
    for key, cfg in MLP3D_VARIANTS.items():
        default_input = (16, 32, 32) if key == "nano" else (16, 224, 224)

        def build(input_size, num_classes, arch=None, _key=key, two_path=False, **kwargs):
            if not two_path:
                return MLP3D(_key, input_size, num_classes, arch=arch, **kwargs)
            if arch is None:
                raise VidnasInputError("two_path networks are for training a fixed architecture; give an arch")
            paths = [MLP3D(_key, input_size, num_classes, arch=arch, **kwargs) for _ in range(2)]
            return TwoPathMLP3D(*paths, num_classes, kwargs.get("head_dropout", 0.5))
        register_model(f"mlp3d-{key}", "mlp3d", default_input, 10 if key == "nano" else 174,
                       f"MLP-3D-{key.upper()} ({cfg.description} widths/depths)")(build)
    for key, cfg in CYCLEMLP_VARIANTS.items():
        def build_2d(input_size, num_classes, arch=None, _key=key, **kwargs):
            if arch is not None:
                raise VidnasInputError(f"cyclemlp-{_key} is a fixed 2D image model; it takes no --arch")
            return CycleMLP(_key, num_classes, **kwargs)
        nano = key == "nano"
        register_model(f"cyclemlp-{key}", "cyclemlp", (32, 32) if nano else (224, 224), 10 if nano else 1000,
                       f"{cfg.description} 2D image model", searchable=False)(build_2d)


def load_2d_state(path: str) -> dict[str, torch.Tensor]:
    """The state dict of a 2D CycleMLP checkpoint, loaded weights-only, in our key layout."""
    raw = safe_load(path, "center_init_from: 2D checkpoint")
    state = raw.get("model", raw) if isinstance(raw, dict) else raw
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputFileError(f"center_init_from: {path} holds no state dict of tensors")
    check_finite_weights(state, f"center_init_from: 2D checkpoint {path}")
    if any(k.startswith("network.") for k in state):
        state = convert_official_cyclemlp(state)
    return state


def center_init(model: nn.Module, path: str) -> str:
    """Center initialization (Sec. 4.2): inflate the 2D CycleMLP in `path` into every MLP-3D
    path of `model`; the classifier stays fresh (image classes differ)."""
    paths = _mlp3d_paths(model)
    if not all(isinstance(p, MLP3D) for p in paths):
        raise VidnasInputError(f"center_init_from inflates a 2D CycleMLP into MLP-3D networks, not "
                               f"{type(model).__name__}")
    state = load_2d_state(path)
    for net in paths:
        net.load_state_dict(center_inflate_state(net, state, load_head=False))
    return f"center-initialised from the 2D CycleMLP in {path} (new classifier)"


TEMPORAL_INITS = ("zero", "noise:<eps>", "shift:<fraction>")


def parse_temporal_init(value: str) -> tuple[str, float]:
    """``zero`` | ``noise:<eps>`` | ``shift:<fraction>`` -> (kind, number); one-line errors."""
    kind, _, number = str(value).partition(":")
    if kind == "zero" and not number:
        return kind, 0.0
    try:
        x = float(number)
    except ValueError:
        x = float("nan")
    if kind == "noise" and 0 < x <= 1:
        return kind, x
    if kind == "shift" and 0 < x <= 0.5:
        return kind, x
    raise ConfigError(f"options.temporal_init {value!r} is not allowed; use zero, noise:<eps> with "
                      "0 < eps <= 1, or shift:<fraction> with 0 < fraction <= 0.5")


def _interval_view(fc_t) -> tuple[torch.Tensor, dict[int, list[torch.Tensor]]]:
    """w_0 and, per interval dt != 0, the views of `fc_t`'s weight that hold w_dt (several for
    free blocks: every block (i, i + dt) of W_S)."""
    w = fc_t.weight            # the parameter itself (not .data): in-place writes bump its version, so
    #                             the GTM evaluation cache of W_S (keyed on it) sees the change
    if w.dim() == 4:                                         # free W_S: block (i, j) is w_{j-i}
        s = w.shape[0]
        off = {}
        for i in range(s):
            for j in range(s):
                if i != j:
                    off.setdefault(j - i, []).append(w[i, j])
        return w[0, 0], off
    if fc_t.token_only:                                      # shift-token: w_0 .. w_{S-1}
        return w[0], {dt: [w[dt]] for dt in range(1, w.shape[0])}
    m = (w.shape[0] + 1) // 2                                # intervals -m+1 .. m-1
    return w[m - 1], {dt: [w[m - 1 + dt]] for dt in range(-m + 1, m) if dt}


@torch.no_grad()
def temporal_init(model: nn.Module, value: str, seed: int) -> str:
    """A non-zero start for the off-centre GTM weights w_dt (dt != 0), which center
    initialization (Sec. 4.2) sets to 0; a fresh run only, after the initialisation.

    * ``noise:<eps>``: every w_dt (dt != 0) becomes Gaussian noise of std eps x rms(w_0) of
      its block, drawn from `seed` (breaks the reversal symmetry of a center-initialised net);
    * ``shift:<fraction>``: as TSM, the first `fraction` of the input channels of w_0 move to
      w_{+1} (a token passes them to the next one) and the next `fraction` to w_{-1} (to the
      previous one); where w_{-1} does not exist (shift-token) those stay in w_0, and S = 1
      blocks keep w_0;
    * ``zero``: unchanged (the exact 2D equivalence of center initialization).
    """
    kind, x = parse_temporal_init(value)
    if kind == "zero":
        return "off-centre temporal weights unchanged"
    gen = torch.Generator().manual_seed(int(seed) + 7919)
    for net in _mlp3d_paths(model):
        for block in (m for m in net.modules() if isinstance(m, CycleBlock)):
            fc_t = block.token_mix.fc_t
            if not hasattr(fc_t, "token_only"):              # a 2D channel FC of a plain CycleBlock
                continue
            w0, off = _interval_view(fc_t)
            if kind == "noise":
                scale = x * w0.pow(2).mean().sqrt()
                for views in off.values():
                    for v in views:
                        v.copy_(torch.randn(v.shape, generator=gen, dtype=v.dtype) * scale)
                continue
            k = max(1, round(x * w0.shape[0]))
            fwd, bwd = slice(0, k), slice(k, 2 * k)
            rows = w0.clone()
            for dt, rng in ((1, fwd), (-1, bwd)):
                if dt in off:
                    for v in off[dt]:
                        v[rng] = rows[rng]
                    for w in _centre_views(fc_t):
                        w[rng] = 0.0
    return (f"off-centre temporal weights: noise of {x:g} x rms(w_0), seed {seed}" if kind == "noise"
            else f"off-centre temporal weights: TSM-like shift of {x:g} of the channels each way")


def _centre_views(fc_t) -> list[torch.Tensor]:
    """Every view of `fc_t`'s weight that holds w_0 (each diagonal block of a free W_S)."""
    w = fc_t.weight                                          # not .data (see _interval_view)
    if w.dim() == 4:
        return [w[i, i] for i in range(w.shape[0])]
    return [w[0]] if fc_t.token_only else [w[(w.shape[0] - 1) // 2]]


register_family("mlp3d", "MLP-3D (gated token mixers, Sec. 3)", demo_config="pretrain_mlp3d_nano_cpu.yaml",
                run_options={"random_gtm": RunOption(random_gtm_hook, what="applies to MLP-3D networks",
                                                     annotation=float, default=0.0, stage="train",
                                                     validate=_probability),
                             "center_init_from": RunOption(center_init, check=load_2d_state, path=True,
                                                           what="inflates a 2D CycleMLP into MLP-3D networks"),
                             "temporal_init": RunOption(temporal_init, what="starts MLP-3D's GTM weights",
                                                        annotation=str, default="zero", stage="adjust",
                                                        validate=parse_temporal_init)})
_register_variants()
