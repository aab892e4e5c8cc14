"""The data path on generated data (issue 12 targets), one command:

    python experiments/benchmarks/bench_data.py [--data-dir runs/bench_data] [--quick]

* decoding a dense 16 x 4 clip (the Kinetics recipe), clips/s of one process with one
  thread, from 340 x 256 30 fps H.264 videos of 10 s and 60 s with keyframes every 60 and
  250 frames: full decode (the reader before seek-based decoding), seek decode (`pyav`),
  the same video as a JPEG frame folder, and decord when installed (the second decoder
  measured; not offered, see the README). Targets: seek >= 2x full at 10 s and >= 5x at
  60 s (GOP 60), with frames identical to the full decode (checked on every clip);
* the transform (crop, resize, flip, normalise) against decoding, per clip: on 16-frame
  64 x 64 H.264 clips (the issue's case) and on the 10 s videos; target: transform < decode;
  and against the transform before this change (F.interpolate on channels-first floats);
* the loader (`build_loader`, 1, 2 and 4 worker processes) against the training step of
  mlp3d-nano at 16 x 64 x 64 (supernet with a random architecture, AdamW, batch 16):
  clips/s; target: ratio >= 1 (the model never waits for data).

Each figure is measured alone in this one run (decoders interleaved round by round); the
loader and the model are measured apart, so on a machine where they share the cores the real
ratio is lower. The generated data (about 30 MB) is kept in ``--data-dir`` and reused.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common import ROOT, Row, add_threads_arg, apply_threads, machine, commit, print_table  # noqa: E402

from nas.data import DataConfig, build_dataset  # noqa: E402
from nas.data.decoders import PyAVVideo, decode_video  # noqa: E402
from nas.data.frames import FrameFolder  # noqa: E402
from nas.data.transforms import ClipTransform, random_resized_crop_box, sample_indices  # noqa: E402
from nas.data.videogen import moving_frames, write_frame_folder, write_video  # noqa: E402
from nas.utils import format_table  # noqa: E402

VIDEOS = [(10, 60), (60, 60), (10, 250), (60, 250)]     # (seconds, GOP) at 30 fps, 340x256
FPS, NUM_FRAMES, INTERVAL = 30, 16, 4


def make_data(folder: Path) -> dict:
    """Generate (once) the videos, their frame folders and the 64x64 clips."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for seconds in sorted({s for s, _ in VIDEOS}):
        frames = None
        for s, gop in VIDEOS:
            if s != seconds:
                continue
            path = folder / f"v{seconds}s_gop{gop}.mp4"
            if not path.exists():
                frames = moving_frames(seconds * FPS, 256, 340, seed=seconds) if frames is None else frames
                write_video(path.with_suffix(".tmp.mp4"), frames, fps=FPS, gop=gop).rename(path)
            paths[(seconds, gop)] = path
        jpg = folder / f"v{seconds}s_frames"
        if not (jpg / "done").exists():
            decoded = decode_video(str(paths[(seconds, 60)]))
            write_frame_folder(jpg, decoded[range(len(decoded))])
            (jpg / "done").write_text("")
        paths[(seconds, "frames")] = jpg
    small = folder / "clips64"
    if not (small / "done").exists():
        small.mkdir(exist_ok=True)
        for k in range(8):
            write_video(small / f"c{k}.mp4", moving_frames(NUM_FRAMES, 64, 64, seed=100 + k), gop=16)
        (small / "done").write_text("")
    paths["clips64"] = sorted(small.glob("c*.mp4"))
    return paths


def clip_starts(length: int, n: int, seed: int = 0) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    return [sample_indices(length, NUM_FRAMES, "dense", INTERVAL, generator=gen) for _ in range(n)]


def per_clip_seconds(methods: dict, clips: list, rounds: int) -> dict:
    """Median seconds per clip of each method, methods interleaved round by round."""
    times = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            start = time.perf_counter()
            for indices in clips:
                fn(indices)
            times[name].append((time.perf_counter() - start) / len(clips))
    return {name: float(np.median(t)) for name, t in times.items()}


