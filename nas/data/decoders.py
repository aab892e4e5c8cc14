"""Video decoders behind ``data.decoder``: a registry, with seek-based PyAV decoding by default.

A decoder turns a path into a lazy *video*: an object with ``shape`` ``(L, H, W, 3)`` whose
``video[indices]`` returns those frames as uint8 RGB ``(len(indices), H, W, 3)``, decoding
only what they need, once per call (`nas.data.transforms.ClipTransform` asks once per item
for the union of all its views' frames, so multi-view testing decodes a video once). It
also ``probe``s a file for `nas data check` (frame count, fps, duration, resolution).
Missing or undecodable files raise `BadSampleError` (a skipped sample, never a crash).

**pyav** (default). Frame indexing never trusts container metadata: opening a video demuxes
its packets (no decoding; about 5 us a packet) and sorts their presentation timestamps, so
frame ``i`` is the i-th timestamp in presentation order. That is right for variable frame
rates, streams that start at a non-zero timestamp and files whose stored frame count is
wrong. Decoding a clip then follows one rule, the same for every sampling:

* decode from the keyframe at or before the first frame the clip needs up to the last frame
  it needs, and stop there;
* on the way, jump (seek) to a later keyframe when it skips more than ``SEEK_MIN_GAP``
  frames that no view needs.

Within a run, packets of non-reference frames that no view needs are not decoded at all
(FFmpeg's ``skip_frame``, set per packet; no other frame depends on them, so the others decode
the same; H.264 and MPEG-4 Part 2, ``SKIP_NONREF_CODECS``). So a dense clip costs one seek
plus the reference frames of its span (GOP-aligned), whatever the video's length; a
uniform clip of a short video (its frames spread over the whole video, closer together than
the keyframes) is one decode from the start; a uniform clip of a long video with short GOPs
jumps from segment to segment. Seeks are used only in containers whose demuxers seek through
a keyframe index (``SEEK_FORMATS``: MP4/MOV, Matroska/WebM, AVI); other files (MPEG-TS,
raw streams, ...) and streams whose packets lack timestamps or whose first frame is not a
keyframe are decoded from the start, like any other clip whose frames start at frame 0.

Every decoded frame is identified by its timestamp, so what is returned equals a full decode
(tested on GOPs 1, 12, 60 and 250, B-frames, variable frame rate, a start offset and a wrong
stored frame count). Should a decoder ever disagree with the index (a frame whose timestamp
the demuxer did not list, or a needed frame that never comes), the video falls back to a full
decode; if that finds a different frame count, it raises `FrameCountChanged` carrying the
decoded video, and the dataset samples the clip again from the true length.

Second decoders were measured and are not registered (docs/data.md, "Decoders"): torchcodec's
PyPI wheel needs CUDA torch and system FFmpeg libraries; decord is no faster than seek
decoding and returns wrong frames for MPEG-TS and MPEG-4 Part 2 B-frame files. A new one is a
`register_decoder` call; `get_decoder` reports an unknown or uninstalled one in one line.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np
import torch

from search_spaces.errors import ConfigError

from .base import BadSampleError, FrameCountChanged

SEEK_FORMATS = ("mov", "matroska", "avi")   # FFmpeg demuxers that seek by a keyframe index
SEEK_MIN_GAP = 8                            # jump to a later keyframe only past this many frames
SKIP_NONREF_CODECS = ("h264", "mpeg4")      # per-packet skip_frame=NONREF tested exact here


def _av():
    """PyAV, imported on first use: the model, training and synthetic-data paths import
    `nas.data` without it (the GPU machines of `experiments/gpu_check.sh` have no PyAV)."""
    import av  # lazy: PyAV is heavy and absent on the GPU machines; only video-list decoding needs it
    return av


def _decode_errors() -> tuple:
    """What a failed decode raises (evaluated when an exception is being matched)."""
    return (_av().FFmpegError, OSError, ValueError, EOFError, IndexError)


@dataclass(frozen=True)
class VideoInfo:
    """What `nas data check` reports of one readable sample."""

    frames: int
    width: int
    height: int
    fps: float | None = None          # None where frames carry no timestamps (frame folders)
    duration: float | None = None     # seconds
    keyframes: int | None = None


# ---- the registry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DecoderEntry:
    """A registered decoder: ``open(path)`` -> lazy video, ``probe(path, full)`` -> `VideoInfo`;
    ``missing()`` is None when usable, else the one-line reason (e.g. the package to install)."""

    name: str
    open: Callable
    probe: Callable
    missing: Callable[[], str | None]
    description: str


DECODERS: dict[str, DecoderEntry] = {}


def register_decoder(name: str, open, probe, missing=lambda: None, description: str = "") -> None:
    DECODERS[name] = DecoderEntry(name, open, probe, missing, description)


def decoder_names() -> tuple[str, ...]:
    return tuple(DECODERS)


def get_decoder(name: str) -> DecoderEntry:
    """The decoder registered as `name`; one-line `ValueError` if unknown or not installed."""
    if name not in DECODERS:
        raise ConfigError(f"data.decoder={name!r} is not a registered decoder; use one of "
                          f"{', '.join(DECODERS)}")
    entry = DECODERS[name]
    reason = entry.missing()
    if reason:
        raise ConfigError(f"data.decoder={name!r} cannot be used here: {reason}")
    return entry


# ---- PyAV: full decode ---------------------------------------------------------------------
def _rgb(frame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def _set_threads(stream) -> None:
    """FFmpeg's threads follow torch's setting: one thread in data-loader workers (they set
    one torch thread; the workers are the parallelism), FFmpeg's choice elsewhere."""
    stream.thread_type = "AUTO" if torch.get_num_threads() > 1 else "NONE"


