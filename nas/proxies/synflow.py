"""`synflow` (Tanaka et al., NeurIPS 2020, "Pruning neural networks without any data by
iteratively conserving synaptic flow"), data-free.

Every parameter replaced by its absolute value, the network in double precision and in
evaluation mode (BatchNorm uses its running statistics, the identity at initialisation, as in
Tanaka et al.'s pruning loop), one all-ones input; R = the sum of the outputs, and the score
is the sum over the weights (`weight_layers`: parameters of >= 2 dimensions) of |θ ⊙ ∂R/∂θ|.
For a bias-free chain of linear layers every layer contributes R (the conservation law), so a
two-layer linear network scores 2R (tests/nas/test_proxies.py).

Known degenerate case: networks whose normalisation layers divide the scale out (MLP-3D's
LayerNorms) give scores that differ only in the last digits; `nas proxies` flags it.
"""
from __future__ import annotations

import torch

from .base import register_proxy, weight_layers


@register_proxy("synflow", description="Σ|θ ⊙ ∂R/∂θ|, R = sum of outputs of the |θ| network on an all-ones input (double)")
def synflow(ctx) -> float:
    net = ctx.network().double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    x = torch.ones((1, *ctx.sample_shape), dtype=torch.float64)
    net(x).sum().backward()
    with torch.no_grad():
        return float(sum((p * p.grad).abs().sum() for _, p in weight_layers(net) if p.grad is not None))
