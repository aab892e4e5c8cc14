"""The proxy registry (`nas proxies --proxies NAME`): one zero-cost estimator = one function.

A proxy is ``fn(ctx: ProxyContext) -> float`` registered with `register_proxy`; higher means
"predicted better" (the sign convention of an estimates file, so `nas.stats` reads the
column as it is). `ctx.network()` is a fresh copy of the architecture's exported subnet
(`Supernet.export`) with the run's fixed-seed initial weights, so a proxy may change it
(synflow takes |θ|) without touching the next one. A data-dependent proxy
(``needs_data=True``) reads ``ctx.batch``, one batch of the run's real clips; a data-free one
must not. Plug-ins add proxies the same way (`nas.plugins`, entry-point group
``vidnas.proxies``)::

    from nas.proxies import register_proxy

    @register_proxy("depth", description="number of weighted layers")
    def depth(ctx):
        return float(sum(p.dim() >= 2 for p in ctx.network().parameters()))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from search_spaces.errors import VidnasInputError


@dataclass(frozen=True)
class Proxy:
    name: str
    fn: Callable[["ProxyContext"], float]
    needs_data: bool = False
    description: str = ""
    needs_cost_table: bool = False    # reads ctx.cost_table (built once per run, its CPU time counted)


PROXIES: dict[str, Proxy] = {}


def register_proxy(name: str, needs_data: bool = False, description: str = "", needs_cost_table: bool = False):
    """Decorator: make ``fn(ctx) -> float`` the proxy `name` (a `nas proxies --proxies`
    choice); `needs_cost_table`: it reads ``ctx.cost_table`` (the per-unit cost table). A
    name registered twice by two functions is a one-line ValueError."""
    if not isinstance(name, str) or not name.isidentifier():
        raise VidnasInputError(f"proxy name must be an identifier (a CSV column), got {name!r}")

    def wrap(fn):
        if not callable(fn):
            raise VidnasInputError(f"register_proxy needs a function, got {fn!r}")
        old = PROXIES.get(name)
        if old is not None and old.fn is not fn:
            raise VidnasInputError(f"proxy {name!r} registered twice ({old.fn.__module__} and {fn.__module__})")
        PROXIES[name] = Proxy(name, fn, bool(needs_data), description or (fn.__doc__ or "").strip().split("\n")[0],
                              bool(needs_cost_table))
        return fn
    return wrap


def get_proxy(name: str) -> Proxy:
    if name not in PROXIES:
        raise VidnasInputError(f"unknown proxy {name!r}; allowed: {', '.join(PROXIES)}")
    return PROXIES[name]


@dataclass
class ProxyContext:
    """What a proxy may read about one architecture.

    * ``network()``: a fresh exported subnet (float32, CPU, train mode) with the run's weights;
    * ``batch``: ``(clips, labels)`` of the run's data, or None (data-free runs);
    * ``input_size``: (T, H, W) or (H, W); ``arch``, ``space``; ``cost_table`` (exact per-unit
      FLOPs / parameters, `nas.costs.unit_table`); ``seed``: reseed stochastic layers with it.
    """

    arch: Any
    space: Any
    input_size: tuple[int, ...]
    make_network: Callable[[], nn.Module]
    cost_table: Any = None
    batch: tuple[torch.Tensor, torch.Tensor] | None = None
    seed: int = 0
    sample_shape: tuple[int, ...] | None = None      # one input without the batch dim
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.sample_shape is None:
            self.sample_shape = (3, *self.input_size)

    def network(self) -> nn.Module:
        torch.manual_seed(self.seed)                 # dropout / drop-path draws: the same every call
        return self.make_network()

    def require_batch(self, proxy: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self.batch is None:
            raise VidnasInputError(f"proxy {proxy} needs data: give --config with a data section")
        return self.batch


def weight_layers(net: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The prunable weights in the sense of Tanaka et al. and Abdelfattah et al.: every
    parameter with at least 2 dimensions (linear and convolution weights, GTM interval
    matrices, embeddings); biases and normalisation scales (1-D) are left out."""
    return [(n, p) for n, p in net.named_parameters() if p.dim() >= 2]


def classification_loss(net: nn.Module, batch) -> torch.Tensor:
    """Cross-entropy of `net` on one ``(clips, labels)`` batch."""
    clips, labels = batch
    return nn.functional.cross_entropy(net(clips), labels)


def loss_gradients(ctx: ProxyContext, proxy: str) -> nn.Module:
    """A fresh network (training mode) whose ``.grad`` hold the cross-entropy gradients on
    the run's batch (grad_norm, snip)."""
    batch = ctx.require_batch(proxy)
    net = ctx.network().train()
    net.zero_grad(set_to_none=True)
    classification_loss(net, batch).backward()
    return net


__all__ = ["PROXIES", "Proxy", "ProxyContext", "register_proxy", "get_proxy", "weight_layers",
           "classification_loss", "loss_gradients"]
