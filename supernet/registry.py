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

from search_spaces.errors import ConfigError, VidnasInputError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str                  # declared with `register_family` (demo config, run options, ...)
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


@dataclass(frozen=True)
class RunOption:
    """A model-specific run-config option (the ``options:`` section of a run config), declared
    by the family that implements it.

    * ``stage="init"``: ``apply(model, value) -> description`` sets the starting weights
      (exclusive with ``init_from``; supernets and standalone networks);
    * ``stage="adjust"``: ``apply(model, value, seed) -> description`` changes the starting
      weights after the initialisation (whichever it was), on a fresh run only (a resumed run
      has its weights in the checkpoint); e.g. MLP-3D's ``temporal_init``;
    * ``stage="train"``: ``apply(model, value, seed) -> before_step(step)`` is a training hook
      of standalone training (`nas train`; `nas pretrain` refuses it).

    ``annotation`` and ``default`` type the value (an option at its default is unset);
    ``validate(value)`` is a cheap check when the config is read, ``check(value)`` the one
    before any work (e.g. that a checkpoint file loads); ``path`` marks a file path (made
    absolute for Ray trials). All raise one-line ValueErrors."""

    apply: Callable[..., Any]
    check: Callable[[Any], Any] | None = None
    what: str = ""            # the refusal on other families: "<key> <what>, not <model>"
    annotation: Any = str
    default: Any = None
    stage: str = "init"
    path: bool = False
    validate: Callable[[Any], None] | None = None


# The regularisers of every built-in family: stochastic depth and the head's dropout.
TRAINING_ONLY = ("drop_path_rate", "head_dropout")


@dataclass(frozen=True)
class FamilyInfo:
    """Everything generic code needs to know about a model family (a search space's hosts),
    declared next to its models (`register_family`) so that `nas/` names no family:

    * ``demo_config``: the ``nas demo`` pretraining config (a file under
      ``nas/configs/``, shipped as package data, or an absolute path); None: no demo;
    * ``search_defaults``: defaults of ``nas search`` / ``nas demo`` evaluation settings the
      user did not set, e.g. ``{"bn_recalib": 4}`` for BatchNorm hosts;
    * ``run_options``: the keys of a run config's ``options:`` section the family supports,
      each with its `RunOption`, e.g. ``{"random_gtm": RunOption(hook_builder, stage="train")}``;
      a run that sets one of these keys on another family is a one-line error;
    * ``training_only``: model kwargs that change training only (regularisers that are the
      identity at inference), left out of the key of cost tables (`cost_spec`);

    (The architecture plot's labels belong to the search space: `SearchSpace.plot_field` and
    `plot_labels`.)
    """

    name: str
    description: str = ""
    demo_config: str | None = None
    search_defaults: dict[str, Any] = field(default_factory=dict)
    run_options: dict[str, RunOption] = field(default_factory=dict)
    training_only: tuple[str, ...] = TRAINING_ONLY


_FAMILIES: dict[str, FamilyInfo] = {}


def register_family(name: str, description: str = "", demo_config: str | None = None,
                    search_defaults: dict[str, Any] | None = None,
                    run_options: dict[str, RunOption] | None = None,
                    training_only: tuple[str, ...] = TRAINING_ONLY) -> FamilyInfo:
    """Declare model family `name` (see `FamilyInfo`); a family registered twice is an error."""
    if name in _FAMILIES:
        raise VidnasInputError(f"model family {name!r} registered twice")
    info = FamilyInfo(name, description, demo_config, dict(search_defaults or {}),
                      dict(run_options or {}), tuple(training_only))
    _FAMILIES[name] = info
    return info


def family_info(name: str) -> FamilyInfo:
    """The family's declaration; a family that declared nothing gets an empty one."""
    _ensure_loaded()
    return _FAMILIES.get(name) or FamilyInfo(name)


def list_families() -> list[str]:
    """Every family with a registered model or declaration, sorted."""
    _ensure_loaded()
    return sorted(set(_FAMILIES) | {e.family for e in _MODELS.values()})


def demo_families() -> list[str]:
    """Families that declare a ``nas demo`` config, in registration order."""
    _ensure_loaded()
    return [n for n, f in _FAMILIES.items() if f.demo_config]


