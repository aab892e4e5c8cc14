"""The configuration reference, generated from the config dataclasses so that it cannot drift.

``nas config show [run|search|correlate|demo]`` prints every key of a schema with its type,
default, allowed values and meaning (the field's comment in the source);
``--defaults`` prints instead a YAML file of every key at its default, each with its meaning,
to start a config from; ``--config C.yaml`` / ``--set key=value`` show a config's resolved
values instead of the defaults (``--set data.dataset=video-list`` shows the defaults for real
video); ``--markdown`` prints the page ``docs/config.md`` (a test checks the committed page
equals it).
"""
from __future__ import annotations

import importlib
from typing import Any

import yaml

from search_spaces.errors import ConfigError

from supernet.utils.config import schema_reference

from .compat import load_config
from .utils import format_table

# schema name -> (module, class, what it configures)
SCHEMAS = {
    "run": ("nas.config", "RunConfig", "`nas pretrain`, `nas train`, `nas data check`: the run config "
            "(`--config C.yaml`, `--set section.key=value`)"),
    "search": ("nas.search.settings", "SearchFileConfig", "`nas search --config` / `--set`: the search "
               "and evaluation settings (flat keys are read too)"),
    "correlate": ("nas.correlate", "CorrelateConfig", "`nas correlate --config` / `--set`; other "
                  "`--set` keys override the standalone runs' run config"),
    "demo": ("nas.demo", "DemoConfig", "`nas demo --config` / `--set`; run-config and search keys "
             "reach the pretraining and the search"),
}


def schema_class(name: str):
    if name not in SCHEMAS:
        raise ConfigError(f"unknown config schema {name!r}; allowed: {', '.join(SCHEMAS)}")
    module, cls, _ = SCHEMAS[name]
    return getattr(importlib.import_module(module), cls)


def resolved(name: str, path: str | None = None, overrides: list[str] | None = None):
    """The schema's config from a file and ``--set`` (None when neither is given)."""
    if not path and not overrides:
        return None
    if name == "run":
        from .config import load_run_config                  # lazy: fast start (torch)
        return load_run_config(path, overrides)
    if name == "search":
        from .search.settings import load_search_settings    # lazy: fast start (torch)
        return load_search_settings(path, overrides)
    return load_config(schema_class(name), name, path, overrides)


def _value(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, str):
        return repr(v) if v == "" else v
    return yaml.safe_dump(v, default_flow_style=True, width=10 ** 6).strip().removesuffix("...").strip()


def reference_table(name: str, instance=None) -> str:
    rows = [(r["key"], r["type"], _value(r["default"]) if not r["section"] else "", r["allowed"], r["meaning"])
            for r in schema_reference(schema_class(name), instance=instance)]
    return format_table(rows, ["key", "type", "default", "allowed", "meaning"], align="lllll")


def defaults_yaml(name: str, instance=None) -> str:
    """Every key at its default (or resolved value), as YAML with each key's meaning."""
    lines = []
    for r in schema_reference(schema_class(name), instance=instance):
        depth = r["key"].count(".")
        key = r["key"].rsplit(".", 1)[-1]
        note = f"   # {r['meaning']}" if r["meaning"] else ""
        if r["allowed"]:
            note += f" (allowed: {r['allowed']})" if note else f"   # allowed: {r['allowed']}"
        value = "" if r["section"] else " " + _value(r["default"])
        lines.append(f"{'  ' * depth}{key}:{value}{note}")
    return "\n".join(lines) + "\n"


def real_video_defaults() -> list[tuple[str, Any, Any]]:
    """(key, synthetic-temporal default, video-list default) of the data keys whose default
    depends on the dataset."""
    from .data.config import DataConfig                      # lazy: fast start (torch)

    synthetic, video = DataConfig(), DataConfig(dataset="video-list", train_list="train.txt")
    return [(k, getattr(synthetic, k), getattr(video, k)) for k in ("flip", "scale")
            if getattr(synthetic, k) != getattr(video, k)]


def markdown() -> str:
    """The page docs/config.md."""
    out = ["# Configuration reference", "",
           "Generated from the config dataclasses by `nas config show --markdown` (do not edit; "
           "`tests/cli/test_new_user.py` checks this page equals it). `nas config show SCHEMA` prints one "
           "table; `nas config show SCHEMA --defaults` a YAML file of every key with its meaning; "
           "`--config C.yaml` / `--set key=value` show a config's resolved values.", ""]
    for name, (_, _, what) in SCHEMAS.items():
        out += [f"## `{name}`", "", what + ".", "",
                "| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
        for r in schema_reference(schema_class(name)):
            cells = [f"**{r['key']}**" if r["section"] else f"`{r['key']}`", r["type"] if not r["section"] else "",
                     "" if r["section"] else f"`{_value(r['default'])}`", r["allowed"], r["meaning"]]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if name == "run":
            dep = real_video_defaults()
            out += ["", "Dataset-dependent defaults (`data.flip` and `data.scale` left at null): "
                    + "; ".join(f"`{k}` is `{_value(s)}` for synthetic-temporal and `{_value(v)}` for "
                                f"video-list / frame-folder" for k, s, v in dep)
                    + ". A config written for real videos (`config.yaml` of a run) leaves out the keys "
                    "only the synthetic sets read: "
                    + ", ".join(f"`{k}`" for k in __import__("nas.data.config", fromlist=["DataConfig"])
                                .DataConfig.SYNTHETIC_ONLY) + "."]
        out.append("")
    return "\n".join(out)
