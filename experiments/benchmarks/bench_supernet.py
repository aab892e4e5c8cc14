"""Supernet vs exported subnet (issue 7 targets), one command:

    python experiments/benchmarks/bench_supernet.py [--device cuda --bf16] [--quick]

* training step (zero_grad, forward, loss, backward, AdamW step) of the supernet with a random
  architecture vs the same architecture exported as a plain model: target ratio <= 1.15,
  on mlp3d-nano (16x32x32, batch 32) and MLP-3D-XS (16x128x128, batch 4);
* peak memory of such a step (each measured in a fresh process: peak RSS on CPU, peak
  allocated on CUDA) vs the exported model: target ratio <= 1.2;
* evaluation throughput (clips/s) of the shared-weight evaluator (supernet with `set_arch`)
  vs the exported model, both under `torch.inference_mode`: target ratio >= 1.0.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from common import add_threads_arg, apply_threads, ROOT, Row, paired_seconds, print_table  # noqa: E402

from supernet.registry import build_model  # noqa: E402

CASES = [("mlp3d-nano", (16, 32, 32), 32, 2), ("mlp3d-xs", (16, 128, 128), 4, 1)]   # (.., archs)


def make(model_name, size, arch_seed, exported, device):
    """The supernet set to a random architecture, or that architecture's plain network built
    directly (so the exported case never holds the supernet's memory)."""
    torch.manual_seed(0)
    net = build_model(model_name, size, 10)
    arch = net.space.sample(arch_seed)
    if exported:
        net = build_model(model_name, size, 10, arch=arch)
    else:
        net.set_arch(arch)
    return net.to(device), arch


def train_step_fn(model, x, y, amp):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        opt.step()
    return step


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_probe(model_name, size, batch, arch_seed, exported, device, amp) -> int:
    """Peak memory of two training steps above what the process held before the model."""
    dev = torch.device(device)
    x = torch.randn(batch, 3, *size, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = rss_bytes()
    model, _ = make(model_name, size, arch_seed, exported, dev)
    step = train_step_fn(model, x, y, amp)
    for _ in range(3):
        step()
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated() - base
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base


def probe_in_subprocess(args, model_name, size, batch, arch_seed, exported) -> int:
    cmd = [sys.executable, __file__, "--probe", json.dumps([model_name, list(size), batch, arch_seed,
                                                            exported, args.device, args.bf16,
                                                            torch.get_num_threads()])]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"memory probe failed: {out.stderr.strip().splitlines()[-1:]}")
    return int(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--quick", action="store_true", help="only mlp3d-nano")
    p.add_argument("--min-run-time", type=float, default=0.9)
    p.add_argument("--probe", help=argparse.SUPPRESS)
    add_threads_arg(p)
    args = p.parse_args(argv)
    apply_threads(args)
    if args.probe:
        name, size, batch, seed, exported, device, amp, threads = json.loads(args.probe)
        torch.set_num_threads(threads)
        print(memory_probe(name, tuple(size), batch, seed, exported, device, amp))
        return 0
    dev = torch.device(args.device)
    start = time.perf_counter()
    step_rows, mem_rows, eval_rows = [], [], []
    for model_name, size, batch, archs in CASES[:1] if args.quick else CASES:
        x = torch.randn(batch, 3, *size, device=dev)
        y = torch.randint(0, 10, (batch,), device=dev)
        for seed in range(archs):
            sup, arch = make(model_name, size, seed, False, dev)
            exp = sup.export(arch)
            label = f"{model_name} {'x'.join(map(str, size))} b{batch} {arch}"
            t_sup, t_exp = paired_seconds(train_step_fn(sup, x, y, args.bf16), train_step_fn(exp, x, y, args.bf16),
                                          args.min_run_time, device=args.device)
            print(f"[{time.perf_counter() - start:.0f}s] step timed: {label}", file=sys.stderr)
            step_rows.append(Row(label, t_sup * 1e3, t_exp * 1e3, "ms", "<= 1.15", t_sup / t_exp))
            m_sup = probe_in_subprocess(args, model_name, size, batch, seed, False)
            m_exp = probe_in_subprocess(args, model_name, size, batch, seed, True)
            print(f"[{time.perf_counter() - start:.0f}s] memory probed", file=sys.stderr)
            mem_rows.append(Row(label, m_sup / 2 ** 20, m_exp / 2 ** 20, "MiB", "<= 1.20", m_sup / m_exp))
            sup.eval()
            exp.eval()

            def infer(model):
                def run():
                    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.bf16):
                        model(x)
                return run
            e_sup, e_exp = paired_seconds(infer(sup), infer(exp), args.min_run_time, rounds=5,
                                          device=args.device)
            eval_rows.append(Row(label, batch / e_sup, batch / e_exp, "clips/s", ">= 1.00", e_exp / e_sup))
            sup.train()
    print_table("Training step: supernet (random arch) vs the exported subnet", step_rows,
                "ratio = supernet time / exported time")
    print_table("Peak memory of a training step (fresh process each)", mem_rows,
                "ratio = supernet / exported; CPU: peak RSS above the process before the model")
    print_table("Evaluation throughput under torch.inference_mode", eval_rows,
                "ratio = supernet clips/s / exported clips/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
