"""`nas correlate`: how well does the shared-weight estimate predict real accuracy?
(MLP-3D Sec. 4.3, Fig. 6.)

Given a pretrained supernet and K architectures (listed, or sampled so that their GFLOPs span
the space's range), it scores each with the supernet's shared weights (estimated top-1), trains
each standalone for a given budget with the supernet's own run config (real top-1), and
reports Kendall τ, Spearman ρ and Pearson r with bootstrap 95% intervals (a table on the
terminal, ``correlation.csv``, ``correlation_stats.csv``) and the Fig. 6 plot.

Everything is resumable: the output folder keeps the architecture list, the estimates and
one standalone run per architecture and seed (``archs/<arch>-seed<seed>/``); a finished architecture is never
trained again and an interrupted one resumes from its last checkpoint. The K trainings run
one after another, or in parallel as one Ray Tune trial each (``--ray``).
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from search_spaces import Arch, arch_texts
from search_spaces.errors import ConfigError, InputFileError, OutputError
from supernet.utils.config import apply_overrides, from_dict, ranged, to_dict
from supernet.utils.progress import progress as progress_bar

from .compat import load
from .config import RunConfig, read_stored_config
from .costs.unit_table import load_or_build_cost_table
from .fewshot import supernet_checkpoint
from .initialise import check_init_from
from .log import get_logger
from .plots import plot_correlation
from .runfolder import check_run_folder, drop_key, prepare_run_folder, stored_value
from .search import evaluator as search_evaluator   # (through the module: tests wrap EvalRequest)
from .search.confidence import binomial_se
from .search.recipes import supernet_factory
from .stats import correlations, precision_at_k, regret, seed_ceiling
from . import train as standalone      # (called through the module: tests replace run_train)
from .utils import atomic_write_text, config_diff, format_table
from .validate import check_data, check_device, check_output_dir, check_run_options, drop_write_paths

LOG = get_logger("correlate")


@dataclass
class CorrelateConfig:
    """`nas correlate` settings (``--config FILE`` + ``--set key=value``, flags as shorthands;
    written to ``correlate_config.yaml`` in the output folder, which resume checks)."""

    checkpoint: str = ""   # supernet checkpoint (from nas pretrain)
    out: str = ""   # output folder (resumable)
    k: int = 10                          # architectures (when not listed)
    archs: list = field(default_factory=list)   # architectures (strings, JSON, files); empty: k sampled
    epochs: int | None = None            # standalone epochs (None: the standalone config's, or 10)
    val_size: int | None = ranged(None, 1)   # clips for the estimate (None: the whole val split)
    batch_size: int = ranged(32, 1)   # evaluation batch size of the estimates
    seed: int = ranged(0, 0)   # seed of the sampled architectures and the validation subset
    overrides: list = field(default_factory=list)   # --set for the standalone runs
    bn_recalib: int | None = ranged(None, 0)  # None: the folder's stored value, else the family's default
    train_config: str | None = None      # YAML run config of the standalone runs (default: the supernet's)
    seeds: list = field(default_factory=list)       # standalone training seeds (default: the config's)
    runs: str | None = None              # folder of the standalone runs (default: OUT/archs)

    def validate(self):
        for key in ("checkpoint", "out"):
            if not getattr(self, key):
                raise ConfigError(f"correlate needs {key}: give --{key} or `{key}:` in --config")
        if not self.archs and self.k < 3:
            raise ConfigError(f"correlation needs at least 3 architectures, got k={self.k}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if len(set(self.seeds)) != len(self.seeds) or any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ConfigError(f"seeds must be distinct integers >= 0, got {self.seeds}")


def spanning_archs(space, gflops_of, k: int, seed: int, pool: int | None = None) -> list[Arch]:
    """K distinct architectures at evenly spaced quantiles of the GFLOPs of a random pool
    (distinct canonical forms; when costs are flat, simply K distinct random ones)."""
    rng = random.Random(seed)
    seen, candidates = set(), []
    for _ in range(pool or 60 * k):
        a = space.sample(rng)
        key = space.canonical(a)
        if key not in seen:
            seen.add(key)
            candidates.append((gflops_of(a), str(a), a))
    if len(candidates) < k:
        raise ConfigError(f"the space has only {len(candidates)} distinct architectures in the pool; "
                          f"asked for {k}")
    candidates.sort(key=lambda c: (c[0], c[1]))
    picks = sorted({round(i * (len(candidates) - 1) / (k - 1)) for i in range(k)})
    i = 0
    while len(picks) < k:                      # rounding collisions: fill from the middle out
        if i not in picks:
            picks.append(i)
        i += 1
    return [candidates[j][2] for j in sorted(picks)]


def standalone_config(ckpt: dict, cfg: CorrelateConfig, arch: str, out_dir: Path,
                      seed: int | None = None) -> RunConfig:
    """The standalone run of `arch`: the `train_config` file (or the supernet's own run config)
    with `cfg.overrides`, the epochs, the seed and the output folder applied. It never starts
    from the supernet's weights unless the overrides ask for ``init_from``."""
    if cfg.train_config:
        base = load(cfg.train_config, "train")
    else:
        base = drop_write_paths(ckpt.get("config") or {}, f"checkpoint {cfg.checkpoint}")
        if "data" not in base:
            raise InputFileError(f"{cfg.checkpoint} stores no run config; pretrain it with nas pretrain "
                                 "or pass a standalone config (--train-config)")
        base = RunConfig.upgrade(base)            # an older stored layout: options at the root
        base.update({"init_from": None, "options": {}, "few_shot": {}})
        base["train"] = {**base.get("train", {}), "max_steps": None}
    if cfg.epochs is not None or not cfg.train_config:
        base["train"] = {**base.get("train", {}), "epochs": cfg.epochs or 10}
    base = apply_overrides(base, cfg.overrides)
    base.update({"output_dir": str(out_dir), "arch": arch})
    if seed is not None:
        base["train"] = {**base.get("train", {}), "seed": seed}
    return from_dict(RunConfig, base)


def run_dir(runs: Path, arch: str, seed: int) -> Path:
    """Where the standalone run of (`arch`, `seed`) lives (shared by correlations that use
    the same runs folder: a finished run is never trained again)."""
    return runs / f"{arch}-seed{seed}"


def _train_one(run_config: dict, threads: int | None = None, progress: bool = True) -> float:
    """Train (or resume, or reuse) one standalone run; returns its top-1 (%). A finished run
    is reused only if it was trained with this config (one-line error otherwise)."""
    cfg = from_dict(RunConfig, run_config)
    if threads:      # the trial's CPU share wins over the config's thread count (oversubscribed
        cfg.train.threads = threads     # OpenMP threads on a shared CPU run many times slower)
    out = Path(cfg.output_dir)
    done = standalone.load_eval(out)
    if done is not None:
        stored = out / "config.yaml"
        diff = config_diff(_comparable(read_stored_config(stored)), _comparable(cfg.to_dict())) \
            if stored.exists() else None
        if diff:
            raise OutputError(f"{out} holds a finished run with a different config ({diff}); use "
                              "another runs folder")
        return done["top1"]
    resume = (out / "checkpoints" / "last.pt").exists()
    return standalone.run_train(cfg, resume=resume, quiet=True, progress=progress)["top1"]


RESULT_NEUTRAL_KEYS = ("output_dir", "train.threads", "train.eval_every", "train.eval_clips", "train.tensorboard")


def _comparable(run: dict) -> dict:
    """A run config without the keys that do not change the result: where the run lives,
    extra validation passes (bit-identical weights) and the thread count (the order of float
    sums only: weights equal to float precision); both tested."""
    out = copy.deepcopy(run)
    for key in RESULT_NEUTRAL_KEYS:
        drop_key(out, key)
    return out


def _train_on_ray(jobs: list[tuple[int, dict]], address: str | None, cpus_per_trial: int) -> None:
    """One Ray Tune trial per architecture still to train."""
    import ray                                       # lazy: optional dependency (ray)
    from ray import tune                             # lazy: optional dependency (ray)

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)

    def trainable(config):
        tune.report({"top1": _train_one(config["run"], threads=cpus_per_trial)})

    tuner = tune.Tuner(tune.with_resources(trainable, {"cpu": cpus_per_trial}),
                       param_space={"run": tune.grid_search([run for _, run in jobs])},
                       run_config=tune.RunConfig(verbose=0))
    results = tuner.fit()
    errors = [r.error for r in results if r.error is not None]
    if errors:
        raise RuntimeError(f"{len(errors)} standalone trainings failed on Ray; first: "
                           f"{str(errors[0]).strip().splitlines()[-1]}")


