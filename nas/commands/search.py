"""`nas search`: architecture search on a pretrained supernet checkpoint.

    nas search --checkpoint runs/pretrain/supernet.pt --strategy greedy --out runs/search
    nas search --checkpoint S.pt --racing --alpha 0.001,0.005,0.01 --out runs/race
    nas search --bench-table experiments/results/ranking_fidelity --strategy evolution --out runs/b

Strategies: greedy (MLP-3D Sec. 3.4), evolution (SPOS), random, optuna-tpe, optuna-nsga2.
Settings come from `--config FILE` (YAML: the keys of the ``search`` and ``evaluation``
sections of a `search_config.yaml`, flat or in those sections; ``data`` overrides the
checkpoint's data config; identity keys such as ``checkpoint`` are ignored; the typed
schema is `nas.search.settings`), then ``--set key=value`` (``search.seed=3`` or ``seed=3``),
then flags, which are shorthands that set keys. `--ray` (local Ray) or `--ray-address ADDR` evaluates on Ray Tune
workers. `--resume` continues a search killed at any point and ends with the same result
as an uninterrupted run. On a busy CPU machine pass `--threads 1`: small evaluation batches
gain little from threads, and OpenMP threads competing with other processes are very slow.

Confidence: every row of results.csv has `top1_se` (binomial SE of V) and `clips`; per-clip
outcomes go to outcomes.npz; greedy logs each decision with its paired test (McNemar) and
flags the ones inside the noise; best_arch.json has a `confidence` section. `--racing`
scores each round slice by slice (`--race-slices`, default 4) and stops a candidate once
the paired test separates it from the leader at `--confidence` (default 0.95); the leader
always gets the full set. `--alpha a,b,c` runs the search with the first alpha and writes
the best architecture for every alpha (Eq. 6 over the same evaluations) to best_arch.json.
`--bench-table DIR` scores architectures by a standalone table (nas.bench; no checkpoint)
and searches the table's architectures.
"""
from __future__ import annotations

import argparse

from search_spaces.errors import VidnasInputError

from ..runfolder import check_run_folder
from ..validate import check_device

NAME = "search"
HELP = "search architectures on a pretrained supernet"
DESCRIPTION = __doc__


def parse_alphas(text: str) -> list[float]:
    """'0.001,0.005,0.01' -> [0.001, 0.005, 0.01] (argparse type of --alpha)."""
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"--alpha must be a number or a comma-separated list "
                                         f"of numbers (e.g. 0.001,0.005,0.01), got {text!r}")
    return values


