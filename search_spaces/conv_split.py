"""The 3D-convolution split search space: how each 3D-conv block of a host network computes
its t x d x d convolution.

Papers: "Is 3D Convolution with 5D Tensors Really Necessary for Video Analysis?"
(Hajimolahoseini et al., arXiv:2407.16514; Sec. I-II, Tables I-II) and "Revisiting 3D ResNets
for Video Recognition" (3D ResNet-RS, Du et al., arXiv:2109.01696; Table 1). A unit is one
3D-conv block of the host (an ECO-Lite 3D-Net block, a R3D-RS
bottleneck); its choice is the strategy every t x d x d conv of the block uses.

Strategies and their tokens (an architecture joins one token per unit with ``-``):

========  ==============  ================================================================
token     strategy        what replaces the t x d x d conv (C -> S channels)
========  ==============  ================================================================
``c3d``   conv3d          the 3D conv itself (5D tensors)
``r21d``  r2plus1d        1 x d x d (C -> M) then t x 1 x 1 (M -> S), M as in R(2+1)D so the
                          parameters match the 3D conv
``p3da``  p3d_a           1 x d x d then t x 1 x 1 (S -> S), in sequence (P3D-A)
``p3db``  p3d_b           1 x d x d and t x 1 x 1 on the input in parallel, summed (P3D-B)
``p3dc``  p3d_c           1 x d x d, then t x 1 x 1 on its output added to it (P3D-C)
``r1``    rank1           three 1D convs t x 1 x 1, 1 x d x 1, 1 x 1 x d (Rank-1)
``padd``  proposed_add    Hajimolahoseini et al. Sec. II on 4D tensors: spatial d x d 2D conv branch and temporal
                          t x 1 2D conv branch with stride (s_t, s^2) on [B, T, X·Y, C], added
``pcat``  proposed_cat    the same two branches concatenated on channels, then a 1 x 1 conv
``rs``    rs_reduce       R3D-RS's own bottleneck (Du et al. Table 1): the temporal kernel sits in
                          the 1 x 1 x 1 reduce conv (t x 1 x 1), the middle conv is 1 x d x d
========  ==============  ================================================================

Validity per unit (``explain`` gives the reason; the space lists only valid choices):

* a kernel with t = 1 or d = 1 has nothing to split: only ``c3d``;
* ``padd`` / ``pcat`` with spatial stride s > 1 need H and W to be multiples of s: the
  temporal branch strides the flattened X·Y axis by s^2, which gives the spatial branch's
  ceil(H/s)·ceil(W/s) positions only then (Sec. II);
* ``rs`` needs a bottleneck unit (a 1 x 1 x 1 reduce conv to carry the temporal kernel).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Sequence

from .base import Arch, Choice, SearchSpace, register_space
from .errors import VidnasInputError

STRATEGY_TOKENS = {
    "conv3d": "c3d",
    "r2plus1d": "r21d",
    "p3d_a": "p3da",
    "p3d_b": "p3db",
    "p3d_c": "p3dc",
    "rank1": "r1",
    "proposed_add": "padd",
    "proposed_cat": "pcat",
    "rs_reduce": "rs",
}
TOKEN_STRATEGIES = {v: k for k, v in STRATEGY_TOKENS.items()}
STRATEGIES = tuple(STRATEGY_TOKENS)
# The strategies that are a drop-in replacement of one t x d x d conv (Hajimolahoseini et al. Table II rows).
DROP_IN_STRATEGIES = STRATEGIES[:-1]
PROPOSED = ("proposed_add", "proposed_cat")


@dataclass(frozen=True)
class ConvSplitChoice(Choice):
    """The split strategy of one unit, e.g. ``padd`` = Proposed-Add."""

    strategy: str

    def __post_init__(self):
        if self.strategy not in STRATEGY_TOKENS:
            raise VidnasInputError(f"unknown conv split strategy {self.strategy!r}; "
                                   f"allowed: {', '.join(STRATEGIES)}")

    @property
    def token(self) -> str:
        return STRATEGY_TOKENS[self.strategy]


def strategy_of(name_or_token: str) -> str:
    """The strategy name of a token (``padd``) or a name (``proposed_add``)."""
    if name_or_token in STRATEGY_TOKENS:
        return name_or_token
    if name_or_token in TOKEN_STRATEGIES:
        return TOKEN_STRATEGIES[name_or_token]
    raise VidnasInputError(f"unknown conv split strategy {name_or_token!r}; tokens: "
                           f"{', '.join(TOKEN_STRATEGIES)}")


def _ints(value, n: int, what: str) -> tuple[int, ...]:
    vals = tuple(value)
    if len(vals) != n or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                 for v in vals):
        raise VidnasInputError(f"{what} must be {n} positive integers, got {value!r}")
    return vals


@dataclass(frozen=True)
class SplitUnit:
    """The 3D conv a unit decides: channels C -> S, kernel (t, d), stride (s_t, s), the input
    size (T, H, W) it sees, and whether the block has a 1x1x1 reduce conv (R3D-RS)."""

    name: str
    stage: int
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    in_size: tuple[int, int, int]
    bottleneck: bool = False

    def __post_init__(self):
        object.__setattr__(self, "kernel", _ints(self.kernel, 2, "kernel (t, d)"))
        object.__setattr__(self, "stride", _ints(self.stride, 2, "stride (s_t, s)"))
        object.__setattr__(self, "in_size", _ints(self.in_size, 3, "in_size (T, H, W)"))
        _ints((self.in_channels, self.out_channels), 2, "channels (C, S)")
        if not isinstance(self.stage, int) or isinstance(self.stage, bool) or self.stage < 0:
            raise VidnasInputError(f"unit {self.name}: stage must be a non-negative int, got {self.stage!r}")
        if any(k % 2 == 0 for k in self.kernel):
            raise VidnasInputError(f"unit {self.name}: kernel {self.kernel} must be odd ('same' padding)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SplitUnit":
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - names:
            raise VidnasInputError(f"a unit needs keys from {sorted(names)}, got {data!r}")
        return cls(**data)

    @property
    def out_size(self) -> tuple[int, int, int]:
        """Output (T', H', W') of a 'same'-padded conv with this kernel and stride."""
        (t, d), (st, ss) = self.kernel, self.stride
        T, H, W = self.in_size
        return conv_out(T, t, st), conv_out(H, d, ss), conv_out(W, d, ss)


def conv_out(n: int, k: int, s: int) -> int:
    """Length after a conv of odd kernel k, stride s, padding k // 2."""
    return (n + 2 * (k // 2) - k) // s + 1


def strategy_error(strategy: str, unit: SplitUnit) -> str | None:
    """Why `strategy` cannot replace `unit`'s conv, or None when it can."""
    (t, d), (_, s) = unit.kernel, unit.stride
    _, h, w = unit.in_size
    tok = STRATEGY_TOKENS[strategy]
    if strategy == "rs_reduce":
        if not unit.bottleneck:
            return ("rs puts the temporal kernel in a bottleneck's 1x1x1 reduce conv (Du et al. Table 1); "
                    "this block has no reduce conv")
        if t == 1:
            return "rs needs a temporal kernel t > 1 (t = 1 has nothing to move into the reduce conv)"
        return None
    if strategy != "conv3d" and (t == 1 or d == 1):
        return f"kernel {t}x{d}x{d} has no spatial/temporal pair to split; only c3d"
    if strategy in PROPOSED and s > 1 and (h % s or w % s):
        return (f"{tok} strides the flattened X*Y axis by s^2={s * s}, which matches the spatial "
                f"branch's {conv_out(h, d, s)}x{conv_out(w, d, s)} outputs only when H and W are "
                f"multiples of s={s}; this unit sees {h}x{w}")
    return None


@register_space
class ConvSplitSpace(SearchSpace):
    """One split strategy per 3D-conv block of a host network.

    Args:
        units: one `SplitUnit` (or its dict) per searchable block, in network order.
        strategies: the strategies to search over (names or tokens; default: all).
    """

    name = "conv3d_split"
    choice_cls = ConvSplitChoice
    plot_key = {token: strategy.replace("_", "-") for strategy, token in STRATEGY_TOKENS.items()}

    def __init__(self, units: Sequence[SplitUnit | dict], strategies: Sequence[str] = STRATEGIES):
        self.units = tuple(u if isinstance(u, SplitUnit) else SplitUnit.from_dict(u) for u in units)
        if not self.units:
            raise VidnasInputError("a conv split space needs at least one unit")
        self.strategies = tuple(dict.fromkeys(strategy_of(s) for s in strategies))
        if not self.strategies:
            raise VidnasInputError(f"strategies must not be empty; allowed: {', '.join(STRATEGIES)}")
        self.unit_names = tuple(u.name for u in self.units)
        self.unit_stages = tuple(u.stage for u in self.units)
        choices = []
        for u in self.units:
            valid = tuple(ConvSplitChoice(s) for s in self.strategies if strategy_error(s, u) is None)
            if not valid:
                reasons = "; ".join(f"{STRATEGY_TOKENS[s]}: {strategy_error(s, u)}" for s in self.strategies)
                raise VidnasInputError(f"unit {u.name} has no valid strategy ({reasons})")
            choices.append(valid)
        self._choices = tuple(choices)

    def config(self) -> dict[str, Any]:
        return {"space": self.name, "units": [u.to_dict() for u in self.units],
                "strategies": list(self.strategies)}

    def parse_token(self, token: str) -> ConvSplitChoice:
        tok = token.strip()
        if tok not in TOKEN_STRATEGIES:
            raise VidnasInputError(f"expected a strategy token ({', '.join(TOKEN_STRATEGIES)})")
        return ConvSplitChoice(TOKEN_STRATEGIES[tok])

    def explain(self, i: int, choice: ConvSplitChoice) -> str:
        reason = strategy_error(choice.strategy, self.units[i])
        if reason:
            return reason
        return f"strategy {choice.token} is not searched in this space"

    def strategy_arch(self, strategy: str) -> Arch:
        """Every unit set to one strategy (name or token), e.g. the rows of Hajimolahoseini et al. Table II."""
        choice = ConvSplitChoice(strategy_of(strategy))
        return self.uniform(lambda i: choice)

    def default_arch(self) -> Arch:
        """The host's original network: ``rs`` where a unit allows it (R3D-RS), else ``c3d``."""
        def original(i):
            rs = ConvSplitChoice("rs_reduce")
            return rs if rs in self._choices[i] else ConvSplitChoice("conv3d")
        return self.uniform(original)
