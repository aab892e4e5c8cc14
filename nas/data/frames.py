"""Videos stored as folders of frame images (``dataset: frame-folder``), as Something-Something
V2 and Kinetics often are on disk.

Two list formats, told apart by their first line:

* **MMAction2 rawframes** (``RawframeDataset``): ``<frame dir> <num frames> <label>`` per line,
  white-space separated (the directory may contain spaces). Frame ``i`` (0-based) of a video
  is ``root/<frame dir>/`` + ``filename_tmpl.format(start_index + i)``; MMAction2's defaults,
  ``img_{:05d}.jpg`` and 1, are ours. The frame count is the list's (as in MMAction2).
* **PySlowFast frame lists** (its Charades / Something-Something CSVs): a header line
  ``original_vido_id video_id frame_id path labels`` and then one line per frame, space
  separated; a video's frames are its rows in ``frame_id`` order, its label the first integer
  of ``labels``. (PySlowFast's SS-V2 lists leave ``labels`` empty and keep the labels in
  JSON files: fill the column, or convert to a rawframes list; an empty label is an error.)

Paths are relative to ``root`` (or, when ``root`` is empty, to the list file's folder) unless
absolute; blank lines and ``#`` comments are skipped; anything else is a one-line
`ValueError` naming the file and line.

Frames are decoded with Pillow (libjpeg-turbo inside), only those a clip uses, once for all
of an item's views. A missing or undecodable frame, or frames of different sizes, make the
sample bad exactly like a corrupt video: `BadSampleError` -> one warning line, the item is
skipped and counted by the loader, never a crash. Sampling, augmentation, resume and
multi-view rules are those of every `ClipDataset` (`nas.data.transforms`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from search_spaces.errors import DataError

from supernet.utils.io import read_lines

from .base import BadSampleError, ClipDataset
from .decoders import VideoInfo
from .transforms import ClipTransform
from .video import check_label, is_integer_text

SLOWFAST_HEADER = ("original_vido_id", "video_id", "frame_id", "path", "labels")


@dataclass
class FrameSample:
    """One video as frames: ``folder`` + ``tmpl`` numbering (rawframes) or explicit ``paths``."""

    name: str
    count: int
    label: int
    folder: str = ""
    paths: list[str] | None = None

    def path(self, i: int, tmpl: str, start_index: int) -> str:
        if self.paths is not None:
            return self.paths[i]
        return os.path.join(self.folder, tmpl.format(start_index + i))


def _resolve(base: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(base, path)


def _label(list_path: str, lineno: int, line: str, text: str, num_classes: int | None) -> int:
    if not is_integer_text(text):
        raise DataError(f"{list_path}:{lineno}: label {text!r} is not an integer in line "
                        f"{line!r}")
    return check_label(list_path, lineno, int(text), num_classes)


def read_frame_list(list_path: str, root: str = "", num_classes: int | None = None
                    ) -> list[FrameSample]:
    """The videos of a rawframes list or a PySlowFast frame-list CSV (see the module doc)."""
    if not os.path.isfile(list_path):
        raise DataError(f"frame list {list_path!r} does not exist")
    base = root or os.path.dirname(os.path.abspath(list_path))
    lines = [(n, raw.strip()) for n, raw in enumerate(read_lines(list_path, "frame list"), 1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if lines and tuple(lines[0][1].split()) == SLOWFAST_HEADER:
        samples = _read_slowfast(list_path, lines[1:], base, num_classes)
    else:
        samples = _read_rawframes(list_path, lines, base, num_classes)
    if not samples:
        raise DataError(f"frame list {list_path!r} has no samples")
    return samples


def _read_rawframes(list_path, lines, base, num_classes) -> list[FrameSample]:
    samples = []
    for lineno, line in lines:
        parts = line.rsplit(None, 2)
        if len(parts) != 3 or not is_integer_text(parts[1]):
            raise DataError(f"{list_path}:{lineno}: malformed line {line!r}; expected "
                            f"'<frame dir> <num frames> <integer label>' (MMAction2 rawframes)")
        folder, count, label_text = parts
        if int(count) < 1:
            raise DataError(f"{list_path}:{lineno}: {folder!r} has {count} frames; need >= 1")
        label = _label(list_path, lineno, line, label_text, num_classes)
        samples.append(FrameSample(folder, int(count), label, folder=_resolve(base, folder)))
    return samples


def _read_slowfast(list_path, lines, base, num_classes) -> list[FrameSample]:
    videos: dict[str, list] = {}
    for lineno, line in lines:
        parts = line.split()
        if len(parts) == 4:                         # an empty labels column
            parts.append("")
        if len(parts) != 5 or not is_integer_text(parts[2]):
            raise DataError(f"{list_path}:{lineno}: malformed frame-list line {line!r}; "
                            f"expected '{' '.join(SLOWFAST_HEADER)}' fields")
        original, video, frame, path, labels = parts
        first = labels.strip('"').split(",")[0]
        if not first:
            raise DataError(f"{list_path}:{lineno}: video {original!r} has no label (empty "
                            f"'labels' column); write its integer class there")
        label = _label(list_path, lineno, line, first, num_classes)
        entry = videos.setdefault(video, [original, label, []])
        if entry[1] != label:
            raise DataError(f"{list_path}:{lineno}: video {original!r} has labels "
                            f"{entry[1]} and {label}")
        entry[2].append((int(frame), _resolve(base, path)))
    samples = []
    for original, label, frames in videos.values():
        frames.sort()
        samples.append(FrameSample(original, len(frames), label, paths=[p for _, p in frames]))
    return samples


def decode_image(path: str) -> np.ndarray:
    """uint8 RGB (H, W, 3) of an image file; `BadSampleError` when missing or undecodable."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise BadSampleError(f"frame {os.path.basename(path)} not found") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise BadSampleError(f"frame {os.path.basename(path)} cannot be decoded "
                             f"({type(exc).__name__}: {exc})") from None


