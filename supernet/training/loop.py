"""The training loop: supernet pretraining (a sampled architecture per step) and standalone
training share it, as a `Trainer` with hooks.

Per optimizer step: pick the architecture(s) (`ArchSampler` for a supernet), the run's hooks
(`TrainHooks`: batch mixing, per-step regularization such as random GTM), forward with
optional bf16 autocast on CUDA, label-smoothed cross-entropy, backward (gradients accumulated
over FairNAS paths), gradient clipping, AdamW, warmup + cosine learning rate. Metrics rows go
to ``metrics.csv``; checkpoints are written atomically every `checkpoint_every` steps and at
the end, holding everything a resumed run needs to continue bit-identically (weights,
optimizer, scheduler, RNG, step). Data order is a pure function of (seed, epoch), supplied by
the caller's `make_loader(epoch, start_batch)` (`TrainData`); where the run writes is a
`RunPlace`. ``train(...)``, the former one-function loop, remains for one release.
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
            from torch.utils.tensorboard import SummaryWriter  # lazy: optional package, only for train.tensorboard
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


class TrainHooks:
    """What a run adds to the loop: `Trainer` calls these at fixed points. Every method is a
    no-op here; subclass and override the ones you need, or wrap plain functions in
    `FunctionHooks`.

    Within optimizer step `step`: ``transform_batch`` on the batch once it is on the device,
    then ``before_step``, then the forward and backward pass(es). At the end of an epoch that
    trained on at least one clip: ``evaluate`` (at an epoch boundary or the run's last step),
    the epoch's line, then ``on_epoch_end``. Every process calls them (DDP).

    A resumed run stays bit-identical only if the hooks draw no random numbers from torch's
    global generator (draw from a generator seeded by the step instead), except in
    ``evaluate``: the trainer restores the RNG state after it.
    """

    def transform_batch(self, clips: torch.Tensor, labels: torch.Tensor, step: int):
        """The device batch -> ``(clips, targets)``, e.g. mixup / cutmix; targets are class
        indices ``(B,)`` or probabilities ``(B, K)``."""
        return clips, labels

    def before_step(self, step: int) -> None:
        """Before the forward pass of step `step` (e.g. random-GTM regularization)."""

    def evaluate(self, model: nn.Module, step: int) -> dict | None:
        """Validate `model` (the EMA network when ``train.ema`` is on) after `step` steps. The
        returned numbers join the epoch's summary (`TrainResult.last_epoch`), its line and
        TensorBoard, and the trainer puts the network back in training mode; None: nothing
        was evaluated (and the network is left as it was)."""
        return None

    def on_epoch_end(self, epoch: int, summary: dict) -> None:
        """After the epoch's line; `summary` is what `TrainResult.last_epoch` holds now."""


class FunctionHooks(TrainHooks):
    """`TrainHooks` made of plain functions, each optional: ``before_step(step)``,
    ``transform_batch(clips, labels, step)`` and ``evaluate(model, step) -> dict``."""

    def __init__(self, *, before_step: Callable[[int], None] | None = None,
                 transform_batch: Callable | None = None,
                 evaluate: Callable[[nn.Module, int], dict] | None = None):
        self._before_step, self._transform_batch, self._evaluate = before_step, transform_batch, evaluate

    def transform_batch(self, clips, labels, step):
        if self._transform_batch is None:
            return clips, labels
        return self._transform_batch(clips, labels, step)

    def before_step(self, step):
        if self._before_step is not None:
            self._before_step(step)

    def evaluate(self, model, step):
        return None if self._evaluate is None else self._evaluate(model, step)


@dataclass
class TrainData:
    """What the trainer reads: `make_loader(epoch, start_batch)` yields ``(clips, labels,
    skipped)`` for this process, from batch `start_batch` of `epoch` on (the order a pure
    function of seed and epoch, so a resumed run sees the same batches); `steps_per_epoch`
    batches make an epoch."""

    make_loader: Callable[[int, int], Iterable]
    steps_per_epoch: int


@dataclass
class RunPlace:
    """Where a run happens and what it writes: `out_dir` gets ``metrics.csv``,
    ``checkpoints/last.pt`` and, at the end, `final_name` (when set); every checkpoint holds
    `kind` and the run's `config`; the network trains on `device`, in the process group of
    `dist_info` (one process by default)."""

    out_dir: Path
    kind: str
    config: dict
    device: torch.device
    dist_info: DistInfo = field(default_factory=DistInfo)
    final_name: str | None = None

    def __post_init__(self):
        self.out_dir = Path(self.out_dir)


class Trainer:
    """Trains `model`, a supernet when `arch_sampler` is given, and returns where it ended
    (`fit`).

    The sampler is a constructor argument, not a hook: it decides what the network is (DDP
    must look for unused parameters), how many forward/backward passes a step makes (and
    which of them synchronise gradients), whether the first teaches the others, and it is
    saved in every checkpoint. `hooks` (`TrainHooks`) add the run's extras: batch mixing,
    per-step regularization, validation. `label` names the run in its epoch lines
    (standalone training: the architecture); progress is a bar on a terminal and plain lines
    otherwise (`supernet.utils.progress`).

    ``train_cfg.ema.enabled``: an EMA of the weights (`ModelEma`) is updated after every
    optimizer step and saved in ``last.pt``; ``evaluate`` gets the EMA network, and at the end
    `model` holds the EMA weights, which are what ``final_name`` stores (``last.pt`` keeps the
    raw weights and the EMA for resuming). ``train_cfg.compile``: the forward runs through
    `torch.compile` (`compile_or_eager`: one warning and eager where it cannot). A CUDA
    out-of-memory error becomes `OutOfMemory` (what to lower, where the traceback is); Ctrl-C
    becomes `TrainingInterrupted`.

    The pieces of the loop are methods: `load_state` (resume), `run_epoch`, `train_step` /
    `optimizer_step` / `forward_backward` (one step), `skip_batch`, `end_epoch` (totals,
    `evaluate`, the epoch line), `write_checkpoint`, `finish`. A trainer runs `fit` once.
    """

    def __init__(self, model: nn.Module, *, train_cfg: TrainConfig, optim_cfg: OptimConfig,
                 data: TrainData, place: RunPlace, arch_sampler: ArchSampler | None = None,
                 hooks: TrainHooks | None = None, progress: bool = True, label: str | None = None):
        self.train_cfg, self.optim_cfg, self.data, self.place = train_cfg, optim_cfg, data, place
        self.arch_sampler = arch_sampler
        self.hooks = hooks if hooks is not None else TrainHooks()
        self.progress, self.label = progress, label
        self.info = info = place.dist_info
        self.ckpt_path = place.out_dir / "checkpoints" / "last.pt"
        if info.is_main:
            place.out_dir.mkdir(parents=True, exist_ok=True)
        self.net = net = model.to(place.device)
        self.ddp = None
        if info.enabled:
            self.ddp = nn.parallel.DistributedDataParallel(
                net, device_ids=[place.device.index] if place.device.type == "cuda" else None,
                find_unused_parameters=arch_sampler is not None)
        runner = self.ddp or net
        if getattr(train_cfg, "compile", False):
            runner = compile_or_eager(runner)
        self.runner = runner
        ema_cfg = getattr(train_cfg, "ema", None)
        self.ema = ModelEma(net, ema_cfg.decay) if ema_cfg is not None and ema_cfg.enabled else None
        self.optimizer = build_optimizer(net, optim_cfg, train_cfg.batch_size)
        steps = data.steps_per_epoch
        self.total = train_cfg.epochs * steps
        warmup = int(round(optim_cfg.warmup_epochs * steps))
        min_ratio = optim_cfg.min_lr / optim_cfg.scaled_lr(train_cfg.batch_size)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                           warmup_cosine(self.total, warmup, min_ratio))
        self.stop = min(self.total, train_cfg.max_steps or self.total)
        self.amp = train_cfg.amp and place.device.type == "cuda"
        self.step = 0                        # optimizer steps (and skipped batches) done
        self.saved_step: int | None = None   # the step of the last checkpoint written (or resumed from)
        self.last_epoch: dict = {}
        self.last_good = None                # this rank's last batch with a readable clip (DDP)
        self.shape = None                    # of the last device batch (out-of-memory report)
        self.log: MetricsLog | None = None
        self.bar = None

    # ---- the run -------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        """Train from scratch (the seed's RNG) or, with `resume`, from ``checkpoints/last.pt``
        up to ``train.max_steps`` or the end of the schedule; then `finish`."""
        if resume:
            self.load_state()
        else:
            torch.manual_seed(self.train_cfg.seed)
        info = self.info
        self.log = MetricsLog(self.place.out_dir / "metrics.csv", self.step if resume else None, info.is_main,
                              tensorboard=getattr(self.train_cfg, "tensorboard", False))
        self.bar = progress_bar(total=self.stop, initial=self.step, disable=not (info.is_main and self.progress),
                                desc=f"{self.place.kind} training", unit="step")
        self.net.train()
        try:
            while self.step < self.stop:
                self.run_epoch()
            self.finish()
        except KeyboardInterrupt:
            raise TrainingInterrupted(self.step, self.stop, self.ckpt_path if self.saved_step is not None else None,
                                      self.saved_step) from None
        except OOM_ERRORS as e:
            raise oom_report(e, self.place.out_dir, info.rank, self.step, self.shape) from None
        finally:
            self.bar.close()
            self.log.close()
        final = self.place.out_dir / (self.place.final_name or "checkpoints/last.pt")
        return TrainResult(self.step, self.step // self.data.steps_per_epoch, final, self.last_epoch)

    def load_state(self) -> None:
        """Resume: weights, optimizer, schedule, RNG, step (and the EMA) from ``last.pt``."""
        ckpt = load_checkpoint(self.ckpt_path, map_location=self.place.device)
        self.net.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        self.step = self.saved_step = ckpt["step"]
        if self.ema is not None:
            if "ema" not in ckpt:
                raise InputFileError(f"train.ema is on but the resume checkpoint {self.ckpt_path} has no EMA "
                                     "(it was written with train.ema off)")
            self.ema.load_state_dict(ckpt["ema"])

    def run_epoch(self) -> None:
        """The batches of the current step's epoch from its batch on, a checkpoint every
        ``train.checkpoint_every`` steps (not at the last), then `end_epoch`."""
        epoch, start_batch = divmod(self.step, self.data.steps_per_epoch)
        sums = [0.0, 0.0, 0.0, 0.0, 0.0]       # loss*n, correct, clips, skipped clips, empty batches
        for clips, labels, skipped in self.data.make_loader(epoch, start_batch):
            good = labels.numel()
            if self.info.enabled:               # every rank must agree to skip (collectives)
                good = all_reduce_sum([float(good)], self.info, self.place.device)[0]
            if good:
                self.train_step(clips, labels, skipped, epoch, sums)
            else:                               # every clip of the batch unreadable: skip it
                self.skip_batch(skipped, sums)
            if self.step % self.train_cfg.checkpoint_every == 0 and self.step < self.stop:
                self.write_checkpoint()
            if self.step >= self.stop:
                break
        self.end_epoch(epoch, start_batch, sums)

    # ---- one batch -----------------------------------------------------------------------
    def skip_batch(self, skipped: int, sums: list) -> None:
        """A batch without one readable clip (on any rank): no forward, no optimizer update,
        but the step (the batch position that resume maps back to (epoch, batch)) and the
        schedule advance, so a resumed run stays exact and the learning rate follows the data
        position."""
        with warnings.catch_warnings():        # "scheduler.step() before optimizer.step()"
            warnings.simplefilter("ignore", UserWarning)
            self.scheduler.step()
        self.step += 1
        sums[3] += skipped
        sums[4] += self.info.is_main            # a global batch, counted once over the ranks
        self.bar.update(1)

    def train_step(self, clips, labels, skipped: int, epoch: int, sums: list) -> None:
        """One optimizer step on a batch: to the device, the hooks, the architecture(s) of
        the step, `optimizer_step`; then the metrics row and the progress line."""
        weight = 1.0
        if labels.numel() == 0:                 # DDP: only this rank's slice is empty; keep
            if self.last_good is None:          # the collectives in step with a zero-weight pass
                raise DataError(f"rank {self.info.rank}: the first batch of its slice had no "
                                "readable clip; check the data with `nas data check`")
            clips, labels, weight = *self.last_good, 0.0
        else:
            self.last_good = (clips, labels)
        tic = time.perf_counter()
        device = self.place.device
        clips, labels = clips.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        self.shape = tuple(clips.shape)
        step, sampler = self.step, self.arch_sampler
        clips, labels = self.hooks.transform_batch(clips, labels, step)
        self.hooks.before_step(step)
        archs = sampler.archs_for_step(step) if sampler else [None]
        distill = sampler is not None and sampler.is_distilling(step)
        loss_sum, acc_sum = self.optimizer_step(clips, labels, archs, distill, weight)
        self.step += 1
        n = labels.shape[0] if weight else 0
        loss_v, acc_v = loss_sum / len(archs), acc_sum / len(archs)
        sums[0] += loss_v * n
        sums[1] += acc_v * n
        sums[2] += n
        sums[3] += skipped
        speed = n * self.info.world / max(time.perf_counter() - tic, 1e-9)
        if self.step % self.train_cfg.log_every == 0 or self.step == self.stop:
            self.log.write({"step": self.step, "epoch": epoch, "loss": f"{loss_v:.6f}", "acc": f"{acc_v:.4f}",
                            "lr": f"{self.scheduler.get_last_lr()[0]:.6e}", "clips_per_s": f"{speed:.1f}",
                            "skipped": skipped, "arch": str(archs[-1]) if archs[-1] is not None else ""})
        self.bar.update(1)
        self.bar.set_postfix(epoch=epoch, loss=f"{loss_v:.3f}", acc=f"{acc_v:.3f}", clips_s=f"{speed:.0f}")

    def optimizer_step(self, clips, labels, archs: list, distill: bool, weight: float) -> tuple[float, float]:
        """Gradients of every path (`forward_backward`; redone eagerly once when the compiled
        backward fails to compile), clipping, AdamW, the schedule, the EMA. Returns the
        summed loss and accuracy of the paths."""
        self.optimizer.zero_grad(set_to_none=True)
        try:
            loss_sum, acc_sum = self.forward_backward(clips, labels, archs, distill, weight)
        except Exception as e:                  # a compile failure in backward: redo eagerly
            runner = self.runner
            if not (isinstance(runner, compile_or_eager) and runner.active and _is_compile_error(e)):
                raise
            runner._fall_back(e)
            self.optimizer.zero_grad(set_to_none=True)
            loss_sum, acc_sum = self.forward_backward(clips, labels, archs, distill, weight)
        if self.optim_cfg.clip_grad is not None:
            nn.utils.clip_grad_norm_(self.net.parameters(), self.optim_cfg.clip_grad)
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.net)
        return loss_sum, acc_sum

    def forward_backward(self, clips, labels, archs: list, distill: bool, weight: float) -> tuple[float, float]:
        """Forward and backward of each path (gradients accumulate, each path weighted
        ``weight / len(archs)``; under DDP only the last path synchronises them); with
        `distill` the first (largest) path's detached output is the others' target."""
        loss_sum = acc_sum = 0.0
        teacher = None
        for k, arch in enumerate(archs):
            if arch is not None:
                self.net.set_arch(arch)
            sync = self.ddp.no_sync() if self.ddp is not None and k < len(archs) - 1 else nullcontext()
            with sync:
                loss, acc, logits = _forward_loss(self.runner, clips, labels, self.optim_cfg.label_smoothing,
                                                  self.amp, teacher)
                (loss * weight / len(archs)).backward()
            if distill and k == 0:              # sandwich: the largest path teaches the rest
                teacher = logits.detach().softmax(dim=1)
            loss_sum += loss.item()
            acc_sum += acc.item()
        return loss_sum, acc_sum

    # ---- epochs and the end ----------------------------------------------------------------
    def end_epoch(self, epoch: int, start_batch: int, sums: list) -> None:
        """The epoch's totals over the ranks; an epoch that had no readable clip at all ends
        the run (after a checkpoint) with a `DataError`; else `TrainResult.last_epoch`,
        `evaluate` (at an epoch boundary or the last step), the epoch's line, and the
        ``on_epoch_end`` hook."""
        info = self.info
        loss_n, correct, count, skipped_n, empty_n = all_reduce_sum(sums, info, self.place.device)
        if not count and skipped_n and start_batch == 0:
            self.write_checkpoint()             # what a run saves today, then one line
            raise DataError(f"epoch {epoch} had no readable clip: all {int(skipped_n)} clips of "
                            f"{int(empty_n)} batch(es) were missing or corrupt; check the data "
                            "with `nas data check`")
        if not count:
            return
        self.last_epoch = {"epoch": epoch, "loss": loss_n / count, "acc": correct / count,
                           "clips": int(count), "skipped": int(skipped_n), "skipped_batches": int(empty_n)}
        if self.step % self.data.steps_per_epoch == 0 or self.step >= self.stop:
            self.last_epoch.update(self.evaluate())
        if info.is_main:
            self.bar.write(self.epoch_line())
        self.hooks.on_epoch_end(epoch, self.last_epoch)

    def evaluate(self) -> dict:
        """The ``evaluate`` hook on the network (its EMA when on), with the RNG state restored
        after it (a val pass draws nothing from the training streams); its numbers go to
        TensorBoard. {} when the hook evaluated nothing."""
        rng = rng_state()
        evaluated = self.hooks.evaluate(self.ema.module if self.ema is not None else self.net, self.step)
        set_rng_state(rng)
        if evaluated is None:
            return {}
        self.log.scalars({f"eval/{k}": v for k, v in evaluated.items()}, self.step)
        self.net.train()
        return evaluated

    def epoch_line(self) -> str:
        """``epoch E (label): loss ..., train acc ..%, N clips, ...`` from `last_epoch`."""
        last = self.last_epoch
        extra = "".join(f", {k} {v:.4f}" for k, v in last.items()
                        if k not in ("epoch", "loss", "acc", "clips", "skipped", "skipped_batches"))
        return (f"epoch {last['epoch']}{f' ({self.label})' if self.label else ''}: loss {last['loss']:.4f}, "
                f"train acc {100 * last['acc']:.1f}%, {last['clips']} clips, {last['skipped']} skipped "
                f"({last['skipped_batches']} empty batches skipped){extra}")

    def write_checkpoint(self, path: Path | None = None) -> None:
        """Write (rank 0; the others wait) everything a resumed run needs to continue
        bit-identically, to ``checkpoints/last.pt`` or `path`."""
        path = self.ckpt_path if path is None else path
        if self.info.is_main:
            sampler, ema = self.arch_sampler, self.ema
            save_checkpoint(path, model=self.net, kind=self.place.kind, step=self.step,
                            epoch=self.step // self.data.steps_per_epoch, optimizer=self.optimizer,
                            scheduler=self.scheduler, sampler_state=sampler.state_dict() if sampler else None,
                            config=self.place.config, extra={"ema": ema.state_dict()} if ema is not None else None)
        barrier(self.info)
        if path == self.ckpt_path:
            self.saved_step = self.step

    def finish(self) -> None:
        """The last ``last.pt``; with the EMA on, the network takes the averaged weights; then
        the final file (`RunPlace.final_name`), when set."""
        self.write_checkpoint()
        if self.ema is not None:                # the run's result is the averaged network
            self.net.load_state_dict(self.ema.module.state_dict())
        if self.place.final_name:
            self.write_checkpoint(self.place.out_dir / self.place.final_name)


def train(model: nn.Module, *, train_cfg: TrainConfig, optim_cfg: OptimConfig,
          make_loader: Callable[[int, int], Iterable], steps_per_epoch: int, out_dir: str | Path,
          kind: str, config: dict, device: torch.device, dist_info: DistInfo | None = None,
          arch_sampler: ArchSampler | None = None,
          before_step: Callable[[int], None] | None = None, resume: bool = False,
          evaluate: Callable[[nn.Module, int], dict] | None = None,
          final_name: str | None = None, progress: bool = True, label: str | None = None,
          batch_transform: Callable | None = None) -> TrainResult:
    """The former one-function loop, kept for one release: `Trainer` with `FunctionHooks`
    (``before_step``, ``batch_transform`` as ``transform_batch``, ``evaluate``); the same
    behaviour, bit for bit. New code builds a `Trainer`."""
    place = RunPlace(Path(out_dir), kind, config, device, dist_info or DistInfo(), final_name)
    hooks = FunctionHooks(before_step=before_step, transform_batch=batch_transform, evaluate=evaluate)
    trainer = Trainer(model, train_cfg=train_cfg, optim_cfg=optim_cfg,
                      data=TrainData(make_loader, steps_per_epoch), place=place,
                      arch_sampler=arch_sampler, hooks=hooks, progress=progress, label=label)
    return trainer.fit(resume)