def run_correlate(cfg: CorrelateConfig, ray: bool = False, ray_address: str | None = None,
                  cpus_per_trial: int = 1, progress: bool = True, estimates_only: bool = False) -> pd.DataFrame:
    """Estimate, train and correlate; returns the per-architecture table. `estimates_only`
    stops after the shared-weight estimates (``correlation.csv`` with ``real_acc`` empty):
    the same folder, rerun without it, trains and correlates."""
    cfg.validate()                                # everything below is checked before any output
    cfg.archs = [t for a in cfg.archs                # files: their architectures
                 for t in (arch_texts(a, "--archs") if isinstance(a, str) else [a])]
    out = check_run_folder(cfg.out, "correlate", "--out")
    ckpt = supernet_checkpoint(cfg.checkpoint)
    seeds = list(cfg.seeds) or [None]
    runs_root = check_output_dir(cfg.runs, "--runs") if cfg.runs else out / "archs"
    probe = standalone_config(ckpt, cfg, "", runs_root / "probe")
    if not estimates_only:                        # what every standalone run will read
        check_device(probe.train.device, "train.device")
        check_data(probe.data, ("train", "val"), readable=("val",))
        check_init_from(probe)                    # (another model's checkpoint named, before any output)
        check_run_options(probe)
    if cfg.bn_recalib is None:                    # resume keeps the folder's value; else the family's
        stored = stored_value(out, "correlate", "bn_recalib")
        cfg.bn_recalib = stored if isinstance(stored, int) and not isinstance(stored, bool) else None
    factory = supernet_factory(cfg.checkpoint, cfg.val_size, cfg.batch_size, cfg.seed,
                               cfg.bn_recalib, prefix_cache=False)
    cfg.bn_recalib = factory.bn_recalib           # resolved: written to the folder's config
    model = factory.cost_model()
    for a in cfg.archs:                           # a bad listed architecture: one line, no output
        model.space.parse(a)
    prepare_run_folder(out, "correlate", to_dict(cfg), resume=True, what="--out")

    input_size = tuple(ckpt["model_spec"]["input_size"])
    table = load_or_build_cost_table(model, input_size, out / "cost_table.json")
    space = model.space
    archs = ([space.parse(a) for a in cfg.archs] if cfg.archs
             else spanning_archs(space, table.gflops, cfg.k, cfg.seed))

    table_path = out / "correlation.csv"
    rows = {}
    if table_path.exists():
        rows = {r["arch"]: r for r in pd.read_csv(table_path).to_dict("records")}

    def save():
        frame = pd.DataFrame([rows[str(a)] for a in archs if str(a) in rows])
        atomic_write_text(table_path, frame.to_csv(index=False))

    evaluator = None
    for i, a in enumerate(progress_bar(archs, desc="shared-weight estimates", unit="arch", disable=not progress)):
        if str(a) in rows and pd.notna(rows[str(a)].get("estimated_acc")):
            continue
        evaluator = evaluator or factory.build()
        res = evaluator.evaluate(search_evaluator.EvalRequest(arch=str(a)))
        rows[str(a)] = {"index": i, "arch": str(a), "canonical_arch": str(space.canonical(a)),
                        "gflops": table.gflops(a), "params_M": table.params(a) / 1e6,
                        "estimated_acc": res.top1, "estimated_se": binomial_se(res.correct, res.total),
                        "estimated_loss": res.loss, "real_acc": float("nan")}
        save()
    if estimates_only:
        frame = pd.read_csv(table_path)
        LOG.info(estimates_text(frame, table_path))
        return frame

    def seed_of(run: RunConfig, s):
        return run.train.seed if s is None else s

    runs = []
    for a in archs:
        for s in seeds:
            s = seed_of(probe, s)
            runs.append((str(a), s, standalone_config(ckpt, cfg, str(a), run_dir(runs_root, str(a), s),
                                                      s).with_absolute_paths()))
    todo = [run.to_dict() for _, _, run in runs if not (Path(run.output_dir) / "eval.json").exists()]
    done = [run.to_dict() for _, _, run in runs if (Path(run.output_dir) / "eval.json").exists()]
    for run in done:                                   # reused runs must match this config
        _train_one(run)
    if todo and ray:
        _train_on_ray([(i, run) for i, run in enumerate(todo)], ray_address, cpus_per_trial)
    for run in progress_bar(todo if not ray else [], desc="standalone trainings", unit="run", disable=not progress):
        _train_one(run, progress=progress)
    real: dict[str, dict[int, dict]] = {}
    for arch, s, run in runs:
        real.setdefault(arch, {})[s] = standalone.load_eval(run.output_dir)
    for arch, by_seed in real.items():
        top1 = [r["top1"] for r in by_seed.values()]
        rows[arch]["real_acc"] = sum(top1) / len(top1)
        rows[arch]["real_single_view"] = sum(r["single_view"]["top1"] for r in by_seed.values()) / len(top1)
        rows[arch]["real_se"] = real_se(list(by_seed.values()))
        for s, r in by_seed.items():
            rows[arch][f"real_acc_seed{s}"] = r["top1"]
    save()
    frame = pd.read_csv(table_path)
    write_stats(frame, out)
    return frame


