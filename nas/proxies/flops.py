"""`flops`: fvcore FLOPs (multiply-adds) of the exported subnet on one clip, exact, from the
per-unit cost table (`nas.costs.unit_table`)."""
from __future__ import annotations

from .base import register_proxy


@register_proxy("flops", needs_cost_table=True,
                description="FLOPs of the exported subnet on one clip (exact, per-unit cost table)")
def flops(ctx) -> float:
    return float(ctx.cost_table.flops(ctx.arch))
