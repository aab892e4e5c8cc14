"""`grad_norm` (Abdelfattah et al., ICLR 2021, "Zero-Cost Proxies for Lightweight NAS"):
the sum over the weights (parameters of >= 2 dimensions) of the Euclidean norm of the
cross-entropy gradient on one batch of the run's clips, the network in training mode."""
from __future__ import annotations

import torch

from .base import loss_gradients, register_proxy, weight_layers


@register_proxy("grad_norm", needs_data=True, description="Σ over weight tensors of ‖∂L/∂θ‖₂ on one batch")
def grad_norm(ctx) -> float:
    net = loss_gradients(ctx, "grad_norm")
    with torch.no_grad():
        return float(sum(p.grad.double().norm() for _, p in weight_layers(net) if p.grad is not None))
