"""MorphFC_s and MorphFC_t (MorphMLP, Sec. 3.1-3.2, Eq. 1-2, Fig. 4 and 6).

Tokens are channels-last ``(B, T, H, W, C)`` (images: T = 1). A *chunk* of length L is L
consecutive tokens of a sequence; its channels are split into L groups of D = C / L, and the
chunk-group vector ``X_i^k`` (L positions x D channels, flattened position-major: index
``l * D + d``) is multiplied by one matrix ``W`` of size L·D x L·D = C x C (Eq. 1), shared by
all chunks and groups, as in the public code (MTLab/MorphMLP). The sequences are:

* horizontal: the H·W tokens of a frame in row-major order (chunks along rows);
* vertical: the same in column-major order (chunks along columns);
* temporal: the T' tokens of one spatial position (Eq. 2, chunks of L_t frames).

Because L·D = C for every L, the C x C matrix is the same parameter for every chunk length:
only the reshape changes. That is the supernet's weight sharing (MorphMLP's own design, used
here as is): a weight entry ``W[l*D + d, l'*D + d']`` links position l, channel d to position
l', channel d' for the active L, so different L reuse the same numbers with different
meanings (sharing by index, like slicing the largest kernel). Every chunk length costs
exactly one C x C product per token.

MorphFC_s sums three branches (vertical, horizontal, channel FC) with ViP's reweighting
(Table 9 "weight sum": mean over the clip -> MLP C -> C/4 -> n·C -> softmax over the n
branches, per channel), then a projection FC, in the public code's branch order. With
``branches=2`` there is one spatial branch (horizontal) and the channel FC: the public code
uses that in the last stage, where the chunk (L = 49 = H·W) is the whole map in both
directions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.morph import spatial_chunk_error, temporal_chunk_error
from search_spaces.errors import VidnasInputError

from .layers import Mlp, reweighted_sum


def check_spatial_chunk(chunk: int, height: int, width: int, channels: int) -> None:
    """One-line ValueError if MorphFC_s cannot use chunk length `chunk` on this map."""
    if not isinstance(chunk, int) or isinstance(chunk, bool):
        raise VidnasInputError(f"MorphFC_s chunk length must be an int, got {chunk!r}")
    error = spatial_chunk_error(chunk, height, width, channels)
    if error:
        raise VidnasInputError(f"MorphFC_s: {error}")


def check_temporal_chunk(chunk: int, time_tokens: int, channels: int) -> None:
    """One-line ValueError if MorphFC_t cannot use temporal chunk `chunk` on these tokens."""
    if not isinstance(chunk, int) or isinstance(chunk, bool):
        raise VidnasInputError(f"MorphFC_t chunk length must be an int, got {chunk!r}")
    error = temporal_chunk_error(chunk, time_tokens, channels)
    if error:
        raise VidnasInputError(f"MorphFC_t: {error}")


def sequence_chunk_fc(seq: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      chunk: int) -> torch.Tensor:
    """Eq. 1 / Eq. 2 on sequences ``(M, N, C)``: chunks of `chunk` tokens, L groups of C / L
    channels, each chunk-group vector (position-major) times W (``weight`` is nn.Linear's
    ``(out, in)``, i.e. W transposed). One matmul, no loop over chunks."""
    m, n, c = seq.shape
    d = c // chunk                                                # channels per group
    rows = seq.reshape(m, n // chunk, chunk, chunk, d)            # [.., l, k, d]
    rows = rows.transpose(2, 3).reshape(m, n // chunk, chunk, c)  # [.., k, (l, d)]
    out = F.linear(rows, weight, bias).view(m, n // chunk, chunk, chunk, d)
    return out.transpose(2, 3).reshape(m, n, c)


def spatial_chunk_fc(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                     chunk: int, direction: str) -> torch.Tensor:
    """Eq. 1 along one direction on tokens (B, T, H, W, C): "horizontal" chunks run along
    rows (row-major token order), "vertical" ones along columns (column-major)."""
    b, t, h, w, c = x.shape
    if direction == "horizontal":
        return sequence_chunk_fc(x.reshape(b * t, h * w, c), weight, bias, chunk).view(b, t, h, w, c)
    if direction == "vertical":
        seq = x.transpose(2, 3).reshape(b * t, w * h, c)
        return sequence_chunk_fc(seq, weight, bias, chunk).view(b, t, w, h, c).transpose(2, 3)
    raise VidnasInputError(f"unknown MorphFC_s direction {direction!r}; allowed: horizontal, vertical")


def temporal_chunk_fc(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      chunk: int) -> torch.Tensor:
    """Eq. 2 on tokens (B, T, H, W, C): per spatial position, chunks of `chunk` frames."""
    b, t, h, w, c = x.shape
    seq = x.permute(0, 2, 3, 1, 4).reshape(b * h * w, t, c)
    y = sequence_chunk_fc(seq, weight, bias, chunk)
    return y.view(b, h, w, t, c).permute(0, 3, 1, 2, 4)


def _tokens(x: torch.Tensor, op: str) -> None:
    if x.dim() != 5:
        raise ValueError(f"{op} expects tokens (B, T, H, W, C), got shape {tuple(x.shape)}")


class _SharedChunkOp(nn.Module):
    """What both shared ops have in common: every chunk length uses all their weights, so
    the fixed op of a chunk length holds the same state."""

    label = "MorphFC"
    dim: int
    st_terms = None      # E3D's entropy has no kernel for a chunked FC (`nas.proxies.st_entropy`)

    def check_divides(self, chunk) -> None:
        if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1 or self.dim % chunk:
            raise ValueError(f"{self.label}: chunk length {chunk!r} must be a positive divisor of C={self.dim}")

    def fixed_state(self, chunk: int) -> dict[str, torch.Tensor]:
        """The fixed op's state for `chunk`: all the weights (L·D = C for every L)."""
        self.check_divides(chunk)
        return dict(self.state_dict())

    def export(self, chunk: int) -> nn.Module:
        """The fixed op of `chunk`, with copies of these weights."""
        op = self.fixed_class(chunk=chunk, **self.init_kwargs())
        op.load_state_dict({k: v.detach().clone() for k, v in self.fixed_state(chunk).items()})
        return op


