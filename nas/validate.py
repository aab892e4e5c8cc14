"""The validation phase: everything a command will need, checked before it writes anything.

Every command calls these checks first, so a bad input is one line on stderr (``nas CMD:
error: ...``, exit 2) and the output folder is left as it was (absent, or unchanged):

* config values: the dataclasses' own ``validate`` (`nas.config`, `supernet.training.config`,
  `nas.data.config`), plus what needs the model: ``train.warmup_arch`` parses in its space;
* every path a command will read: ``init_from``, the run options (e.g.
  ``options.center_init_from``, loaded weights-only and checked against the model), data lists (``train_list``; ``val_list`` whenever the run
  evaluates, before the first step) and a resumed run's checkpoint;
* the device (``auto``, ``cpu``, ``cuda``, ``cuda:N``, available here);
* checkpoints: a vidnas checkpoint with a ``model_spec`` whose weights match it;
* the output folder: not under a file, writable, and of the command's kind (`nas.runfolder`).

Kept in one module with plain functions, so one configuration schema can call them later.
Every echoed value goes through `search_spaces.shorten`.
"""
from __future__ import annotations

import logging
import math
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from search_spaces import shorten
from search_spaces.errors import ConfigError, DataError, InputFileError, InputNotFoundError, OutputError, VidnasInputError

from .log import info

DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$", re.ASCII)


def check_device(name: Any, what: str = "device") -> str:
    """`name` when it is a device this machine has: auto, cpu, cuda or cuda:N."""
    if not isinstance(name, str) or not DEVICE_RE.match(name):
        raise ConfigError(f"{what} {shorten(name)} is not allowed; use auto, cpu, cuda or cuda:N")
    if name.startswith("cuda"):
        import torch                                          # lazy: fast start (the commands import this module's path checks; torch only when used)
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            raise ConfigError(f"{what} {shorten(name)} asked for, but this machine has "
                              f"{count} CUDA device(s); use cpu or auto")
    return name


