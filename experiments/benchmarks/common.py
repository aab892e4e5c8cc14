"""Shared helpers of the benchmark scripts: timing, machine description, result tables.

Every script prints a table of (case, our figure, the baseline's figure, ratio, target, met)
measured in one run on this machine, and exits non-zero only when a figure cannot be
measured (never because a target is missed: the table says so).
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.utils.benchmark as tb

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nas.utils import format_table  # noqa: E402


def add_threads_arg(parser) -> None:
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, here "
                        f"{torch.get_num_threads()}); on a loaded machine 1 is far steadier")


def apply_threads(args) -> None:
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)


def machine() -> str:
    """CPU model, cores and torch threads (and the GPU when one is used)."""
    from nas.costs.latency import machine_info

    info = machine_info()
    text = f"{info['cpu']}, {info['cores']} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    if "gpu" in info:
        text += f", GPU {info['gpu']}"
    return text


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def median_seconds(fn, min_run_time: float = 0.3, device: str = "cpu") -> float:
    """Median time of `fn()` with torch.utils.benchmark (warm-up included, several runs)."""
    fn()                                                    # warm-up (allocator, kernels)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    # Timer runs with one thread unless told otherwise: use the process's setting, so the
    # tables' "threads" column is what was measured.
    timer = tb.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def paired_seconds(fn_a, fn_b, min_run_time: float = 0.3, rounds: int = 3,
                   device: str = "cpu") -> tuple[float, float]:
    """Median times of two functions measured alternately (a, b, a, b, ...), so that a slow
    spell of the machine hits both alike; ratios near 1 are then trustworthy."""
    a, b = [], []
    for _ in range(rounds):
        a.append(median_seconds(fn_a, min_run_time / rounds, device))
        b.append(median_seconds(fn_b, min_run_time / rounds, device))
    a.sort()
    b.sort()
    return a[len(a) // 2], b[len(b) // 2]


@dataclass
class Row:
    case: str
    ours: float
    baseline: float
    unit: str
    target: str          # e.g. ">= 0.70"
    ratio: float

    @property
    def met(self) -> bool:
        op, value = self.target.split()
        value = float(value)
        return self.ratio >= value if op == ">=" else self.ratio <= value


def print_table(title: str, rows: list[Row], note: str = "") -> None:
    print(f"\n{title}\n{machine()}, commit {commit()}")
    table = [(r.case, f"{r.ours:.4g} {r.unit}", f"{r.baseline:.4g} {r.unit}", f"{r.ratio:.2f}", r.target,
              "yes" if r.met else "NO") for r in rows]
    print(format_table(table, ["case", "ours", "baseline", "ratio", "target", "met"], align="llrrll"))
    if note:
        print(note)
    met = sum(r.met for r in rows)
    print(f"{met}/{len(rows)} targets met")
