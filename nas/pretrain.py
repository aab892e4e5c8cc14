"""`nas pretrain`: train a weight-sharing supernet, a sampled architecture per step, or a 2D
image model on frames (the 2D CycleMLP that MLP-3D networks are center-initialized from).

Single process: ``nas pretrain --config nas/configs/pretrain_mlp3d_nano_cpu.yaml``.
Several processes (one per GPU, or gloo on CPU): ``torchrun --nproc_per_node N -m nas.cli
pretrain --config ...``; every rank samples the same architecture each step (a function of
the seed and step) and takes its slice of the same global batch.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import NamedTuple

import torch

from search_spaces import shorten
from search_spaces.errors import DataError, VidnasInputError
from supernet.registry import build_model
from supernet.training.checkpoint import check_weights
from supernet.training.distributed import barrier, cleanup, init_distributed, resolve_device
from supernet.training.loop import FunctionHooks, RunPlace, TrainData, Trainer, TrainResult
from supernet.training.sampler import ArchSampler, RankSlices

from .config import RunConfig, prepare_output_dir
from .costs.unit_table import extreme_archs, load_or_build_cost_table
from .data import ClipSampler, build_loader
from .data.augment import batch_mixer
from .evaluate import VAL_ARCHS, eval_curve, evaluate_model, resolve_eval_schedule
from .fewshot import check_fewshot_run, open_manifest, part_dir, part_train_config, write_manifest
from .initialise import check_init_from, initialise
from .log import get_logger
from .runfolder import check_run_folder, start_instead_of_resume
from .utils import atomic_write_json, plain_json
from .validate import check_checkpoint, check_data, check_device, check_finite, check_repeat, check_run_options

LOG = get_logger()


class CheckedRun(NamedTuple):
    """What `check_run` loaded, handed on so that nothing is read twice."""

    datasets: dict                       # split -> dataset
    init_weights: dict | None            # a standalone run's init_from weights (`check_init_from`)


def check_run(cfg, command: str, model, resume: bool, evaluates: bool, kind: str | None = None) -> CheckedRun:
    """Everything `nas pretrain` / `nas train` (`command`) reads, before any output: config
    numbers, device, warmup_arch, init_from / the run options, data lists (val_list when the
    run `evaluates`), the resumed checkpoint, and the output folder (of `kind`, default the
    command's; a few-shot pretrain folder is kind "fewshot"). Returns the datasets and the
    starting weights it loaded (`CheckedRun`)."""
    for section in ("optim", "train"):
        for key, value in vars(getattr(cfg, section)).items():
            check_finite(f"{section}.{key}", value)
    for key, value in cfg.options.items():
        check_finite(f"options.{key}", value)
    training_only = cfg.run_options("train")
    if command == "pretrain" and training_only:
        key = training_only[0][0]
        raise VidnasInputError(f"options.{key} applies to standalone training (nas train), not to supernet pretraining")
    check_device(cfg.train.device, "train.device")
    check_repeat(cfg)
    space = getattr(model, "space", None)
    if cfg.train.warmup_arch is not None and command == "pretrain":   # standalone runs ignore it
        if space is None:
            raise VidnasInputError(f"train.warmup_arch {shorten(cfg.train.warmup_arch)}: "
                                   f"{cfg.model.name} has no search space")
        try:
            space.parse(cfg.train.warmup_arch)
        except ValueError as e:
            raise VidnasInputError(f"train.warmup_arch: {e}") from None
    init_weights = check_init_from(cfg, standalone=command == "train")
    check_run_options(cfg)
    images = space is None and not cfg.is_video
    splits = ("train", "val") if evaluates else ("train",)
    why = {"val": f"pretraining validates on it every {cfg.train.eval_every} epoch(s) (train.eval_every): "
                  "set data.val_list, or train.eval_every=0 for no validation"} if command == "pretrain" else {}
    datasets = check_data(cfg.data, splits, readable=("val",) if evaluates else (), images=images, why=why)
    check_run_folder(cfg.output_dir, kind or command, "output_dir")
    if resume:
        last = Path(cfg.output_dir) / "checkpoints" / "last.pt"
        if last.is_file():
            ckpt = check_checkpoint(last, "resume checkpoint", weights=False)
            if plain_json(ckpt["model_spec"]) != plain_json(model.spec):
                raise VidnasInputError(f"resume checkpoint {shorten(str(last), quote=False)} holds "
                                       f"{ckpt['model_spec'].get('name')!r} with another spec than the "
                                       f"config's {cfg.model.name!r}; use the same config")
            check_weights(model.spec, ckpt["model"], f"resume checkpoint {shorten(str(last), quote=False)}")
    return CheckedRun(datasets, None if resume else init_weights)


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
        raise DataError(f"the training set has {len(dataset)} clips, fewer than one batch of "
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


def build_sampler(cfg: RunConfig, model, space=None) -> ArchSampler:
    """The run's `ArchSampler` over `space` (default: the model's; a few-shot part passes its
    restricted space); for ``sandwich`` the largest and smallest architectures by GFLOPs of
    that space (`extreme_archs`)."""
    space = space or model.space
    bounds = {}
    if cfg.train.sampler == "sandwich":
        largest, smallest = extreme_archs(load_or_build_cost_table(model, cfg.input_size), space)
        bounds = {"largest": largest, "smallest": smallest}
    return ArchSampler(space, cfg.train.sampler, cfg.train.seed, cfg.train.warmup_arch,
                       cfg.train.warmup_arch_steps, sandwich_random=cfg.train.sandwich_random, **bounds)


def run_trainer(model, cfg: RunConfig, data: TrainData, place: RunPlace, *, resume: bool, progress: bool,
                train_cfg=None, sampler: ArchSampler | None = None, evaluate=None, before_step=None,
                label: str | None = None) -> TrainResult:
    """Train `model` with `cfg`'s optimizer, training section (or `train_cfg`) and batch mixing
    (``data.augment``), plus the run's `evaluate` / `before_step` hooks (`Trainer`)."""
    rank = place.dist_info.rank
    hooks = FunctionHooks(transform_batch=batch_mixer(cfg.data.augment, cfg.data.num_classes, cfg.train.seed, rank),
                          evaluate=evaluate, before_step=before_step)
    trainer = Trainer(model, train_cfg=cfg.train if train_cfg is None else train_cfg, optim_cfg=cfg.optim,
                      data=data, place=place, arch_sampler=sampler, hooks=hooks, progress=progress, label=label)
    return trainer.fit(resume)


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
            raise VidnasInputError(f"model {cfg.model.name!r} has no search space; pretraining needs a "
                                   "supernet or a 2D image model")
        return _pretrain_image_model(cfg, model, resume, progress)
    if cfg.few_shot.split_units:
        return _pretrain_fewshot(cfg, model, resume, progress)
    resume = resume and not start_instead_of_resume(cfg.output_dir, "pretrain")
    resolve_eval_schedule(cfg, "pretrain")
    datasets = check_run(cfg, "pretrain", model, resume, evaluates=bool(cfg.train.eval_every)).datasets  # before any output
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
        place = RunPlace(Path(cfg.output_dir), "supernet", cfg.to_dict(), device, info, final_name="supernet.pt")
        result = run_trainer(model, cfg, TrainData(make_loader, steps), place, resume=resume, progress=progress,
                             sampler=sampler,
                             evaluate=eval_curve(cfg, steps, device, info.is_main, space=model.space))
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
        raise VidnasInputError(f"{cfg.model.name} is a 2D image model trained from scratch; it takes no "
                               "arch, init_from or options")
    resume = resume and not start_instead_of_resume(cfg.output_dir, "pretrain")
    datasets = check_run(cfg, "pretrain", model, resume, evaluates=True).datasets     # before any output
    train_set, val_set = datasets["train"], datasets["val"]
    device, info = setup_run(cfg, resume)
    try:
        make_loader, steps = make_loader_factory(cfg, train_set, info.rank, info.world)
        if info.is_main:
            LOG.info(f"pretraining {cfg.model.name} (2D image model) on frames of {cfg.data.dataset}: "
                  f"{len(train_set)} images, {steps} steps/epoch x {cfg.train.epochs} epochs on {device}")
        place = RunPlace(Path(cfg.output_dir), "image", cfg.to_dict(), device, info, final_name="model.pt")
        result = run_trainer(model, cfg, TrainData(make_loader, steps), place, resume=resume, progress=progress)
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


