"""Plug-in discovery: search spaces, models, strategies and proxies that live outside vidnas.

A plug-in is a Python module that registers what it adds when imported, with the public
registries (`search_spaces.register_space`, `supernet.registry.register_model`,
`nas.search.strategies.register_strategy`, `nas.proxies.register_proxy`). `load_plugins` imports

* every entry point of the groups ``vidnas.spaces``, ``vidnas.strategies`` and
  ``vidnas.proxies`` (a separately
  installed package declares them in its own ``setup.cfg`` / ``pyproject.toml``), and
* every module path or ``.py`` file named in the environment variable ``VIDNAS_PLUGINS``
  (comma-separated), e.g. ``VIDNAS_PLUGINS=experiments.plugins.elastic_mlp3d``.

`nas.commands.main.main` calls it before building its parser (so plug-in strategies appear in
``--strategy`` and plug-in proxies in ``nas proxies --help``); library code that runs outside the CLI (a notebook, a Ray worker) calls it
itself. Each plug-in is imported once per process; a plug-in that cannot be imported is a
one-line ValueError naming it.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib import metadata
from pathlib import Path

from search_spaces.errors import VidnasInputError

ENV_VAR = "VIDNAS_PLUGINS"
ENTRY_POINT_GROUPS = ("vidnas.spaces", "vidnas.strategies", "vidnas.proxies")

_loaded: dict[str, object] = {}          # plug-in spec -> its module


def _error(what: str, e: BaseException) -> VidnasInputError:
    detail = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    return VidnasInputError(f"plug-in {what} does not import: {type(e).__name__}: {detail}")


def _import_file(path: Path):
    """Import a ``.py`` file as a module named after it (stem), once."""
    name = f"vidnas_plugin_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_plugin(spec: str):
    """Import one plug-in: a module path (``pkg.mod``) or a ``.py`` file path."""
    spec = spec.strip()
    if spec in _loaded:
        return _loaded[spec]
    looks_like_file = spec.endswith(".py") or os.sep in spec or "/" in spec
    try:
        if looks_like_file:
            path = Path(spec).expanduser()
            if not path.is_file():
                raise VidnasInputError(f"plug-in file {spec!r} (from {ENV_VAR}) does not exist")
            module = _import_file(path.resolve())
        else:
            module = importlib.import_module(spec)
    except VidnasInputError:                        # (one of ours, from the plug-in's registering)
        raise
    except ModuleNotFoundError as e:
        if e.name and (spec == e.name or spec.startswith(e.name + ".")):      # the plug-in itself, not one of its imports
            raise VidnasInputError(f"plug-in module {spec!r} (from {ENV_VAR}) not found; give an importable "
                                   f"module path (e.g. experiments.plugins.elastic_mlp3d) or a .py file") from None
        raise _error(repr(spec), e) from None
    except Exception as e:                          # an error inside the plug-in's own code
        raise _error(repr(spec), e) from None
    _loaded[spec] = module
    return module


def env_plugins(environ=None) -> list[str]:
    """The plug-ins named in ``VIDNAS_PLUGINS`` (comma-separated, blanks ignored)."""
    text = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return [s.strip() for s in text.split(",") if s.strip()]


def load_plugins(environ=None) -> list[str]:
    """Import every entry-point and ``VIDNAS_PLUGINS`` plug-in (idempotent); returns their
    names, entry points as ``group:name``."""
    names = []
    for group in ENTRY_POINT_GROUPS:
        for ep in metadata.entry_points(group=group):
            key = f"{group}:{ep.name}"
            if key not in _loaded:
                try:
                    _loaded[key] = ep.load()
                except Exception as e:
                    raise _error(f"{key} ({ep.value})", e) from None
            names.append(key)
    for spec in env_plugins(environ):
        load_plugin(spec)
        names.append(spec)
    return names
