"""Search results on disk: one CSV row per evaluated architecture, and the run folder.

Output folder of a search::

    search_config.yaml   the resolved search config, written at start (resume checks it)
    results.csv          every evaluated architecture, rewritten atomically after each one
    outcomes.npz         per-clip correctness and per-batch losses of every row (`outcomes`)
    cost_table.json      the per-unit FLOPs / params table (reused on resume)
    best_arch.json       the space's JSON of the best architecture plus V, C, objective, units,
                         its `confidence` section and the best architecture per alpha
    best_arch.txt        its string
    pareto.csv           the Pareto front (max V; min GFLOPs, and min C when C is not GFLOPs)
    (a strategy's own files, e.g. the Optuna study ``optuna.db``, written by the strategy)

Rows are keyed by `key` (canonical architecture + evaluation context, see `row_key`); a
resumed search replays its strategy from the start and takes every result whose key is
already stored instead of evaluating again, so it ends where an uninterrupted run ends.
Rows are sorted by `eval_id`, the position of the key in the order the strategy first asked
for it (not completion order), so parallel evaluation writes the same table. With racing a
row can be extended later (more clips); its row then shows the most clips evaluated.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search_spaces import Arch, SearchSpace
from search_spaces.errors import InputFileError, OutputError

from ..runfolder import prepare_run_folder
from ..utils import atomic_write_json, atomic_write_text, read_csv
from .confidence import binomial_se
from .outcomes import OUTCOMES_NPZ, ClipLog, load_outcomes, save_outcomes

if TYPE_CHECKING:
    import pandas as pd

RESULTS_CSV = "results.csv"
CONFIG_YAML = "search_config.yaml"
COST_TABLE_JSON = "cost_table.json"
BEST_JSON = "best_arch.json"
BEST_TXT = "best_arch.txt"
PARETO_CSV = "pareto.csv"
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
    top1_se: float          # binomial SE of V over `clips` (a table: SE over training seeds)
    loss: float
    correct: int
    clips: int              # validation clips V is measured on (racing: those evaluated)
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
_INT_COLUMNS = {"eval_id", "round", "block", "correct", "clips"}
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
    """The results table and per-clip outcomes, in memory and in `path` (results.csv) with
    ``outcomes.npz`` beside it, both rewritten atomically after each result (outcomes
    first: results.csv is the commit point, see `nas.search.outcomes`)."""

    def __init__(self, path: str | Path | None = None, resume: bool = False):
        self.path = None if path is None else Path(path)
        self.records: dict[str, Record] = {}
        self.logs: dict[str, ClipLog] = {}
        self.legacy = 0                  # resumed rows of a folder from before per-clip outcomes
        if resume and self.path is not None and self.path.is_file():
            for rec in read_results(self.path):
                self.records[rec.key] = rec
            side = self.outcomes_path
            logs = load_outcomes(side) if side.is_file() else {}
            header = self.path.open().readline().strip().split(",")
            if "clips" not in header and not side.is_file():
                self.legacy = len(self.records)
                return
            for key, rec in self.records.items():
                if rec.clips == 0 and rec.correct == 0:       # a scorer without per-clip outcomes
                    continue
                log = logs.get(key)
                if log is None or not log.truncate(rec.clips):
                    raise InputFileError(f"{self.path}: row {rec.eval_id} ({rec.arch}) has no matching "
                                         f"per-clip outcomes in {side}; the folder is inconsistent, "
                                         "use another --out")
                self.logs[key] = log

    @property
    def outcomes_path(self) -> Path:
        return self.path.with_name(OUTCOMES_NPZ)

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> Record | None:
        return self.records.get(key)

    def log(self, key: str) -> ClipLog | None:
        return self.logs.get(key)

    def put(self, record: Record, log: ClipLog | None = None) -> None:
        """Store (or replace, keeping the key) one row and its per-clip outcomes."""
        self.records[record.key] = record
        if log is not None:
            self.logs[record.key] = log
        if self.path is not None:
            if log is not None:
                save_outcomes(self.outcomes_path, self.logs)
            atomic_write_text(self.path, self.frame().to_csv(index=False, na_rep="nan"))

    def sorted(self) -> list[Record]:
        return sorted(self.records.values(), key=lambda r: r.eval_id)

    def frame(self) -> pd.DataFrame:
        import pandas as pd                          # lazy: the strategy registry (nas search --help) loads without pandas

        return pd.DataFrame([r.to_dict() for r in self.sorted()], columns=COLUMNS)


def read_results(path: str | Path) -> list[Record]:
    """Rows of a results CSV as records (floats read back exactly)."""
    df = read_csv(path, "results", dtype=str, keep_default_na=False)   # parsed below: exact
    if "clips" not in df.columns and "total" in df.columns:     # written before per-clip outcomes
        df = df.rename(columns={"total": "clips"})
        df["top1_se"] = [repr(binomial_se(int(c), int(n))) if c.isdigit() and n.isdigit() else "nan"
                         for c, n in zip(df["correct"], df["clips"])]
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputFileError(f"{path} is not a search results table (missing columns {', '.join(missing)})")
    out = []
    for n, row in enumerate(df[COLUMNS].to_dict("records")):
        try:
            out.append(Record(**{k: (int(v) if k in _INT_COLUMNS else str(v) if k in _STR_COLUMNS
                                     else float(v)) for k, v in row.items()}))
        except ValueError as e:
            raise InputFileError(f"{path} row {n + 1}: {e}") from None
    return out


# ---- run folder ----------------------------------------------------------------------------
def prepare_folder(out: str | Path, config: dict[str, Any], resume: bool) -> Path:
    """Create or reopen a search folder (`nas.runfolder.prepare_run_folder`, kind "search");
    one-line errors for a folder holding another search or another kind of run.

    A folder with a config is reused only with `resume` and an identical config; `resume`
    on a folder without one starts afresh.
    """
    out = Path(out)
    if out.is_dir() and (out / RESULTS_CSV).is_file() and not (out / CONFIG_YAML).is_file():
        raise OutputError(f"{out} holds search results without {CONFIG_YAML}; use another --out")
    return prepare_run_folder(out, "search", config, resume, what="--out")


def write_best(out: Path, space: SearchSpace, arch: Arch, record: Record, extra: dict[str, Any]) -> None:
    """best_arch.json (the space's JSON, so `space.parse` reads it, plus the scores and their
    ``score_units``) and best_arch.txt."""
    data = space.to_dict(arch)
    data.update({"top1_pct": record.top1_pct, "top1_se": record.top1_se, "clips": record.clips,
                 "loss": record.loss, "gflops": record.gflops,
                 "params_M": record.params_M, "cost": record.cost, "cost_unit": record.cost_unit,
                 "objective": record.objective, **extra})
    atomic_write_json(out / BEST_JSON, data)
    atomic_write_text(out / BEST_TXT, str(arch) + "\n")


def complete_rows(df):
    """Rows of fully specified architectures (greedy pass-1 rows have random '*' units)."""
    return df[~df["arch"].str.split("-").apply(lambda t: RANDOM_TOKEN in t)].reset_index(drop=True)