def add_arguments(p) -> None:
    from ..bench import BENCH_TABLES, DEFAULT_BENCH             # lazy: only this command's parser needs it (numpy)
    from ..search.objective import COST_KINDS, DEFAULT_ALPHA    # lazy: only this command's parser needs it (numpy)
    from ..search.strategies import DEFAULT_STRATEGY, STRATEGIES, STRATEGY_FLAGS  # lazy: only this command's parser needs it (numpy)

    p.add_argument("--checkpoint", help="supernet checkpoint (from nas pretrain)")
    p.add_argument("--bench-table", metavar="DIR|NAME", nargs="?", const=DEFAULT_BENCH,
                   help="score by a standalone table instead of a supernet: a folder (or standalone.csv "
                        f"with benchmark.json; see nas.bench) or a named table ({', '.join(BENCH_TABLES)}); "
                        f"alone, {DEFAULT_BENCH}")
    p.add_argument("--out", required=True, help="output folder (results.csv, best_arch.json, ...)")
    p.add_argument("--strategy", choices=list(STRATEGIES), help=f"search strategy (default {DEFAULT_STRATEGY})")
    p.add_argument("--config", help="YAML file with search settings (the search and evaluation "
                                    "sections of a search_config.yaml; --set and flags override it)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set search.seed=3 or --set evaluation.val_size=64")
    p.add_argument("--resume", action="store_true", help="continue the search in --out")
    g = p.add_argument_group("objective V - alpha*C (Eq. 6)")
    g.add_argument("--alpha", type=parse_alphas, help=f"trade-off alpha per cost unit (default "
                   f"{DEFAULT_ALPHA}); a list a,b,c searches with a and reports the best for each")
    g.add_argument("--cost", choices=COST_KINDS, help="C: fvcore GFLOPs (default), latency (ms) or "
                                                      "peak memory (MB)")
    g.add_argument("--max-gflops", type=float, help="hard limit on GFLOPs")
    g.add_argument("--latency-table", help="--cost latency: sum this table (nas latency-table) instead "
                                           "of timing every candidate")
    g.add_argument("--cost-device", help="device the latency / memory is for (default: --device)")
    g.add_argument("--cost-batch", type=int, help="batch the latency / memory is for (default 1)")
    g.add_argument("--memory-step", choices=["inference", "train"],
                   help="--cost memory: peak of an inference step (default; per-unit table) or of a "
                        "training step (measured per architecture)")
    g.add_argument("--max-memory-mb", type=float, help="hard limit on peak inference memory (MB = 2^20 bytes)")
    g.add_argument("--seed", type=int, help="search seed (default 0)")
    g = p.add_argument_group("strategy parameters (each applies to the strategies that take it)")
    for name, typ in STRATEGY_FLAGS.items():
        users = [s for s, cls in STRATEGIES.items() if name in cls.defaults]
        g.add_argument("--" + name.replace("_", "-"), type=typ, dest=name,
                       help=f"{', '.join(users)} (defaults: "
                            f"{', '.join(str(STRATEGIES[s].defaults[name]) for s in users)})")
    g = p.add_argument_group("confidence and racing")
    g.add_argument("--racing", action="store_true", default=None,
                   help="score each round slice by slice; stop candidates separated from the leader")
    g.add_argument("--race-slices", type=int, help="racing: slices of the validation set (default 4)")
    g.add_argument("--confidence", type=float, help="level of racing's and greedy decisions' "
                                                    "paired tests (default 0.95)")
    g = p.add_argument_group("evaluation")
    g.add_argument("--val-size", type=int, help="clips in the fixed validation subset (default 256)")
    g.add_argument("--batch-size", type=int, help="clips per evaluation batch (default 32)")
    g.add_argument("--val-seed", type=int, help="seed of the validation subset (default 0)")
    g.add_argument("--bn-recalib", type=int, help="re-estimate BatchNorm statistics on N training "
                                                  "batches per architecture (default: the model "
                                                  "family's, e.g. 4 on BatchNorm hosts, else 0)")
    g.add_argument("--device", help="cpu, cuda, cuda:1 or auto (default)")
    g.add_argument("--no-prefix-cache", action="store_true", help="greedy: recompute prefixes (slower)")
    g.add_argument("--threads", type=int, help="torch intra-op threads in this process")
    g = p.add_argument_group("distributed evaluation (Ray Tune)")
    g.add_argument("--ray", action="store_true", help="evaluate on a local Ray")
    g.add_argument("--ray-address", help="evaluate on this Ray cluster (implies --ray)")
    g.add_argument("--workers", type=int, default=2, help="concurrent Ray workers (default 2)")
    g.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs each Ray worker reserves "
                   "(fractions share a GPU; default 0: CPU workers)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    """Run a search (see the module docstring)."""
    import torch                                     # lazy: fast start

    from ..search.engine import run_search          # lazy: fast start (torch)
    from ..search.setup import resolve_settings, search_setup   # lazy: fast start (torch)

    check_run_folder(args.out, "search", "--out")      # before any work or output
    s = resolve_settings(args)
    check_device(s["device"], "--device")
    if args.threads is not None:
        if args.threads < 1:
            raise VidnasInputError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    config, factory = search_setup(s, args.checkpoint, args.bench_table, not args.no_prefix_cache,
                                   args.out if args.resume else None)
    backend = None
    if args.ray or args.ray_address:
        from ..search.ray_eval import RayTuneBackend    # lazy: optional dependency (ray)
        backend = RayTuneBackend(factory, args.ray_address, args.workers,
                                 gpus_per_worker=args.gpus_per_worker)
    run_search(config, factory, out=args.out, resume=args.resume, backend=backend,
               progress=not args.no_progress)
    return 0
