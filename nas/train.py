"""`nas train`: train one architecture standalone and evaluate it.

The same loop as pretraining (config, progress, atomic checkpoints, resume, torchrun), on the
fixed network of ``cfg.arch``, from scratch, from a supernet's shared weights
(``init_from``), or by the family's own options (``options:``; for MLP-3D, center
initialization from a 2D CycleMLP, ``center_init_from``, and random-GTM regularization,
``random_gtm``, Sec. 4.2), and with the two-path input (``model.kwargs.two_path``, Sec. 4.3).
At the end it writes ``eval.json`` with the single-view and multi-view accuracies on the validation split.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from search_spaces import arch_text
from search_spaces.errors import ConfigError
from supernet.registry import build_model
from supernet.training.distributed import cleanup
from supernet.training.loop import RunPlace, TrainData, TrainResult

from .config import RunConfig
from .data import build_dataset, build_loader
from .evaluate import eval_curve, evaluate_model, resolve_eval_schedule
from .initialise import initialise
from .log import get_logger
from .pretrain import check_run, make_loader_factory, run_trainer, setup_run
from .runfolder import start_instead_of_resume
from .utils import atomic_write_json

LOG = get_logger()


def evaluate_run(model, cfg: RunConfig, device) -> dict:
    """Single-view (centre clip, centre crop) and multi-view accuracies on the val split."""
    batch = max(1, cfg.train.batch_size // 2)
    single = evaluate_model(model, build_loader(build_dataset(cfg.data, "val"), batch,
                                                num_workers=cfg.train.num_workers), device)
    out = {"single_view": single}
    if cfg.data.test_clips * cfg.data.test_crops > 1:
        views = build_dataset(cfg.data, "val", views=True)
        out["multi_view"] = evaluate_model(model, build_loader(views, max(1, batch // 4),
                                                               num_workers=cfg.train.num_workers), device)
    out["top1"] = out.get("multi_view", single)["top1"]
    return out


def training_hooks(model, cfg: RunConfig):
    """One ``before_step(step)`` calling the hooks of the training options set (e.g. MLP-3D's
    ``random_gtm``, `supernet.registry.RunOption` stage "train"), or None."""
    hooks = [option.apply(model, value, cfg.train.seed) for _, value, option in cfg.run_options("train")]
    if not hooks:
        return None

    def before_step(step: int) -> None:
        for h in hooks:
            h(step)
    return before_step


def run_train(cfg: RunConfig, resume: bool = False, quiet: bool = False, progress: bool = True) -> dict:
    """Train `cfg.arch` standalone; returns (and writes to ``eval.json``) its accuracies."""
    if not cfg.arch:
        raise ConfigError("standalone training needs an architecture: set `arch` (or --arch)")
    cfg.arch = arch_text(cfg.arch, "arch")           # a file (best_arch.json, .txt): its architecture
    torch.manual_seed(cfg.train.seed)                 # the initial weights depend on the seed only
    model = build_model(cfg.model.name, cfg.input_size, cfg.data.num_classes, arch=cfg.arch,
                        **cfg.model.kwargs)
    resume = resume and not start_instead_of_resume(cfg.output_dir, "train")
    resolve_eval_schedule(cfg, "train")
    checked = check_run(cfg, "train", model, resume, evaluates=True)      # before any output
    train_set = checked.datasets["train"]
    how = initialise(model, cfg, init_weights=checked.init_weights) if not resume else "resumed"
    device, info = setup_run(cfg, resume, kind="train")
    try:
        make_loader, steps = make_loader_factory(cfg, train_set, info.rank, info.world)
        hook = training_hooks(model, cfg)
        if info.is_main and not quiet:
            LOG.info(f"training {cfg.model.name} {cfg.arch} standalone ({how}) on {cfg.data.dataset}: "
                  f"{len(train_set)} clips, {steps} steps/epoch x {cfg.train.epochs} epochs")
        place = RunPlace(Path(cfg.output_dir), "standalone", cfg.to_dict(), device, info, final_name="model.pt")
        result: TrainResult = run_trainer(model, cfg, TrainData(make_loader, steps), place, resume=resume,
                                          progress=progress, before_step=hook, label=cfg.arch,
                                          evaluate=eval_curve(cfg, steps, device, info.is_main))
        metrics = evaluate_run(model, cfg, device)
        metrics.update({"arch": cfg.arch, "step": result.step, "train": result.last_epoch})
        if info.is_main:
            atomic_write_json(Path(cfg.output_dir) / "eval.json", metrics)
            if not quiet:
                LOG.info(f"{cfg.arch}: top-1 {metrics['single_view']['top1']:.2f}% single view"
                      + (f", {metrics['multi_view']['top1']:.2f}% over {metrics['multi_view']['views']} views"
                         if "multi_view" in metrics else "") + f"; {Path(cfg.output_dir) / 'eval.json'}")
        return metrics
    finally:
        cleanup(info)


def load_eval(out_dir: str | Path) -> dict | None:
    """The ``eval.json`` of a finished standalone run, or None."""
    path = Path(out_dir) / "eval.json"
    return json.loads(path.read_text()) if path.exists() else None

