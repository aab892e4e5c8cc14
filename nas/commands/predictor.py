"""`nas predictor fit|eval`: an accuracy predictor (Once-for-All)."""
from __future__ import annotations

import json

from search_spaces.errors import ConfigError, VidnasInputError

from . import module_doc
from ..validate import check_output_file
from .options import Option, add_options

NAME = "predictor"
HELP = "fit or evaluate an accuracy predictor (Once-for-All)"


def add_arguments(p) -> None:
    p.description = module_doc("nas.search.predictor")      # read when this command's parser is built, not at start
    from ..bench import BENCH_TABLES, DEFAULT_BENCH     # lazy: the table reader imports pandas
    from ..search.predictor import KINDS                # lazy: the predictor imports torch

    f = p.add_command("fit", help="fit a predictor on a search's results.csv")
    add_options(f, [
        Option("--results", "results.csv of a search folder", required=True),
        Option("--out", "predictor file to write (.pt)", required=True),
        Option("--kind", "mlp (default) or the ridge baseline", choices=KINDS, default="mlp"),
        Option("--seed", "seed of the weights and the data order (default 0)", type=int, default=0),
        Option("--epochs", "mlp: full-batch Adam steps", type=int, default=400),
        Option("--hidden", "mlp: hidden width", type=int, default=64),
    ])
    f.set_defaults(action_run=run_fit)
    e = p.add_command("eval", help="rank correlation of a predictor against results or a table")
    add_options(e, [
        Option("--predictor", "a file from `nas predictor fit`", required=True),
        Option("--results", "results.csv to compare with (complete full-set rows)", group="against"),
        Option("--bench-table", f"a standalone table (nas.bench): a folder or a name ({', '.join(BENCH_TABLES)}); "
                                f"alone, {DEFAULT_BENCH}", metavar="DIR|NAME", nargs="?", const=DEFAULT_BENCH,
               group="against"),
        Option("--json", "machine-readable output", kind="switch"),
    ])
    e.set_defaults(action_run=run_eval)


def run(args) -> int:
    return args.action_run(args)


def run_fit(args) -> int:
    from ..search.predictor import Predictor, rank_report, results_space, training_rows  # lazy: fast start (torch)

    for name in ("epochs", "hidden"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be >= 1, got {getattr(args, name)}")
    check_output_file(args.out, "--out")             # before the fit (it wrote there unchecked)
    space = results_space(args.results)
    archs, v = training_rows(args.results)
    pred = Predictor.fit(space, archs, v, args.kind, args.seed, args.hidden, args.epochs)
    pred.save(args.out)
    fit = rank_report(pred.predict(archs), v) if len(v) >= 3 else {"n": len(v)}
    tau = fit.get("kendall_tau", {}).get("value", float("nan"))
    print(f"fitted {args.kind} predictor on {len(v)} architectures of {args.results} "
          f"(training Kendall tau {tau:.3f}); wrote {args.out}")
    return 0


def run_eval(args) -> int:
    import numpy as np                               # lazy: fast start

    from ..bench import load_bench                   # lazy: fast start (pandas)
    from ..search.predictor import Predictor, rank_report, training_rows   # lazy: fast start (torch)

    pred = Predictor.load(args.predictor)
    if args.bench_table:
        table = load_bench(args.bench_table)
        if table.space.config() != pred.space.config():
            raise VidnasInputError(f"the predictor is for space {pred.space.config()}, the table for "
                                   f"{table.space.config()}")
        archs = table.archs()
        actual = np.array([table.top1(a) for a in archs])
        source = f"standalone table {args.bench_table}"
    else:
        archs, actual = training_rows(args.results)
        source = args.results
    report = {"predictor": str(args.predictor), "kind": pred.kind, "fitted_on": pred.fitted_on,
              "against": source, **rank_report(pred.predict(archs), actual)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    t, r = report["kendall_tau"], report["spearman_rho"]
    print(f"{pred.kind} predictor (fitted on {pred.fitted_on}) vs {source}: n={report['n']}, "
          f"Kendall tau {t['value']:.3f} [{t['low']:.3f}, {t['high']:.3f}], Spearman rho "
          f"{r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}], RMSE {report['rmse']:.3f} points")
    return 0
