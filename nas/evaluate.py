"""Accuracy of a trained network: single-view and multi-view (clips x crops) protocols."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .data import average_view_scores


@torch.inference_mode()
def evaluate_model(model: nn.Module, batches: Iterable, device: torch.device | str = "cpu",
                   amp: bool = False) -> dict[str, float]:
    """Top-1 / top-5 (percent) and loss over `batches` of ``(clips, labels[, skipped])``.

    Clips ``(B, 3, T, H, W)`` are one view each; clips ``(B, V, 3, T, H, W)`` are V views
    whose softmax scores are averaged per video (SlowFast's multi-view testing).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    correct1 = correct5 = loss_sum = count = skipped = empty = 0.0
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
            with ctx:
                logits = model(flat).float()
            if clips.dim() == 6:
                probs = average_view_scores(logits, views)
                loss = F.nll_loss(probs.clamp_min(1e-12).log(), labels, reduction="sum")
            else:
                probs = logits
                loss = F.cross_entropy(logits, labels, reduction="sum")
            top = probs.topk(min(5, probs.shape[1]), dim=1).indices
            correct1 += (top[:, 0] == labels).sum().item()
            correct5 += (top == labels[:, None]).any(1).sum().item()
            loss_sum += loss.item()
            count += labels.numel()
    finally:
        model.train(was_training)
    if not count:
        raise ValueError(f"evaluation saw no readable clip ({int(skipped)} missing or corrupt in "
                         f"{int(empty)} batch(es)); check the validation data with `nas data check`")
    return {"top1": 100.0 * correct1 / count, "top5": 100.0 * correct5 / count,
            "loss": loss_sum / count, "clips": int(count), "views": int(views), "skipped": int(skipped),
            "skipped_batches": int(empty)}

