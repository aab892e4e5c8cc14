"""Latency lookup table accuracy (issue 13), one command:

    python experiments/benchmarks/bench_latency.py [--archs 20] [--repeats 3] [--clock cpu|wall]

For each space (MLP-3D-nano, MorphMLP-nano, ECO-nano and R3D-RS-nano for the conv split):

* build the LUT (`nas.costs.latency.build_latency_table`: every unit choice and every fixed part
  timed in isolation on its real input) and time how long that takes;
* measure `--archs` random exported architectures end to end (batch 1, the same clock);
  the two are paired: `--repeats` rounds of (one pass over every LUT entry, one pass over the
  architectures), each entry and each architecture keeping its median over the rounds;
* report the median (and max) relative error |LUT sum - measured| / measured (target <= 10%),
  Kendall tau between the two (target >= 0.9), and LUT build time against the time the
  end-to-end measurements took.

`--clock cpu` (the default here, 1 thread) times the thread's CPU time: on a shared machine
wall time includes the time the OS gives other processes (see nas/costs/latency.py).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import torch

from common import commit, machine  # noqa: E402

from nas.costs.latency import build_latency_table, median_ms  # noqa: E402
from nas.utils import format_table  # noqa: E402
from supernet.registry import build_model  # noqa: E402

CASES = {"mlp3d": [("mlp3d-nano", (16, 32, 32))], "morphmlp": [("morphmlp-nano", (16, 32, 32))],
         "conv3d_split": [("eco-nano", (16, 32, 32)), ("r3d-rs-nano", (16, 64, 64))]}


def median(values):
    return sorted(values)[len(values) // 2]


def end_to_end_runs(model, archs, size):
    x = torch.randn(1, 3, *size)

    def runner(net):
        def run():
            with torch.inference_mode():
                net(x)
        return run
    return [runner(model.export(a).eval()) for a in archs]


def paired(model, size, archs, repeats, min_run_time, clock):
    """`repeats` rounds of (a one-pass LUT, one end-to-end pass over the architectures), so that
    both see the same spells of the machine; the LUT keeps each entry's median over the rounds
    (what `build_latency_table(repeats=R)` does), the architectures their median."""
    runs = end_to_end_runs(model, archs, size)
    luts, times, t_lut, t_e2e = [], [[] for _ in archs], 0.0, 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        luts.append(build_latency_table(model, size, threads=1, min_run_time=min_run_time, clock=clock))
        t_lut += time.perf_counter() - t0
        t0 = time.perf_counter()
        for j, run in enumerate(runs):
            times[j].append(median_ms(run, min_run_time, 1, clock=clock))
        t_e2e += time.perf_counter() - t0
    lut = replace(luts[0], unit_ms=[{t: median([l.unit_ms[i][t] for l in luts]) for t in u}
                                    for i, u in enumerate(luts[0].unit_ms)],
                  fixed_ms={k: median([l.fixed_ms[k] for l in luts]) for k in luts[0].fixed_ms})
    return lut, [median(t) for t in times], t_lut, t_e2e


def main(argv=None) -> int:
    from scipy.stats import kendalltau

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--min-run-time", type=float, default=0.2)
    p.add_argument("--clock", default="cpu", choices=["cpu", "wall"])
    p.add_argument("--spaces", default="mlp3d,morphmlp,conv3d_split")
    p.add_argument("--verbose", action="store_true", help="print every architecture")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for space in args.spaces.split(","):
        for name, size in CASES[space]:
            torch.manual_seed(0)
            model = build_model(name, size, 10).eval()
            archs = [model.space.sample(1000 + s) for s in range(args.archs)]
            lut, measured, t_lut, t_e2e = paired(model, size, archs, args.repeats, args.min_run_time, args.clock)
            summed = [lut.ms(a) for a in archs]
            errors = sorted(abs(s - m) / m for s, m in zip(summed, measured))
            tau = kendalltau(summed, measured).statistic
            med = errors[len(errors) // 2]
            if args.verbose:
                for a, s, m in zip(archs, summed, measured):
                    print(f"{name} {a}: LUT {s:.3f} ms, measured {m:.3f} ms ({(s - m) / m:+.1%})", file=sys.stderr)
            spread = (max(measured) - min(measured)) / (sum(measured) / len(measured))
            print(f"[{name}] LUT {t_lut:.0f}s, {args.archs} archs {t_e2e:.0f}s, median error {med:.1%}, "
                  f"tau {tau:.3f}, measured spread {spread:.1%}", file=sys.stderr)
            rows.append((space, f"{name} {'x'.join(map(str, size))}", f"{sum(len(u) for u in lut.unit_ms)}",
                         f"{med:.1%}", f"{errors[-1]:.1%}", "yes" if med <= 0.10 else "NO",
                         f"{tau:.3f}", "yes" if tau >= 0.9 else "NO", f"{spread:.1%}",
                         f"{t_lut:.0f}", f"{t_e2e:.0f}", f"{t_lut / t_e2e:.2f}"))
    print(f"\nLatency LUT sum vs measured end-to-end latency ({args.archs} random architectures per model, "
          f"batch 1, 1 thread, clock {args.clock}, {args.repeats} paired rounds, "
          f"min_run_time {args.min_run_time}s)\n{machine()}, commit {commit()}")
    print(format_table(rows, ["space", "model", "LUT entries", "median rel. err", "max rel. err", "<= 10%",
                              "Kendall tau", ">= 0.9", "latency spread", "LUT build s", "end-to-end s",
                              "LUT / e2e time"], align="llrrrlrlrrrr"))
    print("latency spread = (max - min) / mean of the measured latencies: how much there is to rank")
    return 0


if __name__ == "__main__":
    sys.exit(main())
