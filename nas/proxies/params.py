"""`params`: parameters of the exported subnet, exact, from the per-unit cost table."""
from __future__ import annotations

from .base import register_proxy


@register_proxy("params", needs_cost_table=True,
                description="parameters of the exported subnet (exact, per-unit cost table)")
def params(ctx) -> float:
    return float(ctx.cost_table.params(ctx.arch))
