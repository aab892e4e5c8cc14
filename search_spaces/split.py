"""Few-shot NAS (Zhao et al., ICML 2021): split a space into parts on its first k units.

Part keys are the choices of units 0..k-1 up to equivalence (`SearchSpace.canonical`, which is
unit-local), or one field of them (``field="gtm_type"``: MLP-3D's first GTM type gives 4
parts). Architectures computing the same function therefore fall in the same part, and every
architecture falls in exactly one. `part_space(p)` is the space restricted to part p: its
sampler, mutation and validation never leave the part.
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import math

from .base import Arch, Choice, SearchSpace
from .errors import ConfigError

MAX_PARTS = 128         # more sub-supernets than this is a typo (MLP-3D-nano split on all 8 units: 12^8)


class SpaceSplit:
    """The parts of `space` split on its first `units` units (see the module docstring)."""

    def __init__(self, space: SearchSpace, units: int, field: str | None = None):
        n = space.num_units
        if not isinstance(units, int) or isinstance(units, bool) or not 1 <= units <= n:
            raise ConfigError(f"few_shot.split_units={units!r} is out of range; allowed: an integer in "
                              f"1..{n} (the {space.name} space has {n} units)")
        names = [f.name for f in dataclasses.fields(space.choice_cls)]
        if field is not None and field not in names:
            raise ConfigError(f"few_shot.split_field={field!r} is not a field of {space.name}'s choices; "
                              f"allowed: {', '.join(names)} (or null: the whole choice)")
        self.space, self.units, self.field = space, units, field
        self._base = space.uniform(lambda j: space.choices(j)[0])
        self._values = [self._unit_values(i) for i in range(units)]
        count = math.prod(len(v) for v in self._values)
        if count < 2:
            raise ConfigError(f"few_shot.split_units={units}: units 0..{units - 1} of the {space.name} "
                              f"space have one {'value of ' + field if field else 'distinct choice'} "
                              "between them, so there is nothing to split; split on more units")
        if count > MAX_PARTS:
            raise ConfigError(f"few_shot.split_units={units} gives {count} sub-supernets; allowed: at most "
                              f"{MAX_PARTS} (split on fewer units{'' if field else ', or on a field'})")
        self.keys: list[tuple] = list(itertools.product(*self._values))

    def _key_of(self, i: int, choice: Choice):
        """Unit `i`'s part key for `choice`: its canonical representative (or one field of it);
        `canonical` is unit-local, so any valid base architecture gives the same answer."""
        rep = self.space.canonical(self._base.replace(i, choice))[i]
        return getattr(rep, self.field) if self.field else rep

    def _unit_values(self, i: int) -> tuple:
        out: list = []
        for c in self.space.choices(i):
            key = self._key_of(i, c)
            if key not in out:
                out.append(key)
        return tuple(out)

    @property
    def num_parts(self) -> int:
        return len(self.keys)

    def part_of(self, arch: Arch) -> int:
        """The index of the one part holding `arch` (validated against the whole space)."""
        arch = self.space.validate(arch)
        return self.keys.index(tuple(self._key_of(i, arch[i]) for i in range(self.units)))

    def label(self, p: int) -> str:
        """Part `p` as text, e.g. ``short_range`` or ``sr4-lr2``."""
        return "-".join(str(getattr(k, "token", k)) for k in self.keys[p])

    def part_space(self, p: int) -> SearchSpace:
        """A copy of the space whose first units allow only part `p`'s choices."""
        if not 0 <= p < self.num_parts:
            raise ValueError(f"part {p} outside 0..{self.num_parts - 1}")
        sub = copy.copy(self.space)
        sub._choices = tuple(tuple(c for c in self.space.choices(i) if self._key_of(i, c) == self.keys[p][i])
                             if i < self.units else self.space.choices(i)
                             for i in range(self.space.num_units))
        return sub

    def describe(self) -> dict:
        """Plain data recorded beside a few-shot run."""
        return {"split_units": self.units, "split_field": self.field,
                "parts": [self.label(p) for p in range(self.num_parts)]}
