"""`nas proxies`: score architectures with zero-cost proxies, without training.

    nas proxies --model mlp3d-nano --input 16x32x32 --sample 8 --out runs/proxies
    nas proxies --config experiments/configs/train_mlp3d_nano_t8_cpu.yaml \\
        --archs experiments/results/ranking_fidelity/archs.txt --out runs/proxies_v1

Each architecture is scored on its exported subnet, from a supernet initialised from --seed.
params and flops are exact (the per-unit cost table); synflow and st_entropy are data-free;
naswot, grad_norm and snip need one batch of real clips: --config is a run config (YAML, as
for `nas pretrain` / `nas train`; --set overrides it) whose data section gives the clips, and
whose model section gives the model when --model is not given. Output: OUT/proxies.csv (arch,
canonical_arch, one column per proxy, higher = predicted better, <proxy>_seconds: CPU-seconds
per call) and
OUT/proxies.json (settings; per proxy its relative spread over the architectures and whether
it is degenerate: spread < 1e-3, a ranking made of rounding noise). Proxies are a registry
(`nas.proxies.register_proxy`); plug-ins add theirs (see docs/extending.md).
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

from search_spaces.errors import InputNotFoundError, VidnasInputError
from supernet.utils.config import to_dict

from ..runfolder import refuse_foreign
from ..utils import parse_size, read_item_lines
from ..validate import check_output_dir

NAME = "proxies"
HELP = "score architectures with zero-cost proxies (no training)"
DESCRIPTION = __doc__


def add_arguments(p) -> None:
    from ..proxies.base import PROXIES              # lazy: the proxy registry imports torch

    p.add_argument("--model", help="registered model name (default: the --config's model)")
    p.add_argument("--input", help="TxHxW clip size (default: the model's, or the --config data's)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--archs", metavar="FILE", help="architectures, one per line (`#` comments)")
    g.add_argument("--sample", type=int, help="score N architectures sampled uniformly from --seed (default 8)")
    p.add_argument("--proxies", help=f"comma-separated, from: {', '.join(PROXIES)} (default: all, "
                   "the data-free ones without --config)")
    p.add_argument("--config", help="run config YAML whose data section gives the clips of the "
                                    "data-dependent proxies")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a --config value, e.g. --set data.num_frames=16")
    p.add_argument("--batch", type=int, default=16, help="clips in the proxy batch (default 16)")
    p.add_argument("--seed", type=int, default=0, help="weights, batch and sampling seed (default 0)")
    p.add_argument("--classes", type=int, help="number of classes (default: the data's, else the model's)")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--out", required=True, help="output folder (proxies.csv, proxies.json)")


def read_arch_lines(path: str) -> list[str]:
    """Architectures from a file: one per line, `#` comments and blank lines ignored."""
    if not Path(path).is_file():
        raise InputNotFoundError(f"--archs {path}: no such file (give a file of architectures, one per line)")
    archs = read_item_lines(path)
    if not archs:
        raise VidnasInputError(f"--archs {path}: the file names no architecture")
    return archs


def run(args) -> int:
    """Validate everything, then score and write (see the module docstring)."""
    import torch                                     # lazy: fast start

    from supernet.registry import model_entry       # lazy: fast start (torch)

    from ..config import load_run_config            # lazy: fast start (torch)
    from ..proxies.base import PROXIES              # lazy: fast start (torch)
    from ..proxies.run import (CSV_NAME, JSON_NAME, degenerate_proxies, load_batch,  # lazy: fast start (torch)
                               resolve_proxies, score_archs, seeded_supernet, write_proxies)

    cfg = load_run_config(args.config, args.set) if args.config else None
    if args.set and cfg is None:
        raise VidnasInputError("--set overrides --config; give --config too")
    name = args.model or (cfg.model.name if cfg is not None else None)
    if name is None:
        raise VidnasInputError("needs --model (or --config with a model section)")
    entry = model_entry(name)
    if not entry.searchable:
        raise VidnasInputError(f"--model {name} is a fixed model; proxies score the architectures of a search space")
    size = parse_size(args.input) if args.input is not None else (
        cfg.input_size if cfg is not None else entry.default_input)
    if len(size) != len(entry.default_input):
        want = "TxHxW" if entry.is_video else "HxW"
        raise VidnasInputError(f"--input {args.input}: {name} takes {want}")
    if cfg is not None and tuple(size) != tuple(cfg.input_size):
        raise VidnasInputError(f"--input {'x'.join(map(str, size))} differs from the --config data's clips "
                               f"{'x'.join(map(str, cfg.input_size))} (data.num_frames x data.size x data.size); "
                               "drop --input or --set data.num_frames=/data.size=")
    proxies = resolve_proxies(args.proxies, cfg is not None)
    out = check_output_dir(args.out, "--out")
    refuse_foreign(out, (CSV_NAME, JSON_NAME), "--out")         # a rerun replaces its own files only
    if args.batch < 2:
        raise VidnasInputError(f"--batch {args.batch}: the proxy batch needs >= 2 clips")
    if args.sample is not None and args.sample < 1:
        raise VidnasInputError(f"--sample {args.sample}: must be >= 1")
    if args.threads is not None:
        if args.threads < 1:
            raise VidnasInputError(f"--threads {args.threads}: must be >= 1")
        torch.set_num_threads(args.threads)
    classes = args.classes or (cfg.data.num_classes if cfg is not None else None)
    kwargs = dict(cfg.model.kwargs) if cfg is not None and cfg.model.name == name else {}
    model = seeded_supernet(name, size, classes, args.seed, kwargs)
    space = model.space
    if args.archs:
        archs = [space.parse(a) for a in read_arch_lines(args.archs)]
    else:
        rng = random.Random(args.seed)
        archs = [space.sample(rng) for _ in range(args.sample or 8)]
    skipped = [n for n, p in PROXIES.items() if p.needs_data and args.proxies is None and cfg is None]
    if skipped:
        print(f"without --config: skipping the data-dependent proxies {', '.join(skipped)}",
              file=sys.stderr, flush=True)
    batch = None
    if cfg is not None and any(PROXIES[p].needs_data for p in proxies):
        batch = load_batch(cfg.data, args.batch, args.seed, images=not entry.is_video)

    def progress(i, n, row):
        print(f"[{i}/{n}] {row['arch']}  " + "  ".join(f"{p}={row[p]:.6g}" for p in proxies), flush=True)

    run = score_archs(model, archs, proxies, size, batch, args.seed, progress=progress)
    run.settings = {**run.settings, "model": name, "input": list(size), "seed": args.seed, "classes": model.spec["num_classes"],
                    "model_kwargs": kwargs, "batch": None if batch is None else int(batch[1].numel()),
                    "data": None if cfg is None else to_dict(cfg.data), "archs": len(archs),
                    "proxies_order": proxies}
    info = write_proxies(args.out, run)
    for n in degenerate_proxies(info):
        d = info["proxies"][n]
        print(f"DEGENERATE {n}: relative spread {d['relative_spread']:.2e} < {info['degenerate_threshold']:g} over "
              f"{d['finite']} architectures; the values are equal up to rounding, a rank correlation on them is noise; do not correlate it", flush=True)
    for n, d in info["proxies"].items():
        if "note" in d:
            print(f"{n}: undefined on {name}: {d['note']}", flush=True)
    print(f"wrote {Path(args.out) / 'proxies.csv'} and proxies.json ({len(archs)} architectures, "
          + ", ".join(f"{n} {info['proxies'][n]['seconds_mean']:.2f} s" for n in proxies) + " per architecture)")
    return 0
