"""The training loop: supernet pretraining (a sampled architecture per step) and standalone
training share it.

Per optimizer step: pick the architecture(s) (`ArchSampler` for a supernet, an optional
`step_arch(step)` hook otherwise), forward with optional bf16 autocast on CUDA, label-smoothed
cross-entropy, backward (gradients accumulated over FairNAS paths), gradient clipping, AdamW,
warmup + cosine learning rate. Metrics rows go to ``metrics.csv``; checkpoints are written
atomically every `checkpoint_every` steps and at the end, holding everything a resumed run
needs to continue bit-identically (weights, optimizer, scheduler, RNG, step). Data order is a
pure function of (seed, epoch), supplied by the caller's `make_loader(epoch, start_batch)`.
"""
from __future__ import annotations

import csv
import errno
import math
import os
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.errors import DataError, InputFileError

from ..utils.io import NoSpaceLeft
from ..utils.progress import progress as progress_bar
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import OptimConfig, TrainConfig
from .distributed import DistInfo, all_reduce_sum, barrier
from .ema import ModelEma
from .gpu import OOM_ERRORS, _is_compile_error, compile_or_eager, oom_report
from .sampler import ArchSampler

METRIC_FIELDS = ["step", "epoch", "loss", "acc", "lr", "clips_per_s", "skipped", "arch"]


def build_optimizer(model: nn.Module, cfg: OptimConfig, batch_size: int) -> torch.optim.AdamW:
    """AdamW; biases and norm weights (1-D parameters) get no weight decay, as in DeiT/CycleMLP;
    parameters matched by `cfg.lr_mults` get their learning-rate multiplier (e.g. MLP-3D's
    time-mixing weights, which center initialization starts at zero)."""
    groups: dict[tuple[bool, float], list] = {}
    for name, p in sorted(model.named_parameters()):
        if p.requires_grad:
            groups.setdefault((p.ndim > 1, cfg.lr_mult(name)), []).append(p)
    lr = cfg.scaled_lr(batch_size)
    ordered = sorted(groups.items(), key=lambda kv: (not kv[0][0], kv[0][1]))    # decay groups first
    return torch.optim.AdamW([{"params": ps, "weight_decay": cfg.weight_decay if decay else 0.0,
                               "lr": lr * mult} for (decay, mult), ps in ordered],
                             lr=lr, betas=tuple(cfg.betas))


def warmup_cosine(total_steps: int, warmup_steps: int, min_ratio: float) -> Callable[[int], float]:
    """lr factor: linear warmup to 1, then cosine decay to `min_ratio` at `total_steps`."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(total_steps - warmup_steps, 1)
        progress = min((step - warmup_steps) / span, 1.0)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `train`: where the run stopped and its last checkpoint (written
    atomically, so it is whole; None when none was written yet)."""

    def __init__(self, step: int, total: int, checkpoint: Path | None, checkpoint_step: int | None):
        super().__init__(step)
        self.step, self.total, self.checkpoint, self.checkpoint_step = step, total, checkpoint, checkpoint_step

    def where(self) -> str:
        saved = (f"its last checkpoint, step {self.checkpoint_step} ({self.checkpoint}), is safe"
                 if self.checkpoint is not None else "no checkpoint was written yet")
        return f"stopped at step {self.step} of {self.total}; {saved}"


@dataclass
class TrainResult:
    step: int
    epoch: int
    checkpoint: Path
    last_epoch: dict = field(default_factory=dict)