def image_size(path: str) -> tuple[int, int]:
    """(height, width) from an image file's header (no decoding)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise BadSampleError(f"frame {os.path.basename(path)} not found") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise BadSampleError(f"frame {os.path.basename(path)} is not an image "
                             f"({type(exc).__name__}: {exc})") from None
    return height, width


class FrameFolder:
    """A lazy video of frame files: ``shape`` from the first frame's header; ``folder[indices]``
    decodes each distinct frame once."""

    def __init__(self, path_of, count: int):
        self._path = path_of
        height, width = image_size(path_of(0))
        self.shape = (count, height, width, 3)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, indices) -> np.ndarray:
        decoded: dict[int, np.ndarray] = {}
        for i in sorted(set(int(i) for i in indices)):
            frame = decode_image(self._path(i))
            if frame.shape != self.shape[1:]:
                raise BadSampleError(f"frame {os.path.basename(self._path(i))} is "
                                     f"{frame.shape[1]}x{frame.shape[0]}, frame 0 is "
                                     f"{self.shape[2]}x{self.shape[1]}")
            decoded[i] = frame
        return np.stack([decoded[int(i)] for i in indices])


class FrameFolderDataset(ClipDataset):
    """Clips of videos stored as frame folders: items ``(clip (3, T, S, S) float, label)``."""

    def __init__(self, list_path: str, root: str, num_classes: int, transform: ClipTransform,
                 seed: int = 0, filename_tmpl: str = "img_{:05d}.jpg", start_index: int = 1):
        super().__init__(transform, seed)
        self.tmpl, self.start_index = filename_tmpl, int(start_index)
        self.samples = read_frame_list(list_path, root, num_classes)
        self.labels = [s.label for s in self.samples]
        self.classes = [str(c) for c in range(num_classes)]

    def sample_name(self, index: int) -> str:
        sample = self.samples[index]
        return sample.folder or sample.name

    def frame_path(self, index: int, i: int) -> str:
        return self.samples[index].path(i, self.tmpl, self.start_index)

    def load_frames(self, index: int) -> FrameFolder:
        sample = self.samples[index]
        return FrameFolder(lambda i: self.frame_path(index, i), sample.count)

    def probe(self, index: int, full: bool = False) -> VideoInfo:
        """Every listed frame exists and is an image of frame 0's size (headers only), and
        frames 0 and L-1 decode (``full``: every frame decodes)."""
        sample = self.samples[index]
        paths = [self.frame_path(index, i) for i in range(sample.count)]
        listing: dict[str, set[str]] = {}
        for path in paths:
            folder, name = os.path.split(path)
            if folder not in listing:
                listing[folder] = set(os.listdir(folder)) if os.path.isdir(folder) else set()
            if name not in listing[folder]:
                raise BadSampleError(f"frame {name} not found"
                                     + ("" if listing[folder] else f" (no folder {folder})"))
        video = self.load_frames(index)
        for path in paths:
            if image_size(path) != video.shape[1:3]:
                raise BadSampleError(f"frame {os.path.basename(path)} differs in size from "
                                     f"frame 0")
        video[range(sample.count) if full else [0, sample.count - 1]]
        return VideoInfo(sample.count, video.shape[2], video.shape[1])
