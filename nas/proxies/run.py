"""Score architectures with zero-cost proxies and write ``proxies.csv`` (`nas proxies`).

Every architecture is scored on its exported subnet (`Supernet.export`) of one supernet
initialised from the run's seed, so two architectures share the weights of the units they
share, and every proxy gets a fresh copy. The data-dependent proxies read one fixed batch of
the run's training clips (`nas.data.fixed_subset` of the ``--config`` data section, drawn
from the seed). ``proxies.csv`` has the columns of an estimates file (arch, canonical_arch),
one column per proxy (higher = predicted better) and ``<proxy>_seconds`` (CPU-seconds of the
process for that call, export included: a figure a busy machine does not inflate, unlike
wall time; `experiments/benchmarks/bench_proxies.py` times wall clock); ``proxies.json``
beside it records the settings and, per proxy, its relative spread over the scored
architectures and whether it is flagged degenerate.

Degenerate: the relative spread (max - min) / mean|value| of a proxy over the scored
architectures below `DEGENERATE_SPREAD` (1e-3). Such a column differs in the last digits only
(synflow on MLP-3D, whose LayerNorms divide the scale out, spreads 2e-4), so a rank
correlation on it measures rounding, not the architectures; it is flagged, printed, and left
out of correlations by `degenerate_proxies`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from search_spaces.errors import DataError, VidnasInputError

from supernet.registry import build_model

from ..costs.unit_table import build_cost_table
from ..data import build_dataset, collate_clips, fixed_subset
from ..utils import atomic_write_json, atomic_write_text
from .base import PROXIES, ProxyContext, get_proxy

DEGENERATE_SPREAD = 1e-3
FORMAT = "vidnas-proxies-v1"
CSV_NAME, JSON_NAME = "proxies.csv", "proxies.json"


def resolve_proxies(text: str | None, have_data: bool) -> list[str]:
    """The proxies of ``--proxies a,b,c`` (default: every registered one the inputs allow);
    one-line ValueErrors for an unknown name or a data-dependent proxy without data."""
    if text is None or not str(text).strip():
        return [n for n, p in PROXIES.items() if have_data or not p.needs_data]
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    for n in names:
        get_proxy(n)
    if len(set(names)) != len(names):
        raise VidnasInputError(f"--proxies {text!r} names a proxy twice")
    needing = [n for n in names if PROXIES[n].needs_data]
    if needing and not have_data:
        raise VidnasInputError(f"--proxies {','.join(needing)}: data-dependent, they need --config with a data "
                               f"section (one batch of the run's clips); data-free: "
                               f"{', '.join(n for n, p in PROXIES.items() if not p.needs_data)}")
    return names


def relative_spread(values) -> float:
    """(max - min) / mean |x| over the finite values (NaN with fewer than 2)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(x) < 2:
        return float("nan")
    width, scale = float(x.max() - x.min()), float(np.abs(x).mean())
    if scale == 0.0:
        return 0.0 if width == 0.0 else float("inf")
    return width / scale


def load_batch(data_cfg, batch_size: int, seed: int, images: bool = False):
    """One fixed batch ``(clips, labels)`` of the training split (the same for every proxy
    and architecture): `fixed_subset` drawn from `seed`, class-balanced."""
    dataset = build_dataset(data_cfg, "train", images=images)
    subset = fixed_subset(dataset, batch_size, seed=seed)
    clips, labels, skipped = collate_clips([subset[i] for i in range(len(subset))])
    if len(labels) < 2:
        raise DataError(f"the data gave {len(labels)} readable clips for the proxy batch; need >= 2")
    return clips.float(), labels


@dataclass
class ProxyRun:
    """The scored table and what `write_proxies` records beside it."""

    frame: pd.DataFrame
    proxies: list[str]
    settings: dict[str, Any]
    notes: dict[str, str] = field(default_factory=dict)

    def spread(self) -> dict[str, dict[str, Any]]:
        out = {}
        for n in self.proxies:
            values = self.frame[n].tolist()
            s = relative_spread(values)
            finite = sum(1 for v in values if math.isfinite(v))
            out[n] = {"needs_data": PROXIES[n].needs_data, "description": PROXIES[n].description,
                      "relative_spread": s, "finite": finite,
                      "degenerate": bool(finite >= 2 and s < DEGENERATE_SPREAD),
                      "seconds_total": float(self.frame[f"{n}_seconds"].sum()),
                      "seconds_mean": float(self.frame[f"{n}_seconds"].mean())}
            if n in self.notes:
                out[n]["note"] = self.notes[n]
        return out


def score_archs(model, archs, proxies: list[str], input_size, batch=None, seed: int = 0,
                cost_table=None, progress=None) -> ProxyRun:
    """Score `archs` (parsed) of the supernet `model` with `proxies` (registry names); a
    proxy that is undefined on this network returns NaN and leaves its reason in the notes."""
    settings = {}
    if cost_table is None and any(get_proxy(p).needs_cost_table for p in proxies):
        start = time.process_time()
        cost_table = build_cost_table(model, input_size)
        settings["cost_table_cpu_seconds"] = time.process_time() - start     # once per space: params/flops' real cost
    rows, notes = [], {}
    for i, arch in enumerate(archs):
        ctx = ProxyContext(arch, model.space, tuple(input_size), lambda a=arch: model.export(a),
                           cost_table, batch, seed)
        row = {"arch": str(arch), "canonical_arch": str(model.space.canonical(arch))}
        for name in proxies:
            start = time.process_time()
            row[name] = float(get_proxy(name).fn(ctx))
            row[f"{name}_seconds"] = time.process_time() - start
        for name, note in ctx.extra.get("notes", {}).items():
            notes.setdefault(name, note)
        rows.append(row)
        if progress is not None:
            progress(i + 1, len(archs), row)
    columns = ["arch", "canonical_arch", *proxies, *(f"{n}_seconds" for n in proxies)]
    return ProxyRun(pd.DataFrame(rows, columns=columns), list(proxies), settings, notes)


def degenerate_proxies(run_or_json) -> list[str]:
    """The proxies flagged degenerate in a `ProxyRun` or a ``proxies.json`` dict."""
    info = run_or_json.spread() if isinstance(run_or_json, ProxyRun) else run_or_json["proxies"]
    return [n for n, d in info.items() if d["degenerate"]]


def write_proxies(out: str | Path, run: ProxyRun) -> dict[str, Any]:
    """``proxies.csv`` and ``proxies.json`` in `out`, each written atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    info = {"format": FORMAT, **run.settings, "degenerate_threshold": DEGENERATE_SPREAD,
            "degenerate_rule": "relative spread (max - min) / mean|value| over the scored architectures "
                               f"below {DEGENERATE_SPREAD:g}: the ranking is rounding noise; do not correlate it",
            "proxies": run.spread()}
    atomic_write_text(out / CSV_NAME, run.frame.to_csv(index=False, float_format="%.10g"))
    atomic_write_json(out / JSON_NAME, info)
    return info


def seeded_supernet(model_name: str, input_size, classes, seed: int, kwargs: dict | None = None):
    """The registry supernet of `model_name`, initialised from `seed`."""
    torch.manual_seed(seed)
    return build_model(model_name, input_size, classes, **(kwargs or {}))


__all__ = ["DEGENERATE_SPREAD", "ProxyRun", "degenerate_proxies", "load_batch", "relative_spread",
           "resolve_proxies", "score_archs", "seeded_supernet", "write_proxies"]
