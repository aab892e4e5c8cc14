"""Search results on disk: one CSV row per evaluated architecture, and the run folder.

Output folder of a search::

    search_config.yaml   the resolved search config, written at start (resume checks it)
    results.csv          every evaluated architecture, rewritten atomically after each one
    cost_table.json      the per-unit FLOPs / params table (reused on resume)
    best_arch.json       the space's JSON of the best architecture plus V, C, objective, units
    best_arch.txt        its string
    pareto.csv           the accuracy-vs-GFLOPs Pareto front of all evaluated architectures
    optuna.db            the Optuna study (optuna strategies; SQLite, resumable)

Rows are keyed by `key` (canonical architecture + evaluation context, see `row_key`); a
resumed search replays its strategy from the start and takes every result whose key is
already stored instead of evaluating again, so it ends where an uninterrupted run ends.
Rows are sorted by `eval_id`, the position of the key in the order the strategy first asked
for it (not completion order), so parallel evaluation writes the same table.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from search_spaces import Arch, SearchSpace

from ..utils import atomic_write_json, atomic_write_text

RESULTS_CSV = "results.csv"
CONFIG_YAML = "search_config.yaml"
COST_TABLE_JSON = "cost_table.json"
BEST_JSON = "best_arch.json"
BEST_TXT = "best_arch.txt"
PARETO_CSV = "pareto.csv"
OPTUNA_DB = "optuna.db"
RANDOM_TOKEN = "*"


@dataclass(frozen=True)
class Record:
    """One evaluated architecture (a CSV row). Units are in the column names."""

    eval_id: int
    strategy: str
    round: int              # greedy pass, evolution generation, random/optuna batch
    block: int              # greedy: the block being decided; -1 otherwise
    arch: str               # tokens, '*' for units drawn at random per batch
    key: str
    top1_pct: float         # V
    loss: float
    correct: int
    total: int
    gflops: float           # expected GFLOPs when some units are random
    params_M: float
    cost: float             # C of Eq. 6, in cost_unit
    cost_unit: str
    objective: float        # V - alpha * C
    seconds: float

    @property
    def is_complete(self) -> bool:
        return RANDOM_TOKEN not in self.arch.split("-")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


COLUMNS = [f.name for f in fields(Record)]
_INT_COLUMNS = {"eval_id", "round", "block", "correct", "total"}
_STR_COLUMNS = {"strategy", "arch", "key", "cost_unit"}


def row_key(space: SearchSpace, arch: Arch, decided: int | None = None, draw_seed: int | None = None) -> str:
    """Cache key: the canonical architecture (equivalent choices merged, `canonical`), with
    random units as '*' and their draw seed, so one function is never scored twice."""
    tokens = [c.token for c in space.canonical(arch)]
    n = len(tokens)
    if decided is None or decided >= n:
        return "-".join(tokens)
    return "-".join(tokens[:decided] + [RANDOM_TOKEN] * (n - decided)) + f"@draw{draw_seed}"


def display_arch(arch: Arch, decided: int | None = None) -> str:
    tokens = [c.token for c in arch]
    if decided is not None and decided < len(tokens):
        tokens = tokens[:decided] + [RANDOM_TOKEN] * (len(tokens) - decided)
    return "-".join(tokens)


class ResultStore:
    """The results table in memory and in `path` (CSV, rewritten atomically after each add)."""

    def __init__(self, path: str | Path | None = None, resume: bool = False):
        self.path = None if path is None else Path(path)
        self.records: dict[str, Record] = {}
        if resume and self.path is not None and self.path.is_file():
            for rec in read_results(self.path):
                self.records[rec.key] = rec

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> Record | None:
        return self.records.get(key)

    def add(self, record: Record) -> None:
        if record.key in self.records:
            raise ValueError(f"result for {record.key} is already stored")
        self.records[record.key] = record
        if self.path is not None:
            atomic_write_text(self.path, self.frame().to_csv(index=False))

    def sorted(self) -> list[Record]:
        return sorted(self.records.values(), key=lambda r: r.eval_id)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.to_dict() for r in self.sorted()], columns=COLUMNS)


def read_results(path: str | Path) -> list[Record]:
    """Rows of a results CSV as records (floats read back exactly)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)   # parsed below: exact
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read results {path}: {str(e).splitlines()[0]}") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} is not a search results table (missing columns {', '.join(missing)})")
    out = []
    for n, row in enumerate(df[COLUMNS].to_dict("records")):
        try:
            out.append(Record(**{k: (int(v) if k in _INT_COLUMNS else str(v) if k in _STR_COLUMNS
                                     else float(v)) for k, v in row.items()}))
        except ValueError as e:
            raise ValueError(f"{path} row {n + 1}: {e}") from None
    return out


# ---- run folder ----------------------------------------------------------------------------
def prepare_folder(out: str | Path, config: dict[str, Any], resume: bool) -> Path:
    """Create or reopen a search folder (`nas.runfolder.prepare_run_folder`, kind "search");
    one-line errors for a folder holding another search or another kind of run.

    A folder with a config is reused only with `resume` and an identical config; `resume`
    on a folder without one starts afresh.
    """
    from ..runfolder import prepare_run_folder

    out = Path(out)
    if out.is_dir() and (out / RESULTS_CSV).is_file() and not (out / CONFIG_YAML).is_file():
        raise ValueError(f"{out} holds search results without {CONFIG_YAML}; use another --out")
    return prepare_run_folder(out, "search", config, resume, what="--out")


def write_best(out: Path, space: SearchSpace, arch: Arch, record: Record, extra: dict[str, Any]) -> None:
    """best_arch.json (the space's JSON plus scores and units) and best_arch.txt."""
    data = space.to_dict(arch)
    data.update({"top1_pct": record.top1_pct, "loss": record.loss, "gflops": record.gflops,
                 "params_M": record.params_M, "cost": record.cost, "cost_unit": record.cost_unit,
                 "objective": record.objective, **extra})
    atomic_write_json(out / BEST_JSON, data)
    atomic_write_text(out / BEST_TXT, str(arch) + "\n")
