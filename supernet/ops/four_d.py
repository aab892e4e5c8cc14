"""Lowering a fixed network's natively-4D units to 4D tensors (the deploy graph of `nas export`).

Hajimolahoseini et al., "Is 3D Convolution with 5D Tensors Really Necessary for Video
Analysis?" (Sec. II) runs its Proposed-Add/Cat blocks on ``(B, C, T, H·W)`` tensors so that an edge
device never sees a 5D tensor or a 3D convolution. A unit is *natively 4D* when it holds an op
type registered with `register_native`; `deploy_network` then flattens the clip once before a
run of such units, computes each module inside through its registered 4D rule, and unflattens
after the run.

The rules are registries, filled by the modules that define the layers:

- `register_rule(type, rule)`: ``rule(module, input_shape, lower_child) -> nn.Module``, the
  module's 4D form (`input_shape` is its 5D input shape; `lower_child(child, name)` lowers a
  child). Generic torch layers (BatchNorm3d, 1x1x1 Conv3d) are registered here.
- `register_layout_free(*types)`: modules whose own code calls only children and elementwise
  ops, so they stay as they are and their children are lowered.
- `register_native(*types)`: ops that make a unit natively 4D.
- `register_stem(type, factory)` / `register_head(type, factory)`: a stem that can hand over
  4D maps, a head that can take them, so a 4D run may start at the first layer or end at the last.

A module inside a natively-4D unit with no rule is a one-line `ExportError`, never a silent
5D fallback.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.errors import VidnasInputError

from .layers import DropPath

Rule = Callable[[nn.Module, tuple, Callable[[nn.Module, str], nn.Module]], nn.Module]


class ExportError(VidnasInputError):
    """A network that cannot be written in a format (one line: the op and why): a refused
    (model, format) pair, so bad input (`search_spaces.errors`)."""


FOUR_D_RULES: dict[type, Rule] = {}
LAYOUT_FREE: list[type] = [nn.Sequential, nn.ModuleDict, nn.ModuleList, nn.ReLU, nn.Identity, nn.Dropout,
                           DropPath]
NATIVE_4D: list[type] = []
STEM_RULES: dict[type, Callable[[nn.Module], nn.Module]] = {}
HEAD_RULES: dict[type, Callable[[nn.Module], nn.Module]] = {}


def register_rule(module_type: type, rule: Rule) -> Rule:
    """Compute `module_type` inside a 4D unit as ``rule(module, input_shape, lower_child)``."""
    FOUR_D_RULES[module_type] = rule
    return rule


def register_layout_free(*types: type) -> None:
    """Modules that only call children and elementwise ops: kept, their children lowered."""
    LAYOUT_FREE.extend(t for t in types if t not in LAYOUT_FREE)


def register_native(*types: type) -> None:
    """Ops that make the unit holding them natively 4D (lowered in the deploy graph)."""
    NATIVE_4D.extend(t for t in types if t not in NATIVE_4D)


def register_stem(stem_type: type, factory: Callable[[nn.Module], nn.Module]) -> None:
    """A stem whose 4D form (``factory(stem)``) hands its maps on as ``(B, C, T, H·W)``."""
    STEM_RULES[stem_type] = factory


def register_head(head_type: type, factory: Callable[[nn.Module], nn.Module]) -> None:
    """A head whose 4D form (``factory(head)``) takes ``(B, C, T, H·W)`` maps."""
    HEAD_RULES[head_type] = factory


# ---- 4D layers ------------------------------------------------------------------------------
class Flatten4d(nn.Module):
    """Clip ``(B, C, T, H, W)`` -> ``(B, C, T, H·W)``: the paper's 4D layout (Sec. II)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(3)


class Unflatten5d(nn.Module):
    """``(B, C, T, H·W)`` -> ``(B, C, T, H, W)`` for the 5D layers after a 4D run."""

    def __init__(self, height: int, width: int):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(3, (self.height, self.width))


