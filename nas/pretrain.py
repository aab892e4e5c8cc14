"""`nas pretrain`: train a weight-sharing supernet, a sampled architecture per step, or a 2D
image model on frames (the 2D CycleMLP that MLP-3D networks are center-initialized from).

Single process: ``nas pretrain --config nas/configs/pretrain_mlp3d_nano_cpu.yaml``.
Several processes (one per GPU, or gloo on CPU): ``torchrun --nproc_per_node N -m nas.cli
pretrain --config ...``; every rank samples the same architecture each step (a function of
the seed and step) and takes its slice of the same global batch.
"""
from __future__ import annotations

from pathlib import Path

import torch

from supernet.registry import build_model
from supernet.training.distributed import barrier, cleanup, init_distributed, resolve_device
from supernet.training.loop import TrainResult, train
from supernet.training.sampler import ArchSampler, RankSlices

from .config import RunConfig, prepare_output_dir
from .data import ClipSampler, build_loader
from .data.augment import batch_mixer
from .evaluate import VAL_ARCHS, eval_curve, evaluate_model, resolve_eval_schedule
from .initialise import initialise
from .utils import atomic_write_json
from .log import get_logger
from .runfolder import start_instead_of_resume
from .validate import check_repeat, check_run

LOG = get_logger()


def make_loader_factory(cfg: RunConfig, dataset, rank: int, world: int, shuffle: bool = True):
    """`make_loader(epoch, start_batch)` for the training loop, and the steps per epoch.

    The epoch's order and augmentation seeds come from the data layer (`ClipSampler`, a pure
    function of seed and epoch); `RankSlices` gives this process its part of every global
    batch, so 1 process with batch B and N processes with B/N train on the same clips.
    """
    check_repeat(cfg, world)
    repeat = cfg.data.augment.repeat

    def sampler() -> RankSlices:
        return RankSlices(ClipSampler(len(dataset), shuffle, cfg.train.seed, repeat=repeat),
                          cfg.train.batch_size, rank, world)

    def make_loader(epoch: int, start_batch: int):
        return build_loader(dataset, cfg.train.batch_size // world, sampler=sampler(), epoch=epoch,
                            start_batch=start_batch, seed=cfg.train.seed,
                            num_workers=cfg.train.num_workers, drop_last=True)

    steps = sampler().batches_per_epoch()
    if steps < 1:
        raise ValueError(f"the training set has {len(dataset)} clips, fewer than one batch of "
                         f"{cfg.train.batch_size}")
    return make_loader, steps


