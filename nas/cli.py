"""``python -m nas.cli``, and the old import path of the command line, which is `nas.commands`
(kept for one release)."""
from __future__ import annotations

import sys

from .commands.correlate import correlate_config
from .commands.main import build_parser, internal_error_line, is_out_of_memory, main

__all__ = ["build_parser", "correlate_config", "internal_error_line", "is_out_of_memory", "main"]

if __name__ == "__main__":
    sys.exit(main())