class FourDUnit(nn.Module):
    """A searched unit computed on 4D tensors; `enter` / `leave` convert at a run's edges."""

    def __init__(self, block: nn.Module, enter: bool, leave: bool, out_hw: tuple[int, int]):
        super().__init__()
        self.enter = Flatten4d() if enter else None
        self.block = block
        self.leave = Unflatten5d(*out_hw) if leave else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.enter is not None:
            x = self.enter(x)
        y = self.block(x)
        return y if self.leave is None else self.leave(y)


class BatchNorm4d(nn.Module):
    """An (eval-mode) BatchNorm3d applied to the 4D layout: statistics are per channel, so
    ``(B, C, T, H·W)`` normalises exactly as ``(B, C, T, H, W)`` does."""

    def __init__(self, bn: nn.BatchNorm3d):
        super().__init__()
        self.bn = bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.bn
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def to_frames(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(B, C, T, H·W)`` (or a clip ``(B, C, T, H, W)``) -> frames ``(B·T, C, H, W)``."""
    b, c, t = x.shape[:3]
    return x.transpose(1, 2).reshape(b * t, c, height, width)


def from_frames(y: torch.Tensor, batch) -> torch.Tensor:
    """Frames ``(B·T, C, H, W)`` -> the 4D layout ``(B, C, T, H·W)``."""
    return y.reshape(batch, -1, y.shape[1], y.shape[2] * y.shape[3]).transpose(1, 2)


class PointwiseConv4d(nn.Module):
    """A 1x1x1 Conv3d with stride (s_t, s, s) on the 4D layout: a 1x1 Conv2d, striding time
    on ``(B, C, T, H·W)`` and space on frames ``(B·T, C, H, W)``."""

    def __init__(self, conv: nn.Conv3d, height: int, width: int):
        super().__init__()
        self.conv, self.height, self.width = conv, height, width
        self.st, self.ss = conv.stride[0], conv.stride[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.conv.weight.flatten(2).unsqueeze(-1)            # (O, I, 1, 1)
        if self.ss == 1:
            return F.conv2d(x, weight, self.conv.bias, (self.st, 1), groups=self.conv.groups)
        if self.st > 1:
            x = x[:, :, ::self.st]
        y = F.conv2d(to_frames(x, self.height, self.width), weight, self.conv.bias, self.ss,
                     groups=self.conv.groups)
        return from_frames(y, x.shape[0])


def _pointwise_rule(conv: nn.Conv3d, shape, lower_child) -> nn.Module:
    if tuple(conv.kernel_size) != (1, 1, 1) or any(conv.padding) or conv.dilation != (1, 1, 1) \
            or conv.stride[1] != conv.stride[2]:
        raise ExportError(f"a {'x'.join(map(str, conv.kernel_size))} Conv3d is a 3D convolution; "
                          "only 1x1x1 ones have a 4D form")
    return PointwiseConv4d(conv, shape[3], shape[4])


register_rule(nn.BatchNorm3d, lambda bn, shape, _: BatchNorm4d(bn))
register_rule(nn.Conv3d, _pointwise_rule)


# ---- the lowering ---------------------------------------------------------------------------
def natively_4d(unit: nn.Module) -> bool:
    """Whether `unit` holds an op registered with `register_native`."""
    kinds = tuple(NATIVE_4D)
    return bool(kinds) and any(isinstance(m, kinds) for m in unit.modules())


def _input_shapes(run: Callable[[], Any], modules: dict[str, nn.Module]) -> dict[str, tuple]:
    """The input shape of each named module while `run()` runs."""
    shapes: dict[str, tuple] = {}
    hooks = []
    for name, mod in modules.items():
        def hook(_, args, name=name):
            shape = tuple(args[0].shape)
            if shapes.setdefault(name, shape) != shape:
                raise ExportError(f"{name} runs on two shapes ({shapes[name]}, {shape}); cannot lower it")
        hooks.append(mod.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            run()
    finally:
        for h in hooks:
            h.remove()
    return shapes


def _lower(module: nn.Module, qualname: str, shapes: dict[str, tuple]) -> nn.Module:
    rule = FOUR_D_RULES.get(type(module))
    if rule is None:
        rule = next((r for t, r in FOUR_D_RULES.items() if isinstance(module, t)), None)
    if rule is not None:
        try:
            return rule(module, shapes.get(qualname), lambda child, sub: _lower(child, f"{qualname}.{sub}", shapes))
        except ExportError as e:
            if str(e).startswith("cannot lower"):
                raise
            raise ExportError(f"cannot lower {qualname} ({type(module).__name__}) to 4D tensors: {e}") from None
    if not isinstance(module, tuple(LAYOUT_FREE)):
        raise ExportError(f"cannot lower {qualname} ({type(module).__name__}) to 4D tensors: no 4D rule "
                          "for it (supernet.ops.four_d.register_rule / register_layout_free)")
    for sub, child in list(module.named_children()):
        module._modules[sub] = _lower(child, f"{qualname}.{sub}", shapes)
    return module


def lower_unit(unit: nn.Module, x: torch.Tensor, name: str = "unit", enter: bool = True,
               leave: bool = True) -> FourDUnit:
    """A natively-4D unit (eval mode) on its 5D input `x`, as a `FourDUnit` computing it on
    4D tensors (`unit` is modified: pass a copy)."""
    inner = {f"{name}.{sub}" if sub else name: m for sub, m in unit.named_modules()}
    shapes = _input_shapes(lambda: unit(x), inner)
    with torch.no_grad():
        out = unit(x).shape
    return FourDUnit(_lower(unit, name, shapes), enter, leave, out_hw=(out[3], out[4]))


def layer_inputs(net: nn.Module, example: torch.Tensor) -> dict[str, torch.Tensor]:
    """The input of the stem, of every layer (``layers.k``) and of the head in one eval
    forward of a stem -> layers -> head network on `example`."""
    parts = {"stem": net.stem, "head": net.head, **{f"layers.{k}": m for k, m in enumerate(net.layers)}}
    got: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_pre_hook(lambda _, a, n=n: got.__setitem__(n, a[0])) for n, m in parts.items()]
    try:
        with torch.no_grad():
            net(example)
    finally:
        for h in hooks:
            h.remove()
    return got


def deploy_network(net: nn.Module, example: torch.Tensor) -> tuple[nn.Module, list[int]]:
    """The deploy graph of a fixed network: an eval-mode copy whose natively-4D units are
    lowered to 4D tensors (module docstring). Returns it and the lowered unit indices."""
    net = copy.deepcopy(net).eval()
    units = [i for i in range(net.space.num_units) if natively_4d(net.unit(i))]
    if not units:
        return net, []
    inputs = layer_inputs(net, example)
    lowered = set(net.unit_layers[i] for i in units)
    last = len(net.layers) - 1
    stem_rule, head_rule = STEM_RULES.get(type(net.stem)), HEAD_RULES.get(type(net.head))
    if 0 in lowered and stem_rule is not None:
        net.stem = stem_rule(net.stem)
    if last in lowered and head_rule is not None:
        net.head = head_rule(net.head)
    for i in units:
        k = net.unit_layers[i]
        enter = k - 1 not in lowered and not (k == 0 and stem_rule is not None)
        leave = k + 1 not in lowered and not (k == last and head_rule is not None)
        net.layers[k] = lower_unit(net.layers[k], inputs[f"layers.{k}"], net.unit_module_name(i), enter, leave)
    return net, units


def unit_scopes(deploy: nn.Module) -> list[str]:
    """The module path computing each searched unit in a deploy graph (the inner block of a
    4D unit), as `nas.deploy.report.onnx_graph_report` names scopes."""
    out = []
    for i in range(deploy.space.num_units):
        name = deploy.unit_module_name(i)
        out.append(f"{name}.block" if isinstance(deploy.layers[deploy.unit_layers[i]], FourDUnit) else name)
    return out
