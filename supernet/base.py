"""The contract every searchable network implements (SPOS / Once-for-All style).

A network is ``stem -> layers -> head``. `layers` mixes fixed modules (stage transitions)
with *searchable units*, one per decision unit of the network's search space, in network
order. In supernet mode (built with ``arch=None``) each unit owns the largest shared weights
and computes whatever choice `set_arch` gave it; the active choice is held by the unit,
explicitly, never in global state. Built with an ``arch``, the same class is a plain
fixed network holding only the weights that architecture uses; `export` returns one.

The split into stem / units / head lets the search engine cache prefix activations
(`forward_units` from any unit) and build per-unit cost tables.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import nn

from search_spaces import Arch, Choice, SearchSpace

from .registry import build_from_spec


class SearchableUnit(nn.Module):
    """A block whose operation is one of its decision unit's choices.

    Subclasses call `_init_choice(choice)` in their constructor (None in supernet mode),
    implement `fixed_state(choice)` (the state dict, relative to the unit, of the fixed unit
    for `choice`), and read `self.choice` in `forward`.
    """

    fixed: bool
    _choice: Choice | None

    def _init_choice(self, choice: Choice | None) -> None:
        self.fixed = choice is not None
        self._choice = choice

    @property
    def choice(self) -> Choice:
        if self._choice is None:
            raise RuntimeError(f"{type(self).__name__}: no architecture set; call set_arch(arch) "
                               "on the supernet first")
        return self._choice

    def set_choice(self, choice: Choice) -> None:
        if self.fixed and choice != self._choice:
            raise RuntimeError(f"{type(self).__name__} is fixed to {self._choice}; cannot set {choice}")
        self._choice = choice

    def fixed_state(self, choice: Choice) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError


class Supernet(nn.Module):
    """Base of every searchable network family.

    Subclasses set `space`, `stem`, `layers` (nn.ModuleList), `head`, and `unit_layers`
    (the index in `layers` of each searchable unit, in arch order), store the constructor's
    keyword arguments in `self.build_kwargs` (so that `build_fixed` can make a twin), and
    call `self._init_arch(arch)` last.
    """

    space: SearchSpace
    stem: nn.Module
    layers: nn.ModuleList
    head: nn.Module
    unit_layers: list[int]
    build_kwargs: dict[str, Any]

    # ---- architecture ------------------------------------------------------------------
    def _init_arch(self, arch: Arch | str | None) -> None:
        self.fixed_arch = None if arch is None else self.space.parse(arch)
        self._arch = self.fixed_arch
        if len(self.unit_layers) != self.space.num_units:
            raise AssertionError(f"{type(self).__name__}: {len(self.unit_layers)} units for "
                                 f"{self.space.num_units} decision units")

    @property
    def is_fixed(self) -> bool:
        return self.fixed_arch is not None

    @property
    def arch(self) -> Arch | None:
        """The active architecture (None on a supernet before `set_arch`)."""
        return self._arch

    def units(self) -> Iterator[SearchableUnit]:
        for i in self.unit_layers:
            yield self.layers[i]

    def unit(self, i: int) -> SearchableUnit:
        return self.layers[self.unit_layers[i]]

    def unit_module_name(self, i: int) -> str:
        """The qualified module name of unit `i` (as in `named_modules`)."""
        return f"layers.{self.unit_layers[i]}"

    def set_arch(self, arch: Arch | str | dict) -> Arch:
        """Make every unit compute its choice of `arch` (validated against the space)."""
        arch = self.space.parse(arch)
        if self.is_fixed and arch != self.fixed_arch:
            raise RuntimeError(f"this network is fixed to {self.fixed_arch}; cannot set {arch}")
        for unit, choice in zip(self.units(), arch):
            unit.set_choice(choice)
        self._arch = arch
        return arch

    def build_fixed(self, arch: Arch) -> "Supernet":
        """A fresh network of the same family fixed to `arch` (random weights)."""
        spec = getattr(self, "spec", None)
        if spec is not None:                     # built by the registry: keep `.spec`
            return build_from_spec(spec, arch=arch)
        return type(self)(**{**self.build_kwargs, "arch": arch})

    @torch.no_grad()
    def export(self, arch: Arch | str | dict | None = None) -> "Supernet":
        """A plain network of `arch` (default: the active one) holding only the weights it
        uses, copied from this supernet; its outputs equal the supernet's for `arch`."""
        arch = self.space.parse(arch) if arch is not None else self.arch
        if arch is None:
            raise RuntimeError("export needs an architecture: pass one or call set_arch first")
        fixed = self.build_fixed(arch)
        state = {}
        unit_prefixes = [self.unit_module_name(i) + "." for i in range(self.space.num_units)]
        for key, value in self.state_dict().items():
            if not any(key.startswith(p) for p in unit_prefixes):
                state[key] = value
        for i, (unit, choice) in enumerate(zip(self.units(), arch)):
            for key, value in unit.fixed_state(choice).items():
                state[unit_prefixes[i] + key] = value
        fixed.load_state_dict({k: v.detach().clone() for k, v in state.items()}, strict=True)
        fixed.train(self.training)
        return fixed

    # ---- staged forward ----------------------------------------------------------------
    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x)

    def forward_units(self, h: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Run the layers from just after unit `start - 1` through unit `stop - 1`
        (through the last layer when `stop` is the number of units)."""
        n = self.space.num_units
        stop = n if stop is None else stop
        if not 0 <= start <= stop <= n:
            raise ValueError(f"unit range {start}..{stop} outside 0..{n}")
        first = 0 if start == 0 else self.unit_layers[start - 1] + 1
        last = len(self.layers) if stop == n else self.unit_layers[stop - 1] + 1
        for layer in self.layers[first:last]:
            h = layer(h)
        return h

    def forward_head(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_units(self.forward_stem(x)))
