"""The one logging path of `nas`: `logging` with one format, through ``tqdm.write``.

Progress and info messages ("resuming: ...", "training ... standalone", "demo done ...") go to
the ``vidnas`` logger; its handler writes with ``tqdm.write`` to the current ``sys.stdout``,
so a message printed while a progress bar runs does not tear the bar, and output captured by
a caller (pytest's capsys, a notebook) still sees it. What a command is asked to show (tables,
JSON, a summary) is printed as command output, not logged. ``VIDNAS_LOG_LEVEL=WARNING``
silences info messages.
"""
from __future__ import annotations

import logging
import os

LOGGER = "vidnas"
LOG_FORMAT = "%(message)s"       # one format: messages are written to be read as they are


class TqdmHandler(logging.Handler):
    """Writes records with ``tqdm.write`` (above any running bar) to ``sys.stdout`` as it is now."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm.auto import tqdm  # lazy: fast start (the commands import the logger; tqdm loads at the first message)

            tqdm.write(self.format(record))
        except Exception:             # pragma: no cover - logging must never raise
            self.handleError(record)


def get_logger(name: str = "") -> logging.Logger:
    """The ``vidnas`` logger (or its child `name`), with the tqdm handler installed once."""
    root = logging.getLogger(LOGGER)
    if not any(isinstance(h, TqdmHandler) for h in root.handlers):
        handler = TqdmHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
        root.setLevel(os.environ.get("VIDNAS_LOG_LEVEL", "INFO").upper())
        root.propagate = False        # one path: not again through the root logger's handlers
    return root.getChild(name) if name else root


def info(message: str) -> None:
    """Log an info message on the ``vidnas`` logger (the default `log` callback of searches)."""
    get_logger().info(message)