class MetricsLog:
    """Append-only CSV of per-step metrics; on resume rows after the checkpoint are dropped.
    With `tensorboard`, the curves (train loss, acc, lr; evaluation results such as val
    top-1) also go to ``tensorboard/`` next to the CSV; a resumed run purges the events
    after its checkpoint step, as the CSV drops its rows."""

    def __init__(self, path: Path, resume_step: int | None, enabled: bool, tensorboard: bool = False):
        self.path, self.enabled = path, enabled
        self.board = None
        if not enabled:
            return
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self.board = SummaryWriter(str(path.parent / "tensorboard"),
                                       purge_step=None if resume_step is None else resume_step + 1)
        rows = []
        if resume_step is not None and path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, METRIC_FIELDS)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, path)
        self._file = open(path, "a", newline="")
        self._writer = csv.DictWriter(self._file, METRIC_FIELDS)

    def write(self, row: dict) -> None:
        if self.enabled:
            try:
                self._writer.writerow(row)
                self._file.flush()
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise NoSpaceLeft(e.errno, f"no space left on {self.path.parent} (writing {self.path.name}); "
                                               "the last checkpoint is intact: free space, then rerun with --resume") from None
                raise
            self.scalars({f"train/{k}": row[k] for k in ("loss", "acc", "lr")}, int(row["step"]))

    def scalars(self, values: dict, step: int) -> None:
        """Numbers to TensorBoard (when on), e.g. ``{"eval/val_top1": 41.2}`` at `step`."""
        if self.board is not None:
            for name, value in values.items():
                if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                    self.board.add_scalar(name, float(value), step)
            self.board.flush()

    def close(self) -> None:
        if self.enabled:
            self._file.close()
            if self.board is not None:
                self.board.close()


def _forward_loss(model, clips, labels, smoothing, amp, teacher: torch.Tensor | None = None):
    """Loss and accuracy of one path: label-smoothed cross-entropy, or with `teacher`
    (probabilities, detached) the soft cross-entropy of in-place distillation (BigNAS),
    which has the gradients of KL(teacher || student).

    `labels` are class indices ``(B,)`` or, after mixup / cutmix, probabilities ``(B, K)``:
    torch's cross-entropy smooths those as ``(1 - eps) * p + eps / K``, the same target as
    timm's mixing of label-smoothed one-hots; accuracy then counts the larger share's class."""
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if amp else nullcontext()
    with ctx:
        logits = model(clips)
    logits = logits.float()
    if teacher is None:
        loss = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    else:
        loss = -(teacher * F.log_softmax(logits, dim=1)).sum(1).mean()
    hard = labels.argmax(1) if labels.dim() == 2 else labels
    return loss, (logits.argmax(1) == hard).float().mean(), logits


def _skip_batch(step: int, scheduler) -> int:
    """A batch without one readable clip: no forward, no optimizer update, but the step (the
    batch position that resume maps back to (epoch, batch)) and the schedule advance, so a
    resumed run stays exact and the learning rate follows the data position."""
    with warnings.catch_warnings():                # "scheduler.step() before optimizer.step()"
        warnings.simplefilter("ignore", UserWarning)
        scheduler.step()
    return step + 1


