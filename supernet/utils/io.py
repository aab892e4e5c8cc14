"""Files: atomic writes, and the one way text files are read (the lowest layer; no torch).

Every output file of vidnas is written through `atomic_write` (temporary file in the same
folder, fsync, rename), so a crash leaves either the old file or the new one. YAML is read
only with a `yaml.SafeLoader` (an untrusted file never runs code). Every text file a command
reads (configs, tables, lists, manifests) goes through `read_text` (`search_spaces.textio`, the
lowest layer, so that architecture files read through it too): UTF-8 (a byte-order mark
accepted), at most `MAX_TEXT_BYTES`, and every error one line naming the file; `load_yaml` /
`parse_yaml` and `load_json` / `parse_json` add the nesting bound, and for YAML duplicate-key
refusal and a bound on alias expansion.
"""
from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

import yaml

from search_spaces.textio import read_text  # the one reader (re-exported here)
from search_spaces.errors import InputFileError, InputNotFoundError


class NoSpaceLeft(OSError):
    """A write failed because the file system is full: one line, "no space left on <folder>"
    (the previous file is intact; free space, then rerun with --resume)."""


def _no_space(error: BaseException) -> bool:
    """Whether `error` is a full disk: ENOSPC / EDQUOT, or torch's writer reporting the short
    write it made when its file object failed (``unexpected pos ...``, ``file write failed``)."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(error)
    return isinstance(error, RuntimeError) and ("unexpected pos" in text or "file write failed" in text)


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], binary: bool = True) -> None:
    """Run `write(file)` on a temporary file in the same folder, fsync, then rename it over
    `path`: a crash leaves either the old file or the new one, never a torn one. A full disk
    is `NoSpaceLeft` ("no space left on <folder>"), the old file kept."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        if _no_space(e):
            raise NoSpaceLeft(e.errno, f"no space left on {path.parent} (writing {path.name}); "
                                       "free space, then rerun with --resume") from None
        raise
    try:
        os.chmod(tmp, 0o666 & ~_umask())       # mkstemp makes 0600; outputs follow the umask
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if _no_space(e):
            raise NoSpaceLeft(getattr(e, "errno", None) or 28,
                              f"no space left on {path.parent} (writing {path.name}); the previous "
                              "file is intact: free space, then rerun with --resume") from None
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


# Bounds of what a text file may hold (`read_text`, `load_json`, `parse_yaml`): configs, tables,
# lists and manifests are small; these only stop a hostile or broken file from hanging or
# exhausting the process. A file over a bound is refused with one line naming it and the bound.
MAX_DEPTH = 100                        # nesting of a YAML or JSON document
MAX_YAML_VALUES = 100_000              # values of a YAML document once its aliases are expanded


def read_lines(path, what: str = "list file") -> list[str]:
    """`read_text` split into lines (any line ending)."""
    return read_text(path, what).splitlines()


def _too_deep(where: str) -> InputFileError:
    return InputFileError(f"{where} is nested more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH}")


def _depth(value, where: str, level: int = 0) -> None:
    """Refuse JSON values nested more than `MAX_DEPTH` levels."""
    if level > MAX_DEPTH:
        raise _too_deep(where)
    if isinstance(value, dict):
        for v in value.values():
            _depth(v, where, level + 1)
    elif isinstance(value, list):
        for v in value:
            _depth(v, where, level + 1)


def parse_json(text: str, where: str) -> Any:
    """JSON `text` (read from `where`, named in every message): one-line errors for bad JSON,
    and for nesting beyond `MAX_DEPTH` (which would otherwise hit Python's recursion limit)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep(where) from None
    except json.JSONDecodeError as e:
        raise InputFileError(f"{where} does not parse as JSON: {e}") from None
    _depth(value, where)
    return value


def load_json(path, what: str = "file") -> Any:
    """The JSON in `path` (`read_text`, then `parse_json`); every message names the file."""
    text = read_text(path, what)
    if not text.strip():
        raise InputFileError(f"{what} {Path(path)} is empty; expected JSON")
    return parse_json(text, f"{what} {Path(path)}")


class _BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` (never runs code) that checks the composed document before building
    it (`_check_node`): no duplicate keys in a mapping, at most `MAX_DEPTH` levels, at most
    `MAX_YAML_VALUES` values once anchors and aliases are expanded (a "billion laughs" file)."""

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_node(node, self.name)
        return node


def _check_node(root, where: str) -> None:
    sizes: dict[int, int] = {}

    def size(node, level: int) -> int:
        if level > MAX_DEPTH:
            raise _too_deep(where)
        known = sizes.get(id(node))
        if known is not None:                  # an alias: the same node again, counted again
            return known
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        raise InputFileError(f"{where}: duplicate key {key.value!r} at lines "
                                             f"{seen[key.value]} and {line}; keep one")
                    seen[key.value] = line
                total += size(key, level + 1) + size(value, level + 1)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item, level + 1) for item in node.value)
        if total > MAX_YAML_VALUES:
            raise InputFileError(f"{where}: its anchors and aliases expand to more than "
                                 f"{MAX_YAML_VALUES:,} values, the limit of a YAML document")
        sizes[id(node)] = total
        return total

    size(root, 0)


_QUOTED_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"|(?:^|(?<=\s))#[^\n]*", re.M)


def _flow_depth(text: str) -> int:
    """The deepest nesting of YAML flow brackets (``[`` / ``{``) in `text`, quoted strings
    and comments aside. PyYAML's scanner takes quadratic time in it (a file of 100,000
    ``[`` runs for hours), so `parse_yaml` checks it before parsing."""
    brackets = _QUOTED_OR_COMMENT.sub("", text).translate(_BRACKETS_ONLY)
    depth = deepest = 0
    for ch in brackets:
        depth += 1 if ch in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


class _Brackets(dict):
    def __missing__(self, key):
        return key if chr(key) in "[]{}" else None


_BRACKETS_ONLY = _Brackets()


def parse_yaml(text: str, where: str) -> Any:
    """YAML `text` read from `where` (named in every message) with `_BoundedLoader`: one-line
    errors for bad YAML, duplicate keys, nesting and alias expansion beyond the bounds."""
    if ("[" in text or "{" in text) and _flow_depth(text) > MAX_DEPTH:
        raise _too_deep(where)
    loader = _BoundedLoader(text)
    loader.name = where
    try:
        return loader.get_single_data()
    except RecursionError:
        raise _too_deep(where) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or " ".join(str(e).split())
        raise InputFileError(f"{where} is not valid YAML{at}: {problem}") from None
    finally:
        loader.dispose()


def load_yaml(path, what: str = "config") -> dict[str, Any]:
    """Read a YAML config (`read_text`, `parse_yaml`: safe, bounded, no duplicate keys); a
    mapping at the top level; one-line errors naming the file."""
    try:
        text = read_text(path, what)
    except FileNotFoundError:
        raise InputNotFoundError(f"{what} file not found: {path}") from None
    data = parse_yaml(text, f"{what} {path}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputFileError(f"{what} {path} must be a mapping at the top level")
    return data


__all__ = ["NoSpaceLeft", "atomic_write", "atomic_write_text", "atomic_write_json", "read_text", "read_lines",
           "parse_json", "load_json", "parse_yaml", "load_yaml"]
