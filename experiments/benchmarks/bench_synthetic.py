"""A training step on synthetic-temporal clips with the noisy clips kept after their first read
against drawing their noise on every read (`nas.data.synthetic.NOISY_CLIPS_BYTES`), one command:

    python experiments/benchmarks/bench_synthetic.py --threads 1

The step is the ground-truth table's (experiments/configs/train_mlp3d_nano_t8_cpu.yaml on
`synthetic-temporal` v3: MLP-3D-nano at T' = 8, 32 frames of 32 x 32, batch 32, AdamW): 32 clips
read and transformed, then forward, backward and the optimizer step of one architecture.
Both cases are measured alternately in this one run; the kept case reads clips that an earlier
pass kept, as every epoch after the first does. Target: ratio (drawn / kept) >= 1.05. The
clips are checked equal in both cases first.
"""
from __future__ import annotations

import argparse

import torch

from common import Row, add_threads_arg, apply_threads, paired_seconds, print_table  # noqa: E402

import nas.data.synthetic as syn  # noqa: E402
from nas.data import DataConfig, build_dataset  # noqa: E402
from supernet.registry import build_model  # noqa: E402

BATCH = 32


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="sr4-sr4-sr4-sr4-sr4-sr4-sr4-sr4")
    p.add_argument("--clips-per-class", type=int, default=32, help="train clips per class generated")
    p.add_argument("--min-run-time", type=float, default=6.0, help="seconds per case")
    add_threads_arg(p)
    args = p.parse_args(argv)
    apply_threads(args)

    cfg = DataConfig(dataset="synthetic-temporal", size=32, num_frames=32, num_classes=10,
                     train_clips_per_class=args.clips_per_class, val_clips_per_class=1, temporal_version=3)
    kept = build_dataset(cfg, "train")
    cap, syn.NOISY_CLIPS_BYTES = syn.NOISY_CLIPS_BYTES, 0
    drawn = build_dataset(cfg, "train")
    syn.NOISY_CLIPS_BYTES = cap
    n = len(kept)
    for i in range(n):                                # the first pass keeps every clip
        assert torch.equal(kept[(i, 0)][0], drawn[(i, 0)][0]), i

    model = build_model("mlp3d-nano", (32, 32, 32), 10, arch=args.arch)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    state = {"k": 0}

    def step(ds):
        k = state["k"]
        state["k"] = k + 1
        clips = [ds[((k * BATCH + j) % n, k)] for j in range(BATCH)]
        x = torch.stack([c for c, _ in clips])
        y = torch.tensor([label for _, label in clips])
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    t_drawn, t_kept = paired_seconds(lambda: step(drawn), lambda: step(kept), args.min_run_time)
    rows = [Row(f"train step, {args.arch}, batch {BATCH}", t_kept * 1e3, t_drawn * 1e3, "ms", ">= 1.05",
                t_drawn / t_kept)]
    print_table("synthetic-temporal: noisy clips kept (ours) vs drawn on every read (baseline)", rows,
                note="ratio = baseline / ours (higher is better); the same clips in both cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
