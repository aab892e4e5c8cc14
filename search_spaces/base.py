"""What every search space shares: choices, architectures, encoding, validation and sampling.

A search space is a sequence of *decision units* (usually one per network block), each
with a finite tuple of allowed :class:`Choice` objects. An :class:`Arch` is one choice per
unit. Every space has the same readable string form (``token-token-...``, one token per unit
in network order) and the same JSON form, so strategies, stores and plots handle all spaces
alike. Nothing here knows about torch or training.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import random
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Iterator

from .errors import ConfigError, InputFileError, InputNotFoundError, VidnasInputError
from .textio import read_text

SHORT_LIMIT = 80


def shorten(value: Any, limit: int = SHORT_LIMIT, quote: bool = True) -> str:
    """`value` as echoed in an error message: its repr (strings quoted unless not `quote`), on
    one line, cut to about `limit` characters with the full length noted, so a 30,000-token
    architecture or a pasted file never floods the terminal. Every message that echoes user
    input uses it."""
    text = value if isinstance(value, str) and not quote else repr(value)
    text = " ".join(text.splitlines())
    if len(text) <= limit:
        return text
    return f"{text[:limit - 20]}...{text[-8:]} ({len(text)} characters)"


def as_rng(rng: random.Random | int | None) -> random.Random:
    """A `random.Random` from a generator, a seed, or None (fresh, unseeded)."""
    if isinstance(rng, random.Random):
        return rng
    return random.Random(rng)


@dataclass(frozen=True)
class Choice:
    """One option of one decision unit. Subclasses are frozen dataclasses with a `token`."""

    @property
    def token(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Choice":
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown or set(names) - set(data):
            raise VidnasInputError(f"{cls.__name__} needs keys {sorted(names)}, got {sorted(data)}")
        return cls(**data)

    def __str__(self) -> str:
        return self.token


@dataclass(frozen=True)
class Arch:
    """An architecture: one choice per decision unit, in network order. Hashable."""

    choices: tuple[Choice, ...]

    def __post_init__(self):
        object.__setattr__(self, "choices", tuple(self.choices))

    def __len__(self) -> int:
        return len(self.choices)

    def __iter__(self):
        return iter(self.choices)

    def __getitem__(self, i):
        return self.choices[i]

    def __str__(self) -> str:
        return "-".join(c.token for c in self.choices)

    def replace(self, i: int, choice: Choice) -> "Arch":
        """A copy with unit `i` set to `choice` (not validated)."""
        c = list(self.choices)
        c[i] = choice
        return Arch(tuple(c))


class SearchSpace(ABC):
    """A sequence of decision units with allowed choices; sampling, mutation, crossover, I/O.

    Subclasses fill `unit_names`, `unit_stages` and `_choices` in their constructor and
    implement `parse_token` (syntax of one token) and `explain` (why a parsed choice is not
    allowed at a unit). `config()` returns the plain dict that rebuilds the space with
    `build_space` (stored in checkpoints and results).
    """

    name: ClassVar[str] = "base"
    choice_cls: ClassVar[type[Choice]] = Choice
    # the architecture plot (`nas plot arch`, Fig. 7): the choice field that colours the boxes
    # (None: the first integer field, else the token) and legend labels per field
    plot_field: ClassVar[str | None] = None
    plot_labels: ClassVar[dict[str, str]] = {}
    # what the letters of a token mean (a legend of the architecture plot), e.g. {"sr": "short-range GTM"}
    plot_key: ClassVar[dict[str, str]] = {}

    unit_names: tuple[str, ...]
    unit_stages: tuple[int, ...]
    _choices: tuple[tuple[Choice, ...], ...]

    # ---- structure -------------------------------------------------------------------
    @property
    def num_units(self) -> int:
        return len(self._choices)

    def choices(self, i: int) -> tuple[Choice, ...]:
        """The allowed choices of unit `i`, in a fixed order."""
        return self._choices[i]

    def size(self) -> int:
        """Number of distinct architecture strings in the space."""
        return math.prod(len(c) for c in self._choices)

    def distinct_choices(self, i: int) -> tuple[Choice, ...]:
        """Unit `i`'s choices up to equivalence: one canonical representative per function
        (`canonical` is unit-local in every space here: a unit's canonical choice does not
        depend on the other units)."""
        base = self.uniform(lambda j: self.choices(j)[0])    # valid in every space (default_arch
        out: list[Choice] = []                                 # is not, e.g. MLP-3D without SW)
        for c in self.choices(i):
            rep = self.canonical(base.replace(i, c))[i]
            if rep not in out:
                out.append(rep)
        return tuple(out)

    def num_functions(self) -> int:
        """Number of distinct functions (canonical architectures) the space holds."""
        return math.prod(len(self.distinct_choices(i)) for i in range(self.num_units))

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Plain-data description that rebuilds this space (see `build_space`)."""

    def __eq__(self, other) -> bool:
        return isinstance(other, SearchSpace) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash(json.dumps(self.config(), sort_keys=True))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config()})"

    def describe(self) -> str:
        """A readable table: one line per unit with its allowed tokens."""
        lines = [f"{self.name} space: {self.num_units} units, {self.size():.3e} architectures, "
                 f"{self.num_functions():.3e} distinct functions"]
        for i, name in enumerate(self.unit_names):
            toks = " ".join(c.token for c in self.choices(i))
            lines.append(f"  {i:3d} {name:<16} {toks}  ({len(self.distinct_choices(i))} distinct)")
        return "\n".join(lines)

    # ---- parsing and validation --------------------------------------------------------
    @abstractmethod
    def parse_token(self, token: str) -> Choice:
        """Parse one token's syntax (no check against a unit); ValueError if malformed."""

    def explain(self, i: int, choice: Choice) -> str:
        """Why `choice` is not allowed at unit `i` (used in error messages)."""
        return f"{choice.token!r} is not a choice of this unit"

    def _unit_error(self, i: int, detail: str) -> VidnasInputError:
        allowed = ", ".join(c.token for c in self.choices(i))
        return VidnasInputError(
            f"{self.name} unit {i} ({self.unit_names[i]}): {detail}; allowed: {allowed}")

    def check_choice(self, i: int, choice: Choice) -> Choice:
        if not 0 <= i < self.num_units:
            raise ValueError(f"{self.name}: unit index {i} out of range 0..{self.num_units - 1}")
        if not isinstance(choice, self.choice_cls):
            raise self._unit_error(i, f"{choice!r} is not a {self.choice_cls.__name__}")
        if choice not in self._choices[i]:
            raise self._unit_error(i, self.explain(i, choice))
        return choice

    def validate(self, arch: Arch) -> Arch:
        """Return `arch` if every unit holds an allowed choice, else a one-line ValueError."""
        if not isinstance(arch, Arch):
            raise ValueError(f"{self.name}: expected an Arch, got {type(arch).__name__}")
        if len(arch) != self.num_units:
            raise VidnasInputError(
                f"{self.name}: architecture has {len(arch)} units, the space has "
                f"{self.num_units} ({'-'.join(self.unit_names[:3])}...): {arch}")
        for i, c in enumerate(arch):
            self.check_choice(i, c)
        return arch

    def contains(self, arch: Arch) -> bool:
        try:
            self.validate(arch)
            return True
        except ValueError:
            return False

    # ---- encodings ---------------------------------------------------------------------
    def encode(self, arch: Arch) -> str:
        """The compact readable string: one token per unit, joined by '-'."""
        return str(self.validate(arch))

    def decode(self, text: str) -> Arch:
        """Parse and validate an architecture string (inverse of `encode`)."""
        if not isinstance(text, str) or not text.strip():
            raise VidnasInputError(f"{self.name}: empty architecture string {shorten(text)}; give one "
                                   f"token per unit, e.g. {self.default_arch()}")
        tokens = text.strip().split("-")
        if len(tokens) != self.num_units:
            raise VidnasInputError(
                f"{self.name}: architecture string has {len(tokens)} tokens, the space has "
                f"{self.num_units} units: {shorten(text)}")
        choices = []
        for i, tok in enumerate(tokens):
            try:
                c = self.parse_token(tok)
            except ValueError as e:
                raise self._unit_error(i, f"bad token {shorten(tok)} ({e})") from None
            choices.append(self.check_choice(i, c))
        return Arch(tuple(choices))

    def to_dict(self, arch: Arch) -> dict[str, Any]:
        self.validate(arch)
        return {"space": self.name, "arch": str(arch),
                "units": [dict(name=n, **c.to_dict()) for n, c in zip(self.unit_names, arch)]}

    def from_dict(self, data: dict[str, Any]) -> Arch:
        if not isinstance(data, dict) or "units" not in data:
            raise VidnasInputError(f"{self.name}: architecture JSON needs a 'units' list")
        if data.get("space", self.name) != self.name:
            raise VidnasInputError(f"architecture JSON is for space {data.get('space')!r}, not {self.name!r}")
        units = data["units"]
        if not isinstance(units, list):
            raise VidnasInputError(f"{self.name}: architecture JSON 'units' must be a list of "
                                   f"{self.num_units} unit objects, got {shorten(units)}")
        if len(units) != self.num_units:
            raise VidnasInputError(f"{self.name}: architecture JSON has {len(units)} units, the space has "
                                   f"{self.num_units}")
        choices = []
        for i, u in enumerate(units):
            if not isinstance(u, dict):
                raise self._unit_error(i, f"bad entry {shorten(u)} (expected an object such as "
                                          f"{json.dumps(self.choices(i)[0].to_dict())})")
            u = {k: v for k, v in u.items() if k != "name"}
            try:
                c = self.choice_cls.from_dict(u)
            except (TypeError, ValueError) as e:
                raise self._unit_error(i, f"bad entry {shorten(u)} ({shorten(str(e))})") from None
            choices.append(self.check_choice(i, c))
        return Arch(tuple(choices))

    def to_json(self, arch: Arch, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(arch), indent=indent)

    def from_json(self, text: str) -> Arch:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise VidnasInputError(f"{self.name}: architecture JSON does not parse: {e} "
                                   f"(in {shorten(text)})") from None
        return self.from_dict(data)

    def parse(self, arch: "Arch | str | dict") -> Arch:
        """Accept an Arch, an arch string, a JSON text or a dict; return a validated Arch."""
        if isinstance(arch, Arch):
            return self.validate(arch)
        if isinstance(arch, dict):
            return self.from_dict(arch)
        if isinstance(arch, str) and arch.lstrip().startswith("{"):
            return self.from_json(arch)
        return self.decode(arch)

    # ---- equivalence -------------------------------------------------------------------
    def canonical(self, arch: Arch) -> Arch:
        """A representative of the architectures that compute the same function.

        Spaces where distinct tokens denote the same op (e.g. every GTM type at S = 1)
        override this so that evaluation caches are keyed on the function, not the name.
        """
        return arch

    # ---- sampling and variation --------------------------------------------------------
    def sample(self, rng: random.Random | int | None = None) -> Arch:
        """Uniform over the choices of each unit, independently (seeded by `rng`)."""
        r = as_rng(rng)
        return Arch(tuple(r.choice(self._choices[i]) for i in range(self.num_units)))

    def mutate(self, arch: Arch, rng: random.Random | int | None = None,
               prob: float | None = None) -> Arch:
        """Resample each unit with probability `prob` (default 1/num_units) to a *different*
        choice; at least one unit changes when any unit has more than one choice (SPOS)."""
        r = as_rng(rng)
        self.validate(arch)
        prob = 1.0 / self.num_units if prob is None else prob
        if not 0.0 <= prob <= 1.0:
            raise ConfigError(f"mutation probability must be in [0, 1], got {prob}")
        mutable = [i for i in range(self.num_units) if len(self._choices[i]) > 1]
        if not mutable:
            return arch
        picked = [i for i in mutable if r.random() < prob] or [r.choice(mutable)]
        out = list(arch.choices)
        for i in picked:
            out[i] = r.choice([c for c in self._choices[i] if c != arch[i]])
        return Arch(tuple(out))

    def crossover(self, a: Arch, b: Arch, rng: random.Random | int | None = None) -> Arch:
        """Uniform crossover: each unit from `a` or `b` with probability 1/2."""
        r = as_rng(rng)
        self.validate(a)
        self.validate(b)
        return Arch(tuple(x if r.random() < 0.5 else y for x, y in zip(a, b)))

    def enumerate(self) -> Iterator[Arch]:
        """Every architecture, lazily, in lexicographic order of the choice lists."""
        for combo in itertools.product(*self._choices):
            yield Arch(tuple(combo))

    def default_arch(self) -> Arch:
        """The architecture used when none is given (spaces override with the paper's)."""
        return self.uniform(lambda i: self.choices(i)[0])

    def uniform(self, choice_of_unit) -> Arch:
        """An architecture with `choice_of_unit(i)` at every unit (validated)."""
        return self.validate(Arch(tuple(choice_of_unit(i) for i in range(self.num_units))))


