"""Run configs: one YAML file drives a run; the resolved config is written next to its outputs.

A run config has the sections ``model`` (registry name + builder kwargs), ``data``
(`nas.data.config.DataConfig`), ``optim`` and ``train`` (`supernet.training.config`), and an
``output_dir``. `load_run_config(path, overrides)` reads YAML with `yaml.safe_load`, applies
``--set key=value`` overrides and validates everything with one-line errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from supernet.training.config import OptimConfig, TrainConfig
from supernet.utils.config import apply_overrides, from_dict, load_yaml, to_dict

from .data.config import DataConfig


@dataclass
class ModelConfig:
    name: str = "mlp3d-nano"
    kwargs: dict = field(default_factory=dict)     # builder options, e.g. drop_path_rate


@dataclass
class RunConfig:
    """Everything a pretraining or standalone-training run needs."""

    output_dir: str = "runs/pretrain"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    arch: str | None = None            # standalone training: the architecture to train
    init_from: str | None = None       # standalone: supernet checkpoint whose weights to start from
    # model-specific run options: a family supports them by declaring them
    # (`supernet.registry.register_family(run_options=...)`); other families refuse them
    center_init_from: str | None = None  # 2D checkpoint to inflate (MLP-3D: CycleMLP, Sec. 4.2)
    random_gtm: float = 0.0            # standalone: random-GTM probability (MLP-3D Sec. 4.2)

    def validate(self):
        if self.init_from and self.center_init_from:
            raise ValueError("init_from and center_init_from are exclusive: pick one initialisation")
        if not 0.0 <= self.random_gtm <= 1.0:
            raise ValueError(f"random_gtm must be a probability in [0, 1], got {self.random_gtm}")

    @property
    def input_size(self) -> tuple[int, ...]:
        """(T, H, W) for video models, (H, W) for 2D image models (trained on frames)."""
        if not self.is_video:
            return (self.data.size, self.data.size)
        return (self.data.num_frames, self.data.size, self.data.size)

    @property
    def is_video(self) -> bool:
        from supernet.registry import model_entry
        return model_entry(self.model.name).is_video

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def with_absolute_paths(self) -> "RunConfig":
        """A copy whose file and folder fields are absolute (Ray Tune trials change directory)."""
        data = self.to_dict()
        for name in ("output_dir", "init_from", "center_init_from"):
            if data.get(name):
                data[name] = str(Path(data[name]).expanduser().resolve())
        data["data"] = DataConfig.absolute_paths(data["data"])
        return from_dict(RunConfig, data)


def load_run_config(path: str | Path | None, overrides: list[str] | None = None,
                    base: dict | None = None) -> RunConfig:
    """Read `path` (YAML; or start from `base`), apply overrides, validate."""
    data = load_yaml(path) if path else dict(base or {})
    return from_dict(RunConfig, apply_overrides(data, overrides))


def config_diff(a: dict, b: dict, prefix: str = "") -> str | None:
    """The first key (dotted) whose value differs between two plain config dicts."""
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            d = config_diff(va, vb, f"{prefix}{key}.")
            if d:
                return d
        elif va != vb:
            return f"{prefix}{key}: {va!r} != {vb!r}"
    return None


def read_stored_config(path: Path) -> dict[str, Any]:
    """A run's stored ``config.yaml`` as the current schema sees it: keys added to the schema
    after the run was written take their defaults, so an older run still resumes."""
    try:
        return from_dict(RunConfig, yaml.safe_load(path.read_text()) or {}).to_dict()
    except ValueError as e:
        raise ValueError(f"{path} does not fit the current run config ({e})") from None


def prepare_output_dir(cfg: RunConfig, resume: bool, kind: str = "pretrain") -> Path:
    """Open the run's output folder (`nas.runfolder.prepare_run_folder`, kind "pretrain" or
    "train") and write ``config.yaml``; refuses to mix two different runs or kinds. The
    stored config is read through the schema (`read_stored_config`)."""
    from .runfolder import prepare_run_folder

    return prepare_run_folder(cfg.output_dir, kind, cfg.to_dict(), resume, read_stored=read_stored_config)
