"""Seconds per zero-cost proxy for one nano architecture on one core (issue 22's target:
every proxy under 2 s), one command:

    python experiments/benchmarks/bench_proxies.py [--models mlp3d-nano,r3d-rs-nano] [--batch 16]

Each figure is the median wall time of one proxy call as `nas proxies` makes it: a fresh
export of the architecture from the seeded supernet, then the proxy (the data-dependent ones
on a batch of `--batch` clips of the model's default input; random values, which do not
change the time). params and flops are lookups in the per-unit cost table; building that
table, once per space and input, is shown on its own line.
"""
from __future__ import annotations

import argparse
import random
import time

import torch

from common import Row, median_seconds, print_table  # noqa: E402  (adds the repo to sys.path)

from nas.proxies import PROXIES, ProxyContext  # noqa: E402
from nas.proxies.run import seeded_supernet  # noqa: E402
from nas.costs.unit_table import build_cost_table  # noqa: E402
from supernet.registry import model_entry  # noqa: E402

TARGET_S = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mlp3d-nano,morphmlp-nano,r3d-rs-nano,eco-nano")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one core)")
    parser.add_argument("--min-run-time", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models.split(","):
        size = model_entry(name).default_input
        model = seeded_supernet(name, size, None, 0)
        arch = model.space.sample(random.Random(0))
        start = time.perf_counter()
        table = build_cost_table(model, size)
        build = time.perf_counter() - start
        g = torch.Generator().manual_seed(0)
        classes = model.spec["num_classes"]
        batch = (torch.randn(args.batch, 3, *size, generator=g), torch.arange(args.batch) % classes)
        ctx = ProxyContext(arch, model.space, size, lambda: model.export(arch), table, batch, 0)
        print(f"{name} {'x'.join(map(str, size))} arch {arch}: cost table built in {build:.2f} s (once per space)")
        for proxy in PROXIES.values():
            seconds = median_seconds(lambda: proxy.fn(ctx), args.min_run_time)
            rows.append(Row(f"{name} {proxy.name}", seconds, TARGET_S, "s", "<= 1.00", seconds / TARGET_S))
    print_table(f"seconds per proxy call, one nano architecture (batch {args.batch}); baseline = the "
                f"{TARGET_S:g} s target, ratio = ours / target", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
