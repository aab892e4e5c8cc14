"""Start-up time of `nas --help` and of every `nas COMMAND --help` (issue 23: "a `nas` that
starts instantly").

Each case runs in a fresh interpreter, `--repeats` times; the table gives the median wall
time, the modules imported, and which heavy packages (torch, scipy, pandas, ray, optuna) the
help loaded. The baseline, measured in the same run, is a fresh interpreter that only imports
torch: the cost every command paid before the commands package. A second table is Python's
own ``-X importtime`` of ``nas --help``: the slowest imports (cumulative µs).

    python experiments/benchmarks/bench_startup.py [--repeats 5]

Run it on an idle machine (check `top`): a busy core stretches every figure.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "scipy", "pandas", "ray", "optuna")
PROBE = ("import sys, io, contextlib\n"
         "from nas.commands.main import main\n"
         "try:\n"
         "    with contextlib.redirect_stdout(io.StringIO()):\n"
         "        main(sys.argv[1:] + ['--help'])\n"
         "except SystemExit:\n"
         "    pass\n"
         f"print(len(sys.modules), ','.join(m for m in {HEAVY!r} if m in sys.modules))\n")
TARGET_S = 0.3                        # issue 23: `nas --help` under 0.3 s on an idle 2-core machine


def run_once(code: str, argv: list[str]) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tic = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *argv], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return time.perf_counter() - tic, out.strip()


def importtime_top(n: int = 8) -> list[tuple[int, str]]:
    """The `n` slowest cumulative imports of `nas --help` by ``python -X importtime``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    err = subprocess.run([sys.executable, "-X", "importtime", "-m", "nas.cli", "--help"], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True).stderr
    rows = []
    for line in err.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="fresh interpreters per case (median)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from nas.commands import command_modules
    from nas.utils import format_table

    cases = [[]] + [[m.NAME] for m in command_modules()]
    rows = []
    base = statistics.median(run_once("import torch", [])[0] for _ in range(args.repeats))
    for argv in cases:
        times, info = [], ""
        for _ in range(args.repeats):
            seconds, info = run_once(PROBE, argv)
            times.append(seconds)
        modules, heavy = info.split(" ", 1) if " " in info else (info, "")
        median = statistics.median(times)
        rows.append(("nas " + " ".join(argv + ["--help"]), f"{median:.3f}", f"{min(times):.3f}",
                     f"{median / base:.2f}", modules, heavy or "-"))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; median of {args.repeats} fresh interpreters")
    print(f"baseline: `python -c 'import torch'` {base:.3f} s")
    print(format_table(rows, ["command", "median s", "min s", "median / import torch", "modules",
                              "heavy imports"], align="lrrrrl"))
    top = rows[0]
    print(f"nas --help: {top[1]} s (target < {TARGET_S} s: {'met' if float(top[1]) < TARGET_S else 'NOT met'})")
    print("\n`python -X importtime -m nas.cli --help`, slowest cumulative imports:")
    print(format_table([(name, f"{us / 1000:.1f}") for us, name in importtime_top()], ["module", "ms"], align="lr"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
