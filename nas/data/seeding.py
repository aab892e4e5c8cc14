"""Seeds derived from tuples of integers: one well-mixed seed per (dataset seed, index, epoch,
...) so that every random draw of the data pipeline is reproducible and independent of the
worker or process that makes it."""
from __future__ import annotations

import numpy as np


def mix_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from a tuple of non-negative integers (stable across runs)."""
    state = np.random.SeedSequence([int(v) & 0xFFFFFFFFFFFFFFFF for v in values])
    lo, hi = state.generate_state(2, dtype=np.uint32)
    return (int(hi) << 32 | int(lo)) & 0x7FFFFFFFFFFFFFFF
