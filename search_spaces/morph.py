"""The MorphMLP search space: the chunk lengths of MorphFC_s and MorphFC_t per block or stage.

Paper: MorphMLP (Zhang et al., arXiv:2111.12527), Sec. 3.1 (MorphFC_s, Eq. 1), Sec. 3.2 (MorphFC_t,
Eq. 2), Sec. 3.3 (chunk lengths 14, 28, 28, 49 "cover quarter, one, two, all rows").

A unit's choice is the spatial chunk length L (horizontal and vertical chunks of MorphFC_s)
and, in video spaces, the temporal chunk length L_t of MorphFC_t. As in the public code
(MTLab/MorphMLP), a chunk of length L has L·D = C features, D = C / L channels per group, so
each direction's FC is one C x C matrix whatever L is (the supernet shares it; see
``supernet/ops/morph_fc.py``).

Token grammar: ``s<L>`` in image spaces, ``s<L>t<L_t>`` in video spaces, e.g. ``s14t8``; an
architecture joins one token per unit with ``-``.

Validity (paper silent; the reference code reshapes the flattened H·W tokens into chunks of
L and C into L groups of C / L):

* spatial L on an H x W map with C channels: L divides C, L divides H·W, and each chunk is a
  piece of one row or a whole number of rows (L | W or W | L), and likewise of columns for
  the vertical direction (L | H or H | L);
* temporal L_t on T' time tokens: L_t divides T' and C (T' / L_t chunks of L_t frames).

Candidate sets are every valid length, optionally intersected with ``spatial_candidates`` /
``temporal_candidates`` (filtered per stage; a stage left with no candidate is an error).

Granularity ``"block"`` gives one unit per block; ``"stage"`` one unit per stage whose choice
every block of the stage uses.

Every choice has the same FLOPs and parameters (an L·D x L·D = C x C FC on every token in
every case), so searching this space is an accuracy search at constant cost.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .base import Arch, Choice, SearchSpace, register_space
from .errors import VidnasInputError

GRANULARITIES = ("block", "stage")
# Sec. 3.3: stage 1-4 chunks cover a quarter row, one row, two rows and the whole map.
PAPER_ROWS = (0.25, 1.0, 2.0, None)
_TOKEN = re.compile(r"^s(\d+)(?:t(\d+))?$", re.ASCII)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class MorphChoice(Choice):
    """Spatial chunk length L of MorphFC_s and temporal chunk length L_t of MorphFC_t
    (None in image spaces), e.g. ``s14t8`` = L 14, L_t 8; ``s14`` = L 14, no MorphFC_t."""

    spatial: int
    temporal: int | None = None

    def __post_init__(self):
        if not _is_int(self.spatial) or self.spatial < 1:
            raise VidnasInputError(f"spatial chunk length must be a positive integer, got {self.spatial!r}")
        if self.temporal is not None and (not _is_int(self.temporal) or self.temporal < 1):
            raise VidnasInputError(f"temporal chunk length must be a positive integer or None, "
                                   f"got {self.temporal!r}")

    @property
    def token(self) -> str:
        return f"s{self.spatial}" + ("" if self.temporal is None else f"t{self.temporal}")


def spatial_chunk_error(chunk: int, height: int, width: int, channels: int) -> str | None:
    """Why MorphFC_s cannot use chunk length `chunk` on an H x W x C map, or None if it can."""
    if chunk < 1 or channels % chunk:
        return f"chunk length L={chunk} does not divide C={channels} (groups of D=C/L channels)"
    if (height * width) % chunk:
        return f"chunk length L={chunk} does not divide the {height}x{width}={height * width} tokens"
    if width % chunk and chunk % width:
        return f"chunk length L={chunk} neither divides nor is a multiple of the row length W={width}"
    if height % chunk and chunk % height:
        return f"chunk length L={chunk} neither divides nor is a multiple of the column length H={height}"
    return None


def temporal_chunk_error(chunk: int, time_tokens: int, channels: int) -> str | None:
    """Why MorphFC_t cannot use temporal chunk `chunk` on T' x C tokens, or None if it can."""
    if chunk < 1 or time_tokens % chunk:
        return f"temporal chunk L_t={chunk} does not divide T'={time_tokens}"
    if channels % chunk:
        return f"temporal chunk L_t={chunk} does not divide C={channels}"
    return None


