"""Generated video files for tests and benchmarks: no downloads, any GOP, frame rate or layout.

`moving_frames(n, height, width, seed)` draws frames that compress like camera footage (a
smooth moving pattern, a square moving over it, mild noise) and carry their own index in a
corner (`frame_number` reads it back to within a few grey levels, so tests can check which
source frame a decoded one is). `write_video(path, frames, ...)` encodes them with PyAV:
H.264 (``libx264``) or MPEG-4 Part 2 at a keyframe interval ``gop``, constant or
variable frame rate (explicit ``pts``), an optional start offset, in any container FFmpeg
writes (``.mp4``, ``.mkv``, ``.avi``, ``.ts``). `write_frame_folder` writes the same frames as
numbered image files (an MMAction2 "rawframes" folder).
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

MARK = 8                          # side of the squares that carry the frame number's bits


def moving_frames(n: int, height: int = 256, width: int = 340, seed: int = 0) -> np.ndarray:
    """uint8 (n, height, width, 3): a drifting colour pattern, a moving square, mild noise,
    and frame ``t``'s number in binary along the top edge (``MARK`` x ``MARK`` squares,
    black for 0, white for 1, lowest bit first; as many bits as the width holds, at most 12)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 3).astype(np.float32)
    out = np.empty((n, height, width, 3), np.uint8)
    side = max(4, min(height, width) // 5)
    for t in range(n):
        base = [96 + 64 * np.sin(xx / (17 + 5 * c) + yy / 23 + 0.15 * t + phase[c]) for c in range(3)]
        img = np.stack(base, -1)
        top = int((height - side) * (0.5 + 0.45 * np.sin(0.07 * t + phase[0])))
        left = int((width - side) * (0.5 + 0.45 * np.cos(0.05 * t + phase[1])))
        img[top:top + side, left:left + side] = (230, 60, 40)
        img += rng.normal(0, 3, img.shape[:2] + (1,)).astype(np.float32)
        for bit in range(_bits(width)):
            img[:MARK, bit * MARK:(bit + 1) * MARK] = 235 if t >> bit & 1 else 16
        out[t] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def _bits(width: int) -> int:
    return min(12, width // MARK)


def frame_number(frame: np.ndarray) -> int:
    """The frame index that `moving_frames` wrote along a decoded frame's top edge (modulo
    ``2 ** bits``: 4096 for frames at least 96 pixels wide)."""
    bits = [frame[1:MARK - 1, b * MARK + 1:(b + 1) * MARK - 1].mean() > 125
            for b in range(_bits(frame.shape[1]))]
    return sum(int(v) << b for b, v in enumerate(bits))


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 30, gop: int = 60,
                codec: str = "libx264", pts: list[int] | None = None, time_base: Fraction | None = None,
                bframes: int | None = None, crf: int = 23) -> Path:
    """Encode uint8 (n, H, W, 3) `frames` to `path` (container from the extension).

    ``gop``: keyframe interval (1 = every frame a keyframe). ``pts``: explicit presentation
    timestamps in ``time_base`` units (variable frame rate, or a start offset); default
    ``t`` in units of 1/fps. ``bframes``: B-frames between references (libx264 default 3).
    """
    path = Path(path)
    n, height, width, _ = frames.shape
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        options = {}
        if codec == "libx264":
            options = {"crf": str(crf), "preset": "veryfast", "tune": "zerolatency" if bframes == 0 else "film",
                       "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"
                       + ("" if bframes is None else f":bframes={bframes}")}
        elif bframes:
            stream.codec_context.max_b_frames = bframes
        stream.codec_context.options = options
        if time_base is not None or pts is not None:
            stream.codec_context.time_base = time_base or Fraction(1, fps)
            stream.time_base = stream.codec_context.time_base
        for t in range(n):
            frame = av.VideoFrame.from_ndarray(frames[t], format="rgb24")
            frame.pts = t if pts is None else int(pts[t])
            if pts is not None or time_base is not None:
                frame.time_base = stream.codec_context.time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frame_folder(folder: str | os.PathLike, frames: np.ndarray, tmpl: str = "img_{:05d}.jpg",
                       start_index: int = 1, quality: int = 95) -> Path:
    """Write uint8 (n, H, W, 3) frames as ``folder/tmpl.format(start_index + t)`` images
    (JPEG at `quality`, or lossless PNG for a ``.png`` template)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        name = folder / tmpl.format(start_index + t)
        kwargs = {"quality": quality} if name.suffix.lower() in (".jpg", ".jpeg") else {}
        Image.fromarray(frame).save(name, **kwargs)
    return folder