class DecodedVideo:
    """All frames of a video, kept in decoder format; ``video[indices]`` gives uint8 RGB
    ``(len(indices), H, W, 3)``, converting each distinct frame once."""

    def __init__(self, frames: list):
        self._frames = frames
        self._rgb: dict[int, np.ndarray] = {}
        self.shape = (len(frames), frames[0].height, frames[0].width, 3)

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, indices) -> np.ndarray:
        out = []
        for i in indices:
            i = int(i)
            if i not in self._rgb:
                self._rgb[i] = _rgb(self._frames[i])
            out.append(self._rgb[i])
        try:
            return np.stack(out)
        except ValueError:
            raise BadSampleError("frames of different sizes in one stream") from None


def _open(path: str):
    if not os.path.isfile(path):
        raise BadSampleError("file not found")
    try:
        container = _av().open(path)
    except _decode_errors() as exc:
        raise BadSampleError(f"cannot open ({type(exc).__name__}: {exc})") from None
    if not container.streams.video:
        container.close()
        raise BadSampleError("no video stream")
    return container


def decode_video(path: str) -> DecodedVideo:
    """Decode every frame of the first video stream of `path`; `BadSampleError` if missing or
    unreadable."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        _set_threads(stream)
        frames = list(container.decode(stream))
    except _decode_errors() as exc:
        raise BadSampleError(f"cannot decode ({type(exc).__name__}: {exc})") from None
    finally:
        container.close()
    if not frames:
        raise BadSampleError("no decodable video frames")
    return DecodedVideo(frames)


# ---- PyAV: the frame index and seek-based decoding ------------------------------------------
@dataclass(frozen=True)
class FrameIndex:
    """Presentation timestamps of a stream's frames (sorted: frame i is ``pts[i]``) and the
    positions of its keyframes; ``seekable`` when clips may be decoded by seeking."""

    pts: np.ndarray
    keyframes: np.ndarray
    time_base: Fraction
    seekable: bool
    timed: bool = True                # False: packets without timestamps (frames by count)

    def __len__(self) -> int:
        return len(self.pts)

    @property
    def fps(self) -> float | None:
        if len(self.pts) < 2 or self.pts[-1] == self.pts[0]:
            return None
        if not self.timed:
            return None
        return float((len(self.pts) - 1) / ((int(self.pts[-1]) - int(self.pts[0])) * self.time_base))

    def position(self, pts) -> int | None:
        """The frame index of a decoded frame's timestamp; None if the index lacks it."""
        if pts is None:
            return None
        i = int(np.searchsorted(self.pts, pts))
        return i if i < len(self.pts) and self.pts[i] == pts else None

    def key_before(self, i: int) -> int:
        """The last keyframe at or before frame i."""
        return int(self.keyframes[np.searchsorted(self.keyframes, i, side="right") - 1])


def build_index(container, stream) -> FrameIndex | None:
    """Demux (not decode) every packet of `stream`; None when there are no video packets."""
    pts, keys, timed = [], [], True
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_discard:       # flush packet / edit-list discard
            continue
        if packet.pts is None:
            timed = False
        pts.append(packet.pts if packet.pts is not None else len(pts))
        keys.append(packet.is_keyframe)
    if not pts:
        return None
    order = np.argsort(np.asarray(pts, np.int64), kind="stable")
    sorted_pts = np.asarray(pts, np.int64)[order]
    keyframes = np.flatnonzero(np.asarray(keys, bool)[order])
    seekable = (timed and len(keyframes) > 0 and keyframes[0] == 0
                and bool(np.all(np.diff(sorted_pts) > 0))
                and any(name in SEEK_FORMATS for name in container.format.name.split(",")))
    return FrameIndex(sorted_pts, keyframes, stream.time_base or Fraction(1, 1), seekable, timed)


