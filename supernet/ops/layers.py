"""Small layers shared by the network families: channel MLP, drop path."""
from __future__ import annotations

import torch
from torch import nn

from search_spaces.errors import ConfigError


class Mlp(nn.Module):
    """Two linear layers with GELU between (the channel MLP of MLP-3D Eq. 1 / a transformer FFN)."""

    def __init__(self, in_features: int, hidden_features: int | None = None,
                 out_features: int | None = None, drop: float = 0.0):
        super().__init__()
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero a residual branch per sample with probability p, rescale the rest."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path rate must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def linear_drop_path_rates(rate: float, depths) -> list[float]:
    """Per-block drop path rates increasing linearly from 0 to `rate` over all blocks; `rate`
    (the ``drop_path_rate`` the user wrote) must be a number in [0, 1), checked here so the
    error names it, not a derived per-block rate."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ConfigError(f"drop_path_rate must be a number in [0, 1), got {rate!r}")
    total = sum(depths)
    return [rate * i / max(total - 1, 1) for i in range(total)]


def reweighted_sum(branches: list[torch.Tensor], reweight: nn.Module) -> torch.Tensor:
    """ViP's weighted sum (Table 9): per-channel softmax weights over the branches from the
    MLP of their sum averaged over all tokens of the clip."""
    total = sum(branches)
    b, c, n = total.shape[0], total.shape[-1], len(branches)
    a = reweight(total.flatten(1, -2).mean(1)).view(b, c, n).softmax(dim=-1)
    a = a.permute(2, 0, 1).reshape(n, b, *([1] * (total.dim() - 2)), c)
    return sum(a[i] * y for i, y in enumerate(branches))
