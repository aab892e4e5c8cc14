"""`naswot` (Mellor et al., ICML 2021, "Neural Architecture Search without Training").

One batch of N clips through the network (training mode, as in the reference); every
rectifier's input is binarised, c = [x > 0], and per sample the codes of all rectifiers are
concatenated. K[i, j] = N_A - d_H(c_i, c_j) (N_A units, Hamming distance), accumulated as
c cᵀ + (1 - c)(1 - c)ᵀ per layer in float64; the score is log|det K|. A GELU counts like a
ReLU (GELU(x) > 0 exactly when x > 0), so the MLP hosts have codes too.

The rectifiers are found whether they are modules or functional calls (`F.relu` in the conv
hosts' blocks) by a `torch.overrides.TorchFunctionMode` that sees every call of relu/gelu
during the forward pass. An activation whose leading dimension folds frames into the batch
(B·T, ...), b-major as every host does, is read as B rows of T·... units. A singular K (two
clips with identical codes) scores -inf.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from search_spaces.errors import VidnasInputError

from .base import register_proxy

RECTIFIERS = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_, F.gelu}


class ActivationCodes(TorchFunctionMode):
    """Accumulates the NASWOT kernel of the rectifier calls made while it is active."""

    def __init__(self, batch: int):
        super().__init__()
        self.batch = batch
        self.kernel = torch.zeros(batch, batch, dtype=torch.float64)
        self.units = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in RECTIFIERS and args and isinstance(args[0], torch.Tensor):
            x = args[0]
            if x.dim() and x.numel() % self.batch == 0 and x.shape[0] % self.batch == 0:
                c = (x.detach() > 0).reshape(self.batch, -1).to(torch.float64)
                self.kernel += c @ c.T + (1 - c) @ (1 - c).T
                self.units += c.shape[1]
        return func(*args, **kwargs)


def naswot_kernel(net, clips: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(K, N_A) of `net` on `clips`."""
    codes = ActivationCodes(clips.shape[0])
    with torch.no_grad(), codes:
        net(clips)
    return codes.kernel, codes.units


@register_proxy("naswot", needs_data=True, description="log|det K|, K = N_A - Hamming distance of ReLU/GELU codes on one batch")
def naswot(ctx) -> float:
    clips, _ = ctx.require_batch("naswot")
    if clips.shape[0] < 2:
        raise VidnasInputError(f"naswot needs a batch of at least 2 clips, got {clips.shape[0]}")
    kernel, units = naswot_kernel(ctx.network().train(), clips)
    if units == 0:
        return float("nan")                      # no rectifier: the score is not defined
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else float("-inf")
