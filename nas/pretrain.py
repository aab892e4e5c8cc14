"""`nas pretrain`: train a weight-sharing supernet, a sampled architecture per step.

Single process: ``nas pretrain --config experiments/configs/pretrain_mlp3d_nano_cpu.yaml``.
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
from .data import ClipSampler, build_dataset, build_loader


def make_loader_factory(cfg: RunConfig, dataset, rank: int, world: int, shuffle: bool = True):
    """`make_loader(epoch, start_batch)` for the training loop, and the steps per epoch.

    The epoch's order and augmentation seeds come from the data layer (`ClipSampler`, a pure
    function of seed and epoch); `RankSlices` gives this process its part of every global
    batch, so 1 process with batch B and N processes with B/N train on the same clips.
    """
    def sampler() -> RankSlices:
        return RankSlices(ClipSampler(len(dataset), shuffle, cfg.train.seed), cfg.train.batch_size, rank, world)

    def make_loader(epoch: int, start_batch: int):
        return build_loader(dataset, cfg.train.batch_size // world, sampler=sampler(), epoch=epoch,
                            start_batch=start_batch, seed=cfg.train.seed,
                            num_workers=cfg.train.num_workers, drop_last=True)

    steps = sampler().batches_per_epoch()
    if steps < 1:
        raise ValueError(f"the training set has {len(dataset)} clips, fewer than one batch of "
                         f"{cfg.train.batch_size}")
    return make_loader, steps


def setup_run(cfg: RunConfig, resume: bool):
    """Device, process group, threads and output dir (rank 0 writes the resolved config)."""
    device = resolve_device(cfg.train.device)
    info = init_distributed(device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if info.is_main:
        prepare_output_dir(cfg, resume)
    barrier(info)
    return device, info


def run_pretrain(cfg: RunConfig, resume: bool = False) -> TrainResult:
    """Pretrain the supernet of `cfg.model` on `cfg.data`; returns the final step and checkpoint."""
    torch.manual_seed(cfg.train.seed)                 # the initial weights depend on the seed only
    model = build_model(cfg.model.name, cfg.input_size, cfg.data.num_classes, **cfg.model.kwargs)
    if getattr(model, "space", None) is None:
        raise ValueError(f"model {cfg.model.name!r} has no search space; pretraining needs a supernet")
    train_set = build_dataset(cfg.data, "train")          # bad data paths fail before any output
    device, info = setup_run(cfg, resume)
    try:
        make_loader, steps = make_loader_factory(cfg, train_set, info.rank, info.world)
        sampler = ArchSampler(model.space, cfg.train.sampler, cfg.train.seed, cfg.train.warmup_arch,
                               cfg.train.warmup_arch_steps)
        if info.is_main:
            print(f"pretraining {cfg.model.name} supernet ({model.space.num_units} units, "
                  f"{model.space.size():.3g} architectures) on {cfg.data.dataset}: "
                  f"{len(train_set)} clips, {steps} steps/epoch x {cfg.train.epochs} epochs, "
                  f"sampler {cfg.train.sampler}, {info.world} process(es) on {device}")
        result = train(model, train_cfg=cfg.train, optim_cfg=cfg.optim, make_loader=make_loader,
                       steps_per_epoch=steps, out_dir=cfg.output_dir, kind="supernet",
                       config=cfg.to_dict(), device=device, dist_info=info, arch_sampler=sampler,
                       resume=resume, final_name="supernet.pt")
        if info.is_main:
            print(f"done: step {result.step}; checkpoint {result.checkpoint}; metrics "
                  f"{Path(cfg.output_dir) / 'metrics.csv'}; config {Path(cfg.output_dir) / 'config.yaml'}")
        return result
    finally:
        cleanup(info)
