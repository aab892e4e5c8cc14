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

from search_spaces.errors import ConfigError, InputNotFoundError

from supernet.utils.progress import progress as progress_bar

from .base import BadSampleError

COLUMNS = ("split", "index", "path", "label", "readable", "error", "frames", "fps",
           "duration_s", "width", "height", "keyframes", "short")
SPLIT_CHOICES = ("train", "val", "all")

_STATE: dict = {}                   # per worker process: the datasets, the options


def add_parser(sub) -> None:
    """Register ``nas data`` with its ``check`` sub-command on the CLI's sub-parsers."""
    data = sub.add_parser("data", help="inspect datasets: nas data check")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    p = commands.add_parser("check", help="scan a run config's dataset: readable samples, "
                                          "frame counts, fps, sizes; CSV report")
    p.add_argument("--config", required=True, help="YAML run config (see experiments/configs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value as in nas pretrain, e.g. --set data.root=/d")
    p.add_argument("--split", default="all", choices=SPLIT_CHOICES,
                   help="which list to scan (default all: every list the config names)")
    p.add_argument("--out", default="data_check.csv", help="CSV report (default data_check.csv)")
    p.add_argument("--max-bad", type=float, default=0.0, metavar="FRACTION",
                   help="fail only above this fraction of unreadable samples (default 0)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                   help="processes (default min(4, cores))")
    p.add_argument("--full", action="store_true", help="decode every frame of every sample")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data_check)


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


def cmd_data_check(args) -> int:
    from nas.config import load_run_config

    if not 0.0 <= args.max_bad <= 1.0:
        raise ConfigError(f"--max-bad must be a fraction in [0, 1], got {args.max_bad}")
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise InputNotFoundError(f"--out {args.out}: folder {folder} does not exist")
    from nas.validate import check_output_file
    check_output_file(args.out, "--out")
    cfg = load_run_config(args.config, args.set).data
    summary = run_check(cfg, args.split, args.workers, args.full, not args.no_progress)
    write_report(args.out, summary.rows)
    failed = summary.bad_fraction > args.max_bad
    parts = ", ".join(f"{split} {n}" for split, n in summary.counts.items())
    line = (f"checked {summary.total} samples ({parts}) in {summary.seconds:.1f} s: "
            f"{summary.total - summary.bad} readable, {summary.bad} unreadable "
            f"({100 * summary.bad_fraction:.2f}%), {summary.short} shorter than the "
            f"{cfg.clip_span}-frame clip; report {args.out}")
    if failed:
        line += f"; FAILED: unreadable fraction above --max-bad {args.max_bad:g}"
    print(line)
    return 1 if failed else 0


def run_check(cfg, split: str = "all", workers: int = 1, full: bool = False,
              progress: bool = True) -> CheckSummary:
    """Probe every sample of `split` (train, val or all) of the `DataConfig` `cfg`."""
    from . import build_dataset

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
    import torch

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
    from nas.utils import atomic_write_text

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
