"""Per-clip outcomes of every evaluation, beside ``results.csv`` in ``outcomes.npz``.

For each results row (by key) the store keeps which validation clips were right (packed
bits, in clip order), the summed loss of each batch, and the slices evaluated so far (a
full evaluation is one slice; racing adds slices one at a time, always from the start of
the validation set, so what was evaluated is a prefix of the clips). That is enough to
rebuild V, loss and SE after any number of slices exactly, and to compare two candidates
paired on their common clips (`confidence.compare_outcomes`).

Consistency with results.csv: the engine writes ``outcomes.npz`` first and ``results.csv``
second, each atomically. results.csv is the commit point: on resume, outcomes of keys not
in results.csv, or slices beyond a row's ``clips``, come from an evaluation that was killed
before its row was written and are dropped (and evaluated again).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from search_spaces.errors import InputFileError

from supernet.utils.io import atomic_write

from .confidence import unpack_hits

if TYPE_CHECKING:                          # the evaluator imports torch; the strategy registry imports this module
    from .evaluator import EvalResult

OUTCOMES_NPZ = "outcomes.npz"
FORMAT = "vidnas-outcomes-v1"


@dataclass
class View:
    """V, loss and counts of a key after its first `depth` slices."""

    depth: int
    correct: int
    clips: int
    loss: float
    seconds: float

    @property
    def top1(self) -> float:
        return 100.0 * self.correct / self.clips


@dataclass
class ClipLog:
    """The slices evaluated for one key, concatenated in clip order."""

    hits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    batch_losses: list[float] = field(default_factory=list)
    slice_clips: list[int] = field(default_factory=list)
    slice_batches: list[int] = field(default_factory=list)
    slice_seconds: list[float] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return len(self.slice_clips)

    @property
    def clips(self) -> int:
        return len(self.hits)

    def add(self, result: EvalResult) -> None:
        """Append the next slice (`result` must carry hits and batch losses)."""
        if result.hits is None:
            raise ValueError("this evaluation has no per-clip outcomes")
        self.hits = np.concatenate([self.hits, unpack_hits(result.hits, result.total)])
        self.batch_losses += [float(v) for v in result.batch_losses]
        self.slice_clips.append(int(result.total))
        self.slice_batches.append(len(result.batch_losses))
        self.slice_seconds.append(float(result.seconds))

    def view(self, depth: int | None = None) -> View:
        """Scores over the first `depth` slices (all by default). The loss is the sum of
        the per-batch losses in batch order over the clips, as one full evaluation sums it."""
        d = self.depth if depth is None else depth
        if not 1 <= d <= self.depth:
            raise ValueError(f"asked for {d} slices, {self.depth} evaluated")
        clips = sum(self.slice_clips[:d])
        loss = sum(self.batch_losses[:sum(self.slice_batches[:d])]) / clips
        return View(d, int(self.hits[:clips].sum()), clips, loss, sum(self.slice_seconds[:d]))

    def truncate(self, clips: int) -> bool:
        """Keep the slices that make up the first `clips` clips; False if no prefix does."""
        total, d = 0, 0
        while d < self.depth and total < clips:
            total += self.slice_clips[d]
            d += 1
        if total != clips:
            return False
        nb = sum(self.slice_batches[:d])
        self.hits, self.batch_losses = self.hits[:clips], self.batch_losses[:nb]
        del self.slice_clips[d:], self.slice_batches[d:], self.slice_seconds[d:]
        return True


def save_outcomes(path: str | Path, logs: dict[str, ClipLog]) -> None:
    """Write every log to one .npz (flat arrays with offsets), atomically."""
    keys = list(logs)
    def flat(name, dtype):
        parts = [np.asarray(getattr(logs[k], name), dtype=dtype) for k in keys]
        offsets = np.cumsum([0] + [len(p) for p in parts]).astype(np.int64)
        return (np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)), offsets
    hits, hit_off = flat("hits", bool)
    losses, loss_off = flat("batch_losses", np.float64)
    sclips, slice_off = flat("slice_clips", np.int64)
    sbatches, _ = flat("slice_batches", np.int64)
    ssec, _ = flat("slice_seconds", np.float64)
    buf = io.BytesIO()
    np.savez(buf, format=np.array(FORMAT), keys=np.array(keys, dtype=str), hits=np.packbits(hits),
             n_hits=np.array(len(hits)), hit_offsets=hit_off, batch_losses=losses,
             loss_offsets=loss_off, slice_clips=sclips, slice_batches=sbatches,
             slice_seconds=ssec, slice_offsets=slice_off)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def load_outcomes(path: str | Path) -> dict[str, ClipLog]:
    """The logs of an `outcomes.npz` (no pickles: plain arrays only)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["format"]) != FORMAT:
                raise InputFileError(f"{path} is not a vidnas outcomes file (format {str(z['format'])!r})")
            keys = [str(k) for k in z["keys"]]
            hits = np.unpackbits(z["hits"], count=int(z["n_hits"])).astype(bool)
            ho, lo, so = z["hit_offsets"], z["loss_offsets"], z["slice_offsets"]
            losses, sc, sb, ss = z["batch_losses"], z["slice_clips"], z["slice_batches"], z["slice_seconds"]
    except (OSError, KeyError, ValueError, EOFError) as e:
        if isinstance(e, ValueError) and "vidnas outcomes" in str(e):
            raise
        raise InputFileError(f"cannot read per-clip outcomes {path}: {str(e).splitlines()[0]}") from None
    out = {}
    for i, k in enumerate(keys):
        out[k] = ClipLog(hits[ho[i]:ho[i + 1]].copy(), [float(v) for v in losses[lo[i]:lo[i + 1]]],
                         [int(v) for v in sc[so[i]:so[i + 1]]], [int(v) for v in sb[so[i]:so[i + 1]]],
                         [float(v) for v in ss[so[i]:so[i + 1]]])
    return out
