"""The training loop's config sections (`OptimConfig`, `TrainConfig`).

The machinery that builds config dataclasses from YAML with one-line errors (`from_dict`,
`apply_overrides`, `load_config`, `to_dict`, `load_yaml`) lives in `supernet.utils.config`
(re-exported here for older imports); its docstring records why it is hand-written.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from search_spaces.errors import ConfigError

from ..utils.config import apply_overrides, from_dict, load_config, load_yaml, ranged, to_dict  # noqa: F401


def tensorboard_available() -> bool:
    """Whether `torch.utils.tensorboard` imports (it needs the tensorboard package)."""
    try:
        import torch.utils.tensorboard  # noqa: F401  # lazy: optional package (tensorboard); this function checks that it imports
    except ImportError:
        return False
    return True


@dataclass
class OptimConfig:
    """AdamW with warmup then cosine decay (MLP-3D Sec. 3.4 defaults)."""

    lr: float = 5e-4                  # for `base_batch_size` clips; scaled linearly
    base_batch_size: int = 512   # the batch size `lr` is given for
    weight_decay: float = ranged(0.05, 0)   # AdamW weight decay (not on biases and norm weights)
    betas: tuple[float, float] = (0.9, 0.999)   # AdamW betas, two numbers in [0, 1)
    warmup_epochs: float = 1.0   # epochs of linear warmup before the cosine decay
    min_lr: float = ranged(0.0, 0)   # learning rate at the end of the cosine decay
    label_smoothing: float = 0.1   # label smoothing of the cross-entropy, in [0, 1)
    clip_grad: float | None = ranged(1.0, 0)   # max global L2 norm of the gradients; None = off
    lr_mults: dict = field(default_factory=dict)   # {parameter-name substring: lr multiplier}

    def validate(self):
        for name in ("lr", "weight_decay", "warmup_epochs", "min_lr", "label_smoothing", "clip_grad"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ConfigError(f"optim.{name} must be a finite number, got {value!r}")
        if not all(math.isfinite(b) and 0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"optim.betas must be two numbers in [0, 1), got {list(self.betas)}")
        if self.lr <= 0 or self.base_batch_size < 1:
            raise ConfigError(f"optim.lr must be > 0 and base_batch_size >= 1, got {self.lr}, {self.base_batch_size}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"optim.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.warmup_epochs < 0:
            raise ConfigError(f"optim.warmup_epochs must be >= 0, got {self.warmup_epochs}")
        for key, mult in self.lr_mults.items():
            if not isinstance(key, str) or not key or isinstance(mult, bool) \
                    or not isinstance(mult, (int, float)) or not mult > 0:
                raise ConfigError(f"optim.lr_mults maps parameter-name substrings to positive numbers, "
                                  f"got {key!r}: {mult!r}")

    def lr_mult(self, name: str) -> float:
        """The multiplier of parameter `name`: the first `lr_mults` key it contains, else 1."""
        return next((float(m) for k, m in self.lr_mults.items() if k in name), 1.0)

    def scaled_lr(self, batch_size: int) -> float:
        return self.lr * batch_size / self.base_batch_size


@dataclass
class EmaConfig:
    """``train.ema``: an exponential moving average of the weights (`supernet.training.ema`),
    evaluated instead of the raw weights when on (PySlowFast / ResNet-RS recipes)."""

    enabled: bool = False
    decay: float = 0.9998                     # ema = decay * ema + (1 - decay) * weights, every step

    def validate(self):
        if isinstance(self.decay, bool) or not isinstance(self.decay, (int, float)) \
                or not math.isfinite(self.decay) or not 0.0 <= self.decay < 1.0:
            raise ConfigError(f"train.ema.decay={self.decay!r} is not allowed; use a number in [0, 1)")


@dataclass
class TrainConfig:
    """The training loop's knobs (shared by supernet pretraining and standalone training)."""

    epochs: int = 32   # passes over the training set (the learning-rate schedule spans them)
    batch_size: int = 64                      # global batch (all processes together)
    max_steps: int | None = None              # stop early (smoke runs); the schedule keeps `epochs`
    seed: int = ranged(0, 0)   # seed of the initial weights, data order, augmentation and sampled architectures
    sampler: Literal["uniform", "fair", "sandwich"] = "uniform"   # supernet recipe (ArchSampler)
    sandwich_random: int = 2                  # sandwich: random paths per step besides the bounds
    warmup_arch: str | None = None            # supernet: train only this arch for the first ...
    warmup_arch_steps: int = 0                # ... steps, then sample (OFA-style warm start)
    amp: bool = False                         # bf16 autocast on CUDA
    checkpoint_every: int = 100               # optimizer steps between checkpoints
    log_every: int = 1                        # steps between metrics rows
    eval_every: int | None = ranged(None, 0)   # epochs between val passes (eval_curve.csv; 0: none); None: 5 when pretraining, 0 in standalone training
    eval_clips: int | None = ranged(None, 1)   # clips of a val pass (a fixed class-balanced subset); None: 256 when pretraining, all in standalone training
    device: str = "auto"                      # auto | cpu | cuda | cuda:N
    num_workers: int = ranged(0, 0)   # DataLoader worker processes (0: load in the training process)
    threads: int | None = ranged(None, 1)   # torch intra-op threads on CPU (None: torch default)
    tensorboard: bool = False                 # also log the curves to OUT/tensorboard (needs tensorboard)
    ema: EmaConfig = field(default_factory=EmaConfig)   # EMA of the weights, used by evaluation when on
    compile: bool = False                     # torch.compile the model (eager, with one warning, where it cannot)

    def validate(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"train.epochs and train.batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise ConfigError("train.checkpoint_every and train.log_every must be >= 1")
        if self.warmup_arch_steps < 0 or (self.warmup_arch_steps and not self.warmup_arch):
            raise ConfigError(f"train.warmup_arch_steps={self.warmup_arch_steps} needs a train.warmup_arch "
                              "(an architecture string) and must be >= 0")
        if self.sandwich_random < 0:
            raise ConfigError(f"train.sandwich_random must be >= 0, got {self.sandwich_random}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"train.max_steps must be >= 1, got {self.max_steps}")
        self.ema.validate()
        if self.tensorboard and not tensorboard_available():
            raise ConfigError("train.tensorboard: true needs the tensorboard package, which is not "
                              "installed here (pip install tensorboard), or set train.tensorboard: false")


__all__ = ["EmaConfig", "OptimConfig", "TrainConfig", "from_dict", "to_dict", "apply_overrides", "load_yaml", "load_config"]
