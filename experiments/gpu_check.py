"""The GPU path of vidnas, checked in one run (issue 25): ``experiments/gpu_check.sh [--cpu]``.

Checks (a table at the end; exit status 1 when one fails, 0 otherwise):

1. ``bf16 vs fp32``: one supernet training step of MLP-3D-XS at 16 x 224^2 (the default
   architecture, batch 8) in fp32 and under bf16 autocast from the same weights and batch;
   both losses finite and within 2% of each other.
2. ``largest batch``: the bf16 supernet step at batch 8, 16, 32, ... until CUDA runs out of
   memory (or 256); clips/s at the largest batch that fits.
3. ``DDP step``: one step of a 1-process NCCL DistributedDataParallel group (gloo on CPU)
   equals the plain step (same loss, same updated weights up to float rounding).
4. ``resume``: a short pretraining run (mlp3d-nano, synthetic clips, the paper augmentations,
   mixup / cutmix and the EMA on) stopped half-way and resumed equals the uninterrupted run,
   bit for bit with ``torch.use_deterministic_algorithms``; where a kernel has no
   deterministic version the difference is printed and must stay below 1e-3.
5. ``loader vs step``: the loader's clips/s (all cores as workers) with the paper
   augmentations (RandAugment rand-m7-n4-mstd0.5-inc1, erasing 0.25, repeat 2) producing
   16 x 224^2 clips, against the step rate of check 2; fails if the loader is slower.

``--cpu`` runs the same checks CPU-sized in well under a minute (mlp3d-nano at 8 x 32^2,
batches 2 and 4, gloo, 2 workers, CPU bf16 autocast) and reports the loader/step ratio
without judging it (a shared CI machine says nothing about a GPU node); the default test
suite runs it with PyAV, Optuna, Ray and fvcore blocked, which the GPU machines lack.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import os
import socket
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nas.throughput import loader_clips_per_second, step_clips_per_second, training_step  # noqa: E402
from supernet.registry import build_model  # noqa: E402

PAPER_AUGMENT = {"rand_augment": "rand-m7-n4-mstd0.5-inc1", "erase_prob": 0.25, "repeat": 2}


@dataclasses.dataclass
class Sizes:
    model: str
    input: tuple
    batch: int
    batches: tuple
    workers: int
    judge_loader: bool


GPU = Sizes("mlp3d-xs", (16, 224, 224), 8, (8, 16, 32, 64, 128, 256), min(16, os.cpu_count() or 1), True)
CPU = Sizes("mlp3d-nano", (8, 32, 32), 2, (2, 4), 2, False)


@dataclasses.dataclass
class Result:
    check: str
    status: str          # ok | FAIL | info
    figure: str
    note: str = ""


def supernet(sizes: Sizes, device, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(sizes.model, sizes.input, 174 if sizes.model != "mlp3d-nano" else 10).to(device)
    model.set_arch(model.space.default_arch())
    return model


def check_bf16(sizes: Sizes, device) -> Result:
    base = supernet(sizes, device)
    losses = {}
    for name, amp in (("fp32", False), ("bf16", True)):
        model = copy.deepcopy(base)
        losses[name] = seeded(training_step(model, sizes.batch, sizes.input, _classes(model), device, amp=amp))
    diff = abs(losses["bf16"] - losses["fp32"])
    ok = all(math.isfinite(v) for v in losses.values()) and diff <= 0.02 * abs(losses["fp32"])
    return Result("bf16 vs fp32 step", "ok" if ok else "FAIL",
                  f"fp32 {losses['fp32']:.4f}, bf16 {losses['bf16']:.4f}, |diff| {diff:.4f}",
                  f"{sizes.model} {'x'.join(map(str, sizes.input))}, batch {sizes.batch}; limit 2%")


def seeded(step) -> float:
    """`step()` with the torch RNGs at one seed, so drop path / dropout draw the same masks
    in the runs that are compared."""
    torch.manual_seed(1234)
    return step()


def _classes(model) -> int:
    return next(m.out_features for m in reversed(list(model.modules())) if isinstance(m, torch.nn.Linear))


def check_largest_batch(sizes: Sizes, device) -> tuple[Result, float]:
    best, rate = None, 0.0
    for batch in sizes.batches:
        model = supernet(sizes, device)
        try:
            step = training_step(model, batch, sizes.input, _classes(model), device, amp=True)
            rate_b = step_clips_per_second(step, batch, 3 if device.type == "cuda" else 1, device)
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()
        best, rate = batch, rate_b
    if best is None:
        return Result("largest batch", "FAIL", "none fits", f"batch {sizes.batches[0]} runs out of memory"), 0.0
    note = "bf16 autocast; " + ("the next doubling ran out of memory" if best != sizes.batches[-1]
                               else f"the largest tried ({best})")
    return Result("largest batch", "ok", f"batch {best}: {rate:.1f} clips/s", note), rate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_ddp(sizes: Sizes, device) -> Result:
    import torch.distributed as dist

    backend = "nccl" if device.type == "cuda" else "gloo"
    plain = supernet(sizes, device)
    wrapped_net = copy.deepcopy(plain)
    loss_plain = seeded(training_step(plain, sizes.batch, sizes.input, _classes(plain), device))
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        ddp = torch.nn.parallel.DistributedDataParallel(
            wrapped_net, device_ids=[device.index or 0] if device.type == "cuda" else None,
            find_unused_parameters=True)
        loss_ddp = seeded(training_step(ddp, sizes.batch, sizes.input, _classes(plain), device))
    finally:
        dist.destroy_process_group()
    diff = max(float((a - b).abs().max()) for a, b in zip(plain.state_dict().values(),
                                                          wrapped_net.state_dict().values())
               if a.is_floating_point())
    ok = abs(loss_ddp - loss_plain) <= 1e-5 * max(1.0, abs(loss_plain)) and diff <= 1e-5
    return Result(f"DDP step ({backend}, 1 process)", "ok" if ok else "FAIL",
                  f"loss {loss_ddp:.5f} vs {loss_plain:.5f}, weights max diff {diff:.1e}")


def check_resume(device, workdir: Path) -> Result:
    from nas.config import load_run_config
    from nas.pretrain import run_pretrain
    from supernet.training.checkpoint import load_checkpoint

    def config(name, **train):
        return load_run_config(None, [], {
            "output_dir": str(workdir / name),
            "model": {"name": "mlp3d-nano", "kwargs": {"drop_path_rate": 0.1}},
            "data": {"dataset": "synthetic-temporal", "num_frames": 8, "size": 32, "num_classes": 4,
                     "train_clips_per_class": 3, "val_clips_per_class": 1, "cache_dir": str(workdir / "cache"),
                     "augment": {**PAPER_AUGMENT, "mixup_alpha": 0.8, "cutmix_alpha": 1.0}},
            "optim": {"lr": 1e-3, "base_batch_size": 4},
            "train": {"epochs": 2, "batch_size": 4, "checkpoint_every": 2, "seed": 1,
                      "device": str(device), "amp": device.type == "cuda",
                      "ema": {"enabled": True, "decay": 0.8}, **train}})

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            run_pretrain(config("full"), progress=False)
            run_pretrain(config("part", max_steps=3), progress=False)
            run_pretrain(config("part"), resume=True, progress=False)
        finally:
            torch.use_deterministic_algorithms(False)
    nondeterministic = [str(w.message).splitlines()[0][:80] for w in caught
                        if "deterministic" in str(w.message)]
    a = load_checkpoint(workdir / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(workdir / "part" / "checkpoints" / "last.pt")
    diffs = [float((a[s]["model"][k] if s == "ema" else a[s][k]).float().sub(
                   (b[s]["model"][k] if s == "ema" else b[s][k]).float()).abs().max())
             for s in ("model", "ema") for k in a["model"]]
    worst = max(diffs)
    if worst == 0.0:
        return Result("resume", "ok", "bit-exact (weights and EMA)", "6 steps, stopped at 3")
    if nondeterministic and worst <= 1e-3:
        return Result("resume", "ok", f"max diff {worst:.1e}", f"non-deterministic kernel: {nondeterministic[0]}")
    return Result("resume", "FAIL", f"max diff {worst:.1e}",
                  "kernels were deterministic" if not nondeterministic else nondeterministic[0])


def check_loader(sizes: Sizes, step_rate: float, workdir: Path) -> Result:
    from nas.data import ClipSampler, ClipSubset, DataConfig, build_dataset
    from nas.data.augment import ClipAugment
    from nas.data.config import AugmentConfig

    frames, size = sizes.input[0], sizes.input[-1]
    cfg = DataConfig(dataset="synthetic-appearance", size=32 if size <= 32 else 64, num_frames=frames,
                     num_classes=10, train_clips_per_class=8, val_clips_per_class=1,
                     cache_dir=str(workdir / "cache"))
    source = build_dataset(cfg, "train")                # 80 clips, upscaled to `size` by the crop
    augment = ClipAugment.from_config(AugmentConfig(**{k: v for k, v in PAPER_AUGMENT.items() if k != "repeat"}),
                                      cfg.mean)
    source.transform = dataclasses.replace(source.transform, size=size, scale=(0.08, 1.0), augment=augment)
    batch = max(sizes.batch, 4)
    batches = max(4, 4 * sizes.workers)
    needed = (1 + 2 * sizes.workers + batches) * batch   # what `loader_clips_per_second` reads
    ds = ClipSubset(source, [i % len(source) for i in range(max(needed, len(source)))])
    sampler = ClipSampler(len(ds), True, 0, repeat=PAPER_AUGMENT["repeat"])
    rate = loader_clips_per_second(ds, batch, sizes.workers, batches, sampler=sampler)
    ratio = rate / step_rate if step_rate else float("inf")
    figure = f"{rate:.1f} clips/s vs step {step_rate:.1f} clips/s ({ratio:.2f}x)"
    note = f"{sizes.workers} workers, {frames}x{size}x{size}, RandAugment + erasing + repeat 2"
    if not sizes.judge_loader:
        return Result("loader vs step", "info", figure, note + "; not judged on CPU")
    return Result("loader vs step", "ok" if ratio >= 1.0 else "FAIL", figure,
                  note + ("" if ratio >= 1.0 else "; the loader is the bottleneck"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cpu", action="store_true", help="CPU-sized checks (nano model, gloo), for CI")
    p.add_argument("--keep", help="keep the runs in this folder (default: a temporary one, removed)")
    args = p.parse_args(argv)
    if not args.cpu and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run with --cpu for the CPU-sized checks", file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.cpu else "cuda")
    sizes = CPU if args.cpu else GPU
    started = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix="vidnas_gpu_check_") if not args.keep else None
    workdir = Path(args.keep or tmp.name)
    results, step_rate = [], 0.0
    for name, run in (("bf16 vs fp32 step", lambda: check_bf16(sizes, device)),
                      ("largest batch", lambda: check_largest_batch(sizes, device)),
                      ("DDP step", lambda: check_ddp(sizes, device)),
                      ("resume", lambda: check_resume(device, workdir)),
                      ("loader vs step", lambda: check_loader(sizes, step_rate, workdir))):
        tic = time.perf_counter()
        try:
            out = run()
            if isinstance(out, tuple):
                out, step_rate = out
        except Exception as e:                                       # noqa: BLE001
            traceback.print_exc()
            out = Result(name, "FAIL", type(e).__name__, (str(e).splitlines() or [""])[0][:120])
        out.note = f"{out.note}; {time.perf_counter() - tic:.1f} s".lstrip("; ")
        results.append(out)
        print(f"{out.check}: {out.status} ({out.figure})", flush=True)
    if tmp is not None:
        tmp.cleanup()
    from nas.utils import format_table

    where = "CPU (--cpu)" if args.cpu else torch.cuda.get_device_name(0)
    print(f"\nvidnas GPU check on {where}, torch {torch.__version__}, "
          f"{time.perf_counter() - started:.0f} s")
    print(format_table([(r.check, r.status, r.figure, r.note) for r in results],
                       ["check", "status", "figure", "note"], align="llll"))
    failed = [r.check for r in results if r.status == "FAIL"]
    print(f"{len(results) - len(failed)}/{len(results)} checks passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