def real_se(evals: list[dict]) -> float:
    """SE (points) of the real top-1 of one architecture: over its training seeds when it has
    several (sample SD / sqrt(seeds)), else binomial over the clips its one run was scored on."""
    top1 = [r["top1"] for r in evals]
    if len(top1) >= 2:
        mean = sum(top1) / len(top1)
        return (sum((t - mean) ** 2 for t in top1) / (len(top1) - 1) / len(top1)) ** 0.5
    scored = evals[0].get("multi_view", evals[0]["single_view"])
    return binomial_se(top1[0] / 100.0 * scored["clips"], scored["clips"])


def seed_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("real_acc_seed")]


PRECISION_K = 5                          # precision@k of the correlation report


def precision_left_out(n: int, k: int = PRECISION_K) -> str | None:
    """Why precision@k is not reported for `n` architectures (None when it is): with k >= n
    the top k by either ranking are all of them, so it is always 1."""
    if k < n:
        return None
    return (f"precision@{k} left out: it needs more than {k} architectures (here {n}); the top "
            f"{k} of {n} by either ranking are all of them, so it would always be 1")


def ranking_stats(frame: pd.DataFrame, k: int = PRECISION_K) -> pd.DataFrame:
    """τ, ρ, r with bootstrap intervals, precision@k (only when k is less than the number of
    architectures, `precision_left_out`), regret and (with >= 2 seeds) the seed-to-seed τ:
    the rows of ``correlation_stats.csv``."""
    est, real = frame["estimated_acc"], frame["real_acc"]
    rows = [{"measure": c.name, "value": c.value, "ci95_low": c.low, "ci95_high": c.high, "n": c.n}
            for c in correlations(est, real)]
    if precision_left_out(len(frame), k) is None:
        rows.append({"measure": f"precision_at_{k}", "value": precision_at_k(est, real, k), "n": len(frame)})
    rows.append({"measure": "regret_top1", "value": regret(est, real), "n": len(frame)})
    seeds = seed_columns(frame)
    if len(seeds) >= 2:
        c = seed_ceiling(frame[seeds].to_numpy())
        rows.append({"measure": c.name, "value": c.value, "ci95_low": c.low, "ci95_high": c.high, "n": c.n})
    return pd.DataFrame(rows, columns=["measure", "value", "ci95_low", "ci95_high", "n"])


