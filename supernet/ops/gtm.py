"""Grouped Time Mixing (MLP-3D, Sec. 3.3, Eq. 3-5, Fig. 3, Algorithm 1).

Tokens are channels-last, ``x: (B, T, H, W, C)``, T = T' time tokens. Conventions (the
naive dense reference in ``tests/supernet/test_gtm.py`` builds the T·C x T·C matrix W of Eq. 3 from
the same conventions, independently):

* Output token j of a group is ``sum_i x_i @ W_S[i, j]`` (row vectors, Eq. 3), and with
  weight sharing by interval (Eq. 5) ``W_S[i, j] = w_{j-i}``: ``w_dt`` maps a token to the
  token ``dt`` steps later in its group.
* short_range: groups of S consecutive tokens. long_range: token ``t = s * (T/S) + g`` is
  member ``s`` of group ``g`` (interval T/S, Algorithm 1's reshape/transpose). shift_window:
  ``roll`` by +S/2 along time, short-range, roll back (Algorithm 1's ``shift``, circular).
* shift_token: ``y_t = sum_{i<S} x_{(t-i) mod T} @ w_i``: Algorithm 1 concatenates
  ``shift(x, i)`` for i < S and maps the S·C features to C (the text's O(S·C^2) parameters;
  the listing's ``nn.Linear`` shapes are swapped against the text). It uses w_0..w_{S-1}.

Shared weights are ``(2·S_max - 1, C, C)``, index ``dt + S_max - 1``. Independent weights
(Eq. 4 without Eq. 5, a free W_S per block) are the blocks ``(S_max, S_max, C, C)`` of
W_{S_max}; a choice with group size S uses the top-left S x S blocks (shift_token: the first
block row, ``W[0, i]``, which equals w_i when the blocks are Toeplitz).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.gtm import GTM_TYPES, gtm_choice_errors
from search_spaces.errors import VidnasInputError


def check_gtm_args(gtm_type: str, group_size: int, time_tokens: int,
                   max_group_size: int | None = None) -> None:
    """One-line ValueError for a (type, S) that cannot run on `time_tokens` tokens."""
    if not isinstance(group_size, int) or isinstance(group_size, bool):
        raise VidnasInputError(f"GTM group size must be an int, got {group_size!r}")
    error = gtm_choice_errors(gtm_type, group_size, time_tokens,
                              time_tokens if max_group_size is None else max_group_size)
    if error:
        divisors = [s for s in range(1, time_tokens + 1) if time_tokens % s == 0]
        raise VidnasInputError(f"GTM: {error}; group sizes dividing T'={time_tokens}: {divisors}, "
                               f"types: {', '.join(GTM_TYPES)}")


def hankel_group_matrix(intervals: torch.Tensor) -> torch.Tensor:
    """W_S with its block rows reversed: block (i', j) = w_{j-(S-1-i')} = ``intervals[i' + j]``.

    That Hankel pattern is a view (`unfold`); materialising it is one strided copy, with no
    Python loop over intervals. The op feeds each group's members in reversed order to match.
    """
    n, c, _ = intervals.shape
    s = (n + 1) // 2
    return intervals.permute(1, 0, 2).unfold(1, s, 1).permute(1, 0, 3, 2).reshape(s * c, s * c)


def block_group_matrix(blocks: torch.Tensor, reverse_rows: bool = False) -> torch.Tensor:
    """W_S from independent blocks (S, S, C, C): block (i, j) = ``blocks[i, j]`` (block rows
    reversed when `reverse_rows`, as the op feeds group members in reversed order)."""
    s, _, c, _ = blocks.shape
    if reverse_rows:
        blocks = blocks.flip(0)
    return blocks.permute(0, 2, 1, 3).reshape(s * c, s * c)


@functools.lru_cache(maxsize=None)
def _token_orders(gtm_type: str, s: int, t: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gather order of the input tokens (groups of S, members reversed) and the order that
    puts the outputs back (None when the groups' natural order is already time order)."""
    g = t // s

    def token(group: int, member: int) -> int:
        if gtm_type == "long_range":                      # interval T/S between members
            return member * g + group
        if gtm_type == "shift_window":                    # partition shifted by S/2, circular
            return (group * s + member - s // 2) % t
        return group * s + member
    gather = [token(gg, s - 1 - m) for gg in range(g) for m in range(s)]
    scatter = [0] * t
    for gg in range(g):
        for j in range(s):
            scatter[token(gg, j)] = gg * s + j
    with torch.inference_mode(False):      # cached for later training steps too
        back = None if gtm_type == "short_range" else torch.tensor(scatter, device=device)
        return torch.tensor(gather, device=device), back


def _shift_token_conv(x: torch.Tensor, weight: torch.Tensor, s: int) -> torch.Tensor:
    """Shift-token GTM as a causal circular convolution over time: y_t = sum_i x_{t-i} w_i.

    Tokens (B, T, H, W, C) are already a channels-last (B, C, T, H·W) tensor, so the conv
    reads and writes them in place (no transposition); kernel tap k holds w_{S-1-k}.
    """
    b, t, h, w, c = x.shape
    xv = x.view(b, t, h * w, c).permute(0, 3, 1, 2)
    padded = torch.cat([xv[:, :, t - (s - 1):], xv], dim=2)
    kernel = weight.flip(0).permute(2, 1, 0).unsqueeze(-1).contiguous(memory_format=torch.channels_last)
    return F.conv2d(padded, kernel).permute(0, 2, 3, 1).view(b, t, h, w, c)


def group_matrix(weight: torch.Tensor, shared: bool) -> torch.Tensor:
    """The (S·C, S·C) matrix the sr/lr/sw kernel multiplies by (block rows reversed)."""
    return hankel_group_matrix(weight) if shared else block_group_matrix(weight, reverse_rows=True)


def grouped_time_mixing(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                        gtm_type: str, group_size: int, shared: bool = True,
                        matrix: torch.Tensor | None = None) -> torch.Tensor:
    """X_T of Eq. 2 for one GTM type and group size S, on tokens (B, T, H, W, C).

    `weight` holds exactly the matrices this (type, S) uses: shared ``(2S-1, C, C)``
    (intervals -S+1..S-1) or ``(S, C, C)`` for shift_token (intervals 0..S-1); independent
    ``(S, S, C, C)`` blocks or ``(S, C, C)`` (first block row) for shift_token. `matrix`
    optionally passes `group_matrix(weight, shared)` built earlier (evaluation cache).

    sr/lr/sw: one gather puts each group's S tokens (members reversed, roll and interval
    folded in) in a row of S·C features, one matmul with W_S mixes them, and the result is
    put back in time order (a free view for short-range, one gather otherwise). The output
    may be a strided view of shape (B, T, H, W, C).
    """
    if x.dim() != 5:
        raise ValueError(f"GTM expects tokens (B, T, H, W, C), got shape {tuple(x.shape)}")
    b, t, h, w, c = x.shape
    s = group_size
    check_gtm_args(gtm_type, s, t)
    if s == 1:                                                   # every type: per-frame w_0
        y = torch.matmul(x, weight.reshape(c, c))
    elif gtm_type == "shift_token":
        y = _shift_token_conv(x, weight, s)
    else:
        gather, back = _token_orders(gtm_type, s, t, x.device)
        rows = x.view(b, t, h * w, c).permute(0, 2, 1, 3).index_select(2, gather)   # (B, HW, T, C)
        mat = group_matrix(weight, shared) if matrix is None else matrix
        y = torch.matmul(rows.view(-1, s * c), mat).view(b, h * w, t, c)
        if back is not None:
            y = y.index_select(2, back)
        y = y.permute(0, 2, 1, 3).view(b, t, h, w, c)
    if bias is not None:
        y = y + bias
    return y


def _init_like_linear(weight: torch.Tensor) -> None:
    """Truncated normal, std 0.02, as CycleMLP initialises its channel FC."""
    nn.init.trunc_normal_(weight, std=0.02)


class _GTMWeights(nn.Module):
    """Interval matrices held for group sizes up to `held_size`, and slicing them per choice.

    Holding the sr/lr/sw set for S (w_{-S+1..S-1}, or a free W_S) covers every type with a
    group size S' <= S; holding a shift-token set (w_0..w_{S-1}) covers shift-token S' <= S.
    """

    def __init__(self, channels: int, held_size: int, token_only: bool, shared: bool, bias: bool):
        super().__init__()
        if held_size < 1:
            raise ValueError(f"GTM group size must be >= 1, got {held_size}")
        self.channels, self.held_size, self.token_only, self.shared = channels, held_size, token_only, shared
        s = held_size
        if token_only:
            shape = (s, channels, channels)
        else:
            shape = (2 * s - 1, channels, channels) if shared else (s, s, channels, channels)
        self.weight = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None
        _init_like_linear(self.weight)
        self._matrix_cache: tuple | None = None

    def can_compute(self, gtm_type: str, group_size: int) -> bool:
        return group_size <= self.held_size and (not self.token_only or gtm_type == "shift_token")

    def weight_for(self, gtm_type: str, group_size: int) -> torch.Tensor:
        """The slice of the held weights that (type, S) reads (a view, no copy)."""
        s, m = group_size, self.held_size
        if s > m:
            raise ValueError(f"GTM group size {s} exceeds the held maximum {m}")
        if self.token_only:
            if gtm_type != "shift_token":
                raise ValueError(f"a shift-token GTM holds w_0..w_{m - 1} only; cannot compute {gtm_type}")
            return self.weight[:s]
        if self.shared:
            return self.weight[m - 1: m - 1 + s] if gtm_type == "shift_token" else self.weight[m - s: m + s - 1]
        return self.weight[0, :s] if gtm_type == "shift_token" else self.weight[:s, :s]

    def _cached_matrix(self, gtm_type: str, group_size: int, weight: torch.Tensor) -> torch.Tensor | None:
        """Without autograd (evaluation), keep the last W_S built: the validation batches of one
        candidate reuse it. Keyed on the weight's version, so an in-place update invalidates it."""
        if torch.is_grad_enabled() or gtm_type == "shift_token" or group_size == 1:
            return None
        key = (group_size, self.weight._version, self.weight.device, self.weight.dtype)
        if self._matrix_cache is None or self._matrix_cache[0] != key:
            self._matrix_cache = (key, group_matrix(weight, self.shared))
        return self._matrix_cache[1]

    def mix(self, x: torch.Tensor, gtm_type: str, group_size: int) -> torch.Tensor:
        check_gtm_args(gtm_type, group_size, x.shape[1], self.held_size)
        weight = self.weight_for(gtm_type, group_size)
        return grouped_time_mixing(x, weight, self.bias, gtm_type, group_size, self.shared,
                                   self._cached_matrix(gtm_type, group_size, weight))


class GroupedTimeMixing(_GTMWeights):
    """Supernet GTM: any type and any S <= S_max from one set of weights.

    With ``shared=True`` (default) it owns the interval matrices
    {w_dt | -S_max+1 <= dt <= S_max-1} of Eq. 5, (2·S_max - 1)·C^2 parameters, used by all
    four types and every S. ``shared=False`` owns a free W_{S_max} (Eq. 4) and slices it.
    """

    def __init__(self, channels: int, max_group_size: int = 16, shared: bool = True,
                 bias: bool = False):
        super().__init__(channels, max_group_size, False, shared, bias)

    @property
    def max_group_size(self) -> int:
        return self.held_size

    def used_weight(self, gtm_type: str, group_size: int) -> torch.Tensor:
        return self.weight_for(gtm_type, group_size)

    def forward(self, x: torch.Tensor, gtm_type: str, group_size: int) -> torch.Tensor:
        return self.mix(x, gtm_type, group_size)

    def export(self, gtm_type: str, group_size: int) -> "GTM":
        """The fixed op for (type, S), holding only the matrices it uses (copied)."""
        op = GTM(self.channels, gtm_type, group_size, shared=self.shared, bias=self.bias is not None)
        op.load_state_dict(self.fixed_state(gtm_type, group_size))
        return op

    def fixed_state(self, gtm_type: str, group_size: int) -> dict[str, torch.Tensor]:
        state = {"weight": self.weight_for(gtm_type, group_size)}
        if self.bias is not None:
            state["bias"] = self.bias
        return state

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, max_group_size={self.held_size}, "
                f"shared={self.shared}, bias={self.bias is not None}")


class GTM(_GTMWeights):
    """A fixed GTM of one type and group size (what an exported network holds).

    `forward(x)` computes its own (type, S); `forward(x, type, S')` computes another choice
    its weights cover (random-GTM regularization, MLP-3D Sec. 4.2).
    """

    def __init__(self, channels: int, gtm_type: str, group_size: int, shared: bool = True,
                 bias: bool = False):
        check_gtm_args(gtm_type, group_size, group_size)
        super().__init__(channels, group_size, gtm_type == "shift_token", shared, bias)
        self.gtm_type, self.group_size = gtm_type, group_size

    def forward(self, x: torch.Tensor, gtm_type: str | None = None, group_size: int | None = None) -> torch.Tensor:
        return self.mix(x, gtm_type or self.gtm_type, group_size or self.group_size)

    def st_terms(self, x: torch.Tensor, y: torch.Tensor) -> list:
        """Its layer in E3D's spatio-temporal entropy (`nas.proxies.st_entropy`): a temporal
        kernel of S taps, (S, 1, 1), with fan-in S·C on tokens (B, T, H, W, C)."""
        s = self.group_size
        return [(s * self.channels, (s, 1, 1), tuple(x.shape[1:4]), self.channels)]

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, type={self.gtm_type}, S={self.group_size}, "
                f"shared={self.shared}, bias={self.bias is not None}")


def gtm_param_count(channels: int, gtm_type: str, group_size: int, shared: bool = True) -> int:
    """Parameters of a fixed GTM (no bias): (2S-1)C^2 shared, S^2 C^2 independent, S C^2 shift-token."""
    s = group_size
    if gtm_type == "shift_token":
        return s * channels ** 2
    return (2 * s - 1 if shared else s * s) * channels ** 2


__all__ = ["GTM_TYPES", "GTM", "GroupedTimeMixing", "grouped_time_mixing", "check_gtm_args",
           "hankel_group_matrix", "block_group_matrix", "gtm_param_count"]