def train(model: nn.Module, *, train_cfg: TrainConfig, optim_cfg: OptimConfig,
          make_loader: Callable[[int, int], Iterable], steps_per_epoch: int, out_dir: str | Path,
          kind: str, config: dict, device: torch.device, dist_info: DistInfo | None = None,
          arch_sampler: ArchSampler | None = None,
          before_step: Callable[[int], None] | None = None, resume: bool = False,
          evaluate: Callable[[nn.Module, int], dict] | None = None,
          final_name: str | None = None, progress: bool = True, label: str | None = None,
          batch_transform: Callable | None = None) -> TrainResult:
    """Train `model` (a supernet when `arch_sampler` is given) and return where it ended.

    `make_loader(epoch, start_batch)` yields ``(clips, labels, skipped)`` for this process;
    `before_step(step)` runs before each step (e.g. random-GTM regularization). `label` names
    the run in its per-epoch lines (standalone training: the architecture). Progress is a bar
    on a terminal and plain lines otherwise (`supernet.utils.progress`);
    `batch_transform(clips, labels, step)` -> ``(clips, targets)`` runs on the device batch
    (mixup / cutmix, `nas.data.augment.batch_mixer`; its draws must depend on the step only).

    ``train_cfg.ema.enabled``: an EMA of the weights (`ModelEma`) is updated after every
    optimizer step and saved in ``last.pt``; the `evaluate` hook gets the EMA network, and at
    the end `model` holds the EMA weights, which are what ``final_name`` stores (``last.pt``
    keeps the raw weights and the EMA for resuming). ``train_cfg.compile``: the forward runs
    through `torch.compile` (`compile_or_eager`: one warning and eager where it cannot). A
    CUDA out-of-memory error becomes `OutOfMemory` (what to lower, where the traceback is).
    """
    info = dist_info or DistInfo()
    out = Path(out_dir)
    ckpt_path = out / "checkpoints" / "last.pt"
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    net = model.to(device)
    ddp = None
    if info.enabled:
        ddp = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=arch_sampler is not None)
    runner = ddp or net
    if getattr(train_cfg, "compile", False):
        runner = compile_or_eager(runner)
    ema_cfg = getattr(train_cfg, "ema", None)
    ema = ModelEma(net, ema_cfg.decay) if ema_cfg is not None and ema_cfg.enabled else None
    optimizer = build_optimizer(net, optim_cfg, train_cfg.batch_size)
    total = train_cfg.epochs * steps_per_epoch
    warmup = int(round(optim_cfg.warmup_epochs * steps_per_epoch))
    min_ratio = optim_cfg.min_lr / optim_cfg.scaled_lr(train_cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, warmup, min_ratio))
    stop = min(total, train_cfg.max_steps or total)
    amp = train_cfg.amp and device.type == "cuda"

    step = 0
    saved = [None]                     # the step of the last checkpoint written (or resumed from)
    if resume:
        ckpt = load_checkpoint(ckpt_path, map_location=device)
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        step = ckpt["step"]
        saved[0] = step
        if ema is not None:
            if "ema" not in ckpt:
                raise InputFileError(f"train.ema is on but the resume checkpoint {ckpt_path} has no EMA "
                                     "(it was written with train.ema off)")
            ema.load_state_dict(ckpt["ema"])
    else:
        torch.manual_seed(train_cfg.seed)

    def checkpoint(path=ckpt_path):
        if info.is_main:
            save_checkpoint(path, model=net, kind=kind, step=step, epoch=step // steps_per_epoch,
                            optimizer=optimizer, scheduler=scheduler,
                            sampler_state=arch_sampler.state_dict() if arch_sampler else None,
                            config=config, extra={"ema": ema.state_dict()} if ema is not None else None)
        barrier(info)
        if path == ckpt_path:
            saved[0] = step

    log = MetricsLog(out / "metrics.csv", step if resume else None, info.is_main,
                     tensorboard=getattr(train_cfg, "tensorboard", False))
    bar = progress_bar(total=stop, initial=step, disable=not (info.is_main and progress),
                       desc=f"{kind} training", unit="step")
    last_epoch: dict = {}
    last_good = None
    shape = None
    net.train()

    def run_paths(clips, labels, archs, distill, weight):
        loss_sum = acc_sum = 0.0
        teacher = None
        for k, arch in enumerate(archs):
            if arch is not None:
                net.set_arch(arch)
            sync = ddp.no_sync() if ddp is not None and k < len(archs) - 1 else nullcontext()
            with sync:
                loss, acc, logits = _forward_loss(runner, clips, labels, optim_cfg.label_smoothing,
                                                  amp, teacher)
                (loss * weight / len(archs)).backward()
            if distill and k == 0:          # sandwich: the largest path teaches the rest
                teacher = logits.detach().softmax(dim=1)
            loss_sum += loss.item()
            acc_sum += acc.item()
        return loss_sum, acc_sum

    try:
        while step < stop:
            epoch, start_batch = divmod(step, steps_per_epoch)
            sums = [0.0, 0.0, 0.0, 0.0, 0.0]   # loss*n, correct, clips, skipped clips, empty batches
            for clips, labels, skipped in make_loader(epoch, start_batch):
                weight, good = 1.0, labels.numel()
                if info.enabled:                # every rank must agree to skip (collectives)
                    good = all_reduce_sum([float(good)], info, device)[0]
                if not good:                    # every clip of the batch unreadable: skip it
                    step = _skip_batch(step, scheduler)
                    sums[3] += skipped
                    sums[4] += info.is_main     # a global batch, counted once over the ranks
                    bar.update(1)
                    if step % train_cfg.checkpoint_every == 0 and step < stop:
                        checkpoint()
                    if step >= stop:
                        break
                    continue
                if labels.numel() == 0:         # DDP: only this rank's slice is empty; keep
                    if last_good is None:       # the collectives in step with a zero-weight pass
                        raise DataError(f"rank {info.rank}: the first batch of its slice had no "
                                        "readable clip; check the data with `nas data check`")
                    clips, labels, weight = *last_good, 0.0
                else:
                    last_good = (clips, labels)
                tic = time.perf_counter()
                clips, labels = clips.to(device, non_blocking=True), labels.to(device, non_blocking=True)
                shape = tuple(clips.shape)
                if batch_transform is not None:
                    clips, labels = batch_transform(clips, labels, step)
                if before_step is not None:
                    before_step(step)
                archs = arch_sampler.archs_for_step(step) if arch_sampler else [None]
                distill = arch_sampler is not None and arch_sampler.is_distilling(step)
                optimizer.zero_grad(set_to_none=True)
                try:
                    loss_sum, acc_sum = run_paths(clips, labels, archs, distill, weight)
                except Exception as e:          # a compile failure in backward: redo eagerly
                    if not (isinstance(runner, compile_or_eager) and runner.active and _is_compile_error(e)):
                        raise
                    runner._fall_back(e)
                    optimizer.zero_grad(set_to_none=True)
                    loss_sum, acc_sum = run_paths(clips, labels, archs, distill, weight)
                if optim_cfg.clip_grad is not None:
                    nn.utils.clip_grad_norm_(net.parameters(), optim_cfg.clip_grad)
                optimizer.step()
                scheduler.step()
                if ema is not None:
                    ema.update(net)
                step += 1
                n = labels.shape[0] if weight else 0
                loss_v, acc_v = loss_sum / len(archs), acc_sum / len(archs)
                sums = [sums[0] + loss_v * n, sums[1] + acc_v * n, sums[2] + n, sums[3] + skipped, sums[4]]
                speed = n * info.world / max(time.perf_counter() - tic, 1e-9)
                if step % train_cfg.log_every == 0 or step == stop:
                    log.write({"step": step, "epoch": epoch, "loss": f"{loss_v:.6f}", "acc": f"{acc_v:.4f}",
                               "lr": f"{scheduler.get_last_lr()[0]:.6e}", "clips_per_s": f"{speed:.1f}",
                               "skipped": skipped, "arch": str(archs[-1]) if archs[-1] is not None else ""})
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss_v:.3f}", acc=f"{acc_v:.3f}", clips_s=f"{speed:.0f}")
                if step % train_cfg.checkpoint_every == 0 and step < stop:
                    checkpoint()
                if step >= stop:
                    break
            loss_n, correct, count, skipped_n, empty_n = all_reduce_sum(sums, info, device)
            if not count and skipped_n and start_batch == 0:
                checkpoint()                    # what a run saves today, then one line
                raise DataError(f"epoch {epoch} had no readable clip: all {int(skipped_n)} clips of "
                                f"{int(empty_n)} batch(es) were missing or corrupt; check the data "
                                "with `nas data check`")
            if count:
                last_epoch = {"epoch": epoch, "loss": loss_n / count, "acc": correct / count,
                              "clips": int(count), "skipped": int(skipped_n),
                              "skipped_batches": int(empty_n)}
                if evaluate is not None and (step % steps_per_epoch == 0 or step >= stop):
                    rng = rng_state()           # a val pass draws nothing from the training streams
                    evaluated = evaluate(ema.module if ema is not None else net, step)
                    set_rng_state(rng)
                    last_epoch.update(evaluated)
                    log.scalars({f"eval/{k}": v for k, v in evaluated.items()}, step)
                    net.train()
                if info.is_main:
                    extra = "".join(f", {k} {v:.4f}" for k, v in last_epoch.items()
                                    if k not in ("epoch", "loss", "acc", "clips", "skipped", "skipped_batches"))
                    bar.write(f"epoch {epoch}{f' ({label})' if label else ''}: loss {last_epoch['loss']:.4f}, train acc "
                              f"{100 * last_epoch['acc']:.1f}%, {last_epoch['clips']} clips, "
                              f"{last_epoch['skipped']} skipped ({last_epoch['skipped_batches']} "
                              f"empty batches skipped){extra}")
        checkpoint()
        if ema is not None:                 # the run's result is the averaged network
            net.load_state_dict(ema.module.state_dict())
        if final_name:
            checkpoint(out / final_name)
    except KeyboardInterrupt:
        raise TrainingInterrupted(step, stop, ckpt_path if saved[0] is not None else None, saved[0]) from None
    except OOM_ERRORS as e:
        raise oom_report(e, out, info.rank, step, shape) from None
    finally:
        bar.close()
        log.close()
    return TrainResult(step, step // steps_per_epoch, out / (final_name or "checkpoints/last.pt"), last_epoch)
