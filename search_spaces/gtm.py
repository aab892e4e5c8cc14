"""The MLP-3D search space: a Grouped Time Mixing type and group size per block.

Paper: MLP-3D (Qiu et al., arXiv:2206.06292), Sec. 3.3 (four GTM types, group size S) and
Sec. 3.4 (named variants, greedy search). A block's time length T' is the number of time
tokens after the tubelet embedding (T / 4); it is the same in every block because stage
transitions keep time.

Choices made where the paper is silent (tested in ``tests/spaces/test_search_spaces.py``):

* S must divide T' (Eq. 4 needs T'/S whole groups) and be <= S_max (default 16, the largest
  S of Fig. 4). S = 1 is allowed and is pure per-frame mixing (only w_0).
* shift-window needs an even S: its partition is shifted by S/2 (Sec. 3.3 (3)).
* Every type at S = 1, and long-range at S = T', compute the same function as the
  short-range op with that S; `canonical` maps them to ``sr1`` / ``srT'`` so evaluation caches
  do not score one function twice. The strings stay distinct and round-trip.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .base import Arch, Choice, SearchSpace, register_space
from .errors import VidnasInputError

GTM_TYPES = ("short_range", "long_range", "shift_window", "shift_token")
TYPE_ABBREV = {"short_range": "sr", "long_range": "lr", "shift_window": "sw", "shift_token": "st"}
ABBREV_TYPE = {v: k for k, v in TYPE_ABBREV.items()}
_TOKEN = re.compile(r"^([a-z]+)(\d+)$", re.ASCII)     # "sr٤" is not "sr4"

# Sec. 3.4: variants built from one type, or two types alternating block by block.
NAMED_VARIANTS = {
    "2d": None,                                 # all S = 1 (per-frame CycleMLP)
    "sr": ("short_range",),
    "lr": ("long_range",),
    "st": ("shift_token",),
    "sr-lr": ("short_range", "long_range"),
    "sr-sw": ("short_range", "shift_window"),
}


@dataclass(frozen=True)
class GTMChoice(Choice):
    """A GTM type and its group size S, e.g. ``sr4`` = short-range with S = 4."""

    gtm_type: str
    group_size: int

    def __post_init__(self):
        if self.gtm_type not in GTM_TYPES:
            raise VidnasInputError(f"unknown GTM type {self.gtm_type!r}; allowed: {', '.join(GTM_TYPES)}")
        if not isinstance(self.group_size, int) or isinstance(self.group_size, bool) \
                or self.group_size < 1:
            raise VidnasInputError(f"group size must be a positive integer, got {self.group_size!r}")

    @property
    def token(self) -> str:
        return f"{TYPE_ABBREV[self.gtm_type]}{self.group_size}"


def gtm_choice_errors(gtm_type: str, group_size: int, time_tokens: int,
                      max_group_size: int) -> str | None:
    """Why (type, S) cannot run on T' time tokens, or None when it can."""
    if gtm_type not in GTM_TYPES:
        return f"unknown GTM type {gtm_type!r} (allowed: {', '.join(GTM_TYPES)})"
    if group_size < 1 or time_tokens % group_size:
        return f"group size S={group_size} does not divide T'={time_tokens}"
    if group_size > max_group_size:
        return f"group size S={group_size} exceeds S_max={max_group_size}"
    if gtm_type == "shift_window" and group_size % 2:
        return f"shift_window needs an even group size, got S={group_size}"
    return None