def decode_runs(needed: list[int], index: FrameIndex, min_gap: int = SEEK_MIN_GAP
                ) -> list[tuple[int, list[int]]]:
    """The decoding plan of sorted distinct frame indices: ``(keyframe to seek to, the needed
    frames decoded from it)`` runs (see the module doc for the rule)."""
    runs: list[tuple[int, list[int]]] = []
    for i in needed:
        key = index.key_before(i) if index.seekable else 0
        if runs and key <= runs[-1][1][-1] + min_gap:
            runs[-1][1].append(i)
        else:
            runs.append((key, [i]))
    return runs


class PyAVVideo:
    """A video indexed from its packets; ``video[indices]`` decodes only the runs those frames
    need (`decode_runs`) and equals a full decode's frames."""

    def __init__(self, path: str, container=None):
        self.path = path
        container = container or _open(path)
        try:
            stream = container.streams.video[0]
            index = build_index(container, stream)
            width, height = stream.codec_context.width, stream.codec_context.height
        except _decode_errors() as exc:
            container.close()
            raise BadSampleError(f"cannot read packets ({type(exc).__name__}: {exc})") from None
        if index is None:
            container.close()
            raise BadSampleError("no video packets")
        self.index = index
        self._container = container
        self.shape = (len(index), height, width, 3)
        self.full_decodes = 0                       # fallbacks taken (for tests and probes)
        self.decoded = 0                            # frames the decoder output (for tests)

    def __len__(self) -> int:
        return self.shape[0]

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __del__(self):
        try:
            self.close()
        except Exception:                           # pragma: no cover - interpreter exit
            pass

    def __getitem__(self, indices) -> np.ndarray:
        indices = [int(i) for i in indices]
        if any(not 0 <= i < len(self) for i in indices):
            raise IndexError(f"frame index out of range 0..{len(self) - 1}")
        got = self.decode(sorted(set(indices)))
        if got is None:                             # the decoder disagreed with the index
            self.full_decodes += 1
            full = decode_video(self.path)
            if len(full) != len(self):
                raise FrameCountChanged(full)
            return full[indices]
        try:
            return np.stack([got[i] for i in indices])
        except ValueError:
            raise BadSampleError("frames of different sizes in one stream") from None

    def decode(self, needed: list[int]) -> dict[int, np.ndarray] | None:
        """RGB frames of the sorted distinct `needed` indices, or None when a decoded frame's
        timestamp is not in the index or a needed frame never comes."""
        index = self.index
        container, self._container = self._container, None
        if not index.seekable:                      # decode from byte 0 of a fresh open
            if container is not None:
                container.close()
            container = None
        container = container or _open(self.path)
        got: dict[int, np.ndarray] = {}
        try:
            stream = container.streams.video[0]
            _set_threads(stream)
            shape = self.shape[1:3]
            context = stream.codec_context
            skip = index.timed and context.name in SKIP_NONREF_CODECS
            for key, frames in decode_runs(needed, index):
                want, last = set(frames), frames[-1]
                if index.seekable:
                    container.seek(int(index.pts[key]), stream=stream, backward=True)
                count, done = 0, False
                for packet in container.demux(stream):
                    if skip:                        # nothing refers to a non-reference frame
                        pos = index.position(packet.pts)
                        context.skip_frame = "DEFAULT" if pos is None or pos in want else "NONREF"
                    for frame in packet.decode():
                        pos = index.position(frame.pts) if index.timed else count
                        count += 1
                        self.decoded += 1
                        if pos is None or (frame.height, frame.width) != shape:
                            return None
                        if pos in want:
                            got[pos] = _rgb(frame)
                            want.discard(pos)
                        if pos >= last:
                            done = True
                            break
                    if done:
                        break
                if skip:
                    context.skip_frame = "DEFAULT"
                if want:
                    return None
        except _decode_errors() as exc:
            raise BadSampleError(f"cannot decode ({type(exc).__name__}: {exc})") from None
        finally:
            container.close()
        return got


def open_pyav(path: str):
    """The lazy PyAV video of `path` (seek-based where the container allows)."""
    return PyAVVideo(path)


def probe_pyav(path: str, full: bool = False) -> VideoInfo:
    """Frame count, fps, duration and resolution of `path`, checking that its first and last
    frames decode (``full``: every frame, and the frame count is the decoded one)."""
    video = PyAVVideo(path)
    frames = len(video)
    try:
        if full:
            video.close()
            frames = len(decode_video(path))
        else:
            video[[0, frames - 1]]
    except FrameCountChanged as exc:
        frames = len(exc.video)
    fps = video.index.fps
    return VideoInfo(frames, video.shape[2], video.shape[1], fps,
                     frames / fps if fps else None, len(video.index.keyframes))


def _pyav_missing() -> str | None:
    return None if importlib.util.find_spec("av") else "PyAV is not installed (pip install av)"


register_decoder("pyav", open_pyav, probe_pyav, _pyav_missing,
                 description="PyAV (FFmpeg); seek-based, frames equal a full decode")
