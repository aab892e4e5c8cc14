"""Zero-cost proxies (`nas proxies`): estimators that score an architecture without training.

The registry is `nas.proxies.base` (`register_proxy`); each built-in proxy is one function in
one module of this package. Plug-ins register more (`nas.plugins`, group ``vidnas.proxies``).
"""
from __future__ import annotations

from .base import PROXIES, Proxy, ProxyContext, get_proxy, register_proxy, weight_layers
from . import params, flops, synflow, naswot, grad_norm, snip, st_entropy  # noqa: F401,E402  (register the built-ins)

DATA_FREE = tuple(n for n, p in PROXIES.items() if not p.needs_data)

__all__ = ["PROXIES", "Proxy", "ProxyContext", "get_proxy", "register_proxy", "weight_layers"]
