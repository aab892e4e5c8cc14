"""Clip augmentations in the loader's workers (issue 25), one command:

    python experiments/benchmarks/bench_augment.py [--workers 2] [--batch 16] [--batches 8]

* kornia against the hand-written tensor ops of `nas.data.augment`: the loader's clips/s
  (`build_loader`, ``--workers`` worker processes, one torch thread each) on nano clips
  (synthetic-temporal, 16 x 32 x 32) with the MLP-3D / MViT RandAugment
  (``rand-m7-n4-mstd0.5-inc1``) and random erasing 0.25, once with each implementation of
  the ops behind the same per-clip draw. kornia's own ``auto.RandAugment`` cannot be used as
  it is: it draws per image, and ``VideoSequential(same_on_frame=True)`` refuses it, so the
  kornia variant calls kornia's functional ops (``kornia.enhance`` / ``kornia.geometry``)
  with our draw; its time per clip is printed too, for reference.
* the loader with the paper augmentations (and repeated augmentation, k = 2) against the
  training step of mlp3d-nano at 16 x 32 x 32 (supernet, a random architecture, AdamW, batch
  ``--batch``): clips/s, measured apart in the same run (they would share the cores).

Prints one table; exits non-zero only when a figure cannot be measured.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time

import torch

from common import ROOT, commit, machine  # noqa: E402,F401

from nas.data import ClipSampler, DataConfig, build_dataset  # noqa: E402
from nas.data.augment import ClipAugment, draw_rand_augment  # noqa: E402
from nas.throughput import loader_clips_per_second, step_clips_per_second, training_step  # noqa: E402
from nas.utils import format_table  # noqa: E402

PAPER = {"rand_augment": "rand-m7-n4-mstd0.5-inc1", "erase_prob": 0.25}
SIZE, FRAMES = 32, 16


@dataclasses.dataclass(frozen=True)
class KorniaClipAugment(ClipAugment):
    """The same draw as `ClipAugment`, the ops by kornia on the frames as a batch (T, 3, H, W)."""

    def rand_augment_clip(self, x, generator):
        import kornia.enhance as E
        import kornia.geometry.transform as G

        if self.rand_augment is None:
            return x
        frames = x.transpose(0, 1).contiguous()                     # (T, 3, H, W)
        T, _, H, W = frames.shape
        for op, arg in draw_rand_augment(self.rand_augment, generator):
            a = torch.full((T,), float(arg))
            if op == "Rotate":
                frames = G.rotate(frames, a)
            elif op in ("ShearX", "ShearY"):
                frames = G.shear(frames, torch.stack([a, torch.zeros(T)] if op == "ShearX" else [torch.zeros(T), a], 1))
            elif op in ("TranslateX", "TranslateY"):
                shift = torch.stack([a * W, torch.zeros(T)] if op == "TranslateX" else [torch.zeros(T), a * H], 1)
                frames = G.translate(frames, shift)
            elif op == "AutoContrast":
                frames = E.normalize_min_max(frames)
            elif op == "Equalize":
                frames = E.equalize(frames)
            elif op == "Invert":
                frames = E.invert(frames)
            elif op == "Posterize":
                frames = E.posterize(frames, int(arg))
            elif op == "Solarize":
                frames = E.solarize(frames, arg / 255.0)
            elif op == "SolarizeAdd":
                frames = E.solarize(frames, 128 / 255.0, arg / 255.0)
            elif op == "Color":
                frames = E.adjust_saturation(frames, arg)
            elif op == "Contrast":
                frames = E.adjust_contrast(frames, arg)
            elif op == "Brightness":
                frames = E.adjust_brightness(frames, arg - 1.0)
            elif op == "Sharpness":
                frames = E.sharpness(frames, arg)
        return frames.transpose(0, 1)


def per_clip_ms(augmenter, clips: list, rounds: int = 2) -> float:
    """CPU milliseconds per clip (process time, one thread: steady on a shared machine)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for k, clip in enumerate(clips):
            augmenter(clip.clone(), torch.Generator().manual_seed(k))
        best = min(best, (time.process_time() - start) / len(clips))
    return 1e3 * best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batches", type=int, default=8, help="batches measured per loader figure")
    p.add_argument("--cache-dir", default="", help="synthetic data cache (default: a temporary folder)")
    args = p.parse_args(argv)
    try:
        import kornia  # noqa: F401
    except ImportError:
        print("bench_augment: the comparison needs kornia (pip install kornia==0.9.0); vidnas itself "
              "does not use it", file=sys.stderr)
        return 2
    cache = args.cache_dir or tempfile.mkdtemp(prefix="bench_augment_")
    base = dict(dataset="synthetic-temporal", size=SIZE, num_frames=FRAMES, num_classes=10,
                train_clips_per_class=12, val_clips_per_class=1, cache_dir=cache)
    plain = build_dataset(DataConfig(**base), "train")
    paper_cfg = DataConfig(**base, augment={**PAPER, "repeat": 2})
    ours = build_dataset(paper_cfg, "train")
    kornia = build_dataset(paper_cfg, "train")
    kornia.transform = dataclasses.replace(
        kornia.transform, augment=KorniaClipAugment(**{f.name: getattr(ours.transform.augment, f.name)
                                                       for f in dataclasses.fields(ClipAugment)}))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)                             # per-clip figures: one thread, like a worker
    clips = [plain[(k, k)][0] * 0.225 + 0.45 for k in range(16)]
    ra = ours.transform.augment
    ms = {"hand-written": per_clip_ms(ra.rand_augment_clip, clips),
          "kornia ops": per_clip_ms(kornia.transform.augment.rand_augment_clip, clips)}
    from kornia.augmentation.auto import RandAugment
    kornia_ra = RandAugment(n=4, m=7)
    ms["kornia auto.RandAugment (per frame)"] = per_clip_ms(
        lambda x, g: kornia_ra(x.transpose(0, 1)), clips)
    item_ms = {"no augmentation": per_clip_ms(lambda c, g: plain[(int(g.initial_seed()) % len(plain), int(g.initial_seed()))], clips),
               "paper, hand-written ops": per_clip_ms(lambda c, g: ours[(int(g.initial_seed()) % len(ours), int(g.initial_seed()))], clips),
               "paper, kornia ops": per_clip_ms(lambda c, g: kornia[(int(g.initial_seed()) % len(ours), int(g.initial_seed()))], clips)}
    torch.set_num_threads(threads)

    w, b, n = args.workers, args.batch, args.batches
    repeat = ClipSampler(len(ours), True, 0, repeat=2)
    rates = {"no augmentation": loader_clips_per_second(plain, b, w, n),
             "paper, hand-written ops": loader_clips_per_second(ours, b, w, n, sampler=repeat),
             "paper, kornia ops": loader_clips_per_second(kornia, b, w, n,
                                                          sampler=ClipSampler(len(ours), True, 0, repeat=2))}

    from supernet.registry import build_model
    torch.manual_seed(0)
    model = build_model("mlp3d-nano", (FRAMES, SIZE, SIZE), 10)
    model.set_arch(model.space.sample(0))
    train_step = training_step(model, b, (FRAMES, SIZE, SIZE), 10, "cpu")
    cpu_start = time.process_time()
    step = step_clips_per_second(train_step, b, 4)
    step_cpu_ms = 1e3 * (time.process_time() - cpu_start) / (5 * b) / max(threads, 1)

    print(f"\nClip augmentations in the loader ({w} workers, batch {b}, nano clips {FRAMES}x{SIZE}x{SIZE})")
    print(f"{machine()}, commit {commit()}")
    print("\nRandAugment rand-m7-n4-mstd0.5-inc1 per clip, one thread, CPU time:")
    print(format_table([(k, f"{v:.2f}") for k, v in ms.items()], ["ops", "ms / clip"], align="lr"))
    print(f"kornia ops / hand-written time per clip: {ms['kornia ops'] / ms['hand-written']:.2f}x")
    rows = [(k, f"{v:.1f}", f"{v / step:.2f}") for k, v in rates.items()]
    rows.append((f"mlp3d-nano training step ({threads} threads)", f"{step:.1f}", "1.00"))
    print("\nLoader clips/s (RandAugment + erasing 0.25 + repeat 2) against the model step:")
    print(format_table(rows, ["case", "clips/s", "/ step"], align="lrr"))
    print(f"\nCPU time per clip (robust on a shared machine): the loader item (load, crop, augment), "
          f"one thread, and the model step per clip ({threads} thread(s)); capacity = {w} workers "
          f"/ item time against 1 / step time:")
    cap = [(k, f"{v:.2f}", f"{(w / v) / (1 / step_cpu_ms):.2f}") for k, v in item_ms.items()]
    cap.append(("mlp3d-nano training step", f"{step_cpu_ms:.2f}", "1.00"))
    print(format_table(cap, ["case", "CPU ms / clip", "capacity / step"], align="lrr"))
    print(f"hand-written / kornia loader clips/s: "
          f"{rates['paper, hand-written ops'] / rates['paper, kornia ops']:.2f}x; "
          f"paper loader / model step: {rates['paper, hand-written ops'] / step:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