def arch_texts(value: str, what: str = "--arch") -> list[str]:
    """The architectures an ``--arch`` / ``--archs`` value names, as texts `SearchSpace.parse`
    reads (the one reader every command uses; `parse_arch_arg` adds the space):

    * an architecture string (``sr4-lr2-...``) or JSON text (``{"units": [...]}``): itself;
    * a JSON file: a search's ``best_arch.json`` (its ``"arch"``), a space's architecture
      JSON, or a list of either;
    * any other file (``best_arch.txt``, a list): one architecture per line, ``#`` comments
      and blank lines ignored.

    A value that names a file which does not exist (``.json``/``.txt``, or a ``/``) is a
    one-line FileNotFoundError; an unreadable or empty file a one-line ValueError."""
    text = str(value)
    if text.lstrip().startswith(("{", "[")):
        return [text]
    is_path = text.endswith((".json", ".txt", ".yaml", ".csv")) or "/" in text or os.sep in text
    if not os.path.isfile(text):
        if is_path:
            raise InputNotFoundError(f"{what} {shorten(text)}: architecture file not found")
        return [text]
    content = read_text(text, f"{what} architecture file")
    if text.endswith(".json") or content.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(content)
        except json.JSONDecodeError as e:
            raise InputFileError(f"{what} {shorten(text)}: the architecture file is not valid JSON ({e})") from None
        items = data if isinstance(data, list) else [data]
        out = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("arch"), str):
                out.append(item["arch"])        # best_arch.json, a space's JSON (its string form)
            elif isinstance(item, dict):
                out.append(json.dumps(item))
            elif isinstance(item, str):
                out.append(item)
            else:
                raise InputFileError(f"{what} {shorten(text)}: expected architectures (strings or objects), "
                                     f"got {shorten(item)}")
    else:
        out = [line.partition("#")[0].strip() for line in content.splitlines()]
        out = [a for a in out if a]
    if not out:
        raise InputFileError(f"{what} {shorten(text)}: the architecture file holds no architecture")
    return out


