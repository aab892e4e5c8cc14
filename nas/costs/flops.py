"""Parameters and FLOPs with fvcore, as the papers count them (one multiply-add = one FLOP).

Costs are taken on the *exported* subnet, so shared weights an architecture does not use
are not counted. Elementwise ops count 0 in fvcore; every matrix product, convolution and
normalisation it knows is counted.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class Cost:
    """FLOPs (multiply-adds) and parameters of a model for one input clip or image."""

    flops: int
    params: int
    stages: dict[str, int] = field(default_factory=dict)         # FLOPs per stage
    stage_params: dict[str, int] = field(default_factory=dict)
    by_module: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    @property
    def mparams(self) -> float:
        return self.params / 1e6


def example_input(input_size, batch: int = 1, device=None, dtype=None) -> torch.Tensor:
    """A zero clip (B, 3, T, H, W) for (T, H, W), or an image batch (B, 3, H, W) for (H, W)."""
    return torch.zeros(batch, 3, *input_size, device=device, dtype=dtype)


def flop_analysis(model: nn.Module, inputs: torch.Tensor):
    """fvcore's FlopCountAnalysis with the warnings about ops it counts as 0 silenced."""
    from fvcore.nn import FlopCountAnalysis  # lazy: fvcore is absent on the GPU machines, and the training path imports nas.costs
    logging.getLogger("fvcore.nn.jit_analysis").setLevel(logging.ERROR)
    analysis = FlopCountAnalysis(model, inputs)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis


def stage_of_module(model: nn.Module, name: str) -> str:
    """The stage label of a top-level module name: stem, stage1..N, or head."""
    top = name.split(".")[0]
    if top == "layers" and hasattr(model, "layer_stages"):
        return f"stage{model.layer_stages[int(name.split('.')[1])] + 1}"
    return top


def _per_stage(model: nn.Module, by_module: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, flops in by_module.items():
        depth = name.count(".")
        top = name.split(".")[0]
        if name and ((top == "layers" and depth == 1) or (top != "layers" and depth == 0)):
            label = stage_of_module(model, name)
            out[label] = out.get(label, 0) + flops
    return out


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def model_cost(model: nn.Module, input_size, batch: int = 1) -> Cost:
    """FLOPs and parameters of `model` on one (T, H, W) clip or (H, W) image.

    A supernet is costed through its exported active architecture.
    """
    if getattr(model, "is_fixed", True) is False:
        model = model.export()
    was_training = model.training
    model.eval()
    try:
        analysis = flop_analysis(model, example_input(input_size, batch,
                                                      device=next(model.parameters()).device))
        total = int(analysis.total())
        by_module = {k: int(v) for k, v in analysis.by_module().items()}
    finally:
        model.train(was_training)
    stage_params: dict[str, int] = {}
    for name, p in model.named_parameters():
        label = stage_of_module(model, name)
        stage_params[label] = stage_params.get(label, 0) + p.numel()
    return Cost(total // batch, param_count(model), {k: v // batch for k, v in _per_stage(model, by_module).items()},
                stage_params, by_module)
