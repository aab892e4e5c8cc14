"""Run folders: one guard for every command's output folder, and the folder's kind.

Each run folder records what made it in ``.vidnas-run`` (one YAML line, ``kind: pretrain``),
one of `FOLDER_KINDS`: pretrain, train, fewshot (a few-shot pretrain), search, correlate, export. Every command refuses a
folder of another kind, so ``nas search --out <a pretrain folder>`` or ``nas pretrain`` into a
search folder is a one-line error, not a mixed folder. Folders made before the marker existed
get their kind from the config file they hold.

`prepare_run_folder` is the single way a command opens its folder: validate (`check_run_folder`:
writable, not under a file, same kind), refuse to mix two different runs (the stored config
must equal this one, keys in the kind's `ignore` aside), refuse to restart a started run
without ``--resume`` (and, for kinds that need one, to resume a run that never started), then
create the folder, write the marker and the resolved config, and on resume remove the
``.*.tmp`` files that a write killed mid-way left behind (`atomic_write`'s temporaries).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

try:
    import fcntl
except ImportError:                        # (no flock on this platform: folders are not locked)
    fcntl = None

import yaml

from search_spaces import shorten
from search_spaces.errors import InputFileError, InputNotFoundError, OutputError, OutputExistsError
from supernet.utils.io import load_yaml

from .compat import read, stamp
from .log import info
from .utils import atomic_write_text, config_diff
from .validate import check_output_dir

KIND_FILE = ".vidnas-run"
LOCK_FILE = ".vidnas-lock"          # held (flock) by the process writing the folder
_LOCKS: dict[str, int] = {}         # folder -> the open lock file of this process


@dataclass(frozen=True)
class FolderKind:
    """How a kind of run folder is recognised and guarded."""

    name: str
    config_file: str                     # the resolved config, written when the folder opens
    started: str                         # a file whose presence means a run is (partly) here
    ignore: tuple[str, ...] = ()         # config keys that may differ on resume
    resume_needs_start: bool = True      # --resume on a folder without `started` is an error
    grows: tuple[str, ...] = ()          # list keys a rerun may extend (the stored items kept)
    differs: str = ("{out} holds a run with a different config ({diff}); resume with the same "
                    "config or choose another {what}")
    already: str = ("{out} already holds a run ({started}); pass --resume to continue it or "
                    "--set {what}=... for a new one")
    seeds: tuple[str, ...] = ()          # files a user may place in a new folder for the run to reuse


FOLDER_KINDS: dict[str, FolderKind] = {}


def register_kind(kind: FolderKind) -> FolderKind:
    FOLDER_KINDS[kind.name] = kind
    return kind


_TRAIN_IGNORE = ("train.max_steps", "train.threads", "train.tensorboard",    # change nothing a run computes
                 "train.eval_every", "train.eval_clips", "data.cache_dir")
register_kind(FolderKind("pretrain", "config.yaml", "checkpoints/last.pt", _TRAIN_IGNORE))
register_kind(FolderKind("train", "config.yaml", "checkpoints/last.pt", _TRAIN_IGNORE))
register_kind(FolderKind("fewshot", "config.yaml", "fewshot.json", _TRAIN_IGNORE))   # nas.fewshot
_SEARCH_ALREADY = "{out} holds this {noun} already; pass --resume to continue it or use another {what}"
_TABLES = ("cost_table.json", "memory_table.json", "latency_table.json")   # reused when present
register_kind(FolderKind("search", "search_config.yaml", "search_config.yaml", ("evaluation.data.cache_dir",),
                         resume_needs_start=False, seeds=_TABLES,
                         differs="{out} holds a different search ({diff}); use another {what}",
                         already=_SEARCH_ALREADY.replace("{noun}", "search")))
register_kind(FolderKind("correlate", "correlate_config.yaml", "correlate_config.yaml",
                         resume_needs_start=False, grows=("archs",), seeds=_TABLES,
                         differs="{out} holds a correlation run with a different config ({diff}); "
                                 "use another {what}",
                         already=_SEARCH_ALREADY.replace("{noun}", "correlation run")))
register_kind(FolderKind("export", "export.json", "export.json", resume_needs_start=False,
                         differs="{out} holds a different export ({diff}); use another {what}",
                         already=_SEARCH_ALREADY.replace("{noun}", "export")))


def folder_kind(out: str | Path) -> str | None:
    """The kind recorded in `out` (or inferred from its config file for older folders)."""
    out = Path(out)
    marker = out / KIND_FILE
    if marker.is_file():
        try:
            data = yaml.safe_load(marker.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError):
            data = {}
        kind = data.get("kind") if isinstance(data, dict) else None
        if kind not in FOLDER_KINDS:
            raise InputFileError(f"{marker} records an unknown kind {shorten(kind)}; allowed: "
                                 f"{', '.join(FOLDER_KINDS)}")
        return kind
    for name in ("search", "correlate", "export"):
        if (out / FOLDER_KINDS[name].config_file).is_file():
            return name
    if (out / "config.yaml").is_file():
        try:
            cfg = yaml.safe_load((out / "config.yaml").read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError):
            return None
        return "train" if isinstance(cfg, dict) and cfg.get("arch") else "pretrain"
    return None


def mark_folder(out: str | Path, kind: str) -> None:
    """Record `kind` in `out` (created) unless it is recorded already."""
    out = Path(out)
    if not (out / KIND_FILE).is_file():
        atomic_write_text(out / KIND_FILE, yaml.safe_dump({"kind": kind}))


def check_run_folder(out: str | Path, kind: str, what: str = "output_dir") -> Path:
    """Validate `out` for a `kind` run without writing anything: creatable and writable, and
    not a folder of another kind."""

    if kind not in FOLDER_KINDS:
        raise ValueError(f"unknown run-folder kind {kind!r}; allowed: {', '.join(FOLDER_KINDS)}")
    out = check_output_dir(out, what)
    if out.is_dir():                       # (also through a symlink)
        found = folder_kind(out)
        if found is not None and found != kind:
            article = "an" if found[0] in "aeiou" else "a"
            raise OutputError(f"{what} {shorten(str(out), quote=False)} is {article} {found} folder; "
                              f"`nas {kind}` does not write into it; choose another {what}")
        if found is None and kind != "export":                            # (export: its own message)
            refuse_foreign(out, FOLDER_KINDS[kind].seeds, what)
    return out


def refuse_foreign(out: Path, own: tuple[str, ...], what: str) -> None:
    """Refuse an existing folder `out` (a symlink too) that holds anything but the names in
    `own` (what the command itself writes or reuses): vidnas did not make it, and writing into
    it would mix a run into the user's files. A killed write's temporary of an own file
    (``.proxies.csv.x1y2.tmp``, `atomic_write`) is the command's own too."""
    def mine(name: str) -> bool:
        return name in own or any(name.startswith(f".{o}.") and name.endswith(".tmp") for o in own)
    if out.is_dir() and not all(mine(p.name) for p in out.iterdir()):
        raise OutputError(f"{what} {shorten(str(out), quote=False)} is not empty and was not made "
                          f"by vidnas (no {KIND_FILE}); choose an empty or new folder")


