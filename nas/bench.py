"""A tabular video-NAS benchmark: standalone top-1 of architectures of one search space.

A benchmark folder (the ranking-fidelity study writes one to
``experiments/results/ranking_fidelity/``) holds::

    standalone.csv   one row per (architecture, training seed): arch, canonical_arch, seed,
                     top1, top5, loss, gflops, params_m, epochs, init, init_from (more allowed)
    benchmark.json   {"space": space.config(), "model_spec": the supernet's registry spec,
                      "protocol": {... how the rows were trained ...}}

`load_bench(path)` (the folder, the CSV with benchmark.json beside it, or the name of one of
this repository's tables in `BENCH_TABLES`: ``"v2"``, the default, or ``"v1"``) answers "what is
the standalone top-1 of architecture X" — mean over seeds and per seed — through the
space's canonical form (`space.canonical`: architectures computing the same function share
one entry). An architecture not in the table is a one-line ValueError naming it.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search_spaces import Arch, SearchSpace, build_space, shorten
from search_spaces.errors import InputFileError, InputNotFoundError

from .log import get_logger
from .utils import load_json, read_csv

if TYPE_CHECKING:                     # (read_csv imports pandas when a table is read)
    import pandas as pd

LOG = get_logger("bench")

# The repository's tables by name (folders relative to the checkout; not part of a wheel):
# v1 is the noisy ranking-fidelity table kept as it is, v2 the table of the ground-truth study.
REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_TABLES = {"v1": "experiments/results/ranking_fidelity",
                "v2": "experiments/results/ground_truth/table_v2"}
DEFAULT_BENCH = "v2"
STANDALONE_CSV = "standalone.csv"
BENCHMARK_JSON = "benchmark.json"
REQUIRED_COLUMNS = ("arch", "canonical_arch", "seed", "top1", "top5", "loss", "gflops", "params_m",
                    "epochs", "init", "init_from")


@dataclass(frozen=True)
class BenchEntry:
    """One canonical architecture of the table: its seeds' top-1 and their mean."""

    arch: str                       # canonical architecture string
    seeds: dict[int, float]         # training seed -> standalone top-1 (%)
    top1: float                     # mean over seeds
    top1_se: float                  # SE of the mean over seeds (sd / sqrt(k); nan for one seed)
    top5: float
    loss: float
    gflops: float
    params_m: float


