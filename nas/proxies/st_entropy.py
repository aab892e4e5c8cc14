"""`st_entropy`: the spatio-temporal entropy score of E3D (Wang et al., ICLR 2023,
"Maximizing Spatio-Temporal Entropy of Deep 3D CNNs for Efficient Video Recognition"; Alibaba
TinyNAS), data-free and analytic: no training and no data, one shape-recording forward pass.

E3D models a network at initialisation as an information system whose output entropy grows
with the log of each layer's fan-in, corrected by how the kernel's shape matches the feature
map's spatio-temporal shape. Per weighted layer l with fan-in n_l = C_in/groups · k_t·k_h·k_w,
kernel k = (k_t, k_h, k_w) and output map m = (T, H, W):

    h_l = ½ log(n_l · α_l),   α_l = -log(1 - cos∠(k, m))   (α_l = 1 for a 1x1x1 kernel)

and the score is Σ_l h_l + log(C), C the width of the last feature map before the head. 1 - cos
is clamped at 1e-6 (a kernel exactly parallel to its map). E3D weights per-stage scores of its
five-stage backbone by (0, 0, 1, 1, 6); vidnas scores the final feature map only, the form
that needs no stage layout (weights 0, ..., 0, 1). Layers of the head are left out.

What counts as a layer:

* `nn.Conv3d`: as above. `nn.Conv2d` in a video network is a per-frame spatial conv: kernel
  (1, k_h, k_w) on the map (frames, H, W), the frames read from the folded batch.
  `nn.Linear`: a pointwise layer, n = in_features, α = 1.
* A module may describe itself with ``st_terms(x, y) -> [(fan_in, kernel, map, width)]``
  (its input, its output); its children are then not visited. MLP-3D's adaptation lives
  there: a GTM of group size S is a temporal kernel of S taps (S, 1, 1) with fan-in S·C (the
  four types read different frames, which the score does not see), a Cycle FC is a pseudo-
  kernel (1, 3, 1) or (1, 1, 3) with fan-in C (CycleMLP's view of it), its channel FC a
  pointwise layer. The (2+1)D splits of the conv hosts are plain `nn.Conv3d`s; the proposed
  4D splits describe their 2D convs.
* ``st_terms = None`` on a module, or any other module holding a weight of >= 2 dimensions
  (an unknown mixing op), makes the score undefined: NaN. MorphMLP's chunked FCs are such a
  case (a chunk mixes C channels across L positions with one C x C matrix; E3D has no kernel
  for that).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .base import register_proxy

MIN_GAP = 1e-6


def kernel_alpha(kernel, feature_map) -> float:
    """E3D's spatio-temporal factor α = -log(1 - cos∠(kernel, map)); 1 for a 1x1x1 kernel."""
    if math.prod(kernel) == 1:
        return 1.0
    dot = sum(float(k) * float(m) for k, m in zip(kernel, feature_map))
    norm = math.sqrt(sum(float(k) ** 2 for k in kernel)) * math.sqrt(sum(float(m) ** 2 for m in feature_map))
    return -math.log(max(1.0 - dot / norm, MIN_GAP))


def layer_term(fan_in: int, kernel, feature_map) -> float:
    return 0.5 * math.log(fan_in * kernel_alpha(kernel, feature_map))


def _builtin_terms(module: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int):
    if isinstance(module, nn.Conv3d):
        kernel = tuple(module.kernel_size)
        return [(module.in_channels // module.groups * math.prod(kernel), kernel, tuple(y.shape[2:5]), y.shape[1])]
    if isinstance(module, nn.Conv2d):
        kernel = (1, *module.kernel_size)
        frames = max(y.shape[0] // batch, 1)
        return [(module.in_channels // module.groups * math.prod(kernel), kernel,
                 (frames, *y.shape[2:4]), y.shape[1])]
    if isinstance(module, nn.Linear):
        return [(module.in_features, (1, 1, 1), (1, 1, 1), module.out_features)]
    return None


def _owns_weight(module: nn.Module) -> bool:
    return any(p is not None and p.dim() >= 2 for p in module._parameters.values())


def st_entropy_terms(net: nn.Module, sample_shape, skip_prefix: str = "head") -> tuple[list, str | None]:
    """The per-layer (name, h_l, width) of `net` on one zero input, in execution order, and
    the reason the score is undefined (None when it is defined)."""
    hooks, terms, undefined = [], [], []
    covered: list[str] = []
    for name, module in net.named_modules():
        if any(name.startswith(c + ".") for c in covered) or name == skip_prefix or name.startswith(skip_prefix + "."):
            continue
        if hasattr(module, "st_terms"):
            covered.append(name)
            if module.st_terms is None:
                undefined.append(f"{name} ({type(module).__name__})")
                continue
        elif not isinstance(module, (nn.Conv3d, nn.Conv2d, nn.Linear)):
            if _owns_weight(module):
                undefined.append(f"{name} ({type(module).__name__})")
            continue

        def hook(mod, inputs, output, name=name):
            x = inputs[0] if inputs else None
            found = mod.st_terms(x, output) if hasattr(mod, "st_terms") else _builtin_terms(mod, x, output, 1)
            for fan_in, kernel, fmap, width in found:
                terms.append((name, layer_term(int(fan_in), kernel, fmap), int(width)))
        hooks.append(module.register_forward_hook(hook))
    if undefined:
        for h in hooks:
            h.remove()
        return [], "no E3D kernel for " + ", ".join(undefined[:3]) + (" ..." if len(undefined) > 3 else "")
    try:
        with torch.no_grad():
            net.eval()(torch.zeros((1, *sample_shape)))
    finally:
        for h in hooks:
            h.remove()
    return terms, None


@register_proxy("st_entropy", description="E3D spatio-temporal entropy: Σ ½log(fan-in·α) + log(width), analytic")
def st_entropy(ctx) -> float:
    terms, undefined = st_entropy_terms(ctx.network(), ctx.sample_shape)
    if undefined or not terms:
        ctx.extra.setdefault("notes", {})["st_entropy"] = undefined or "no weighted layer"
        return float("nan")
    return sum(t for _, t, _ in terms) + math.log(terms[-1][2])
