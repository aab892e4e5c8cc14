"""Model registry: names such as ``mlp3d-xs`` -> builders, and rebuilding from a spec.

Every built model carries ``model.spec`` (name, input size, classes, extra kwargs, and the
fixed architecture string if any), a plain dict stored in checkpoints so that a run can be
rebuilt without pickled code (`build_from_spec`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str                  # "mlp3d", "cyclemlp", "morphmlp", "conv3d_split", ...
    builder: Callable[..., nn.Module]
    default_input: tuple[int, ...]   # (T, H, W) for video, (H, W) for images
    default_classes: int
    description: str = ""
    searchable: bool = True
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def is_video(self) -> bool:
        return len(self.default_input) == 3


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, family: str, default_input: tuple[int, ...], default_classes: int,
                   description: str = "", searchable: bool = True, **defaults):
    """Decorator: register `builder(input_size, num_classes, arch=None, **kwargs)` as `name`."""
    def wrap(builder):
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = ModelEntry(name, family, builder, tuple(default_input), default_classes,
                                   description, searchable, dict(defaults))
        return builder
    return wrap


def _ensure_loaded() -> None:
    from . import models  # noqa: F401  (registers the model families)


def model_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def list_models(family: str | None = None) -> list[ModelEntry]:
    _ensure_loaded()
    return [e for _, e in sorted(_MODELS.items()) if family is None or e.family == family]


def build_model(name: str, input_size: tuple[int, ...] | None = None, num_classes: int | None = None,
                arch=None, **kwargs) -> nn.Module:
    """Build model `name` for clips (T, H, W) or images (H, W); a supernet when `arch` is None
    and the model is searchable, else the fixed network of `arch`."""
    entry = model_entry(name)
    size = tuple(int(v) for v in (input_size or entry.default_input))
    if len(size) != len(entry.default_input):
        want = "T x H x W" if entry.is_video else "H x W"
        raise ValueError(f"model {name} takes input {want}, got {'x'.join(map(str, size))}")
    classes = int(num_classes or entry.default_classes)
    options = {**entry.defaults, **kwargs}
    try:
        model = entry.builder(size, classes, arch=arch, **options)
    except TypeError as e:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if not match:
            raise
        raise ValueError(f"model {name} does not take the option {match.group(1)!r} "
                         f"(given: {', '.join(sorted(options))})") from None
    model.spec = {"name": name, "input_size": list(size), "num_classes": classes,
                  "kwargs": options, "arch": None if getattr(model, "arch", None) is None
                  or not getattr(model, "is_fixed", False) else str(model.arch)}
    return model


def build_from_spec(spec: dict[str, Any], arch=None) -> nn.Module:
    """Rebuild a model from `model.spec` (fixed to `arch`, or to the spec's own arch)."""
    return build_model(spec["name"], tuple(spec["input_size"]), spec["num_classes"],
                       arch=arch if arch is not None else spec.get("arch"), **spec.get("kwargs", {}))
