"""Real videos: a folder of video files and a list file of ``path label`` lines.

List format (the Kinetics / Something-Something video lists of PySlowFast and MMAction2):
one sample per line, ``<path> <label>`` separated by white space, or ``<path>,<label>`` (CSV).
The label is the last field, so paths may contain spaces. Blank lines and lines starting with
``#`` are ignored, and a first line whose label field is literally ``label`` is taken as a
header. Paths are relative to ``root`` (or, when ``root`` is empty, to the list file's
folder) unless absolute. Anything else is a one-line `ValueError` naming the file, the line
number and the line.

Decoding: the decoder named by ``data.decoder`` (`nas.data.decoders`; default ``pyav``,
which indexes the frames from the packets, never from container metadata, and decodes only
the keyframe-aligned span a clip needs, converting to RGB only the frames it uses). A missing
file, a file that cannot be opened or decoded, or one without video frames raises
`BadSampleError`, which the dataset turns into a skipped sample (one warning line, counted by
the loader), never a crash mid-epoch.
"""
from __future__ import annotations

import os
import re

from search_spaces.errors import DataError

from supernet.utils.io import read_lines

from .base import ClipDataset
from .decoders import DECODERS, VideoInfo, get_decoder
from .transforms import ClipTransform


def is_integer_text(text: str) -> bool:
    """An optionally signed run of ASCII digits (`str.isdigit` also accepts "²" and "١")."""
    return re.fullmatch(r"-?[0-9]+", text) is not None


def _parse_line(line: str) -> tuple[str, str] | None:
    """(path, label text) of a list line, trying the CSV comma first, then white space."""
    for sep in (",", None):
        if sep is not None and sep not in line:
            continue
        parts = line.rsplit(sep, 1)
        if len(parts) == 2 and parts[0].strip():
            path, label = parts[0].strip(), parts[1].strip()
            if is_integer_text(label) or label.lower() == "label":
                return path, label
    return None


def check_label(list_path: str, lineno: int, label: int, num_classes: int | None) -> int:
    """`label` if in 0..num_classes-1, else the one-line error naming the list line."""
    if label < 0 or (num_classes is not None and label >= num_classes):
        raise DataError(f"{list_path}:{lineno}: label {label} out of range "
                        f"0..{(num_classes or 1) - 1} (num_classes={num_classes})")
    return label


def read_video_list(list_path: str, root: str = "", num_classes: int | None = None
                    ) -> list[tuple[str, int]]:
    """Samples ``(absolute or root-joined path, label)`` of a ``path label`` list file."""
    if not os.path.isfile(list_path):
        raise DataError(f"video list {list_path!r} does not exist")
    base = root or os.path.dirname(os.path.abspath(list_path))
    samples: list[tuple[str, int]] = []
    for lineno, raw in enumerate(read_lines(list_path, "video list"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parsed = _parse_line(line)
        if parsed is None:
            raise DataError(f"{list_path}:{lineno}: malformed line {line!r}; expected "
                            f"'<video path> <integer label>' or '<video path>,<label>'")
        path, label_text = parsed
        if label_text.lower() == "label":
            if samples:
                raise DataError(f"{list_path}:{lineno}: header line {line!r} after data")
            continue
        label = check_label(list_path, lineno, int(label_text), num_classes)
        samples.append((path if os.path.isabs(path) else os.path.join(base, path), label))
    if not samples:
        raise DataError(f"video list {list_path!r} has no samples")
    return samples


class VideoListDataset(ClipDataset):
    """Clips of the videos of a list file: items ``(clip (3, T, S, S) float, label)``."""

    def __init__(self, list_path: str, root: str, num_classes: int, transform: ClipTransform,
                 seed: int = 0, decoder: str = "pyav"):
        super().__init__(transform, seed)
        get_decoder(decoder)                    # unknown or not installed: fail here
        self.decoder_name = decoder             # a name, so the dataset pickles (spawned workers)
        self.samples = read_video_list(list_path, root, num_classes)
        self.labels = [label for _, label in self.samples]
        self.classes = [str(c) for c in range(num_classes)]

    @property
    def decoder(self):
        return DECODERS[self.decoder_name]

    def sample_name(self, index: int) -> str:
        return self.samples[index][0]

    def load_frames(self, index: int):
        return self.decoder.open(self.samples[index][0])

    def probe(self, index: int, full: bool = False) -> VideoInfo:
        return self.decoder.probe(self.samples[index][0], full)
