"""Accuracy of a trained network: single-view and multi-view (clips x crops) protocols."""
from __future__ import annotations

import random
from contextlib import nullcontext
from pathlib import Path
from typing import Iterable

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.errors import DataError

from .data import average_view_scores, build_dataset, build_loader, fixed_subset
from .search.confidence import binomial_se
from .search.settings import EvaluationSettings
from .utils import atomic_write_text


@torch.inference_mode()
def evaluate_model(model: nn.Module, batches: Iterable, device: torch.device | str = "cpu",
                   amp: bool = False) -> dict[str, float]:
    """Top-1 / top-5 (percent) and loss over `batches` of ``(clips, labels[, skipped])``.

    Clips ``(B, 3, T, H, W)`` are one view each; clips ``(B, V, 3, T, H, W)`` are V views
    whose softmax scores are averaged per video (SlowFast's multi-view testing).
    """
    return evaluate_archs(model, [None], batches, device, amp)[0]


@torch.inference_mode()
def evaluate_archs(model: nn.Module, archs: list, batches: Iterable, device: torch.device | str = "cpu",
                   amp: bool = False) -> list[dict[str, float]]:
    """`evaluate_model` for each architecture of `archs` of a supernet (None: the network as it
    is), reading `batches` once: every batch runs every architecture, so clips are decoded
    once however many architectures are scored."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    sums = [[0.0, 0.0, 0.0, 0.0] for _ in archs]        # correct top-1, correct top-5, loss, clips
    skipped = empty = 0
    views = 1
    try:
        for batch in batches:
            clips, labels = batch[0], batch[1]
            skipped += batch[2] if len(batch) > 2 else 0
            if labels.numel() == 0:            # every clip of the batch unreadable: skip, count
                empty += 1
                continue
            clips, labels = clips.to(device), labels.to(device)
            views = clips.shape[1] if clips.dim() == 6 else 1
            flat = clips.flatten(0, 1) if views > 1 or clips.dim() == 6 else clips
            ctx = torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda" else nullcontext()
            for arch, acc in zip(archs, sums):
                if arch is not None:
                    model.set_arch(arch)
                with ctx:
                    logits = model(flat).float()
                if clips.dim() == 6:
                    probs = average_view_scores(logits, views)
                    loss = F.nll_loss(probs.clamp_min(1e-12).log(), labels, reduction="sum")
                else:
                    probs = logits
                    loss = F.cross_entropy(logits, labels, reduction="sum")
                top = probs.topk(min(5, probs.shape[1]), dim=1).indices
                acc[0] += (top[:, 0] == labels).sum().item()
                acc[1] += (top == labels[:, None]).any(1).sum().item()
                acc[2] += loss.item()
                acc[3] += labels.numel()
    finally:
        model.train(was_training)
    if not sums[0][3]:
        raise DataError(f"evaluation saw no readable clip ({int(skipped)} missing or corrupt in "
                        f"{int(empty)} batch(es)); check the validation data with `nas data check`")
    return [{"top1": 100.0 * c1 / n, "top5": 100.0 * c5 / n, "loss": loss / n, "clips": int(n),
             "views": int(views), "skipped": int(skipped), "skipped_batches": int(empty)}
            for c1, c5, loss, n in sums]


# Periodic validation during training, per command: (epochs between passes, clips per pass)
# when `train.eval_every` / `train.eval_clips` are None. Pretraining validates by default, so
# that a supernet still at chance shows before the search, not after it; a pass scores a fixed
# class-balanced subset (the one `nas search` scores by default at val_size 256, val_seed 0).
EVAL_DEFAULTS = {"pretrain": (5, 256), "train": (0, None)}
VAL_ARCHS = 3          # supernet passes score this many fixed sampled architectures


def resolve_eval_schedule(cfg, command: str) -> None:
    """Fill ``train.eval_every`` / ``train.eval_clips`` left None with `command`'s defaults
    (`EVAL_DEFAULTS`), so that the config written next to the run says what it does."""
    every, clips = EVAL_DEFAULTS[command]
    if cfg.train.eval_every is None:
        cfg.train.eval_every = every
    if cfg.train.eval_clips is None:
        cfg.train.eval_clips = clips


def val_archs(space, seed: int, count: int = VAL_ARCHS) -> list:
    """`count` architectures of `space` drawn from their own generator (seeded by `seed`, not
    the training streams): the same ones at every validation pass of a run."""
    rng = random.Random(f"vidnas-val-archs-{seed}")
    return [space.sample(rng) for _ in range(count)]


def eval_curve(cfg, steps_per_epoch: int, device, is_main: bool, space=None):
    """The training loop's per-epoch hook for ``train.eval_every = N`` (resolved by
    `resolve_eval_schedule`): every N epochs and at the run's last step, val top-1 and loss
    on ``train.eval_clips`` clips go to ``eval_curve.csv`` (one row per epoch, rewritten
    atomically, so a resumed run keeps its rows); None when N = 0. For a supernet (`space`
    given) a pass scores `val_archs` and records their mean, min and max top-1 next to the
    chance level (100 / classes) and its binomial SE. A pass reads no training RNG (the loop
    restores the RNG state after it), so it changes nothing the run computes."""
    every, clips = cfg.train.eval_every, cfg.train.eval_clips
    if not every:
        return None
    path = Path(cfg.output_dir) / "eval_curve.csv"
    dataset = build_dataset(cfg.data, "val")
    if clips:
        dataset = fixed_subset(dataset, min(clips, len(dataset)), EvaluationSettings.val_seed)
    val = build_loader(dataset, max(1, cfg.train.batch_size // 2), num_workers=cfg.train.num_workers)
    archs = [None] if space is None else val_archs(space, cfg.train.seed)
    total = cfg.train.epochs * steps_per_epoch
    last = min(total, cfg.train.max_steps or total)
    chance = 100.0 / cfg.data.num_classes

    def hook(model, step: int) -> dict:
        epochs = -(-step // steps_per_epoch)                  # epochs done (the last may be partial)
        if epochs % every and step < last:
            return {}
        results = evaluate_archs(model, archs, val, device)
        top1 = [r["top1"] for r in results]
        out = {"val_top1": sum(top1) / len(top1), "val_loss": sum(r["loss"] for r in results) / len(results)}
        if space is not None:
            out.update({"val_top1_min": min(top1), "val_top1_max": max(top1), "chance": chance,
                        "chance_se": binomial_se(chance / 100.0 * results[0]["clips"], results[0]["clips"])})
        if is_main:
            rows = pd.read_csv(path).to_dict("records") if path.exists() else []
            rows = [r for r in rows if int(r["epoch"]) < epochs]
            rows.append({"epoch": epochs, "step": step, **out, "clips": results[0]["clips"],
                         **({"archs": " ".join(str(a) for a in archs)} if space is not None else {})})
            atomic_write_text(path, pd.DataFrame(rows).to_csv(index=False))
        return {k: out[k] for k in ("val_top1", "val_loss", "chance", "chance_se") if k in out}
    return hook