def write_stats(frame: pd.DataFrame, out: Path) -> pd.DataFrame:
    """The ranking statistics: ``correlation_stats.csv``, the report on the ``vidnas`` logger,
    and Fig. 6; returns them."""
    table = ranking_stats(frame)
    atomic_write_text(out / "correlation_stats.csv", table.to_csv(index=False))
    LOG.info(report_text(frame, table))
    plot_correlation(frame, out / "fig6_correlation")
    return table


def estimates_text(frame: pd.DataFrame, table_path: str | Path) -> str:
    """What ``nas correlate --estimates-only`` shows: each architecture's estimate."""
    return (format_table([(r.arch, f"{r.gflops:.4f}", f"{r.estimated_acc:.2f}") for r in frame.itertuples()],
                         ["architecture", "GFLOPs", "estimated top-1 (%)"])
            + f"\nestimates of {len(frame)} architectures: {table_path}; run the same command without "
              "--estimates-only to train them and correlate")


def report_text(frame: pd.DataFrame, stats: pd.DataFrame) -> str:
    """What ``nas correlate`` shows at the end: the ranking statistics with their CIs, then
    each architecture's estimated and real accuracy."""
    parts = [format_table([(r.measure, f"{r.value:.3f}",
                            "" if pd.isna(r.ci95_low) else f"[{r.ci95_low:.3f}, {r.ci95_high:.3f}]", r.n)
                           for r in stats.itertuples()],
                          ["measure", "value", "bootstrap 95% CI", "archs"], align="lrll")]
    note = precision_left_out(len(frame))
    if note:
        parts.append(note)
    parts.append(format_table([(r.arch, f"{r.gflops:.4f}", f"{r.estimated_acc:.2f}", f"{r.real_acc:.2f}")
                               for r in frame.itertuples()],
                              ["architecture", "GFLOPs", "estimated top-1 (%)", "real top-1 (%)"]))
    return "\n".join(parts)


def correlate_summary(out: str | Path) -> dict[str, Any]:
    """The stats of a finished correlation folder as a dict (for reports)."""
    stats = pd.read_csv(Path(out) / "correlation_stats.csv")
    return {r.measure: (r.value, r.ci95_low, r.ci95_high) for r in stats.itertuples()}
