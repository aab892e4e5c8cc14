"""`nas train`: train one architecture standalone and evaluate it.

The same loop as pretraining (config, progress, atomic checkpoints, resume, torchrun), on the
fixed network of ``cfg.arch``, from scratch, from a supernet's shared weights
(``init_from``), or, for MLP-3D, from a 2D CycleMLP by center initialization
(``center_init_from``, Sec. 4.2), optionally with random-GTM regularization
(``random_gtm``) and the two-path input (``model.kwargs.two_path``, Sec. 4.3). At the end it
writes ``eval.json`` with the single-view and multi-view accuracies on the validation split.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from supernet.registry import build_model
from supernet.training.checkpoint import model_from_checkpoint
from supernet.training.distributed import cleanup
from supernet.training.loop import TrainResult, train

from .config import RunConfig
from .data import build_dataset, build_loader
from .evaluate import evaluate_model
from .pretrain import make_loader_factory, setup_run
from .utils import atomic_write_json


def _paths(model):
    """The MLP-3D networks inside `model` (both paths of a two-path network)."""
    return [model.main, model.extra] if hasattr(model, "extra") else [model]


def initialise(model, cfg: RunConfig) -> str:
    """Apply ``init_from`` / ``center_init_from``; returns a one-line description."""
    if cfg.init_from:
        if Path(cfg.init_from).is_dir():                   # a `nas export` folder
            from .export import export_state_dict
            exported = export_state_dict(cfg.init_from, cfg.model.name, cfg.arch)
        else:
            exported = model_from_checkpoint(cfg.init_from).export(cfg.arch).state_dict()
        for path in _paths(model):                  # a two-path net: both paths, no head FC
            own = path.state_dict()
            missing = sorted(set(own) - set(exported))
            if missing:
                raise ValueError(f"supernet checkpoint {cfg.init_from} has no {missing[0]!r} for "
                                 f"{cfg.model.name}; was it pretrained for this model?")
            path.load_state_dict({k: exported[k] for k in own})
        return f"initialised from the supernet weights in {cfg.init_from}"
    if cfg.center_init_from:
        from supernet.models.mlp3d import center_inflate_state, convert_official_cyclemlp

        raw = torch.load(cfg.center_init_from, map_location="cpu", weights_only=True)
        state = raw.get("model", raw) if isinstance(raw, dict) else raw
        if any(k.startswith("network.") for k in state):
            state = convert_official_cyclemlp(state)
        for path in _paths(model):
            path.load_state_dict(center_inflate_state(path, state))
        return f"center-initialised from the 2D CycleMLP in {cfg.center_init_from}"
    return "trained from scratch"


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


def run_train(cfg: RunConfig, resume: bool = False, quiet: bool = False) -> dict:
    """Train `cfg.arch` standalone; returns (and writes to ``eval.json``) its accuracies."""
    if not cfg.arch:
        raise ValueError("standalone training needs an architecture: set `arch` (or --arch)")
    torch.manual_seed(cfg.train.seed)                 # the initial weights depend on the seed only
    model = build_model(cfg.model.name, cfg.input_size, cfg.data.num_classes, arch=cfg.arch,
                        **cfg.model.kwargs)
    if cfg.random_gtm and getattr(getattr(model, "space", None), "name", None) != "mlp3d":
        raise ValueError(f"random_gtm applies to MLP-3D networks, not {cfg.model.name}")
    train_set = build_dataset(cfg.data, "train")          # bad data paths fail before any output
    device, info = setup_run(cfg, resume)
    try:
        how = initialise(model, cfg) if not resume else "resumed"
        make_loader, steps = make_loader_factory(cfg, train_set, info.rank, info.world)
        hook = None
        if cfg.random_gtm:
            from supernet.models.mlp3d import random_gtm_hook
            hook = random_gtm_hook(model, cfg.random_gtm, cfg.train.seed)
        if info.is_main and not quiet:
            print(f"training {cfg.model.name} {cfg.arch} standalone ({how}) on {cfg.data.dataset}: "
                  f"{len(train_set)} clips, {steps} steps/epoch x {cfg.train.epochs} epochs")
        result: TrainResult = train(model, train_cfg=cfg.train, optim_cfg=cfg.optim, make_loader=make_loader,
                                    steps_per_epoch=steps, out_dir=cfg.output_dir, kind="standalone",
                                    config=cfg.to_dict(), device=device, dist_info=info,
                                    before_step=hook, resume=resume, final_name="model.pt")
        metrics = evaluate_run(model, cfg, device)
        metrics.update({"arch": cfg.arch, "step": result.step, "train": result.last_epoch})
        if info.is_main:
            atomic_write_json(Path(cfg.output_dir) / "eval.json", metrics)
            if not quiet:
                print(f"{cfg.arch}: top-1 {metrics['single_view']['top1']:.2f}% single view"
                      + (f", {metrics['multi_view']['top1']:.2f}% over {metrics['multi_view']['views']} views"
                         if "multi_view" in metrics else "") + f"; {Path(cfg.output_dir) / 'eval.json'}")
        return metrics
    finally:
        cleanup(info)


def load_eval(out_dir: str | Path) -> dict | None:
    """The ``eval.json`` of a finished standalone run, or None."""
    path = Path(out_dir) / "eval.json"
    return json.loads(path.read_text()) if path.exists() else None