class BenchTable:
    """Standalone results of one space, keyed by canonical architecture."""

    def __init__(self, frame: pd.DataFrame, space: SearchSpace, model_spec: dict[str, Any],
                 protocol: dict[str, Any], path: Path | None = None):
        self.frame, self.space, self.model_spec, self.protocol = frame, space, model_spec, protocol
        self.path = path
        self._entries: dict[str, BenchEntry] = {}
        for canon, rows in frame.groupby("_canonical", sort=False):
            top1 = rows["top1"].to_numpy(float)
            se = float(np.std(top1, ddof=1) / math.sqrt(len(top1))) if len(top1) > 1 else float("nan")
            self._entries[canon] = BenchEntry(
                canon, {int(s): float(v) for s, v in zip(rows["seed"], rows["top1"])}, float(top1.mean()),
                se, float(rows["top5"].mean()), float(rows["loss"].mean()), float(rows["gflops"].iloc[0]),
                float(rows["params_m"].iloc[0]))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, arch) -> bool:
        try:
            return self.key(arch) in self._entries
        except ValueError:
            return False

    def key(self, arch: Arch | str) -> str:
        """The canonical string of `arch` (validated against the table's space)."""
        return str(self.space.canonical(self.space.parse(arch)))

    def archs(self) -> list[str]:
        """The table's distinct canonical architectures, in table order."""
        return list(self._entries)

    def entry(self, arch: Arch | str) -> BenchEntry:
        key = self.key(arch)
        if key not in self._entries:
            where = f" {self.path}" if self.path else ""
            raise InputFileError(f"architecture {arch} (canonical {key}) is not in the standalone "
                                 f"table{where} ({len(self)} architectures)")
        return self._entries[key]

    def top1(self, arch: Arch | str) -> float:
        """Mean standalone top-1 (%) over the table's seeds."""
        return self.entry(arch).top1

    def top1_seeds(self, arch: Arch | str) -> dict[int, float]:
        """Standalone top-1 (%) per training seed."""
        return dict(self.entry(arch).seeds)

    def sha256(self) -> str:
        text = self.frame.drop(columns=["_canonical"]).to_csv(index=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def bench_paths(path: str | Path) -> tuple[Path, Path]:
    """(standalone.csv, benchmark.json) of a benchmark folder, of its CSV, or of a table named in
    `BENCH_TABLES` (an existing path of the same name wins over the name)."""
    p = Path(path)
    if str(path) in BENCH_TABLES and not p.exists():
        p = REPO_ROOT / BENCH_TABLES[str(path)]
        if not (p / STANDALONE_CSV).is_file():
            raise InputNotFoundError(f"benchmark table {str(path)!r} is not built in this checkout ({p}); "
                                     f"named tables: {', '.join(BENCH_TABLES)}, or give a folder")
    csv = p / STANDALONE_CSV if p.is_dir() else p
    if not csv.is_file():
        raise InputNotFoundError(f"standalone table not found: {csv}")
    meta = csv.parent / BENCHMARK_JSON
    if not meta.is_file():
        raise InputNotFoundError(f"{BENCHMARK_JSON} not found beside {csv} (it names the space and "
                                 "model of the table)")
    return csv, meta


def load_bench(path: str | Path = DEFAULT_BENCH) -> BenchTable:
    """Read a benchmark table (see the module docstring): a folder or a name in `BENCH_TABLES`,
    by default `DEFAULT_BENCH` (v2); one-line errors for bad files."""
    csv, meta_path = bench_paths(path)
    meta = load_json(meta_path, "benchmark table metadata")
    if not isinstance(meta, dict) or not all(k in meta for k in ("space", "model_spec")):
        raise InputFileError(f"{meta_path} needs 'space' (space.config()) and 'model_spec' (registry spec)")
    if not isinstance(meta["model_spec"], dict) or not isinstance(meta["model_spec"].get("name"), str):
        raise InputFileError(f"{meta_path}: model_spec {shorten(meta['model_spec'])} is not a registry spec "
                             "(a mapping with a name)")
    try:
        space = build_space(meta["space"])
    except ValueError as e:
        raise InputFileError(f"{meta_path}: {e}") from None
    frame = read_csv(csv, "standalone table", keep_default_na=False, dtype={"arch": str, "canonical_arch": str})
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFileError(f"{csv} is not a standalone table (missing columns {', '.join(missing)})")
    if frame.empty:
        raise InputFileError(f"{csv} has no rows")
    canon = []
    for n, row in enumerate(frame.itertuples(index=False)):
        try:
            c = str(space.canonical(space.parse(str(row.arch))))
            float(row.top1), int(row.seed)
        except (ValueError, TypeError) as e:
            raise InputFileError(f"{csv} row {n + 1}: {str(e).splitlines()[0]}") from None
        if str(row.canonical_arch) != c:
            raise InputFileError(f"{csv} row {n + 1}: canonical_arch {row.canonical_arch} is not the "
                                 f"canonical form of {row.arch} ({c})")
        canon.append(c)
    frame = frame.assign(_canonical=canon, top1=frame["top1"].astype(float), seed=frame["seed"].astype(int))
    dup = frame.duplicated(["_canonical", "seed"])
    if dup.any():
        r = frame[dup].iloc[0]
        raise InputFileError(f"{csv}: architecture {r['_canonical']} seed {r['seed']} appears twice")
    if meta.get("partial"):
        LOG.warning(f"{csv} is a PARTIAL table ({frame['_canonical'].nunique()} architectures so far; "
                    "benchmark.json says partial: true)")
    return BenchTable(frame, space, meta["model_spec"], meta.get("protocol") or {}, csv)