def setup_run(cfg: RunConfig, resume: bool, kind: str = "pretrain"):
    """Device, process group, threads and output dir (rank 0 writes the resolved config).
    Call it after `nas.validate.check_run`: it is where the run's first file is written."""
    device = resolve_device(cfg.train.device)
    info = init_distributed(device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if info.is_main:
        prepare_output_dir(cfg, resume, kind)
    barrier(info)
    return device, info


def build_sampler(cfg: RunConfig, model) -> ArchSampler:
    """The run's `ArchSampler`; for ``sandwich`` the largest and smallest architectures by
    GFLOPs of the space (`extreme_archs`)."""
    bounds = {}
    if cfg.train.sampler == "sandwich":
        from .search.cost_table import build_cost_table, extreme_archs
        largest, smallest = extreme_archs(build_cost_table(model, cfg.input_size), model.space)
        bounds = {"largest": largest, "smallest": smallest}
    return ArchSampler(model.space, cfg.train.sampler, cfg.train.seed, cfg.train.warmup_arch,
                       cfg.train.warmup_arch_steps, sandwich_random=cfg.train.sandwich_random, **bounds)


def validation_plan(cfg: RunConfig, val_clips: int) -> str:
    """One phrase for the start line: when and on what the supernet is validated."""
    if not cfg.train.eval_every:
        return "no validation during pretraining (train.eval_every 0)"
    clips = min(cfg.train.eval_clips or val_clips, val_clips)
    return (f"validation every {cfg.train.eval_every} epoch(s) and at the end: {VAL_ARCHS} fixed sampled "
            f"architectures on {clips} val clips (eval_curve.csv)")


def report_chance(last_epoch: dict) -> None:
    """After pretraining: a warning when the last validation pass is within two binomial SEs
    of chance, i.e. a search on this supernet would rank noise."""
    if "val_top1" not in last_epoch or "chance" not in last_epoch:
        return
    top1, chance, se = last_epoch["val_top1"], last_epoch["chance"], last_epoch["chance_se"]
    if top1 < chance + 2 * se:
        LOG.warning(f"warning: the supernet is at chance on validation: sampled architectures score "
                    f"{top1:.1f}% top-1 against {chance:.1f}% chance (SE {se:.1f} points); a search on "
                    "it would rank noise. Train longer (train.epochs), use a warm start "
                    "(train.warmup_arch) or check the data and labels")


def run_pretrain(cfg: RunConfig, resume: bool = False, progress: bool = True) -> TrainResult:
    """Pretrain the supernet of `cfg.model` on `cfg.data` (or, for a 2D image model, train it
    on single frames); returns the final step and checkpoint."""
    torch.manual_seed(cfg.train.seed)                 # the initial weights depend on the seed only
    model = build_model(cfg.model.name, cfg.input_size, cfg.data.num_classes, **cfg.model.kwargs)
    if getattr(model, "space", None) is None:
        if cfg.is_video:
            raise ValueError(f"model {cfg.model.name!r} has no search space; pretraining needs a "
                             "supernet or a 2D image model")
        return _pretrain_image_model(cfg, model, resume, progress)
    resume = resume and not start_instead_of_resume(cfg.output_dir, "pretrain")
    resolve_eval_schedule(cfg, "pretrain")
    datasets = check_run(cfg, "pretrain", model, resume, evaluates=bool(cfg.train.eval_every))  # before any output
    train_set = datasets["train"]
    sampler = build_sampler(cfg, model)
    how = initialise(model, cfg, supernet=True) if not resume else "resumed"
    device, info = setup_run(cfg, resume)
    try:
        make_loader, steps = make_loader_factory(cfg, train_set, info.rank, info.world)
        if info.is_main:
            LOG.info(f"pretraining {cfg.model.name} supernet ({model.space.num_units} units, "
                  f"{model.space.size():.3g} architectures; {how}) on {cfg.data.dataset}: "
                  f"{len(train_set)} clips, {steps} steps/epoch x {cfg.train.epochs} epochs, "
                  f"sampler {cfg.train.sampler} ({sampler.paths_per_step} path(s)/step), "
                  f"{info.world} process(es) on {device}; " + validation_plan(cfg, len(datasets.get("val") or ())))
        result = train(model, train_cfg=cfg.train, optim_cfg=cfg.optim, make_loader=make_loader,
                       steps_per_epoch=steps, out_dir=cfg.output_dir, kind="supernet",
                       config=cfg.to_dict(), device=device, dist_info=info, arch_sampler=sampler,
                       resume=resume, final_name="supernet.pt", progress=progress,
                       evaluate=eval_curve(cfg, steps, device, info.is_main, space=model.space),
                       batch_transform=batch_mixer(cfg.data.augment, cfg.data.num_classes,
                                                   cfg.train.seed, info.rank))
        if info.is_main:
            report_chance(result.last_epoch)
            LOG.info(f"done: step {result.step}; checkpoint {result.checkpoint}; metrics "
                  f"{Path(cfg.output_dir) / 'metrics.csv'}; config {Path(cfg.output_dir) / 'config.yaml'}")
        return result
    finally:
        cleanup(info)


def _pretrain_image_model(cfg: RunConfig, model, resume: bool, progress: bool = True) -> TrainResult:
    """Train a 2D image model on frames of `cfg.data` (`FrameImages`), then evaluate it on the
    centre frames of the val split; writes ``model.pt`` (a vidnas checkpoint of kind "image",
    readable by MLP-3D's ``options.center_init_from``) and ``eval.json``."""
    if cfg.init_from or cfg.options or cfg.arch:
        raise ValueError(f"{cfg.model.name} is a 2D image model trained from scratch; it takes no "
                         "arch, init_from or options")
    resume = resume and not start_instead_of_resume(cfg.output_dir, "pretrain")
    datasets = check_run(cfg, "pretrain", model, resume, evaluates=True)     # before any output
    train_set, val_set = datasets["train"], datasets["val"]
    device, info = setup_run(cfg, resume)
    try:
        make_loader, steps = make_loader_factory(cfg, train_set, info.rank, info.world)
        if info.is_main:
            LOG.info(f"pretraining {cfg.model.name} (2D image model) on frames of {cfg.data.dataset}: "
                  f"{len(train_set)} images, {steps} steps/epoch x {cfg.train.epochs} epochs on {device}")
        result = train(model, train_cfg=cfg.train, optim_cfg=cfg.optim, make_loader=make_loader,
                       steps_per_epoch=steps, out_dir=cfg.output_dir, kind="image",
                       config=cfg.to_dict(), device=device, dist_info=info, resume=resume,
                       final_name="model.pt", progress=progress,
                       batch_transform=batch_mixer(cfg.data.augment, cfg.data.num_classes,
                                                   cfg.train.seed, info.rank))
        metrics = evaluate_model(model, build_loader(val_set, max(1, cfg.train.batch_size),
                                                     num_workers=cfg.train.num_workers), device)
        metrics.update({"step": result.step, "train": result.last_epoch})
        if info.is_main:
            atomic_write_json(Path(cfg.output_dir) / "eval.json", metrics)
            LOG.info(f"done: val top-1 {metrics['top1']:.2f}% on {metrics['clips']} centre frames; "
                  f"checkpoint {result.checkpoint}")
        return result
    finally:
        cleanup(info)
