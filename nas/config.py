"""Run configs: one YAML file drives a run; the resolved config is written next to its outputs.

A run config has the sections ``model`` (registry name + builder kwargs), ``data``
(`nas.data.config.DataConfig`), ``optim`` and ``train`` (`supernet.training.config`), and an
``output_dir``. `load_run_config(path, overrides)` reads YAML with `yaml.safe_load`, applies
``--set key=value`` overrides and validates everything with one-line errors.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search_spaces.errors import ConfigError
from supernet.registry import declared_run_option, model_entry, run_option
from supernet.training.config import OptimConfig, TrainConfig
from supernet.utils.config import coerce, from_dict, to_dict

from .compat import load, load_config
from .data.config import DataConfig
from .runfolder import prepare_run_folder


@dataclass
class ModelConfig:
    name: str = "mlp3d-nano"   # registered model name (see `nas models`)
    kwargs: dict = field(default_factory=dict)     # builder options, e.g. drop_path_rate


@dataclass
class FewShotConfig:
    """Few-shot supernets (Zhao et al., ICML 2021; `nas.fewshot`): off while split_units is 0."""

    split_units: int = 0             # split on the choices of the first k units (0: one-shot)
    split_field: str | None = None   # split on one field of those choices (e.g. gtm_type), not the whole choice
    steps: int = 0                   # fine-tuning steps per sub-supernet
    init_from: str | None = None     # the trained one-shot supernet every sub-supernet starts from

    def validate(self):
        if isinstance(self.split_units, bool) or not isinstance(self.split_units, int) or self.split_units < 0:
            raise ConfigError(f"few_shot.split_units={self.split_units!r} is not allowed; use 0 (off) or "
                              "the number of leading units to split on")
        if not self.split_units:
            if self.steps or self.init_from or self.split_field:
                raise ConfigError("few_shot.steps, few_shot.init_from and few_shot.split_field need "
                                  "few_shot.split_units >= 1")
            return
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"few_shot.steps={self.steps!r} is not allowed; use an integer >= 1 "
                              "(fine-tuning steps per sub-supernet)")
        if not self.init_from:
            raise ConfigError("few_shot.init_from is missing: give the trained one-shot supernet "
                              "checkpoint (a nas pretrain supernet.pt) every sub-supernet starts from")


@dataclass
class RunConfig:
    """Everything a pretraining or standalone-training run needs."""

    output_dir: str = "runs/pretrain"   # where the run writes config.yaml, metrics.csv, checkpoints/
    model: ModelConfig = field(default_factory=ModelConfig)   # the network
    data: DataConfig = field(default_factory=DataConfig)   # the clips
    optim: OptimConfig = field(default_factory=OptimConfig)   # the optimizer and schedule
    train: TrainConfig = field(default_factory=TrainConfig)   # the training loop
    arch: str | None = None            # standalone training: the architecture to train
    init_from: str | None = None       # standalone: supernet checkpoint whose weights to start from
    options: dict = field(default_factory=dict)   # model-specific options its family declares
    #   (`supernet.registry.RunOption`), e.g. MLP-3D's center_init_from, random_gtm
    few_shot: FewShotConfig = field(default_factory=FewShotConfig)   # pretrain: split into sub-supernets

    @staticmethod
    def upgrade(data: dict) -> dict:
        """Read a root-level run option (``center_init_from: X``, the layout before the
        ``options:`` section, and ``--set center_init_from=X``) as ``options.center_init_from``;
        one at its default (``random_gtm: 0.0`` in older stored configs) is dropped."""
        fields = {f.name for f in dataclasses.fields(RunConfig)}
        for key in [k for k in data if k not in fields]:
            option = declared_run_option(key)
            if option is not None:
                value = data.pop(key)
                if value != option.default:
                    data["options"] = {**(data.get("options") or {}), key: value}
        return data

    def validate(self):
        self.options = resolve_run_options(self.model.name, self.options)
        inits = [k for k, _, _ in self.run_options("init")]
        if len(inits) > 1:
            raise ConfigError(f"options {', '.join(inits)} each set the starting weights: pick one")
        if self.init_from and inits:
            raise ConfigError(f"init_from and {inits[0]} are exclusive: pick one initialisation")
        if self.arch and self.few_shot.split_units:
            raise ConfigError("few_shot splits a supernet (nas pretrain); a standalone run (arch set) "
                              "takes no few_shot section")

    def run_options(self, stage: str | None = None) -> list[tuple[str, Any, Any]]:
        """(key, value, `RunOption`) of the options set, those of `stage` ("init" or "train")
        when given."""
        found = [(k, v, run_option(self.model.name, k)) for k, v in self.options.items()]
        return [f for f in found if stage is None or f[2].stage == stage]

    @property
    def input_size(self) -> tuple[int, ...]:
        """(T, H, W) for video models, (H, W) for 2D image models (trained on frames)."""
        if not self.is_video:
            return (self.data.size, self.data.size)
        return (self.data.num_frames, self.data.size, self.data.size)

    @property
    def is_video(self) -> bool:
        return model_entry(self.model.name).is_video

    def to_dict(self) -> dict[str, Any]:
        """The plain config; for real videos without the keys only the synthetic sets read
        (`DataConfig.SYNTHETIC_ONLY`; reading it back gives them their defaults)."""
        out = to_dict(self)
        if not self.data.is_synthetic:
            for key in DataConfig.SYNTHETIC_ONLY:
                out["data"].pop(key, None)
        return out

    def with_absolute_paths(self) -> "RunConfig":
        """A copy whose file and folder fields are absolute (Ray Tune trials change directory)."""
        data = self.to_dict()
        for name in ("output_dir", "init_from"):
            if data.get(name):
                data[name] = str(Path(data[name]).expanduser().resolve())
        if data["few_shot"].get("init_from"):
            data["few_shot"]["init_from"] = str(Path(data["few_shot"]["init_from"]).expanduser().resolve())
        for key, value in list(data["options"].items()):
            if run_option(self.model.name, key).path:
                data["options"][key] = str(Path(value).expanduser().resolve())
        data["data"] = DataConfig.absolute_paths(data["data"])
        return from_dict(RunConfig, data)


def resolve_run_options(model_name: str, options: dict) -> dict:
    """`options` typed and checked against the family's declared run options (one-line
    errors naming ``options.<key>``); an option at its default is dropped (unset)."""
    out = {}
    for key, value in (options or {}).items():
        option = run_option(model_name, str(key))
        value = coerce(value, option.annotation, f"options.{key}")
        if option.validate is not None:
            option.validate(value)
        if value != option.default:
            out[key] = value
    return out


def load_run_config(path: str | Path | None, overrides: list[str] | None = None,
                    base: dict | None = None) -> RunConfig:
    """Read `path` (YAML; or start from `base`), apply overrides, validate."""
    return load_config(RunConfig, "run", path, overrides, base=base)


def read_stored_config(path: Path) -> dict[str, Any]:
    """A run's stored ``config.yaml`` as the current schema sees it: keys added to the schema
    after the run was written take their defaults, so an older run still resumes."""
    try:
        return from_dict(RunConfig, load(path, "run")).to_dict()
    except ValueError as e:
        raise ConfigError(f"{path} does not fit the current run config ({e})") from None


def prepare_output_dir(cfg: RunConfig, resume: bool, kind: str = "pretrain") -> Path:
    """Open the run's output folder (`nas.runfolder.prepare_run_folder`, kind "pretrain" or
    "train") and write ``config.yaml``; refuses to mix two different runs or kinds. The
    stored config is read through the schema (`read_stored_config`)."""
    return prepare_run_folder(cfg.output_dir, kind, cfg.to_dict(), resume, read_stored=read_stored_config)