class _FixedChunk:
    """Mixin for the fixed twin of a shared op: its chunk length is set at construction."""

    chunk: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x, self.chunk)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, chunk={self.chunk}"


class SharedMorphFCS(_SharedChunkOp):
    """MorphFC_s for any chunk length L (the supernet op): ``forward(x, chunk)``.

    Owns the C x C FCs of the spatial branches and the channel FC (``bias`` as the public
    code's ``qkv_bias=True``), the reweighting MLP and the output projection.
    """

    label = "MorphFC_s"

    def __init__(self, dim: int, branches: int = 3, bias: bool = True):
        super().__init__()
        if branches not in (2, 3):
            raise ValueError(f"MorphFC_s has 3 branches (vertical, horizontal, channel) or 2 "
                             f"(horizontal, channel), got {branches}")
        self.dim, self.branches = dim, branches
        self.fc_v = nn.Linear(dim, dim, bias=bias) if branches == 3 else None
        self.fc_h = nn.Linear(dim, dim, bias=bias)
        self.fc_c = nn.Linear(dim, dim, bias=bias)
        self.reweight = Mlp(dim, max(dim // 4, 1), dim * branches)
        self.proj = nn.Linear(dim, dim)

    def init_kwargs(self) -> dict:
        return dict(dim=self.dim, branches=self.branches, bias=self.fc_h.bias is not None)

    def forward(self, x: torch.Tensor, chunk: int) -> torch.Tensor:
        _tokens(x, self.label)
        check_spatial_chunk(chunk, x.shape[2], x.shape[3], x.shape[4])
        parts = [] if self.fc_v is None else [
            spatial_chunk_fc(x, self.fc_v.weight, self.fc_v.bias, chunk, "vertical")]
        parts.append(spatial_chunk_fc(x, self.fc_h.weight, self.fc_h.bias, chunk, "horizontal"))
        parts.append(self.fc_c(x))
        return self.proj(reweighted_sum(parts, self.reweight))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, branches={self.branches}"


class MorphFCS(_FixedChunk, SharedMorphFCS):
    """MorphFC_s with one chunk length (what an exported network holds)."""

    def __init__(self, dim: int, chunk: int, branches: int = 3, bias: bool = True):
        SharedMorphFCS.__init__(self, dim, branches, bias)
        self.check_divides(chunk)
        self.chunk = chunk


class SharedMorphFCT(_SharedChunkOp):
    """MorphFC_t for any temporal chunk length L_t (the supernet op): ``forward(x, chunk)``.

    One C x C FC on the chunk-group vectors (Eq. 2), then a projection FC, as the public code.
    Initialisation is the model's (truncated normal, Sec. 4.1 "randomly initialize"); the
    public code's zero FC / all-ones projection is not used, see ``supernet/models/morphmlp.py``.
    """

    label = "MorphFC_t"

    def __init__(self, dim: int, bias: bool = True):
        super().__init__()
        self.dim = dim
        self.fc_t = nn.Linear(dim, dim, bias=bias)
        self.proj = nn.Linear(dim, dim)

    def init_kwargs(self) -> dict:
        return dict(dim=self.dim, bias=self.fc_t.bias is not None)

    def forward(self, x: torch.Tensor, chunk: int) -> torch.Tensor:
        _tokens(x, self.label)
        check_temporal_chunk(chunk, x.shape[1], x.shape[4])
        return self.proj(temporal_chunk_fc(x, self.fc_t.weight, self.fc_t.bias, chunk))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class MorphFCT(_FixedChunk, SharedMorphFCT):
    """MorphFC_t with one temporal chunk length."""

    def __init__(self, dim: int, chunk: int, bias: bool = True):
        SharedMorphFCT.__init__(self, dim, bias)
        self.check_divides(chunk)
        self.chunk = chunk


SharedMorphFCS.fixed_class = MorphFCS
SharedMorphFCT.fixed_class = MorphFCT


__all__ = ["SharedMorphFCS", "MorphFCS", "SharedMorphFCT", "MorphFCT", "sequence_chunk_fc",
           "spatial_chunk_fc", "temporal_chunk_fc", "reweighted_sum", "check_spatial_chunk",
           "check_temporal_chunk"]
