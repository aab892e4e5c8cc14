"""An exponential moving average of a network's weights (``train.ema``).

PySlowFast's X3D / MViT recipes and the 3D ResNet-RS line ("Revisiting 3D ResNets for Video
Recognition", following ResNet-RS) keep an EMA of the weights and evaluate it. After every
optimizer step each floating-point tensor of the state dict (parameters and buffers such as
BatchNorm's running statistics, as timm's ``ModelEmaV2``) becomes

    ema = decay * ema + (1 - decay) * current

and integer buffers (``num_batches_tracked``) are copied. The EMA is a separate copy of the
network (no gradients); its state is saved in the training checkpoint, so a resumed run
continues the same average.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from search_spaces.errors import ConfigError


class ModelEma:
    """The EMA copy of `model` (unwrap DDP before passing it)."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"train.ema.decay={decay!r} is not allowed; use a number in [0, 1)")
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        mine = self.module.state_dict()
        floats, currents = [], []
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                floats.append(mine[name])
                currents.append(value.detach())
            else:
                mine[name].copy_(value)
        if floats:
            torch._foreach_mul_(floats, self.decay)
            torch._foreach_add_(floats, currents, alpha=1.0 - self.decay)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "model": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