def check_finite(name: str, value: Any) -> None:
    """A number config value that is not NaN or infinite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")


def check_output_dir(path: str | os.PathLike, what: str = "output_dir") -> Path:
    """An output folder that can be created (or exists as a folder) and is writable.

    Walks up to the nearest existing ancestor: a file there is "under a file"; otherwise a
    probe folder is created and removed at once (so a read-only file system is caught even
    for root, whom permission bits do not stop)."""
    if path is None or str(path).strip() == "":
        raise OutputError(f"{what} is empty; give a folder path")
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{what} {shorten(str(out), quote=False)} exists and is not a folder")
    anc = out
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"{what} {shorten(str(out), quote=False)} is under the file {shorten(str(anc), quote=False)}, "
                          "not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".vidnas-probe-", dir=anc))
    except OSError as e:
        raise OutputError(f"{what} {shorten(str(out), quote=False)}: cannot write in {shorten(str(anc), quote=False)} "
                          f"({e.strerror or type(e).__name__}); choose a writable folder") from None
    return out


def check_output_file(path: Any, what: str) -> Path:
    """An output file path: not a folder, in a folder that can be created (or exists) and is
    writable (`check_output_dir`); nothing is written."""
    if not isinstance(path, (str, os.PathLike)) or str(path).strip() == "":
        raise OutputError(f"{what} {shorten(path)} is empty; give a file path")
    p = Path(path).expanduser()
    if p.is_dir():
        raise OutputError(f"{what} {shorten(str(p), quote=False)} is a folder; give a file path")
    check_output_dir(p.parent, f"{what} folder")
    return p


def check_input_file(path: Any, what: str) -> Path:
    """A file that exists (not a folder)."""
    if not isinstance(path, (str, os.PathLike)) or str(path).strip() == "":
        raise InputFileError(f"{what} {shorten(path)} is empty; give a file path")
    p = Path(path).expanduser()
    if p.is_dir():
        raise InputFileError(f"{what} {shorten(str(p), quote=False)} is a folder, not a file")
    if not p.is_file():
        raise InputNotFoundError(f"{what} not found: {shorten(str(p), quote=False)}")
    return p


def check_checkpoint(path: Any, what: str = "checkpoint", kinds: tuple[str, ...] | None = None,
                     weights: bool = True) -> dict:
    """A loaded vidnas checkpoint (weights-only) with a model_spec, of one of `kinds`, whose
    weights match its spec (`weights`)."""
    from supernet.training.checkpoint import check_weights, load_checkpoint  # lazy: fast start (the commands import this module's path checks; torch only when used)

    check_input_file(path, what)
    ckpt = load_checkpoint(path, what=what)
    if kinds is not None and ckpt.get("kind") not in kinds:
        raise InputFileError(f"{what} {shorten(str(path), quote=False)} is a {ckpt.get('kind')!r} checkpoint; "
                             f"this needs {' or '.join(map(repr, kinds))}")
    if weights:
        check_weights(ckpt["model_spec"], ckpt["model"], f"{what} {shorten(str(path), quote=False)}")
    return ckpt


def check_same_model(spec: dict, model_name: str, what: str) -> None:
    """A checkpoint's model (`spec`) is the run's `model_name`: otherwise one line naming both
    models and their families, not an error about the architecture string."""
    from supernet.registry import model_entry                # lazy: fast start (the commands import this module's path checks; torch only when used)

    theirs = spec.get("name")
    if theirs == model_name:
        return
    try:
        family = f"an {model_entry(theirs).family}" if model_entry(theirs).family[0] in "aeiou" \
            else f"a {model_entry(theirs).family}"
    except (KeyError, ValueError, TypeError):
        family = "an unknown"
    raise VidnasInputError(f"{what} is {family} model ({shorten(theirs)}) and the run is "
                           f"{model_entry(model_name).family} ({model_name!r}); use a checkpoint of {model_name!r}")


@contextmanager
def _quiet_data_log():
    """Probing samples logs one warning per bad file; validation reports only its one line."""
    log = logging.getLogger("nas.data")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


def first_readable(dataset, limit: int | None = None) -> int | None:
    """Index of the first item of `dataset` that loads (None when none of the first `limit`
    does): a search or evaluation on a list of only unreadable files fails up front."""
    with _quiet_data_log():
        for i in range(len(dataset) if limit is None else min(limit, len(dataset))):
            if dataset[i] is not None:
                return i
    return None


def check_data(data, splits: tuple[str, ...], readable: tuple[str, ...] = (),
               images: bool = False, why: dict[str, str] | None = None) -> dict:
    """Build each split of `data` (a DataConfig): list files exist and parse; the splits in
    `readable` hold at least one readable clip. Returns {split: dataset}. `why`: per split,
    what the error for an empty list says instead of "this command reads the ... split"."""
    from .data import build_dataset                          # lazy: fast start (the commands import this module's path checks; torch only when used)

    out = {}
    for split in splits:
        listed = getattr(data, f"{split}_list", "")
        if not data.is_synthetic and not listed:
            raise DataError(f"data.{split}_list is empty; "
                            + (why or {}).get(split, f"this command reads the {split} split"))
        if listed:
            check_input_file(listed, f"data.{split}_list")
        out[split] = build_dataset(data, split, images=images)
        if split in readable and first_readable(out[split]) is None:
            raise DataError(f"data.{split}_list {shorten(listed)} has no readable clip (all "
                            f"{len(out[split])} missing or corrupt); check it with `nas data check`")
    return out


def check_run_options(cfg) -> None:
    """The family's checks of the run options set (`RunOption.check`; a path must exist)."""
    for key, value, option in cfg.run_options():
        if option.path:
            check_input_file(value, f"options.{key}")
        if option.check is not None:
            option.check(value)


def check_repeat(cfg, world: int | None = None) -> None:
    """``data.augment.repeat`` divides each process's batch (`world` processes; default the
    launcher's WORLD_SIZE), so the repeated views of a clip share a batch."""
    world = int(os.environ.get("WORLD_SIZE", "1")) if world is None else world
    repeat = cfg.data.augment.repeat
    if (cfg.train.batch_size // max(world, 1)) % repeat:
        raise ConfigError(f"data.augment.repeat={repeat} must divide each process's batch "
                          f"(train.batch_size {cfg.train.batch_size} over {world} process(es)), so "
                          "the repeated views of a clip share a batch")


# Keys of a run config that decide where vidnas writes. They must come from the user's
# command, config or environment: read from a checkpoint's or results file's stored config
# (untrusted, possibly downloaded), they are dropped (`drop_write_paths`). (A stored
# ``output_dir`` is never used: every command takes its folder from its own arguments.)
WRITE_PATHS = ("data.cache_dir",)
_REPORTED: set[str] = set()         # sources already reported by this command (correlate reads one often)


def forget_reports() -> None:
    """A new command reports ignored keys again (`nas.commands.main.main` calls it when one ends)."""
    _REPORTED.clear()


def drop_write_paths(config: dict, source: str) -> dict:
    """A copy of the stored run `config` (plain dict) of `source` (e.g. ``checkpoint X``)
    without `WRITE_PATHS`, saying in one line which were set and ignored."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
    dropped = []
    for key in WRITE_PATHS:
        section, _, leaf = key.rpartition(".")
        node = out.get(section) if section else out
        if isinstance(node, dict) and node.get(leaf):
            dropped.append(f"{key}={shorten(node.pop(leaf))}")
    if dropped and source not in _REPORTED:
        _REPORTED.add(source)
        info(f"ignoring {', '.join(dropped)} stored in {source}: where vidnas writes comes from "
             "the command, its config or the environment, never from a stored file")
    return out
