"""Progress of long steps: a tqdm bar on a terminal, plain lines anywhere else.

A bar redrawn with ``\\r`` and ``\\x1b[A`` is right on a terminal and wrong in a log file (a
redirected ``nas pretrain ... 2> log`` fills with control characters). `progress` returns a
tqdm bar when its stream is a terminal, and otherwise a `LineProgress` with the part of tqdm's
interface the pipeline uses (``update``, ``set_postfix``, ``write``, ``n``, ``total``,
``refresh``, ``close``, iteration, ``with``), which prints one plain line every
`every` updates (default: a tenth of the total) or `seconds` seconds, whichever comes first,
and a last line at the end. ``VIDNAS_PROGRESS=lines`` (or ``bars``) forces one kind.
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Iterable, TextIO

from tqdm.auto import tqdm


def _format_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class LineProgress:
    """Plain progress lines (no carriage returns, no cursor movement); see the module docstring."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, disable: bool = False, file: TextIO | None = None,
                 every: int | None = None, seconds: float = 30.0, **_ignored: Any):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.unit, self.n, self._initial = total, desc, unit, initial, initial
        self.disable, self.file, self.seconds = disable, file, seconds
        self.every = every or (max(1, math.ceil(total / 10)) if total else 50)
        self.postfix = ""
        self._start = self._last_t = time.monotonic()
        self._last_n = initial
        self._closed = False

    # ---- tqdm's interface --------------------------------------------------------------
    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if self.n - self._last_n >= self.every or now - self._last_t >= self.seconds:
            self._emit(now)

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        self.postfix = str(text)

    def refresh(self) -> None:
        pass

    @staticmethod
    def write(message: str) -> None:
        """A message line on stdout (as ``tqdm.write``)."""
        print(message, file=sys.stdout, flush=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.n != self._last_n:
                self._emit(time.monotonic())

    # ---- the line --------------------------------------------------------------------------
    def _emit(self, now: float) -> None:
        self._last_n, self._last_t = self.n, now
        if self.disable:
            return
        elapsed = now - self._start
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        line = f"{self.desc + ': ' if self.desc else ''}{done} {self.unit}{pct}, {_format_seconds(elapsed)} elapsed"
        if self.total and self._initial < self.n < self.total:
            rate = (self.n - self._initial) / max(elapsed, 1e-9)
            line += f", {_format_seconds((self.total - self.n) / rate)} left"
        if self.postfix:
            line += f"; {self.postfix}"
        print(line, file=self.file or sys.stderr, flush=True)


def use_bars(file: TextIO | None = None) -> bool:
    """Bars on a terminal, lines elsewhere (``VIDNAS_PROGRESS=bars|lines`` decides instead)."""
    forced = os.environ.get("VIDNAS_PROGRESS", "").strip().lower()
    if forced in ("bars", "lines"):
        return forced == "bars"
    stream = file or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress(iterable: Iterable | None = None, **kwargs: Any):
    """A tqdm bar (``tqdm.auto``, to stderr) on a terminal, else a `LineProgress`; the same
    keyword arguments as tqdm (``total``, ``desc``, ``unit``, ``initial``, ``disable``,
    ``file``, ...) plus ``every`` / ``seconds`` for the lines."""
    every, seconds = kwargs.pop("every", None), kwargs.pop("seconds", 30.0)
    if use_bars(kwargs.get("file")):
        kwargs.setdefault("dynamic_ncols", True)
        return tqdm(iterable, **kwargs)
    kwargs.pop("dynamic_ncols", None)
    kwargs.pop("leave", None)
    return LineProgress(iterable, every=every, seconds=seconds, **kwargs)


__all__ = ["LineProgress", "progress", "use_bars"]
