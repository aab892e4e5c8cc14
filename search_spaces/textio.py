"""The one reader of text files (the lowest layer, so that every layer reads through it):
UTF-8 with a byte-order mark accepted, a size bound, and every failure one line naming the
file. `supernet.utils.io` re-exports it and adds the JSON and YAML parsers on top.
"""
from __future__ import annotations

from pathlib import Path

from .errors import InputFileError, InputNotFoundError

MAX_TEXT_BYTES = 256 * 2**20          # a text file (lists of a million videos fit)


def read_text(path, what: str = "file", limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of `path` (a leading byte-order mark dropped). Every failure is one line
    naming `what` and the file: missing (FileNotFoundError), a folder, over `limit` bytes,
    or not UTF-8 (the first bad byte and its offset)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise InputFileError(f"{what} {p} is a folder; give a file")
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise InputNotFoundError(f"{what} not found: {p}") from None
    except OSError as e:
        raise InputFileError(f"cannot read {what} {p}: {e.strerror or type(e).__name__}") from None
    if len(data) > limit:
        raise InputFileError(f"{what} {p} is larger than the {limit // 2**20} MiB a text file may hold")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{what} {p} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                             f"{e.start}); save it as UTF-8") from None
