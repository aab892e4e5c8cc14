"""Errors of the training loop that are not bad input (kept free of torch, so the CLI can
match them without importing it)."""


class OutOfMemory(Exception):
    """The accelerator ran out of memory: the message names what to lower and where the
    traceback went. `nas` exits 3 on it, not 2 (bad input)."""
