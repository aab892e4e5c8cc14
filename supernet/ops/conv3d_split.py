"""Drop-in replacements of a t x d x d 3D convolution, one per split strategy (Hajimolahoseini et al. Sec. I-II).

Every op maps a clip ``(B, C, T, H, W)`` to ``(B, S, T', H', W')`` exactly as
``nn.Conv3d(C, S, (t, d, d), stride=(s_t, s, s), padding=(t//2, d//2, d//2))`` does, has no
bias (a BatchNorm follows it in the hosts), and is named by its strategy in
``search_spaces.conv_split`` (tokens in brackets):

* ``Conv3dOp`` [c3d]: the 3D conv.
* ``R2Plus1dOp`` [r21d]: 1 x d x d (C -> M, spatial stride) -> BN -> ReLU -> t x 1 x 1
  (M -> S, temporal stride), M = floor(t d^2 C S / (d^2 C + t S)) so that the parameters
  match the 3D conv (R(2+1)D, as torchvision's ``Conv2Plus1D``).
* ``P3dAOp`` [p3da]: the same cascade with M = S (P3D-A: spatial then temporal).
* ``P3dBOp`` [p3db]: 1 x d x d and t x 1 x 1 on the input in parallel, both with the full
  stride, summed (P3D-B).
* ``P3dCOp`` [p3dc]: u = ReLU(BN(1 x d x d (x))) with the full stride, output u + (t x 1 x 1)(u)
  (P3D-C: the temporal conv's output added to the spatial one).
  The intermediate BN + ReLU of A and C follow the P3D authors' code
  (ZhaofanQiu/Optimization-Planning-for-3D-ConvNets); B sums the raw branches as there.
* ``Rank1Op`` [r1]: t x 1 x 1 (C -> S, temporal stride), 1 x d x 1, 1 x 1 x d (S -> S, the
  spatial stride on its own axis), no nonlinearity between: a rank-1 (outer product) kernel
  per channel path (Rank-1 CNN). With stride 1 it equals a 3D conv with that kernel.
* ``ProposedSplitOp`` [padd / pcat]: Hajimolahoseini et al. Sec. II, on 4D tensors only (see its docstring).

`SplitConv3d` is the searchable choice op: one (op, BatchNorm) path per strategy.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.conv_split import (DROP_IN_STRATEGIES, STRATEGY_TOKENS, conv_out, strategy_of)
from search_spaces.errors import VidnasInputError

from . import four_d


def _kernel_stride(kernel, stride) -> tuple[int, int, int, int]:
    (t, d), (st, ss) = tuple(kernel), tuple(stride)
    for name, v in (("t", t), ("d", d)):
        if not isinstance(v, int) or v < 1 or v % 2 == 0:
            raise VidnasInputError(f"kernel size {name}={v!r} must be an odd positive int ('same' padding)")
    for name, v in (("s_t", st), ("s", ss)):
        if not isinstance(v, int) or v < 1:
            raise VidnasInputError(f"stride {name}={v!r} must be a positive int")
    return t, d, st, ss


def r2plus1d_mid_channels(in_channels: int, out_channels: int, t: int, d: int) -> int:
    """R(2+1)D's M: the width at which (2+1)D has the 3D conv's parameter count (Sec. 3.5)."""
    return (t * d * d * in_channels * out_channels) // (d * d * in_channels + t * out_channels)


class SplitOp(nn.Module):
    """Common attributes of the strategy ops: channels C -> S, kernel (t, d), stride (s_t, s)."""

    strategy = ""

    def __init__(self, in_channels: int, out_channels: int, kernel, stride=(1, 1)):
        super().__init__()
        self.t, self.d, self.st, self.ss = _kernel_stride(kernel, stride)
        self.in_channels, self.out_channels = in_channels, out_channels

    def out_size(self, size) -> tuple[int, int, int]:
        T, H, W = size
        return conv_out(T, self.t, self.st), conv_out(H, self.d, self.ss), conv_out(W, self.d, self.ss)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel={self.t}x{self.d}x{self.d}, "
                f"stride=({self.st}, {self.ss}, {self.ss})")


def _conv3d(c: int, s: int, kernel, stride) -> nn.Conv3d:
    """A bias-free Conv3d with 'same' padding (k // 2 per axis)."""
    return nn.Conv3d(c, s, kernel, stride, tuple(k // 2 for k in kernel), bias=False)


class Conv3dOp(SplitOp):
    strategy = "conv3d"

    def __init__(self, in_channels, out_channels, kernel, stride=(1, 1)):
        super().__init__(in_channels, out_channels, kernel, stride)
        self.conv = _conv3d(in_channels, out_channels, (self.t, self.d, self.d),
                            (self.st, self.ss, self.ss))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class R2Plus1dOp(SplitOp):
    """Spatial 1 x d x d (C -> M) -> BN -> ReLU -> temporal t x 1 x 1 (M -> S)."""

    strategy = "r2plus1d"

    def __init__(self, in_channels, out_channels, kernel, stride=(1, 1)):
        super().__init__(in_channels, out_channels, kernel, stride)
        m = self.mid_channels()
        self.spatial = _conv3d(in_channels, m, (1, self.d, self.d), (1, self.ss, self.ss))
        self.bn = nn.BatchNorm3d(m)
        self.temporal = _conv3d(m, out_channels, (self.t, 1, 1), (self.st, 1, 1))

    def mid_channels(self) -> int:
        return r2plus1d_mid_channels(self.in_channels, self.out_channels, self.t, self.d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.temporal(F.relu(self.bn(self.spatial(x))))


class P3dAOp(R2Plus1dOp):
    """P3D-A: the spatial -> temporal cascade at the output width S."""

    strategy = "p3d_a"

    def mid_channels(self) -> int:
        return self.out_channels


class P3dBOp(SplitOp):
    """P3D-B: spatial and temporal convs on the input in parallel, outputs summed."""

    strategy = "p3d_b"

    def __init__(self, in_channels, out_channels, kernel, stride=(1, 1)):
        super().__init__(in_channels, out_channels, kernel, stride)
        full = (self.st, self.ss, self.ss)
        self.spatial = _conv3d(in_channels, out_channels, (1, self.d, self.d), full)
        self.temporal = _conv3d(in_channels, out_channels, (self.t, 1, 1), full)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(x) + self.temporal(x)


class P3dCOp(SplitOp):
    """P3D-C: u = ReLU(BN(spatial(x))), output u + temporal(u)."""

    strategy = "p3d_c"

    def __init__(self, in_channels, out_channels, kernel, stride=(1, 1)):
        super().__init__(in_channels, out_channels, kernel, stride)
        self.spatial = _conv3d(in_channels, out_channels, (1, self.d, self.d),
                               (self.st, self.ss, self.ss))
        self.bn = nn.BatchNorm3d(out_channels)
        self.temporal = _conv3d(out_channels, out_channels, (self.t, 1, 1), (1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = F.relu(self.bn(self.spatial(x)))
        return u + self.temporal(u)


class Rank1Op(SplitOp):
    """Three 1D convs: time (C -> S), height, width (S -> S), each striding its own axis."""

    strategy = "rank1"

    def __init__(self, in_channels, out_channels, kernel, stride=(1, 1)):
        super().__init__(in_channels, out_channels, kernel, stride)
        t, d, st, ss = self.t, self.d, self.st, self.ss
        self.temporal = _conv3d(in_channels, out_channels, (t, 1, 1), (st, 1, 1))
        self.height = _conv3d(out_channels, out_channels, (1, d, 1), (1, ss, 1))
        self.width = _conv3d(out_channels, out_channels, (1, 1, d), (1, 1, ss))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.width(self.height(self.temporal(x)))


class ProposedSplitOp(SplitOp):
    """Hajimolahoseini et al. Sec. II (Fig. 2-3): two parallel branches on 4D tensors, added or concatenated.

    In PyTorch's channels-first order the paper's [B, T, X·Y, C] is ``(B, C, T, X·Y)``.

    * Spatial branch: frames ``(B·T, C, X, Y)`` -> d x d 2D conv, stride s (C -> S) ->
      reshaped to ``(B, S, T, X'·Y')`` -> if s_t > 1, a 1 x 1 2D conv with stride (s_t, 1)
      (S -> S, learnable: the paper's "1-by-1 convolution with stride s") pools time.
    * Temporal branch: ``(B, C, T, X·Y)`` -> t x 1 2D conv with stride (s_t, s^2) (C -> S).
      The paper writes the kernel d x 1 (it takes t = d); we use the replaced conv's t.
    * add: the branches are summed (Proposed-Add).
      cat: concatenated on channels (2S) and fused back to S by a 1 x 1 2D conv, so the op
      stays a drop-in (Proposed-Cat; Table II's 32.2M suggests the paper instead carried 2S
      channels into the next layer, which changes the host's widths; see docs/spaces/conv3d-split.md).

    Note (paper as written): striding the flattened X·Y axis by s^2 keeps every s^2-th pixel
    in row-major order, so for s > 1 the temporal branch's output j comes from input pixel
    ``divmod(j * s^2, Y)``, not from the pixel (s·j_x, s·j_y) the spatial branch's output j
    sees. The shapes agree (when s divides X and Y), which is what the paper requires.

    `forward` takes and returns the host's 5D clips, reshaping them directly to and from
    ``(B, C, T, X·Y)``; every tensor computed in between has at most 4 dimensions.
    `forward_4d` is the op on 4D tensors alone.
    """

    def __init__(self, in_channels, out_channels, kernel, stride=(1, 1), combine: str = "add"):
        super().__init__(in_channels, out_channels, kernel, stride)
        if combine not in ("add", "cat"):
            raise ValueError(f"combine must be 'add' or 'cat', got {combine!r}")
        self.combine = combine
        self.strategy = "proposed_add" if combine == "add" else "proposed_cat"
        t, d, st, ss = self.t, self.d, self.st, self.ss
        self.spatial = nn.Conv2d(in_channels, out_channels, d, ss, d // 2, bias=False)
        self.time_pool = (nn.Conv2d(out_channels, out_channels, 1, (st, 1), bias=False)
                          if st > 1 else None)
        self.temporal = nn.Conv2d(in_channels, out_channels, (t, 1), (st, ss * ss), (t // 2, 0),
                                  bias=False)
        self.fuse = (nn.Conv2d(2 * out_channels, out_channels, 1, bias=False)
                     if combine == "cat" else None)

    def check_size(self, height: int, width: int) -> None:
        if self.ss > 1 and (height % self.ss or width % self.ss):
            raise VidnasInputError(f"{STRATEGY_TOKENS[self.strategy]} with spatial stride {self.ss} "
                                   f"needs H and W divisible by {self.ss}, got {height}x{width}")

    def st_terms(self, x: torch.Tensor, y: torch.Tensor) -> list:
        """Its layers in E3D's spatio-temporal entropy (`nas.proxies.st_entropy`) on clips
        (B, C, T, H, W) -> (B, S, T', H', W'): the spatial d x d conv (1, d, d) per frame, the
        temporal t x 1 conv (t, 1, 1), and the 1 x 1 time pooling / fusion convs (pointwise)."""
        c, s, d, t = self.in_channels, self.out_channels, self.d, self.t
        frames = (x.shape[2], *y.shape[3:5])
        terms = [(c * d * d, (1, d, d), frames, s)]
        if self.time_pool is not None:
            terms.append((s, (1, 1, 1), tuple(y.shape[2:5]), s))
        terms.append((c * t, (t, 1, 1), tuple(y.shape[2:5]), s))
        if self.fuse is not None:
            terms.append((2 * s, (1, 1, 1), tuple(y.shape[2:5]), s))
        return terms

    def forward_4d(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``(B, C, T, X·Y)`` -> ``(B, S, T', X'·Y')`` with 2D convs and 4D tensors only."""
        self.check_size(height, width)
        b, c, t, _ = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, height, width)        # [B·T, C, X, Y]
        s = self.spatial(frames)                                            # [B·T, S, X', Y']
        s = s.reshape(b, t, self.out_channels, -1).transpose(1, 2)         # [B, S, T, X'·Y']
        if self.time_pool is not None:
            s = self.time_pool(s)                                           # [B, S, T', X'·Y']
        u = self.temporal(x)                                                # [B, S, T', X·Y/s²]
        if self.combine == "add":
            return s + u
        return self.fuse(torch.cat([s, u], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"{self.strategy} expects clips (B, C, T, H, W), got shape {tuple(x.shape)}")
        b, c, t, h, w = x.shape
        y = self.forward_4d(x.reshape(b, c, t, h * w), h, w)
        return y.reshape(b, self.out_channels, y.shape[2], conv_out(h, self.d, self.ss),
                         conv_out(w, self.d, self.ss))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", combine={self.combine}"


class ProposedSplit4d(nn.Module):
    """`ProposedSplitOp.forward_4d` with the map size fixed at export (the deploy graph)."""

    def __init__(self, op: ProposedSplitOp, height: int, width: int):
        super().__init__()
        self.op, self.height, self.width = op, height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op.forward_4d(x, self.height, self.width)


class ProposedAddOp(ProposedSplitOp):
    def __init__(self, in_channels, out_channels, kernel, stride=(1, 1)):
        super().__init__(in_channels, out_channels, kernel, stride, combine="add")


class ProposedCatOp(ProposedSplitOp):
    def __init__(self, in_channels, out_channels, kernel, stride=(1, 1)):
        super().__init__(in_channels, out_channels, kernel, stride, combine="cat")


SPLIT_OPS: dict[str, type[SplitOp]] = {
    "conv3d": Conv3dOp,
    "r2plus1d": R2Plus1dOp,
    "p3d_a": P3dAOp,
    "p3d_b": P3dBOp,
    "p3d_c": P3dCOp,
    "rank1": Rank1Op,
    "proposed_add": ProposedAddOp,
    "proposed_cat": ProposedCatOp,
}
assert tuple(SPLIT_OPS) == DROP_IN_STRATEGIES


def build_split_op(strategy: str, in_channels: int, out_channels: int, kernel, stride=(1, 1)) -> SplitOp:
    """The op of `strategy` (name or token) replacing a t x d x d conv C -> S."""
    name = strategy_of(strategy)
    if name not in SPLIT_OPS:
        raise ValueError(f"{STRATEGY_TOKENS[name]} is not a drop-in conv op; drop-in strategies: "
                         f"{', '.join(STRATEGY_TOKENS[s] for s in SPLIT_OPS)}")
    return SPLIT_OPS[name](in_channels, out_channels, kernel, stride)


class ConvBN(nn.Module):
    """A conv-like op followed by BatchNorm3d (one path of a choice op)."""

    def __init__(self, op: nn.Module, channels: int):
        super().__init__()
        self.op = op
        self.bn = nn.BatchNorm3d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.op(x))


class SplitConv3d(nn.Module):
    """Searchable t x d x d conv + BN: one independent (op, BN) path per strategy.

    Weight sharing (SPOS, Guo et al. 2020): strategies have different weight shapes, so each
    owns its weights and its own BatchNorm (a BN's statistics depend on the op before it).
    Built with one strategy it is the fixed op; `fixed_state(strategy)` is that path's state.
    Paths are keyed by token: ``paths.<token>.op.*``, ``paths.<token>.bn.*``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel, stride=(1, 1),
                 strategies: Sequence[str] = DROP_IN_STRATEGIES):
        super().__init__()
        names = [strategy_of(s) for s in strategies]
        if not names:
            raise ValueError("SplitConv3d needs at least one strategy")
        self.paths = nn.ModuleDict({
            STRATEGY_TOKENS[s]: ConvBN(build_split_op(s, in_channels, out_channels, kernel, stride),
                                       out_channels) for s in names})

    def path(self, strategy: str) -> ConvBN:
        tok = STRATEGY_TOKENS[strategy_of(strategy)]
        if tok not in self.paths:
            raise ValueError(f"strategy {tok} is not held by this op; held: {', '.join(self.paths)}")
        return self.paths[tok]

    def forward(self, x: torch.Tensor, strategy: str) -> torch.Tensor:
        return self.path(strategy)(x)

    def fixed_state(self, strategy: str) -> dict[str, torch.Tensor]:
        return choice_state(self, {"paths": STRATEGY_TOKENS[strategy_of(strategy)]})


def choice_state(module: nn.Module, keep: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """`module`'s state without the unchosen paths: for each ``dict_path -> key`` in `keep`,
    entries under ``dict_path.<other key>.`` are dropped (``dict_path`` names a ModuleDict)."""
    out = {}
    for name, value in module.state_dict().items():
        if any(name.startswith(p + ".") and not name.startswith(f"{p}.{k}.") for p, k in keep.items()):
            continue
        out[name] = value
    return out


__all__ = ["SplitOp", "Conv3dOp", "R2Plus1dOp", "P3dAOp", "P3dBOp", "P3dCOp", "Rank1Op",
           "ProposedSplitOp", "ProposedAddOp", "ProposedCatOp", "SPLIT_OPS", "build_split_op",
           "ConvBN", "SplitConv3d", "choice_state", "r2plus1d_mid_channels"]


four_d.register_native(ProposedSplitOp)
four_d.register_rule(ProposedSplitOp, lambda op, shape, _: ProposedSplit4d(op, shape[3], shape[4]))
four_d.register_layout_free(ConvBN, SplitConv3d)
