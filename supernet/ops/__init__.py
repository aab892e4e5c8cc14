"""Shared-weight operations: each owns its largest weights and computes a chosen variant."""
from .gtm import GTM, GroupedTimeMixing, grouped_time_mixing

__all__ = ["GTM", "GroupedTimeMixing", "grouped_time_mixing"]
