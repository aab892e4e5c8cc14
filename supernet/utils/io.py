"""Files: atomic writes and reading YAML with one-line errors (the lowest layer; no torch).

Every output file of vidnas is written through `atomic_write` (temporary file in the same
folder, fsync, rename), so a crash leaves either the old file or the new one. YAML is read
only with `yaml.safe_load` (an untrusted file never runs code), through `load_yaml`.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

import yaml


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], binary: bool = True) -> None:
    """Run `write(file)` on a temporary file in the same folder, fsync, then rename it over
    `path`: a crash leaves either the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())       # mkstemp makes 0600; outputs follow the umask
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` via a temporary file and rename, so a crash leaves the old file."""
    atomic_write(path, lambda f: f.write(text), binary=False)


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def load_yaml(path) -> dict[str, Any]:
    """Read a YAML config with `yaml.safe_load` (never runs code); one-line errors."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"config {path} is a folder; give a YAML file") from None
    except UnicodeDecodeError:
        raise ValueError(f"config {path} is not a text (UTF-8) YAML file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ValueError(f"config {path} is not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config {path} must be a mapping at the top level")
    return data


__all__ = ["atomic_write", "atomic_write_text", "atomic_write_json", "load_yaml"]