@register_space
class GTMSpace(SearchSpace):
    """One GTM choice per MLP-3D block.

    Args:
        depths: blocks per stage (Table 1, e.g. (2, 2, 4, 2) for MLP-3D-XS).
        time_tokens: T', time tokens after the tubelet embedding (clip length / 4).
        max_group_size: S_max, the largest group size (interval matrices w_{-S_max+1..S_max-1}).
        gtm_types: the types to search over (default: all four).
    """

    name = "mlp3d"
    choice_cls = GTMChoice
    plot_key = {abbr: f"{gtm_type.replace('_', '-')} GTM" for gtm_type, abbr in TYPE_ABBREV.items()}

    def __init__(self, depths, time_tokens: int, max_group_size: int = 16,
                 gtm_types=GTM_TYPES):
        self.depths = tuple(int(d) for d in depths)
        self.time_tokens = int(time_tokens)
        self.max_group_size = int(max_group_size)
        self.gtm_types = tuple(gtm_types)
        if not self.depths or min(self.depths) < 1:
            raise VidnasInputError(f"depths must be positive block counts, got {depths!r}")
        if self.time_tokens < 1:
            raise VidnasInputError(f"time_tokens (T') must be >= 1, got {time_tokens!r}")
        if self.max_group_size < 1:
            raise VidnasInputError(f"max_group_size must be >= 1, got {max_group_size!r}")
        for t in self.gtm_types:
            if t not in GTM_TYPES:
                raise VidnasInputError(f"unknown GTM type {t!r}; allowed: {', '.join(GTM_TYPES)}")
        self.group_sizes = tuple(s for s in range(1, min(self.time_tokens, self.max_group_size) + 1)
                                 if self.time_tokens % s == 0)
        block_choices = tuple(
            GTMChoice(t, s) for t in self.gtm_types for s in self.group_sizes
            if gtm_choice_errors(t, s, self.time_tokens, self.max_group_size) is None)
        self.unit_names = tuple(f"s{si + 1}.b{bi}" for si, d in enumerate(self.depths)
                                for bi in range(d))
        self.unit_stages = tuple(si for si, d in enumerate(self.depths) for _ in range(d))
        self._choices = tuple(block_choices for _ in self.unit_names)

    def config(self) -> dict[str, Any]:
        return {"space": self.name, "depths": list(self.depths), "time_tokens": self.time_tokens,
                "max_group_size": self.max_group_size, "gtm_types": list(self.gtm_types)}

    def parse_token(self, token: str) -> GTMChoice:
        m = _TOKEN.match(token.strip())
        if not m:
            raise VidnasInputError("expected <type><S> such as sr4, lr2, sw4, st8")
        abbrev, s = m.group(1), int(m.group(2))
        if abbrev not in ABBREV_TYPE:
            raise VidnasInputError(f"unknown GTM type {abbrev!r} (sr, lr, sw, st)")
        return GTMChoice(ABBREV_TYPE[abbrev], s)

    def explain(self, i: int, choice: GTMChoice) -> str:
        if choice.gtm_type not in self.gtm_types:
            return f"GTM type {choice.gtm_type!r} is not searched here"
        return gtm_choice_errors(choice.gtm_type, choice.group_size, self.time_tokens,
                                 self.max_group_size) or f"{choice.token} not allowed"

    def canonical(self, arch: Arch) -> Arch:
        def canon(c: GTMChoice) -> GTMChoice:
            if c.group_size == 1 or (c.gtm_type == "long_range" and c.group_size == self.time_tokens):
                return GTMChoice("short_range", c.group_size)
            return c
        return Arch(tuple(canon(c) for c in self.validate(arch)))

    def named_variant(self, variant: str, group_size: int | None = None) -> Arch:
        """The paper's named variants (Sec. 3.4): ``2d``, ``sr``, ``lr``, ``st``, ``sr-lr``,
        ``sr-sw``; two-type variants alternate types block by block in network order."""
        key = variant.lower().removeprefix("mlp3d-").removeprefix("mlp-3d-")
        if key not in NAMED_VARIANTS:
            raise VidnasInputError(f"unknown variant {variant!r}; allowed: {', '.join(NAMED_VARIANTS)}")
        types = NAMED_VARIANTS[key]
        if types is None:
            return self.uniform(lambda i: GTMChoice("short_range", 1))
        if group_size is None:
            raise VidnasInputError(f"variant {variant!r} needs a group size S")
        return self.uniform(lambda i: GTMChoice(types[i % len(types)], int(group_size)))

    def named_variants(self) -> list[tuple[str, int | None, Arch]]:
        """Every named variant at every allowed S > 1 (``2d`` once), as (variant, S, canonical
        arch), without repeats: variants that compute the same function appear once (e.g. LR
        at S = T' is SR, SR-LR at S = T' is SR too)."""
        seen, out = set(), []
        for variant in NAMED_VARIANTS:
            sizes = [None] if variant == "2d" else [s for s in self.group_sizes if s > 1]
            for s in sizes:
                if variant == "sr-sw" and s % 2:
                    continue
                arch = self.canonical(self.named_variant(variant, s))
                if arch not in seen:
                    seen.add(arch)
                    out.append((variant, s, arch))
        return out

    def default_arch(self) -> Arch:
        """MLP-3D-SR-SW with the largest even S <= 4 that fits (per-frame if none does)."""
        even = [s for s in self.group_sizes if s % 2 == 0 and s <= 4]
        return self.named_variant("sr-sw", even[-1]) if even else self.named_variant("2d")