def valid_spatial_chunks(height: int, width: int, channels: int) -> tuple[int, ...]:
    return tuple(c for c in range(1, height * width + 1)
                 if spatial_chunk_error(c, height, width, channels) is None)


def valid_temporal_chunks(time_tokens: int, channels: int) -> tuple[int, ...]:
    return tuple(c for c in range(1, time_tokens + 1)
                 if temporal_chunk_error(c, time_tokens, channels) is None)


def _sorted_set(values) -> tuple[int, ...] | None:
    return None if values is None else tuple(sorted({int(v) for v in values}))


def _as_list(values) -> list[int] | None:
    return None if values is None else list(values)


def _restrict(valid: tuple[int, ...], wanted, what: str) -> tuple[int, ...]:
    if wanted is None:
        return valid
    out = tuple(c for c in valid if c in set(int(v) for v in wanted))
    if not out:
        raise VidnasInputError(f"none of the {what} candidates {sorted(wanted)} is valid here; "
                               f"valid: {list(valid)}")
    return out


def _nearest(candidates: tuple[int, ...], target: float) -> int:
    """The candidate closest to `target` in log ratio (ties: the larger)."""
    return min(candidates, key=lambda c: (abs(math.log(c / target)), -c))


@register_space
class MorphSpace(SearchSpace):
    """Chunk lengths of every MorphMLP block (or stage).

    Args:
        depths: blocks per stage, e.g. (3, 4, 9, 3) for MorphMLP-S.
        channels: widths C of the stages, e.g. (112, 224, 392, 784).
        stage_sizes: (H, W) token map of each stage at the model's input size.
        time_tokens: T' after the patch embedding (video), or 0 for image spaces (no MorphFC_t).
        granularity: "block" (one unit per block) or "stage" (one unit per stage).
        spatial_candidates / temporal_candidates: optional sets of lengths to keep (per stage,
            the valid ones); None keeps every valid length.
        default_rows: the rows each stage's default chunk covers (an entry None: the whole
            map); default the paper's (1/4, 1, 2, all) for four stages, which is 14, 28, 28, 49
            at 224 x 224, and one row per stage otherwise.
    """

    name = "morphmlp"
    choice_cls = MorphChoice

    def __init__(self, depths, channels, stage_sizes, time_tokens: int = 0,
                 granularity: str = "block", spatial_candidates=None, temporal_candidates=None,
                 default_rows=None):
        self.depths = tuple(int(d) for d in depths)
        self.channels = tuple(int(c) for c in channels)
        self.stage_sizes = tuple((int(h), int(w)) for h, w in stage_sizes)
        self.time_tokens = int(time_tokens)
        self.granularity = granularity
        self.spatial_candidates = _sorted_set(spatial_candidates)
        self.temporal_candidates = _sorted_set(temporal_candidates)
        if default_rows is None:
            default_rows = PAPER_ROWS if len(self.depths) == len(PAPER_ROWS) else (1.0,) * len(self.depths)
        self.default_rows = tuple(None if r is None else float(r) for r in default_rows)
        if granularity not in GRANULARITIES:
            raise VidnasInputError(f"unknown granularity {granularity!r}; allowed: {', '.join(GRANULARITIES)}")
        if not self.depths or min(self.depths) < 1:
            raise VidnasInputError(f"depths must be positive block counts, got {depths!r}")
        if not (len(self.channels) == len(self.stage_sizes) == len(self.depths)):
            raise VidnasInputError(f"depths, channels and stage_sizes need one entry per stage, got "
                                   f"{len(self.depths)}, {len(self.channels)}, {len(self.stage_sizes)}")
        if min(self.channels) < 1 or min(min(s) for s in self.stage_sizes) < 1:
            raise VidnasInputError(f"channels and stage sizes must be positive, got {channels!r}, {stage_sizes!r}")
        if self.time_tokens < 0:
            raise VidnasInputError(f"time_tokens must be >= 0 (0 for images), got {time_tokens!r}")
        if len(self.default_rows) != len(self.depths):
            raise VidnasInputError(f"default_rows needs one entry per stage, got {default_rows!r}")
        if self.temporal_candidates is not None and not self.is_video:
            raise VidnasInputError("temporal_candidates given for an image space (time_tokens=0)")

        self.stage_spatial = tuple(
            _restrict(valid_spatial_chunks(h, w, c), self.spatial_candidates, f"stage {s + 1} spatial")
            for s, ((h, w), c) in enumerate(zip(self.stage_sizes, self.channels)))
        self.stage_temporal = tuple(
            _restrict(valid_temporal_chunks(self.time_tokens, c), self.temporal_candidates,
                      f"stage {s + 1} temporal") if self.is_video else (None,)
            for s, c in enumerate(self.channels))
        stage_choices = tuple(
            tuple(MorphChoice(l, lt) for l in ls for lt in lts)
            for ls, lts in zip(self.stage_spatial, self.stage_temporal))
        if granularity == "block":
            self.unit_names = tuple(f"s{s + 1}.b{b}" for s, d in enumerate(self.depths) for b in range(d))
            self.unit_stages = tuple(s for s, d in enumerate(self.depths) for _ in range(d))
        else:
            self.unit_names = tuple(f"s{s + 1}" for s in range(len(self.depths)))
            self.unit_stages = tuple(range(len(self.depths)))
        self._choices = tuple(stage_choices[s] for s in self.unit_stages)

    @property
    def is_video(self) -> bool:
        return self.time_tokens > 0

    def config(self) -> dict[str, Any]:
        return {"space": self.name, "depths": list(self.depths), "channels": list(self.channels),
                "stage_sizes": [list(s) for s in self.stage_sizes], "time_tokens": self.time_tokens,
                "granularity": self.granularity,
                "spatial_candidates": _as_list(self.spatial_candidates),
                "temporal_candidates": _as_list(self.temporal_candidates),
                "default_rows": list(self.default_rows)}

    def parse_token(self, token: str) -> MorphChoice:
        m = _TOKEN.match(token.strip())
        if not m:
            raise VidnasInputError("expected s<L> (image) or s<L>t<L_t> (video), e.g. s14t8")
        return MorphChoice(int(m.group(1)), None if m.group(2) is None else int(m.group(2)))

    def explain(self, i: int, choice: MorphChoice) -> str:
        s = self.unit_stages[i]
        (h, w), c = self.stage_sizes[s], self.channels[s]
        if self.is_video and choice.temporal is None:
            return f"{choice.token!r} lacks the temporal chunk (t<L_t>) of this video space"
        if not self.is_video and choice.temporal is not None:
            return f"{choice.token!r} has a temporal chunk but this image space has no MorphFC_t"
        error = spatial_chunk_error(choice.spatial, h, w, c)
        if error is None and self.is_video:
            error = temporal_chunk_error(choice.temporal, self.time_tokens, c)
        return error or f"{choice.token!r} is outside the candidate set"

    def paper_choice(self, stage: int) -> MorphChoice:
        """The stage's default: the chunk covering `default_rows[stage]` rows (Sec. 3.3), or
        the nearest valid length when that one is not valid at this input size, and the
        whole clip in time (Eq. 2), or the longest valid temporal chunk."""
        (h, w), rows = self.stage_sizes[stage], self.default_rows[stage]
        target = h * w if rows is None else max(float(rows) * w, 1.0)
        spatial = _nearest(self.stage_spatial[stage], target)
        return MorphChoice(spatial, self.stage_temporal[stage][-1])

    def default_arch(self) -> Arch:
        """The paper's chunk lengths (14, 28, 28, 49 at 224 x 224; T' in time), scaled by
        rows covered at other input sizes."""
        return self.uniform(lambda i: self.paper_choice(self.unit_stages[i]))

    def stage_arch(self, choices) -> Arch:
        """An architecture giving every block of stage s the choice ``choices[s]`` (a choice
        or a token)."""
        if len(choices) != len(self.depths):
            raise VidnasInputError(f"{self.name}: need {len(self.depths)} stage choices, got {len(choices)}")
        parsed = []
        for c in choices:
            try:
                parsed.append(c if isinstance(c, MorphChoice) else self.parse_token(str(c)))
            except ValueError as e:
                raise VidnasInputError(f"{self.name}: bad stage token {c!r} ({e})") from None
        return self.validate(Arch(tuple(parsed[s] for s in self.unit_stages)))


__all__ = ["GRANULARITIES", "MorphChoice", "MorphSpace", "spatial_chunk_error",
           "temporal_chunk_error", "valid_spatial_chunks", "valid_temporal_chunks"]
