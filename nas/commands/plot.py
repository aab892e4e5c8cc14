"""`nas plot`: the figures (PNG and PDF)."""
from __future__ import annotations

from pathlib import Path

from search_spaces import shorten
from search_spaces.errors import ConfigError, InputFileError

from ..utils import read_csv, read_json
from ..validate import check_output_dir
from .common import build_for_cli
from .options import Option, add_options

NAME = "plot"
HELP = "Draw a figure (PNG and PDF): correlation (Fig. 6), variants (Fig. 4), arch (Fig. 7), search."
KINDS = ("correlation", "variants", "arch", "search")


def add_arguments(p) -> None:
    p.add_argument("kind", choices=list(KINDS),
                   help="correlation: Fig. 6 from correlation.csv; variants: Fig. 4 from variants.csv; "
                        "arch: Fig. 7, an architecture block by block; search: a search's results.csv")
    add_options(p, [
        Option("--csv", "correlation.csv / variants.csv / results.csv"),
        Option("--out", "output path without extension (.png and .pdf written)", required=True),
        Option("--searched", "variants: JSON with gflops, top1, label of the searched arch"),
        Option("--model", "arch: registered model name"),
        Option("--input", "arch: TxHxW"),
        Option("--arch", "arch: architecture (a string, JSON, best_arch.json or best_arch.txt)"),
        Option("--classes", "arch: number of classes (default: the model's)", type=int),
        Option("--title", "figure title (default: none, or the figure's own)"),
        Option("--best", "arch, search: the search's best_arch.json (V ± SE, GFLOPs, decisions inside the "
                         "noise hatched; chance and the space's GFLOPs range; search default: the one next "
                         "to --csv)"),
        Option("--labels", "correlation: name every point by its architecture", kind="switch"),
        Option("--error-bars", "correlation: ± 1 SE bars from the estimated_se and real_se columns",
               kind="switch"),
    ], example="title=my-search")


def _check_best(path: str) -> dict:
    best = read_json(path, "--best")
    if not isinstance(best, dict) or not isinstance(best.get("top1_pct"), (int, float)):
        raise InputFileError(f"--best {path} must be a search's best_arch.json (an object with "
                             f"top1_pct), got {shorten(best)}")
    return best


def _check_searched(path: str):
    searched = read_json(path, "--searched")
    if not (isinstance(searched, dict) and all(
            isinstance(searched.get(k), (int, float)) and not isinstance(searched.get(k), bool)
            for k in ("gflops", "top1"))):
        raise InputFileError(f"--searched {path} must hold a JSON object with numbers gflops "
                             f"and top1 (and an optional label), got {shorten(searched)}")
    return searched


def run(args) -> int:
    from .. import plots                            # lazy: fast start (matplotlib, torch)

    best = None
    if args.kind not in ("arch", "search") and args.best:
        raise ConfigError(f"--best is for nas plot arch and search, not {args.kind}")
    if args.kind not in ("correlation",) and (args.labels or args.error_bars):
        raise ConfigError(f"--labels and --error-bars are for nas plot correlation, not {args.kind}")
    if args.kind == "search" and not args.best and args.csv and (Path(args.csv).parent / "best_arch.json").is_file():
        args.best = str(Path(args.csv).parent / "best_arch.json")          # the search's own
        print(f"scores, chance and the space's GFLOPs range from {args.best} (--best)")
    check_output_dir(Path(args.out).expanduser().parent, "--out folder")    # (it writes OUT.png, OUT.pdf)
    if args.best:
        best = _check_best(args.best)
    if args.kind == "arch":
        _, _, model, arch = build_for_cli(args)
        paths = plots.plot_arch(model.space, arch, args.out, title=args.title or "", best=best)
    else:
        if not args.csv:
            raise ConfigError(f"nas plot {args.kind} needs --csv")
        frame = read_csv(args.csv, "--csv")
        if frame.empty:
            raise InputFileError(f"--csv {args.csv} has no rows; nothing to plot")
        searched = _check_searched(args.searched) if args.kind == "variants" and args.searched else None
        extra = {"search": {"best": best},
                 "correlation": {"labels": args.labels, "error_bars": args.error_bars}}.get(args.kind, {})
        plot = {"correlation": plots.plot_correlation, "search": plots.plot_search}.get(args.kind)
        try:
            paths = (plot(frame, args.out, title=args.title or "", **extra) if plot else
                     plots.plot_variants(frame, args.out, searched=searched, title=args.title or ""))
        except (ValueError, TypeError, KeyError) as e:
            raise InputFileError(f"--csv {args.csv}: {(str(e).splitlines() or [type(e).__name__])[0]}") from None
    print("wrote " + ", ".join(map(str, paths)))
    return 0