def run_option(model_name: str, key: str) -> RunOption:
    """The `RunOption` of run option `key` for model `model_name`; a one-line ValueError
    naming the families that support it when its family does not."""
    entry = model_entry(model_name)
    impl = family_info(entry.family).run_options.get(key)
    if impl is None:
        owners = [(n, f.run_options[key]) for n, f in _FAMILIES.items() if key in f.run_options]
        if not owners:
            own = ", ".join(sorted(family_info(entry.family).run_options)) or "none"
            raise ConfigError(f"unknown run option {key!r} for {model_name}; its family "
                              f"{entry.family} declares: {own}")
        what = owners[0][1].what if len(owners) == 1 and owners[0][1].what else \
            f"applies to the model families {', '.join(n for n, _ in owners)}"
        raise ConfigError(f"{key} {what}, not {model_name}")
    return impl


def declared_run_option(key: str) -> RunOption | None:
    """The `RunOption` some family declares under `key` (the first one), or None."""
    _ensure_loaded()
    return next((f.run_options[key] for f in _FAMILIES.values() if key in f.run_options), None)


def register_model(name: str, family: str, default_input: tuple[int, ...], default_classes: int,
                   description: str = "", searchable: bool = True, **defaults):
    """Decorator: register `builder(input_size, num_classes, arch=None, **kwargs)` as `name`."""
    def wrap(builder):
        if name in _MODELS:
            raise VidnasInputError(f"model {name!r} registered twice")
        _MODELS[name] = ModelEntry(name, family, builder, tuple(default_input), default_classes,
                                   description, searchable, dict(defaults))
        return builder
    return wrap


def _ensure_loaded() -> None:
    from . import models  # noqa: F401  # lazy: cycle: supernet.models imports (importlib) each model module, which imports this registry


def model_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    if name not in _MODELS:
        raise VidnasInputError(f"unknown model {name!r}; known: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def list_models(family: str | None = None) -> list[ModelEntry]:
    """The registered models, of `family` when given (an unknown family is a ValueError)."""
    _ensure_loaded()
    if family is not None and family not in list_families():
        raise VidnasInputError(f"unknown family {family!r}; allowed: {', '.join(list_families())}")
    return [e for _, e in sorted(_MODELS.items()) if family is None or e.family == family]


def build_model(name: str, input_size: tuple[int, ...] | None = None, num_classes: int | None = None,
                arch=None, **kwargs) -> nn.Module:
    """Build model `name` for clips (T, H, W) or images (H, W); a supernet when `arch` is None
    and the model is searchable, else the fixed network of `arch`."""
    entry = model_entry(name)
    size = tuple(int(v) for v in (input_size or entry.default_input))
    if len(size) != len(entry.default_input):
        want = "T x H x W" if entry.is_video else "H x W"
        raise VidnasInputError(f"model {name} takes input {want}, got {'x'.join(map(str, size))}")
    classes = int(num_classes or entry.default_classes)
    options = {**entry.defaults, **kwargs}
    try:
        model = entry.builder(size, classes, arch=arch, **options)
    except TypeError as e:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if not match:
            raise
        raise ConfigError(f"model {name} does not take the option {match.group(1)!r} "
                          f"(given: {', '.join(sorted(options))})") from None
    model.spec = {"name": name, "input_size": list(size), "num_classes": classes,
                  "kwargs": options, "arch": None if getattr(model, "arch", None) is None
                  or not getattr(model, "is_fixed", False) else str(model.arch)}
    return model


def build_from_spec(spec: dict[str, Any], arch=None) -> nn.Module:
    """Rebuild a model from `model.spec` (fixed to `arch`, or to the spec's own arch)."""
    return build_model(spec["name"], tuple(spec["input_size"]), spec["num_classes"],
                       arch=arch if arch is not None else spec.get("arch"), **spec.get("kwargs", {}))


def cost_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of a model spec (`model.spec`) that decides the network's costs at inference:
    FLOPs, latency and memory tables are keyed on it, so a table built from ``--model`` is
    accepted for a supernet of the same architecture whatever its training options. Drops the
    family's `FamilyInfo.training_only` kwargs and ``input_size`` (a table records its input
    apart). A model that is not registered keeps every kwarg."""
    out = {k: v for k, v in spec.items() if k != "input_size"}
    try:
        drop = family_info(model_entry(spec.get("name")).family).training_only
    except (ValueError, TypeError):
        drop = ()
    out["kwargs"] = {k: v for k, v in (spec.get("kwargs") or {}).items() if k not in drop}
    return out
