"""onnxruntime CPU latency of ECO-Lite with every 3D-Net block split the same way (issue 13,
beside Hajimolahoseini et al.'s Table II), one command:

    python experiments/benchmarks/bench_onnx_strategies.py [--input 16x112x112] [--threads 1]

For c3d, r21d, padd and pcat: the fixed ECO-Lite network (random weights, 400 classes) is
exported with `nas export`'s deploy graph (Proposed-Add/Cat blocks lowered to 4D tensors)
to ONNX twice, whole and its 3D-Net alone (the 3D blocks + head on the 2D-Net's output), and
timed in onnxruntime sessions (CPU execution provider, `--threads` intra-op threads); the
strategies are timed in interleaved rounds (c3d, r21d, padd, pcat, c3d, ...) and each keeps
the median of its round medians. A block where a strategy is not valid at this input (Hajimolahoseini et al.'s
Proposed ops stride the flattened X·Y axis by s², so a stride-2 block needs even H and W)
keeps c3d, and the table says so. Also printed: the 3D-Net's GFLOPs (fvcore) and parameters.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from common import commit, machine  # noqa: E402

from nas.costs.flops import model_cost  # noqa: E402
from nas.deploy.onnx import OnnxRunner, write_onnx  # noqa: E402
from supernet.ops.four_d import deploy_network  # noqa: E402
from nas.costs.latency import median_ms  # noqa: E402
from nas.utils import format_table, parse_size  # noqa: E402
from search_spaces import Arch  # noqa: E402
from search_spaces.conv_split import ConvSplitChoice, strategy_of  # noqa: E402
from supernet.registry import build_model  # noqa: E402

STRATEGIES = ("c3d", "r21d", "padd", "pcat")
TABLE_II_FPS = {"c3d": 773, "r21d": 764, "pcat": 774, "padd": 865}     # Hajimolahoseini et al. Table II


class Body(nn.Module):
    """The 3D-Net: every layer after the stem, and the head."""

    def __init__(self, net):
        super().__init__()
        self.layers, self.head = net.layers, net.head

    def forward(self, h):
        for layer in self.layers:
            h = layer(h)
        return self.head(h)


def arch_for(space, token):
    """`token` in every unit that allows it, c3d elsewhere; and the units that fell back."""
    choices, fallback = [], []
    for i in range(space.num_units):
        valid = {c.token for c in space.choices(i)}
        choices.append(ConvSplitChoice(strategy_of(token if token in valid else "c3d")))
        if token not in valid:
            fallback.append(space.unit_names[i])
    return space.validate(Arch(tuple(choices))), fallback


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="eco-lite")
    p.add_argument("--input", default="16x112x112")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--min-run-time", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                   help="cpu: thread CPU time (valid for onnxruntime with 1 thread: it runs on the caller)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    size = parse_size(args.input)
    with torch.device("meta"):
        space = build_model(args.model, size).space
    runs, info = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for tok in STRATEGIES:
            arch, fallback = arch_for(space, tok)
            torch.manual_seed(0)
            net = build_model(args.model, size, arch=arch).eval()
            clip = torch.randn(1, 3, *size)
            deploy, lowered = deploy_network(net, clip)
            t0 = time.perf_counter()
            write_onnx(deploy, clip, Path(tmp) / f"{tok}.onnx")
            with torch.no_grad():
                h = deploy.stem(clip)
            write_onnx(Body(deploy), h, Path(tmp) / f"{tok}-3dnet.onnx")
            print(f"[{tok}] exported in {time.perf_counter() - t0:.0f}s (4D units {lowered})", file=sys.stderr)
            whole, body = OnnxRunner(Path(tmp) / f"{tok}.onnx", args.threads), OnnxRunner(Path(tmp) / f"{tok}-3dnet.onnx", args.threads)
            xn, hn = clip.numpy(), h.numpy()
            with torch.no_grad():                         # the file computes the network
                err = float((whole(clip) - net(clip)).abs().max())
            cost = model_cost(net, size)
            body_flops = cost.flops - cost.stages.get("stem", 0)
            body_params = sum(v for k, v in cost.stage_params.items() if k != "stem")
            runs[tok] = (lambda r=whole, x=xn: r.run_numpy(x), lambda r=body, x=hn: r.run_numpy(x))
            info[tok] = dict(fallback=fallback, err=err, gflops=body_flops / 1e9, params=body_params / 1e6,
                             lowered=len(lowered))
        times = {tok: ([], []) for tok in STRATEGIES}
        for r in range(args.rounds):
            for tok in STRATEGIES:
                for j in (0, 1):
                    times[tok][j].append(median_ms(runs[tok][j], args.min_run_time, args.threads, clock=args.clock))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    med = {tok: [sorted(t)[len(t) // 2] for t in times[tok]] for tok in STRATEGIES}
    base_whole, base_body = med["c3d"]
    rows = []
    for tok in STRATEGIES:
        whole, body = med[tok]
        i = info[tok]
        rows.append((tok, f"{i['params']:.2f}", f"{i['gflops']:.2f}", f"{whole:.1f}", f"{base_whole / whole:.2f}",
                     f"{body:.1f}", f"{base_body / body:.2f}", f"{TABLE_II_FPS[tok] / TABLE_II_FPS['c3d']:.2f}",
                     f"{i['err']:.1e}", ", ".join(i["fallback"]) or "-"))
    print(f"\nonnxruntime {__import__('onnxruntime').__version__} CPU latency of {args.model} at {args.input}, batch 1, "
          f"{args.threads} thread(s), clock {args.clock}, median of {args.rounds} interleaved rounds\n"
          f"{machine()}, commit {commit()}")
    print(format_table(rows, ["strategy", "3D-Net params (M)", "3D-Net GFLOPs", "network ms", "speed vs c3d",
                              "3D-Net ms", "3D-Net speed vs c3d", "Table II FPS ratio", "max |ONNX - torch|",
                              "blocks kept c3d"], align="lrrrrrrrrl"))
    print("speed vs c3d = c3d latency / this latency (> 1: faster); Table II FPS ratio = Hajimolahoseini et al.'s FPS / Conv3D's FPS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