def decoder_table(paths: dict, rounds: int, clips_per_round: int) -> tuple[list, list]:
    try:
        import decord
    except ImportError:
        decord = None
    rows, targets = [], []
    for seconds, gop in VIDEOS:
        path = str(paths[(seconds, gop)])
        length = seconds * FPS
        clips = clip_starts(length, clips_per_round, seed=seconds + gop)
        full_all = decode_video(path)
        full_all = full_all[range(len(full_all))]
        same_seek = all(np.array_equal(PyAVVideo(path)[c], full_all[c]) for c in clips)
        methods = {"full": lambda c: decode_video(path)[c], "seek": lambda c: PyAVVideo(path)[c]}
        folder = paths[(seconds, "frames")]
        if gop == 60:
            methods["frames"] = lambda c: FrameFolder(
                lambda i: str(folder / f"img_{i + 1:05d}.jpg"), length)[c]
        same_decord = ""
        if decord is not None:
            def by_decord(c):
                return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1).get_batch(c).asnumpy()
            methods["decord"] = by_decord
            same_decord = "yes" if all(np.array_equal(by_decord(c), full_all[c]) for c in clips) else "NO"
        sec = per_clip_seconds(methods, clips, rounds)
        rate = {k: 1 / v for k, v in sec.items()}
        rows.append((f"{seconds} s GOP {gop}", f"{rate['full']:.1f}", f"{rate['seek']:.1f}",
                     f"{rate['frames']:.1f}" if "frames" in rate else "-",
                     f"{rate['decord']:.1f}" if "decord" in rate else "absent",
                     f"{rate['seek'] / rate['full']:.2f}",
                     "yes" if same_seek else "NO", same_decord or "-"))
        target = {(10, 60): ">= 2", (60, 60): ">= 5"}.get((seconds, gop), ">= 1")
        targets.append(Row(f"seek vs full decode, {seconds} s GOP {gop}"
                           + ("" if same_seek else " (FRAMES DIFFER)"), rate["seek"], rate["full"],
                           "clips/s", target, rate["seek"] / rate["full"] if same_seek else 0.0))
    return rows, targets


def old_transform(frames: np.ndarray, box, size, flip, mean, std) -> torch.Tensor:
    """The transform before this change: channels-first floats, F.interpolate (antialias)."""
    top, left, h, w = box
    x = frames[:, top:top + h, left:left + w].transpose(0, 3, 1, 2)
    x = torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True).numpy()
    if flip:
        x = x[..., ::-1]
    m = np.asarray(mean, np.float32).reshape(3, 1, 1, 1)
    s = 1 / np.asarray(std, np.float32).reshape(3, 1, 1, 1)
    return torch.from_numpy((np.ascontiguousarray(x.transpose(1, 0, 2, 3)) - m) * s)


def transform_rows(paths: dict, rounds: int) -> tuple[list, list]:
    """Decode vs transform per clip (train mode: random resized crop to 64, flip)."""
    cases = [("64x64 16-frame H.264 clips", [str(p) for p in paths["clips64"]], 1),
             ("340x256 10 s GOP 60 video", [str(paths[(10, 60)])] * 4, INTERVAL)]
    rows, targets = [], []
    for name, files, interval in cases:
        t = ClipTransform(NUM_FRAMES, 64, "train", "dense", interval, flip=True)
        decoded = []
        for k, f in enumerate(files):
            video = PyAVVideo(f)
            idx = t.indices(len(video), generator=torch.Generator().manual_seed(k))
            decoded.append((f, idx, video[idx]))
        boxes = [random_resized_crop_box(*d[2].shape[1:3], t.scale, torch.Generator().manual_seed(k))
                 for k, d in enumerate(decoded)]
        methods = {
            "decode": lambda k: PyAVVideo(decoded[k][0])[decoded[k][1]],
            "transform": lambda k: t.crop(decoded[k][2], boxes[k], k % 2 == 1),
            "before": lambda k: old_transform(decoded[k][2], boxes[k], 64, k % 2 == 1, t.mean, t.std),
        }
        sec = per_clip_seconds(methods, list(range(len(decoded))), rounds * 3)
        diff = max(float((t.crop(d[2], b, False) - old_transform(d[2], b, 64, False, t.mean, t.std)).abs().max())
                   for d, b in zip(decoded, boxes))
        rows.append((name, f"{1e3 * sec['decode']:.2f}", f"{1e3 * sec['transform']:.2f}",
                     f"{1e3 * sec['before']:.2f}", f"{diff:.1e}"))
        targets.append(Row(f"transform vs decode, {name}", 1e3 * sec["transform"], 1e3 * sec["decode"],
                           "ms", ">= 1", sec["decode"] / sec["transform"]))
    return rows, targets


def model_clips_per_second(batch: int, min_run_time: float) -> float:
    from common import median_seconds
    from supernet.registry import build_model

    torch.manual_seed(0)
    model = build_model("mlp3d-nano", (NUM_FRAMES, 64, 64), 10)
    model.set_arch(model.space.sample(0))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.randn(batch, 3, NUM_FRAMES, 64, 64), torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return batch / median_seconds(step, min_run_time)


