"""Search-engine benchmark: the greedy prefix cache and the per-unit cost table.

    python experiments/benchmarks/bench_search.py [--val-clips 128] [--threads 1]

(1) Greedy search (MLP-3D Sec. 3.4, 3 passes) on a random-weights ``mlp3d-nano`` supernet,
    timed with and without the prefix cache (same candidates, same results; the chosen
    architecture is asserted equal). Target: >= 1.8x faster with the cache.
(2) C(θ) of one candidate: a lookup in the per-unit cost table vs a full fvcore trace of the
    exported subnet (values asserted equal). Target: >= 100x faster.

Timings: median of several runs after a warm-up (`torch.utils.benchmark` for the lookup).
Exits non-zero only when a figure cannot be measured, not when a target is missed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from common import Row, median_seconds, print_table  # noqa: E402  (adds the repo to sys.path)

from nas.search import InMemoryEvaluatorFactory, SearchConfig, build_cost_table, full_trace_flops, run_search  # noqa: E402
from supernet.registry import build_model  # noqa: E402

SIZE = (16, 32, 32)


def greedy_seconds(model, table, batches, prefix_cache: bool, repeats: int):
    factory = InMemoryEvaluatorFactory.from_model(model, batches, prefix_cache=prefix_cache)
    factory.build().evaluate({"arch": str(model.space.sample(0))})           # warm-up
    start = time.perf_counter()
    result = run_search(SearchConfig("greedy", {"repeats": repeats}, seed=0), factory,
                        cost_table=table, progress=False, log=lambda s: None)
    return time.perf_counter() - start, result


def lookup_vs_trace(model, table, archs, traces: int):
    for arch in archs[:traces]:                                   # equal values, first
        flops, params = full_trace_flops(model, arch, SIZE)
        if (table.flops(arch), table.params(arch)) != (flops, params):
            raise AssertionError(f"cost table disagrees with fvcore for {arch}")
    full_trace_flops(model, archs[0], SIZE)                       # warm-up
    trace_times = []
    for arch in archs[:traces]:
        start = time.perf_counter()
        full_trace_flops(model, arch, SIZE)
        trace_times.append(time.perf_counter() - start)
    lookup = median_seconds(lambda: [table.flops(a) for a in archs], min_run_time=0.5) / len(archs)
    return lookup, statistics.median(trace_times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--val-clips", type=int, default=128, help="validation clips (random tensors)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="greedy passes")
    parser.add_argument("--traces", type=int, default=5, help="full fvcore traces to time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both sides alike)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("mlp3d-nano", SIZE, 10)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(min(args.batch_size, args.val_clips - s), 3, *SIZE, generator=g),
                torch.randint(0, 10, (min(args.batch_size, args.val_clips - s),), generator=g))
               for s in range(0, args.val_clips, args.batch_size)]
    try:
        start = time.perf_counter()
        table = build_cost_table(model, SIZE)
        table_s = time.perf_counter() - start
        fast, res_fast = greedy_seconds(model, table, batches, True, args.repeats)
        slow, res_slow = greedy_seconds(model, table, batches, False, args.repeats)
        if res_fast.arch != res_slow.arch or len(res_fast.table) != len(res_slow.table):
            raise AssertionError(f"prefix cache changed the result: {res_fast.arch} vs {res_slow.arch}")
        archs = [model.space.sample(100 + i) for i in range(200)]
        lookup, trace = lookup_vs_trace(model, table, archs, args.traces)
    except Exception as e:                                       # noqa: BLE001
        print(f"bench_search: could not measure: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print_table("nas search: greedy prefix cache and per-unit cost table", [
        Row("greedy search, mlp3d-nano: prefix cache vs none", fast, slow, "s", ">= 1.8", slow / fast),
        Row("C(theta) of one candidate: table lookup vs fvcore trace", lookup * 1e3, trace * 1e3, "ms",
            ">= 100", trace / lookup),
    ], note=(f"setup: {args.val_clips} random validation clips {'x'.join(map(str, SIZE))} in batches of "
             f"{args.batch_size}; greedy {args.repeats} passes ({len(res_fast.table)} evaluations, both "
             f"runs chose {res_fast.arch}); cost table built once in {table_s:.1f} s; lookup = median "
             f"over {len(archs)} architectures, trace = median of {args.traces} full fvcore traces of "
             f"the exported subnet (values asserted equal)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
