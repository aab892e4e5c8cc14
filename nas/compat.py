"""Config versions: every config vidnas writes carries ``config_version``, and this module is
the one place that reads an older one.

Version 1 is every config written before versions existed (no ``config_version`` key). A
config file given as ``--config`` and a run folder's stored config both pass through `read`
(a mapping) or `load` (a file): the version is checked (a newer one is a one-line error),
removed, and the upgrades from that version to `CONFIG_VERSION` are applied, so that the
schemas (`nas.config.RunConfig`, `nas.search.settings`, `nas.correlate.CorrelateConfig`)
only ever see the current form. `stamp` puts the current version on a config that is
about to be written (`nas.runfolder.prepare_run_folder` does it for every run folder).

Upgrades are keyed by the kind of config: a run-folder kind (pretrain, train, fewshot,
search, correlate), "run" for a run config file, and "demo", "flags", "train" for the other
loaders. An upgrade states what a key *absent* from an older file
meant, which is history, not the schema's current default.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

from search_spaces.errors import ConfigError
from supernet.utils.config import load_config as _load_schema
from supernet.utils.config import load_yaml

VERSION_KEY = "config_version"
CONFIG_VERSION = 2

# Search settings added after the first search folders were written: version-1 folders store
# them only when not at these values (`SearchConfig.to_dict` of version 1), so their absence
# means these values.
SEARCH_V1_ABSENT = {"racing": False, "race_slices": 4, "confidence": 0.95, "latency_table": None,
                    "cost_device": None, "cost_batch": 1, "memory_step": "inference",
                    "max_memory_mb": None}


def _search_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 stored ``search_config.yaml`` (its ``evaluation`` names the ``source``
    searched): fill the settings it left out at their values, and ``alphas``, left out when it
    was ``[alpha]``. An input file written by hand is left as it is: its absent keys take the
    schema's defaults, and an absent ``alphas`` follows a later ``--set search.alpha``."""
    section, evaluation = data.get("search"), data.get("evaluation")
    if isinstance(section, dict) and isinstance(evaluation, dict) and "source" in evaluation \
            and "alpha" in section:
        for key, value in SEARCH_V1_ABSENT.items():
            section.setdefault(key, value)
        if section.get("alphas") is None:
            section["alphas"] = [section["alpha"]]
    return data


# kind -> {version v: the upgrade from v to v + 1}; a kind without an entry changed nothing
UPGRADES: dict[str, dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "search": {1: _search_1_to_2},
}


def version_of(data: dict[str, Any], what: str) -> int:
    """The ``config_version`` of `data` (1 when absent); one-line errors for a bad or newer one."""
    version = data.get(VERSION_KEY, 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(f"{what}: {VERSION_KEY} {version!r} is not allowed; allowed: an integer "
                         f"from 1 to {CONFIG_VERSION}")
    if version > CONFIG_VERSION:
        raise ConfigError(f"{what}: {VERSION_KEY} {version} was written by a newer vidnas; this one "
                         f"reads versions 1 to {CONFIG_VERSION}: upgrade vidnas")
    return version


def read(data: dict[str, Any] | None, kind: str, what: str = "config") -> dict[str, Any]:
    """`data` (a config mapping of `kind`) in the current form, without its version key."""
    data = copy.deepcopy(data or {})
    if not isinstance(data, dict):
        return data                          # the schema's loader names a non-mapping
    version = version_of(data, what)
    data.pop(VERSION_KEY, None)
    for v in range(version, CONFIG_VERSION):
        upgrade = UPGRADES.get(kind, {}).get(v)
        if upgrade is not None:
            data = upgrade(data)
    return data


def load(path: str | Path, kind: str) -> dict[str, Any]:
    """A YAML config file of `kind` in the current form (`read`)."""
    return read(load_yaml(path), kind, what=str(path))


def load_config(cls, kind: str, path: str | Path | None = None, overrides: list[str] | None = None,
                shorthands: dict[str, Any] | None = None, base: dict | None = None):
    """The one loader of a command's config: YAML file `path` (or `base`) of `kind` read in the
    current form (`read`), then ``--set`` `overrides`, then the command's flags (`shorthands`),
    validated as dataclass `cls`."""
    data = load(path, kind) if path else read(base, kind)
    return _load_schema(cls, None, overrides, shorthands, base=data)


def stamp(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with the current ``config_version`` first, as it is written."""
    return {VERSION_KEY: CONFIG_VERSION, **{k: v for k, v in data.items() if k != VERSION_KEY}}
