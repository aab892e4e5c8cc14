"""`nas demo`: the whole pipeline on the bundled data, on a laptop CPU, in about 4 minutes.

    nas demo                      # MLP-3D-nano: pretrain, greedy search, figures
    nas demo --space morphmlp     # the same on the MorphMLP chunk-length space

1. supernet pretraining with the space's CPU config (``nas/configs/``, installed with the package
   so that ``pip install .`` without ``-e`` runs the demo too),
2. greedy search (MLP-3D Sec. 3.4) scored by V - alpha*C on 256 validation clips,
3. figures: search progress (objective over time, accuracy-GFLOPs Pareto front) and the
   searched architecture block by block (Fig. 7), and a summary table.

Every step resumes: run it again after an interruption and finished steps are skipped. Outputs
go to ``--out`` (default ``runs/demo-<space>``): ``demo_config.yaml`` (the resolved settings;
``--config FILE`` + ``--set key=value`` as every command), ``supernet/``, ``search/``, ``*.png``.

``--threads N`` sets the torch threads of the pretraining and the search; by default they are
chosen from the core count and the load at start (`nas.utils.choose_threads`) and printed.
``--set`` reaches the pretraining config (``--set train.epochs=2``, kept in
``pretrain_overrides``) and the search settings (``--set search.seed=3``,
``--set evaluation.batch_size=16``, kept in ``search_overrides``) as well as the demo's own keys.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import torch
import yaml

from search_spaces.errors import ConfigError, InputNotFoundError
from supernet.registry import demo_families, family_info

from . import plots
from .config import load_run_config
from .log import get_logger
from .pretrain import run_pretrain
from .runfolder import refuse_foreign
from .search import run_search
from .search.setup import resolve_settings, search_setup
from .utils import atomic_write_text, choose_threads
from .validate import check_output_dir

CONFIGS = Path(__file__).resolve().parent / "configs"      # package data (setup.cfg package_data)


def _declared_path(space: str) -> Path:
    path = Path(family_info(space).demo_config)
    return path if path.is_absolute() else CONFIGS / path


def demo_spaces() -> list[str]:
    """Families that declare a demo config which exists here, in registration order: the
    `nas demo --space` choices (a family whose config is missing is not offered)."""
    return [s for s in demo_families() if _declared_path(s).is_file()]


# what a demo writes into --out; a folder holding anything else was not made by it (refused)
DEMO_FILES = ("demo_config.yaml", "supernet", "search", "search_progress.png", "search_progress.pdf",
              "searched_arch.png", "searched_arch.pdf")


def default_space() -> str:
    """The default of `nas demo --space`: the first family with a demo config found."""
    spaces = demo_spaces()
    if not spaces:
        raise InputNotFoundError(f"no demo config found under {CONFIGS}; reinstall vidnas")
    return spaces[0]


@dataclass
class DemoConfig:
    """`nas demo` settings (``--config FILE`` + ``--set key=value``; flags are shorthands)."""

    space: str = field(default_factory=default_space)   # model family whose demo config runs
    out: str | None = None             # default runs/demo-<space>
    val_size: int = 256   # validation clips of the search
    threads: int | None = None         # torch threads (None: from the cores and the load at start)
    pretrain_overrides: list = field(default_factory=list)   # --set of the pretraining config
    search_overrides: list = field(default_factory=list)     # --set of the search settings

    def validate(self):
        demo_config_path(self.space)                 # a one-line error for an unknown space
        if self.val_size < 1:
            raise ConfigError(f"config key 'val_size': must be >= 1, got {self.val_size}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"config key 'threads': must be >= 1, got {self.threads}")


def demo_config_path(space: str) -> Path:
    """The pretraining config the family `space` declares for the demo
    (`supernet.registry.register_family(demo_config=...)`)."""
    if space not in demo_families():
        raise ConfigError(f"unknown demo space {space!r}; allowed: {', '.join(demo_spaces())}")
    path = _declared_path(space)
    if not path.is_file():
        raise InputNotFoundError(f"demo config {path} of space {space!r} not found; "
                                 f"spaces with a demo config here: {', '.join(demo_spaces()) or 'none'}")
    return path


def run_demo(space: str | None = None, out: str | Path | None = None, val_size: int = 256,
             progress: bool = True, threads: int | None = None, pretrain_overrides=(),
             search_overrides=()) -> dict:
    """Pretrain, search and plot; returns the best architecture and its figures. `threads`:
    torch threads (None: the config's ``train.threads`` if `pretrain_overrides` set it, else
    chosen from the cores and the load, `nas.utils.choose_threads`)."""
    LOG = get_logger()
    space = space or default_space()
    out = Path(out or f"runs/demo-{space}")
    overrides = [f"output_dir={out / 'supernet'}"] + list(pretrain_overrides)
    if threads is None and not any(o.split("=", 1)[0].strip() == "train.threads" for o in pretrain_overrides):
        threads, why = choose_threads()
        LOG.info(f"threads: {why}")
    if threads is not None:
        overrides.append(f"train.threads={threads}")
    cfg = load_run_config(demo_config_path(space), overrides)          # bad keys: before any output
    settings = resolve_settings(SimpleNamespace(config=None, set=list(search_overrides), val_size=val_size))
    refuse_foreign(check_output_dir(out, "--out"), DEMO_FILES, "--out")     # a rerun resumes its own files
    atomic_write_text(out / "demo_config.yaml",            # the resolved settings, next to the outputs
                      yaml.safe_dump({"space": space, "out": str(out), "val_size": val_size,
                                      "threads": cfg.train.threads,
                                      "pretrain_overrides": list(pretrain_overrides),
                                      "search_overrides": list(search_overrides)}, sort_keys=False))
    supernet_dir, search_dir = out / "supernet", out / "search"
    ckpt = supernet_dir / "supernet.pt"
    if not ckpt.exists():
        run_pretrain(cfg, resume=(supernet_dir / "checkpoints" / "last.pt").exists(), progress=progress)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    resume = (search_dir / "results.csv").exists()
    config, factory = search_setup(settings, checkpoint=ckpt, resume_out=search_dir if resume else None)
    result = run_search(config, factory, out=search_dir, resume=resume, progress=progress)
    model = factory.cost_model()
    best = json.loads((search_dir / "best_arch.json").read_text())
    figures = plots.plot_search(pd.read_csv(search_dir / "results.csv"), out / "search_progress", best=best)
    figures += plots.plot_arch(model.space, result.arch, out / "searched_arch",
                               title=f"{model.spec['name']}: {result.arch}", best=best)
    LOG.info(f"demo done: best {result.arch}; results {search_dir / 'results.csv'}; figures "
          + ", ".join(str(p) for p in figures if p.suffix == ".png"))
    return {"arch": str(result.arch), "figures": [str(p) for p in figures]}
