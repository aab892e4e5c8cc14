"""Grouped Time Mixing vs the matmul limit (issue 7 targets), one command:

    python experiments/benchmarks/bench_gtm.py [--device cuda --bf16]

For every type and S in {1, 2, 4, 8, 16} at T' = 16, C in {64, 320}, forward+backward:
  * throughput vs an `nn.Linear` doing the same FLOPs on an input of the same size
    (sr/lr/sw: Linear(S·C, S·C) on (N/S, S·C); st: Linear(C, S·C) on (N, C)); target >= 0.7;
  * speed-up over a dense masked implementation (one T·C x T·C matrix, zeros outside the
    groups) for S <= 4; target >= 3;
  * building W_S from the interval matrices vs the op's forward time; target <= 5%.
"""
from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

from common import add_threads_arg, apply_threads, Row, median_seconds, print_table  # noqa: E402  (adds the repo to sys.path)

from supernet.ops.gtm import GroupedTimeMixing, hankel_group_matrix  # noqa: E402

TYPES = ("short_range", "long_range", "shift_window", "shift_token")
# (B, T', H, W) per C: MLP-3D-XS stage 1 and stage 3 on the paper's 64x128x128 search input
SIZES = {64: (2, 16, 32, 32), 320: (8, 16, 8, 8)}


def group_mask(gtm_type: str, s: int, t: int, c: int) -> torch.Tensor:
    """The 0/1 pattern of W (T·C x T·C) for one type: which token pairs are mixed."""
    tok = torch.zeros(t, t)
    for a in range(t):
        for b in range(t):
            if gtm_type == "shift_token":
                tok[a, b] = float((b - a) % t < s)
            else:
                if gtm_type == "long_range":
                    g = t // s
                    ga, gb = a % g, b % g
                else:
                    off = s // 2 if gtm_type == "shift_window" else 0
                    ga, gb = ((a + off) % t) // s, ((b + off) % t) // s
                tok[a, b] = float(ga == gb)
    return tok.repeat_interleave(c, 0).repeat_interleave(c, 1)


def fwd_bwd(fn, inputs, grad):
    def run():
        out = fn(*inputs)
        out.backward(grad)
    return run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    p.add_argument("--min-run-time", type=float, default=0.15)
    add_threads_arg(p)
    args = p.parse_args(argv)
    apply_threads(args)
    dev = torch.device(args.device)
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    torch.manual_seed(0)
    rows, build_rows = [], []
    for c, (b, t, h, w) in SIZES.items():
        n = b * t * h * w
        op = GroupedTimeMixing(c, 16).to(dev, dtype)
        x = torch.randn(b, t, h, w, c, device=dev, dtype=dtype, requires_grad=True)
        g = torch.randn_like(x)
        for gtm_type in TYPES:
            for s in (1, 2, 4, 8, 16):
                if gtm_type == "shift_window" and s == 1:
                    continue
                case = f"C={c} {gtm_type} S={s}"
                ours = median_seconds(fwd_bwd(lambda inp: op(inp, gtm_type, s), (x,), g),
                                      args.min_run_time, args.device)
                k, m, rows_in = (c, s * c, n) if gtm_type == "shift_token" else (s * c, s * c, n // s)
                lin = nn.Linear(k, m, bias=False).to(dev, dtype)
                xl = torch.randn(rows_in, k, device=dev, dtype=dtype, requires_grad=True)
                base = median_seconds(fwd_bwd(lin, (xl,), torch.randn(rows_in, m, device=dev, dtype=dtype)),
                                      args.min_run_time, args.device)
                flops = 3 * 2 * n * s * c * c                  # fwd + 2 bwd matmuls, 2 FLOP per MAC
                rows.append(Row(f"{case} vs Linear", flops / ours / 1e9, flops / base / 1e9, "GFLOP/s",
                                ">= 0.70", base / ours))
                if s <= 4:
                    mask = group_mask(gtm_type, s, t, c).to(dev, dtype)
                    dense_w = nn.Parameter(torch.randn(t * c, t * c, device=dev, dtype=dtype) * 0.02)

                    def dense(inp, _mask=mask, _w=dense_w):
                        z = inp.permute(0, 2, 3, 1, 4).reshape(-1, t * c) @ (_w * _mask)
                        return z.view(b, h, w, t, c).permute(0, 3, 1, 2, 4)
                    slow = median_seconds(fwd_bwd(dense, (x,), g), args.min_run_time, args.device)
                    rows.append(Row(f"{case} vs dense masked", 1 / ours, 1 / slow, "runs/s", ">= 3.00",
                                    slow / ours))
                if s > 1 and gtm_type != "shift_token":
                    wslice = op.used_weight(gtm_type, s).detach()
                    build = median_seconds(lambda: hankel_group_matrix(wslice), args.min_run_time, args.device)
                    with torch.no_grad():
                        fwd = median_seconds(lambda: op(x, gtm_type, s), args.min_run_time, args.device)
                    build_rows.append(Row(f"{case} W_S build / forward", build * 1e3, fwd * 1e3, "ms",
                                          "<= 0.05", build / fwd))
    print_table("GTM forward+backward vs nn.Linear with the same FLOPs, and vs a dense masked W", rows,
                "ours/baseline columns: GFLOP/s (vs Linear) or runs/s (vs dense); ratio = ours / baseline")
    print_table("Building W_S from the interval matrices vs the op's forward", build_rows,
                "ratio = build time / forward time (lower is better)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
