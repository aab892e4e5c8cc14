"""Cycle FC (CycleMLP, the MLP-3D paper's [6]) in plain torch.

CycleMLP implements it as a deformable 1x1 convolution whose sampling offsets are fixed:
along its axis, channel i is read ``(i + k//2) % k - k//2`` positions away (a staircase of
period k = 3: offsets 0, +1, -1, 0, +1, ...), with zeros outside the map. Here that is a
per-channel shift with zero fill followed by one linear map over channels, so fvcore counts
it as the 1x1 layer it is (the shift counts 0).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def cycle_offsets(channels: int, kernel: int = 3) -> list[int]:
    """The fixed offset of each channel along the mixing axis (CycleMLP's `gen_offset`)."""
    return [(i + kernel // 2) % kernel - kernel // 2 for i in range(channels)]


def shift_channels(x: torch.Tensor, dim: int, kernel: int = 3) -> torch.Tensor:
    """out[..., p, ..., c] = x[..., p + offset(c), ..., c], zero outside (one strided copy per
    offset class; channels with the same offset are every `kernel`-th channel)."""
    out = torch.zeros_like(x)
    n = x.shape[dim]
    for r in range(min(kernel, x.shape[-1])):
        off = (r + kernel // 2) % kernel - kernel // 2
        length = n - abs(off)
        if length <= 0:
            continue
        src = x[..., r::kernel].narrow(dim, max(off, 0), length)
        out[..., r::kernel].narrow(dim, max(-off, 0), length).copy_(src)
    return out


class CycleFC(nn.Module):
    """Cycle FC along one spatial axis of channels-last tokens (..., H, W, C).

    Args:
        channels: C (input = output channels).
        axis: "height" or "width": the axis along which channels are staggered.
    """

    def __init__(self, channels: int, axis: str, kernel: int = 3, bias: bool = True):
        super().__init__()
        if axis not in ("height", "width"):
            raise ValueError(f"CycleFC axis must be 'height' or 'width', got {axis!r}")
        self.channels, self.axis, self.kernel = channels, axis, kernel
        self.weight = nn.Parameter(torch.empty(channels, channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = x.dim() - 3 if self.axis == "height" else x.dim() - 2
        return F.linear(shift_channels(x, dim, self.kernel), self.weight, self.bias)

    def st_terms(self, x: torch.Tensor, y: torch.Tensor) -> list:
        """Its layer in E3D's spatio-temporal entropy (`nas.proxies.st_entropy`): CycleMLP's
        pseudo-kernel, (1, k, 1) or (1, 1, k), with fan-in C (one C x C map over a staircase of
        k positions) on tokens (..., H, W, C)."""
        kernel = (1, self.kernel, 1) if self.axis == "height" else (1, 1, self.kernel)
        fmap = tuple(x.shape[1:4]) if x.dim() == 5 else (1, *x.shape[-3:-1])
        return [(self.channels, kernel, fmap, self.channels)]

    def extra_repr(self) -> str:
        return f"{self.channels}, axis={self.axis}, kernel={self.kernel}"
