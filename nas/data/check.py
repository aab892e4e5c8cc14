"""``nas data check``: scan the dataset a run config names and report every sample.

    nas data check --config C.yaml [--set key=value ...] [--split train|val|all]
                   [--out report.csv] [--max-bad FRACTION] [--workers N] [--full]

The config is read exactly as ``nas pretrain`` reads it (`nas.config.load_run_config`, the same
``--set`` overrides), and the datasets are built the same way, so a list or path error is the
same one-line error (exit 2, nothing written). Then every sample of the chosen splits is
probed in ``--workers`` processes (one torch thread each) with a progress bar:

* videos (``video-list``): the frame index is built from the packets (the frame count, the fps
  from the timestamps, the duration, the keyframes) and the first and last frames are
  decoded; ``--full`` decodes every frame (slower; finds corrupt packets mid-file);
* frame folders: every listed frame file exists and has frame 0's size (image headers), the
  first and last frames decode; ``--full`` decodes every frame.

The report (CSV, written atomically) has one row per sample: ``split, index, path, label,
readable, error, frames, fps, duration_s, width, height, keyframes, short`` (``short``:
fewer frames than the clip the config samples needs, `DataConfig.clip_span`; such videos are
usable, their frames are repeated). One summary line follows. The exit status is 1 when the
fraction of unreadable samples is above ``--max-bad`` (default 0: any unreadable sample), 0
otherwise.
"""
from __future__ import annotations

import csv
import io
import multiprocessing as mp
import os
import time
from dataclasses import dataclass

import torch

from nas.utils import atomic_write_text
from search_spaces.errors import ConfigError, InputNotFoundError
from supernet.utils.progress import progress as progress_bar

from . import build_dataset
from .base import BadSampleError

COLUMNS = ("split", "index", "path", "label", "readable", "error", "frames", "fps",
           "duration_s", "width", "height", "keyframes", "short")

_STATE: dict = {}                   # per worker process: the datasets, the options


@dataclass
class CheckSummary:
    rows: list[dict]
    counts: dict[str, int]                # samples per split
    bad: int
    short: int
    seconds: float

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def bad_fraction(self) -> float:
        return self.bad / max(self.total, 1)


def run_check(cfg, split: str = "all", workers: int = 1, full: bool = False,
              progress: bool = True) -> CheckSummary:
    """Probe every sample of `split` (train, val or all) of the `DataConfig` `cfg`."""
    if cfg.is_synthetic:
        raise ConfigError(f"data.dataset={cfg.dataset!r} is generated, there is nothing to check; "
                          f"nas data check reads video-list and frame-folder datasets")
    if cfg.root and not os.path.isdir(cfg.root):
        raise InputNotFoundError(f"data.root {cfg.root} is not a folder")
    if split == "all":
        splits = [s for s, path in (("train", cfg.train_list), ("val", cfg.val_list)) if path]
    else:
        splits = [split]
    datasets = {s: build_dataset(cfg, s) for s in splits}     # list errors before any work
    tasks = [(s, i) for s in splits for i in range(len(datasets[s]))]
    start = time.perf_counter()
    bar = progress_bar(total=len(tasks), desc="data check", unit="sample", disable=not progress)
    rows = []
    if workers == 1:
        _init(datasets, full, cfg.clip_span)
        for task in tasks:
            rows.append(_probe(task))
            bar.update()
    else:
        context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with context.Pool(workers, _init, (datasets, full, cfg.clip_span)) as pool:
            for row in pool.imap(_probe, tasks, chunksize=max(1, min(16, len(tasks) // (8 * workers)))):
                rows.append(row)
                bar.update()
    bar.close()
    bad = sum(row["readable"] == "no" for row in rows)
    short = sum(row["short"] == "yes" for row in rows)
    return CheckSummary(rows, {s: len(datasets[s]) for s in splits}, bad, short,
                        time.perf_counter() - start)


def _init(datasets, full, span) -> None:
    torch.set_num_threads(1)
    _STATE.update(datasets=datasets, full=full, span=span)


def _probe(task) -> dict:
    split, index = task
    dataset = _STATE["datasets"][split]
    row = dict.fromkeys(COLUMNS, "")
    row.update(split=split, index=index, path=dataset.sample_name(index),
               label=dataset.labels[index], readable="no")
    try:
        info = dataset.probe(index, _STATE["full"])
    except BadSampleError as exc:
        row["error"] = str(exc)
        return row
    except Exception as exc:            # a reader bug must not stop a scan of 100k files
        row["error"] = f"unexpected {type(exc).__name__}: {exc}"
        return row
    row.update(readable="yes", frames=info.frames, width=info.width, height=info.height,
               fps="" if info.fps is None else f"{info.fps:.3f}",
               duration_s="" if info.duration is None else f"{info.duration:.3f}",
               keyframes="" if info.keyframes is None else info.keyframes,
               short="yes" if info.frames < _STATE["span"] else "no")
    return row


def write_report(path: str, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
