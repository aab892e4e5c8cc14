"""Search settings from a config file, ``--set`` items and flag shorthands, and the search
they describe (`SearchConfig` and an evaluator factory): what `nas search` and `nas demo`
share."""
from __future__ import annotations

from dataclasses import fields

import torch

from search_spaces import shorten
from search_spaces.errors import VidnasInputError
from supernet.utils.config import to_dict

from ..runfolder import stored_value
from .bench_eval import BenchTableEvaluator
from .recipes import supernet_factory
from .settings import SearchConfig, load_search_settings
from .strategies import STRATEGIES, STRATEGY_FLAGS

EVAL_KEYS = ("val_size", "batch_size", "val_seed", "bn_recalib", "device")
COST_KEYS = ("latency_table", "cost_device", "cost_batch", "memory_step", "max_memory_mb")
FLAG_KEYS = ("strategy", "seed", "cost", "max_gflops", "racing", "race_slices", "confidence") + COST_KEYS


def resolve_settings(args) -> dict:
    """``--config`` file, then ``--set``, then flags (shorthands that set keys), validated by
    the typed schema (`nas.search.settings`); strategy flags checked against the strategy."""
    shorthands = {k: getattr(args, k, None) for k in FLAG_KEYS + EVAL_KEYS}
    if getattr(args, "alpha", None) is not None:
        shorthands["alpha"], shorthands["alphas"] = args.alpha[0], list(args.alpha)
    cfg = load_search_settings(args.config, getattr(args, "set", None), shorthands)
    settings = {**to_dict(cfg.search), **{k: getattr(cfg.evaluation, k) for k in EVAL_KEYS}}
    data = cfg.data if cfg.data is not None else cfg.evaluation.data
    if data is not None:
        settings["data"] = data
    params = dict(settings.get("params") or {})
    strategy = settings["strategy"]
    if strategy not in STRATEGIES:
        raise VidnasInputError(f"unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")
    for name in STRATEGY_FLAGS:
        value = getattr(args, name, None)
        if value is None:
            continue
        if name not in STRATEGIES[strategy].defaults:
            raise VidnasInputError(f"--{name.replace('_', '-')} does not apply to strategy {strategy}; it takes: "
                                   f"{', '.join(STRATEGIES[strategy].defaults)}")
        params[name] = value
    settings["params"] = params
    if not isinstance(settings["params"], dict):
        raise VidnasInputError(f"params must be a mapping of strategy parameters, got {shorten(settings['params'])}")
    for key in ("device", "cost_device"):
        if settings.get(key) == "auto":
            settings[key] = "cuda" if torch.cuda.is_available() else "cpu"
    return settings


def search_setup(s: dict, checkpoint=None, bench_table=None, prefix_cache: bool = True,
                 resume_out=None):
    """(`SearchConfig`, evaluator factory) from resolved settings (`resolve_settings`): a supernet
    `checkpoint` or a standalone `bench_table`. `resume_out`: the folder of a resumed search
    (a folder written before family defaults keeps its stored bn_recalib)."""
    if bool(checkpoint) == bool(bench_table):
        raise VidnasInputError("give one of --checkpoint (a supernet) or --bench-table (a standalone table)")
    if bench_table:
        factory = BenchTableEvaluator(bench_table)
    else:
        if s["bn_recalib"] is None and resume_out is not None:
            s["bn_recalib"] = stored_value(resume_out, "search", "evaluation.bn_recalib")
        factory = supernet_factory(checkpoint, s["val_size"], s["batch_size"], s["val_seed"],
                                     s["bn_recalib"], prefix_cache, s["device"], s.get("data"))
    config = SearchConfig(**{f.name: s[f.name] for f in fields(SearchConfig)})
    return config, factory
