"""The typed schema of `nas search` settings (the ``search`` and ``evaluation`` sections of a
``search_config.yaml``), built by the same machinery as run configs
(`supernet.utils.config.from_dict`: unknown keys and wrong types are one-line errors).

`load_search_settings(path, overrides, shorthands)` reads ``--config FILE`` (YAML), applies
``--set key=value`` (``search.seed=3``, or flat ``seed=3``) and then the command's flags
(shorthands that set keys), and validates. A file may give its keys in the two sections or
flat (older files); a stored ``search_config.yaml`` is a valid ``--config`` (its identity keys
such as ``checkpoint`` are ignored and its ``data`` overrides the checkpoint's).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from search_spaces.errors import ConfigError
from supernet.utils.config import apply_overrides, from_dict, ranged, to_dict

from ..compat import load
from .confidence import DEFAULT_CONFIDENCE
from .objective import COST_KINDS, DEFAULT_ALPHA
from .strategies import DEFAULT_STRATEGY


@dataclass
class SearchConfig:
    """What a search does: the ``search`` section of ``search_config.yaml``, the one config
    `nas.search.engine.run_search` takes (`resolve_config` there normalises it: ``alpha``
    given as a list becomes its first value, every value reported in ``alphas``)."""

    strategy: str = DEFAULT_STRATEGY   # how candidates are proposed (plug-in strategies too)
    params: dict = field(default_factory=dict)       # strategy parameters
    seed: int = ranged(0, 0)   # search seed
    alpha: float | list[float] = DEFAULT_ALPHA   # a list: search with the first, report each
    cost: str = "flops"   # C of V - alpha*C: flops (GFLOPs), latency (ms) or memory (MB)
    max_gflops: float | None = None   # hard limit on GFLOPs (None: none)
    racing: bool = False   # score each round slice by slice and stop separated candidates
    race_slices: int = ranged(4, 2)   # racing: slices of the validation set
    confidence: float = DEFAULT_CONFIDENCE   # level of the paired tests of racing and greedy decisions
    alphas: list[float] | None = None   # the alphas reported in best_arch.json (alpha's list form sets it)
    latency_table: str | None = None   # cost latency: sum this table (nas latency-table)
    cost_device: str | None = None   # device the latency / memory is for (None: the evaluation device)
    cost_batch: int = ranged(1, 1)   # batch the latency / memory is for
    memory_step: str = "inference"   # cost memory: peak of an inference or a train step
    max_memory_mb: float | None = None   # hard limit on peak inference memory (MB)
    # the allowed values the configuration reference lists
    CHOICES = {"strategy": lambda: __import__("nas.search.strategies", fromlist=["STRATEGIES"]).STRATEGIES,
               "cost": COST_KINDS, "memory_step": ("inference", "train")}

    def validate(self):
        if self.cost not in COST_KINDS:
            raise ConfigError(f"config key 'search.cost': {self.cost!r} is not allowed; allowed: "
                              f"{', '.join(COST_KINDS)}")
        if self.memory_step not in ("inference", "train"):
            raise ConfigError(f"config key 'search.memory_step': {self.memory_step!r} is not allowed; "
                              "allowed: inference, train")

    def to_dict(self) -> dict[str, Any]:
        """Every key, as stored in ``search_config.yaml`` (a folder written before a key
        existed is read through `nas.compat`, which fills in what its absence meant)."""
        return to_dict(self)


@dataclass
class EvaluationSettings:
    """How candidates are scored on the supernet (`CheckpointEvaluatorFactory`)."""

    val_size: int = ranged(256, 1)   # clips in the fixed validation subset (a smaller list is used whole)
    batch_size: int = ranged(32, 1)   # clips per evaluation batch
    val_seed: int = ranged(0, 0)   # seed of the validation subset
    bn_recalib: int | None = ranged(None, 0)   # None: the model family's default (`register_family`)
    device: str = "auto"   # cpu | cuda | cuda:N | auto
    data: dict | None = None           # overrides of the checkpoint's data config
    # identity keys of a stored search_config.yaml (what was searched): ignored on input
    source: Any = None   # identity key of a stored search_config.yaml (ignored on input)
    checkpoint: Any = None   # identity key (ignored on input)
    sha256: Any = None   # identity key (ignored on input)
    model: Any = None   # identity key (ignored on input)
    table: Any = None   # identity key (ignored on input)
    archs: Any = None   # identity key (ignored on input)
@dataclass
class SearchFileConfig:
    search: SearchConfig = field(default_factory=SearchConfig)   # what the search does
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)   # how candidates are scored
    data: dict | None = None           # overrides of the checkpoint's data config (wins over evaluation.data)


SECTIONS = {"search": SearchConfig, "evaluation": EvaluationSettings}


def sectioned(data: dict[str, Any]) -> dict[str, Any]:
    """Move flat keys (``seed: 3``) into their section; flat keys win over sectioned ones,
    as in older files. An unknown flat key is the schema's one-line error."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items() if k in SECTIONS or k == "data"}
    for key, value in data.items():
        if key in out:
            continue
        owner = next((s for s, cls in SECTIONS.items() if key in {f.name for f in fields(cls)}), None)
        if owner is None:
            allowed = ["search", "evaluation", "data"] + [f.name for cls in SECTIONS.values() for f in fields(cls)]
            raise ConfigError(f"unknown config key {key!r}; allowed in the root: {', '.join(dict.fromkeys(allowed))}")
        if out.get(owner) is None:
            out[owner] = {}
        if isinstance(out[owner], dict):
            out[owner][key] = value
    return out


def load_search_settings(path: str | Path | None, overrides: list[str] | None = None,
                         shorthands: dict[str, Any] | None = None) -> SearchFileConfig:
    """File, then ``--set`` overrides, then flags (`shorthands`: key -> value, None = unset)."""
    data = load(path, "search") if path else {}
    data = sectioned(apply_overrides(sectioned(data), overrides))
    for key, value in (shorthands or {}).items():
        if value is not None:
            data = sectioned({**data, key: value})
    return from_dict(SearchFileConfig, data)


__all__ = ["SearchConfig", "EvaluationSettings", "SearchFileConfig", "load_search_settings", "to_dict"]