def loader_clips_per_second(cfg: DataConfig, workers: int, batch: int, batches: int) -> float:
    """Steady-state clips/s: after the first batch and those the workers prefetch (2 each),
    over at least 4 batches per worker (so work already in flight when the clock starts
    counts little)."""
    from nas.throughput import loader_clips_per_second as measure

    return measure(build_dataset(cfg, "train"), batch, workers, batches)


def loader_rows(paths: dict, folder: Path, batch: int, batches: int, min_run_time: float) -> tuple[list, list, float]:
    lists = {}
    clips = folder / "clips64.txt"
    clips.write_text("".join(f"{p.name} {k % 2}\n" for k, p in enumerate(paths["clips64"] * 40)))
    lists["64x64 16-frame clips"] = DataConfig(dataset="video-list", root=str(clips.parent / "clips64"),
                                               train_list=str(clips), num_classes=2, num_frames=NUM_FRAMES,
                                               size=64, sampling="dense", frame_interval=1)
    videos = folder / "videos10.txt"
    videos.write_text(f"{paths[(10, 60)].name} 0\n" * 320)
    lists["340x256 10 s GOP 60"] = DataConfig(dataset="video-list", root=str(folder), train_list=str(videos),
                                              num_classes=2, num_frames=NUM_FRAMES, size=64,
                                              sampling="dense", frame_interval=INTERVAL)
    frames = folder / "frames10.txt"
    frames.write_text(f"v10s_frames {10 * FPS} 0\n" * 320)
    lists["340x256 10 s JPEG frames"] = DataConfig(dataset="frame-folder", root=str(folder),
                                                   train_list=str(frames), num_classes=2,
                                                   num_frames=NUM_FRAMES, size=64, sampling="dense",
                                                   frame_interval=INTERVAL)
    model = model_clips_per_second(batch, min_run_time)
    rows, targets = [], []
    for name, cfg in lists.items():
        for workers in (1, 2, 4):
            rate = loader_clips_per_second(cfg, workers, batch, batches)
            rows.append((name, workers, f"{rate:.1f}", f"{model:.1f}", f"{rate / model:.2f}"))
            targets.append(Row(f"loader vs model, {name}, {workers} workers", rate, model, "clips/s",
                               ">= 1", rate / model))
    return rows, targets, model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(ROOT / "runs" / "bench_data"),
                   help="where the generated data is kept (default runs/bench_data)")
    p.add_argument("--quick", action="store_true", help="fewer rounds")
    p.add_argument("--clean", action="store_true", help="regenerate the data")
    add_threads_arg(p)
    args = p.parse_args(argv)
    apply_threads(args)
    folder = Path(args.data_dir)
    if args.clean and folder.exists():
        shutil.rmtree(folder)
    started = time.perf_counter()
    print("generating data (first run only) ...", flush=True)
    paths = make_data(folder)
    rounds, per_round = (3, 4) if args.quick else (5, 6)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)                      # decoding and transforms: one thread, as in a worker
    rows, decode_targets = decoder_table(paths, rounds, per_round)
    print(f"\nDecoding one dense {NUM_FRAMES}x{INTERVAL} clip, clips/s of one process, 1 thread "
          f"(340x256, 30 fps, H.264)\n{machine()}, commit {commit()}")
    print(format_table(rows, ["video", "full", "seek", "JPEG frames", "decord", "seek/full",
                              "seek = full", "decord = full"], align="lrrrrrll"))
    trows, transform_targets = transform_rows(paths, rounds)
    print("\nPer clip (16 frames to 64x64, train mode), ms, one thread")
    print(format_table(trows, ["clips", "decode (seek)", "transform", "transform before",
                               "max |new - before|"], align="lrrrr"))
    torch.set_num_threads(torch_threads)
    batch, batches = 8, (4 if args.quick else 8)
    lrows, loader_targets, model = loader_rows(paths, folder, batch, batches, 0.6 if args.quick else 1.5)
    print(f"\nLoader (batch {batch}, dense 16x{INTERVAL} to 64x64, train mode) vs mlp3d-nano training "
          f"step at 16x64x64 ({torch_threads} torch threads): {model:.1f} clips/s")
    print(format_table(lrows, ["data", "workers", "loader clips/s", "model clips/s", "ratio"],
                       align="lrrrr"))
    print_table("Targets", decode_targets + transform_targets + loader_targets,
                note=f"wall time {time.perf_counter() - started:.0f} s; loader workers beyond the "
                     f"machine's {os.cpu_count()} cores cannot add throughput")
    return 0


if __name__ == "__main__":
    sys.exit(main())