def drop_key(d: dict, key: str) -> None:
    """Remove the dotted `key` (e.g. ``train.threads``) from the nested dict `d`, if present."""
    section, _, leaf = key.rpartition(".")
    node = d
    for part in section.split(".") if section else []:
        node = node.get(part, {}) if isinstance(node, dict) else {}
    if isinstance(node, dict):
        node.pop(leaf, None)


def stored_value(out: str | Path, kind: str, key: str) -> Any:
    """The dotted `key` of the resolved config a `kind` folder `out` holds, or None (no folder,
    no such key, or an unreadable file, which the folder guard reports)."""
    path = Path(out) / FOLDER_KINDS[kind].config_file
    if not path.is_file():
        return None
    try:
        node: Any = load_yaml(path)
    except ValueError:
        return None
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def lock_run_folder(out: Path) -> None:
    """Hold an exclusive lock on ``out/.vidnas-lock`` until this process ends (the kernel
    releases it even on kill -9), so a second run in the same folder (two ``--resume`` at
    once) stops with one line naming the process that holds it instead of duplicating work."""
    if fcntl is None:                      # (no flock on this platform: no lock)
        return
    key = str(Path(out).resolve())
    if key in _LOCKS:
        return
    fd = os.open(Path(out) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise OutputError(f"{out} is in use by {shorten(holder, 120, quote=False)} (it holds {LOCK_FILE}); "
                          "wait for that run to end or stop it, then rerun") from None
    os.ftruncate(fd, 0)
    import socket  # lazy: fast start (the commands import this module; socket loads only to lock a folder)

    os.write(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode())
    _LOCKS[key] = fd


def held_folders() -> list[Path]:
    """The run folders this process holds locked (`lock_run_folder`), oldest first: where
    `nas.commands.main.main` writes the traceback of an internal error."""
    return [Path(key) for key in _LOCKS]


def release_locks() -> None:
    """Release every folder lock this process holds (`nas.commands.main.main` does when a command ends)."""
    for fd in _LOCKS.values():
        os.close(fd)
    _LOCKS.clear()


def start_instead_of_resume(out: str | Path, kind: str) -> bool:
    """Whether ``--resume`` on `out` must start from step 0: the folder is this command's own
    (its marker names `kind`) but its run was stopped before the first checkpoint was
    complete, so there is nothing to resume yet. Says so in one line. A folder that does not
    exist, or is another command's, is still refused by `prepare_run_folder`."""

    out = Path(out)
    spec = FOLDER_KINDS[kind]
    if not spec.resume_needs_start or (out / spec.started).exists() or not out.is_dir() \
            or not (out / KIND_FILE).is_file() or folder_kind(out) != kind:
        return False
    info(f"nothing to resume in {out} yet ({spec.started} was never completed): starting from step 0")
    return True


def remove_leftovers(out: Path) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files of writes killed mid-way (`atomic_write`), anywhere in
    the run folder; returns them. Only resume calls it: then no other writer is running."""
    gone = []
    for tmp in sorted(out.rglob(".*.tmp")):
        if tmp.is_file():
            tmp.unlink()
            gone.append(tmp)
    return gone


def prepare_run_folder(out: str | Path, kind: str, config: dict[str, Any], resume: bool,
                       what: str = "output_dir",
                       read_stored: Callable[[Path], dict] | None = None) -> Path:
    """Create or reopen the `kind` run folder `out` for `config` (see the module doc);
    `read_stored(path)` reads the stored config in its current form (default: plain YAML
    upgraded by `nas.compat.read`)."""

    out = check_run_folder(out, kind, what)
    spec = FOLDER_KINDS[kind]
    grown = False
    config = json.loads(json.dumps(config))          # tuples -> lists, as YAML reads them back
    stored = out / spec.config_file
    started = (out / spec.started).exists()
    if started and stored.is_file():
        try:
            # read_stored gives the current form itself; plain YAML is upgraded here (nas.compat)
            old = read_stored(stored) if read_stored else \
                read(yaml.safe_load(stored.read_text()) or {}, kind, str(stored))
        except yaml.YAMLError as e:
            raise InputFileError(f"{stored} does not parse: {str(e).splitlines()[0]}") from None
        current = json.loads(json.dumps(config))
        for key in spec.ignore:
            drop_key(old, key)
            drop_key(current, key)
        for key in spec.grows:              # e.g. more architectures for a correlation
            was, now = old.get(key), current.get(key)
            if isinstance(was, list) and isinstance(now, list) and len(now) > len(was) and now[:len(was)] == was:
                grown = True
                old.pop(key)
                current.pop(key)
        diff = config_diff(old, current)
        if diff:
            raise OutputError(spec.differs.format(out=out, diff=shorten(diff, 160, quote=False), what=what))
    if started and not resume:
        message = spec.already.format(out=out, started=spec.started, what=what)
        raise OutputExistsError(message) if spec.resume_needs_start else OutputError(message)
    if resume and not started and spec.resume_needs_start:
        raise InputNotFoundError(f"nothing to resume in {out}: {spec.started} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    lock_run_folder(out)                       # before touching a file another run may write
    if resume or folder_kind(out) == kind:     # (a run stopped before its first checkpoint too)
        remove_leftovers(out)
    mark_folder(out, kind)
    if grown or not (started and stored.is_file() and spec.config_file == spec.started):
        atomic_write_text(stored, yaml.safe_dump(stamp(config), sort_keys=False))
    return out
