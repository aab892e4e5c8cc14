"""Racing against full evaluation on a pretrained supernet: clips, time, and what was found.

    python experiments/benchmarks/bench_racing.py --checkpoint runs/demo_supernet/supernet.pt

For each strategy (greedy, 3 passes; random, `--budget` architectures) the same search runs
twice in this process on the same fixed validation subset: with full evaluation, then with
`racing` (`--race-slices` slices, paired McNemar test at `--confidence`). Reported: validation
clips scored, CPU and wall seconds of the search (evaluator built before timing), the final
architectures, and the two finals compared paired on the full set (both finals are always
full-set V). Ratios are full / racing (> 1: racing is cheaper). Exits non-zero only when a
figure cannot be measured.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from common import Row, print_table  # noqa: E402  (adds the repo to sys.path)

from nas.search import SearchConfig, run_search  # noqa: E402
from nas.search.confidence import compare_outcomes, unpack_hits  # noqa: E402
from nas.search.engine import InProcessBackend  # noqa: E402
from nas.search.evaluator import EvalRequest  # noqa: E402
from nas.search.recipes import CheckpointEvaluatorFactory  # noqa: E402


def timed(cfg, factory, backend, table):
    start, cpu = time.perf_counter(), time.process_time()
    res = run_search(cfg, factory, backend=backend, progress=False, log=lambda s: None, cost_table=table)
    return res, time.process_time() - cpu, time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="runs/demo_supernet/supernet.pt")
    p.add_argument("--val-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--race-slices", type=int, default=4)
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--budget", type=int, default=100, help="random search: architectures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        from nas.costs.unit_table import load_or_build_cost_table
        factory = CheckpointEvaluatorFactory(args.checkpoint, args.val_size, args.batch_size, 0, device="cpu")
        model = factory.cost_model()
        table = load_or_build_cost_table(model, tuple(model.spec["input_size"]))
        backend = InProcessBackend(factory)
        ev = backend.evaluator                                    # built (data loaded) before timing
        rows, notes = [], []
        for name, params in (("greedy", {"repeats": 3}), ("random", {"budget": args.budget, "batch": 25})):
            base = dict(strategy=name, params=params, seed=args.seed, race_slices=args.race_slices,
                        confidence=args.confidence)
            full, full_cpu, full_wall = timed(SearchConfig(**base), factory, backend, table)
            race, race_cpu, race_wall = timed(SearchConfig(**base, racing=True), factory, backend, table)
            fc, rc = full.info["clips_evaluated"], race.info["clips_evaluated"]
            rows += [Row(f"{name}: validation clips scored (racing vs full)", rc, fc, "clips", ">= 1.0", fc / rc),
                     Row(f"{name}: search CPU time (racing vs full)", race_cpu, full_cpu, "s", ">= 1.0",
                         full_cpu / race_cpu),
                     Row(f"{name}: search wall time (racing vs full)", race_wall, full_wall, "s", ">= 1.0",
                         full_wall / race_wall)]
            a, b = (ev.evaluate(EvalRequest(str(r.arch))) for r in (race, full))
            c = compare_outcomes(unpack_hits(a.hits, a.total), unpack_hits(b.hits, b.total), race.record.cost,
                                 full.record.cost, 5e-3)
            notes.append(f"{name}: full evaluation chose {full.arch} (V {full.record.top1_pct:.2f}%, "
                         f"{len(full.table)} architectures); racing chose {race.arch} (V {race.record.top1_pct:.2f}%, "
                         f"{len(race.table)} architectures, {int((race.table['clips'] < ev.num_clips).sum())} "
                         f"stopped early); racing's pick vs full's: {c.describe()}")
    except Exception as e:                                       # noqa: BLE001
        print(f"bench_racing: could not measure: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print_table("nas search --racing: clips and time against full evaluation", rows, note="\n".join(
        [f"setup: {args.checkpoint}, {ev.num_clips} validation clips in batches of {args.batch_size}, "
         f"{args.race_slices} slices, confidence {args.confidence}, seed {args.seed}; one run each "
         "(full first), in-process, evaluator built before timing"] + notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
