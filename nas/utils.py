"""Small helpers shared across `nas`: size parsing, tables, JSON reading (atomic writes are
`supernet.utils.io`'s, re-exported here)."""
from __future__ import annotations

import io
import json
import os
from typing import Any, Sequence

from search_spaces import shorten
from search_spaces.errors import ConfigError, InputFileError
from supernet.utils.io import atomic_write, atomic_write_json, atomic_write_text  # noqa: F401  (re-exported)
from supernet.utils.io import load_json, read_lines, read_text  # noqa: F401  (re-exported)


MAX_INPUT_PIXELS = 2 ** 26        # T*H*W of one clip (e.g. 64x1024x1024): larger cannot be allocated here


def parse_size(text: str) -> tuple[int, ...]:
    """'16x224x224' -> (16, 224, 224); '224x224' -> (224, 224). At most `MAX_INPUT_PIXELS`
    pixels (T*H*W), checked before any tensor is allocated."""
    try:
        parts = tuple(int(p) for p in str(text).lower().split("x"))
    except ValueError:
        parts = ()
    if len(parts) not in (2, 3) or min(parts) < 1:
        raise ConfigError(f"input size {shorten(text)} must look like TxHxW (e.g. 16x224x224) or HxW")
    pixels = 1
    for p in parts:
        pixels *= p
    if pixels > MAX_INPUT_PIXELS:
        raise ConfigError(f"input size {shorten(text)} has {pixels:,} pixels; the limit is "
                          f"{MAX_INPUT_PIXELS:,} (T*H*W, e.g. 64x1024x1024)")
    return parts


def read_item_lines(path: str | os.PathLike, what: str = "list file") -> list[str]:
    """The non-empty lines of a text file with `#` comments removed (architecture lists), read
    by `read_lines` (encoding and size checked, one-line errors naming `what`)."""
    lines = (line.partition("#")[0].strip() for line in read_lines(path, what))
    return [a for a in lines if a]


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], align: str | None = None) -> str:
    """A plain fixed-width text table; `align` is one 'l'/'r' per column (default: numbers right)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if align is None:
        def numeric(i):
            return all(_is_number(r[i]) for r in cells[1:]) and len(cells) > 1
        align = "".join("r" if numeric(i) else "l" for i in range(len(headers)))
    def fmt(r):
        return "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align)).rstrip()
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(cells[0]), sep] + [fmt(r) for r in cells[1:]])


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("%"))
        return True
    except ValueError:
        return False


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """The JSON in `path`; one-line FileNotFoundError / ValueError naming `what` and the file
    (`supernet.utils.io.load_json`: encoding, size and nesting bounds)."""
    return load_json(path, what)


def read_csv(path: str | os.PathLike, what: str = "CSV file", **kwargs):
    """`pandas.read_csv` of the text `read_text` gives (encoding and size checked); an empty
    file or one that does not parse as CSV is a one-line ValueError naming `what` and the file."""
    import pandas as pd  # lazy: fast start: the commands import nas.utils, and `nas --help` must not load pandas

    text = read_text(path, what)
    if not text.strip():
        raise InputFileError(f"{what} {path} is empty; expected a CSV table with a header line")
    try:
        return pd.read_csv(io.StringIO(text), **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        detail = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputFileError(f"cannot read {what} {path}: {shorten(detail, 160, quote=False)}") from None


def choose_threads(cores: int | None = None, load: float | None = None) -> tuple[int, str]:
    """Torch threads for a CPU run on a machine that may be shared: the cores that the other
    processes leave free at start (core count minus the 1-minute load average, rounded), at
    least 1; and a sentence saying so. A thread that shares its core with another process
    makes every multi-threaded op wait for it (see *On a busy machine* in docs/costs.md)."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):
            load = 0.0
    threads = max(1, min(cores, cores - int(round(load))))
    return threads, (f"{threads} thread{'s' if threads > 1 else ''} ({cores} cores, load average "
                     f"{load:.1f} at start; --threads N to choose)")


def config_diff(a: dict, b: dict, prefix: str = "") -> str | None:
    """The first key (dotted) whose value differs between two plain config dicts."""
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            d = config_diff(va, vb, f"{prefix}{key}.")
            if d:
                return d
        elif va != vb:
            return f"{prefix}{key}: {va!r} != {vb!r}"
    return None


def plain_json(obj: Any) -> Any:
    """`obj` after a JSON round trip (tuples become lists, keys sorted; other types as str), so
    that specs and configs compare equal before and after a save and a load."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))
