"""`snip` (Lee et al., ICLR 2019; as a proxy, Abdelfattah et al., ICLR 2021): the summed
connection sensitivity Σ |θ ⊙ ∂L/∂θ| over the weights (parameters of >= 2 dimensions), from
the cross-entropy on one batch of the run's clips, the network in training mode."""
from __future__ import annotations

import torch

from .base import loss_gradients, register_proxy, weight_layers


@register_proxy("snip", needs_data=True, description="Σ|θ ⊙ ∂L/∂θ| on one batch")
def snip(ctx) -> float:
    net = loss_gradients(ctx, "snip")
    with torch.no_grad():
        return float(sum((p.double() * p.grad.double()).abs().sum()
                         for _, p in weight_layers(net) if p.grad is not None))