def arch_text(value: str, what: str = "--arch") -> str:
    """The one architecture `value` names (`arch_texts`); a file of several is a one-line error."""
    found = arch_texts(value, what)
    if len(found) != 1:
        raise VidnasInputError(f"{what} {shorten(str(value))} holds {len(found)} architectures; give one "
                               f"(a string, best_arch.json, best_arch.txt or a file of one line)")
    return found[0]


def parse_arch_arg(space: "SearchSpace", value: str, what: str = "--arch") -> "Arch":
    """`arch_text` parsed and validated by `space`."""
    return space.parse(arch_text(value, what))


def parse_arch_args(space: "SearchSpace", values, what: str = "--archs") -> list["Arch"]:
    """Every architecture the values name (each one a string, JSON, or a file of several)."""
    values = [values] if isinstance(values, str) else list(values)
    return [space.parse(t) for v in values for t in arch_texts(v, what)]


_SPACES: dict[str, type[SearchSpace]] = {}


def register_space(cls: type[SearchSpace]) -> type[SearchSpace]:
    """Class decorator: make a space rebuildable from its `config()` by `build_space`."""
    _SPACES[cls.name] = cls
    return cls


def build_space(config: dict[str, Any]) -> SearchSpace:
    """Rebuild a space from `space.config()` (as stored in checkpoints and results); a config
    that is not a mapping, or whose fields do not build the space, is a one-line ValueError."""
    if not isinstance(config, dict):
        raise ConfigError(f"the space field {shorten(config)} is not a space config (a mapping "
                          "with a 'space' name and its fields)")
    cfg = dict(config)
    name = cfg.pop("space", None)
    if not isinstance(name, str) or name not in _SPACES:
        raise ConfigError(f"unknown search space {shorten(name)}; known: {', '.join(sorted(_SPACES))}")
    try:
        return _SPACES[name](**cfg)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
        detail = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"the {name} space config does not build: {shorten(detail, 200, quote=False)}") from None


def known_spaces() -> list[str]:
    return sorted(_SPACES)


def choice_table(space: SearchSpace, arch: Arch) -> list[tuple[int, str, int, str]]:
    """(unit, name, stage, token) rows for printing an architecture."""
    space.validate(arch)
    return [(i, space.unit_names[i], space.unit_stages[i], c.token) for i, c in enumerate(arch)]