def _pretrain_fewshot(cfg, model, resume: bool, progress: bool = True) -> TrainResult:
    """Few-shot pretraining (`nas.fewshot`): fine-tune one sub-supernet per part of the split,
    each from the one-shot weights; returns the last part's `TrainResult`."""
    resume = resume and not start_instead_of_resume(cfg.output_dir, "fewshot")
    one_shot, split = check_fewshot_run(cfg, model)
    train_set = check_run(cfg, "pretrain", model, resume, evaluates=False, kind="fewshot").datasets["train"]
    out = Path(cfg.output_dir)
    device, info = setup_run(cfg, resume, kind="fewshot")
    try:
        make_loader, per_epoch = make_loader_factory(cfg, train_set, info.rank, info.world)
        manifest = open_manifest(out, cfg, one_shot, split, resume, info.is_main)
        sub_cfg = dataclasses.replace(cfg, train=part_train_config(cfg.train, cfg.few_shot.steps, per_epoch))
        if info.is_main:
            LOG.info(f"few-shot pretraining {cfg.model.name}: {split.num_parts} sub-supernets split on "
                     f"unit(s) 0..{split.units - 1}{f' ({split.field})' if split.field else ''}, "
                     f"{cfg.few_shot.steps} steps each, from {cfg.few_shot.init_from} "
                     f"(one-shot: {one_shot['step']} steps); sampler {cfg.train.sampler}")
        result = None
        for p, entry in enumerate(manifest["parts"]):
            where = part_dir(out, p)
            if entry["done"] and (where / "supernet.pt").is_file():
                continue
            part_resume = resume and (where / "checkpoints" / "last.pt").is_file()
            if not part_resume:
                model.load_state_dict(one_shot["model"])
            sampler = build_sampler(sub_cfg, model, split.part_space(p))
            LOG.info(f"sub-supernet {p + 1}/{split.num_parts} ({split.label(p)}): "
                     f"{split.part_space(p).size():.3g} architectures"
                     f"{'; resumed' if part_resume else ''}")
            cpu, wall = time.process_time(), time.perf_counter()
            place = RunPlace(where, "supernet", cfg.to_dict(), device, info, final_name="supernet.pt")
            result = run_trainer(model, cfg, TrainData(make_loader, per_epoch), place, resume=part_resume,
                                 progress=progress, train_cfg=sub_cfg.train, sampler=sampler)
            entry.update(done=True, steps=result.step, paths_per_step=sampler.paths_per_step,
                         cpu_seconds=round(entry.get("cpu_seconds", 0.0) + time.process_time() - cpu, 3),
                         wall_seconds=round(entry.get("wall_seconds", 0.0) + time.perf_counter() - wall, 3),
                         resumed=bool(part_resume or entry.get("resumed")))
            if info.is_main:
                write_manifest(out, manifest)
        if info.is_main:
            c = manifest["compute"]
            LOG.info(f"done: {split.num_parts} sub-supernets in {out}; fine-tuning {c['few_shot_steps']} steps "
                     f"({c['few_shot_cpu_seconds']:.0f} CPU-s) after the one-shot supernet's {c['one_shot_steps']} steps")
        return result
    finally:
        cleanup(info)
