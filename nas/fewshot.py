"""Few-shot supernets (Zhao et al., "Few-shot Neural Architecture Search", ICML 2021).

The one-shot supernet is split on the choices of its first k units (`search_spaces.split`):
each part gets a copy of the trained one-shot weights (``few_shot.init_from``) and is
fine-tuned for ``few_shot.steps`` steps with the run's sampler restricted to its part, so the
shared weights stop serving operations of the other parts. An architecture's estimate comes
from the sub-supernet of its part.

`nas pretrain` with a ``few_shot`` section writes one folder::

    config.yaml       the resolved run config
    fewshot.json      the split, the parts, and the compute: steps and CPU seconds per part,
                      against the one-shot supernet's steps
    parts/NN/         one ordinary supernet run per part (checkpoints/last.pt, metrics.csv,
                      supernet.pt)

The training is `nas.pretrain`'s (``_pretrain_fewshot``); this module holds the split's
checks, the folder format and its loading. Parts are trained in order; ``--resume`` skips finished parts and resumes the interrupted one
from its last checkpoint, so a resumed run ends with the same bytes of weights as an
uninterrupted one. ``nas search`` / ``nas correlate`` take the folder (or its fewshot.json)
as ``--checkpoint``.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from search_spaces import shorten
from search_spaces.split import SpaceSplit
from search_spaces.errors import ConfigError, InputFileError
from supernet.registry import build_from_spec
from supernet.training.checkpoint import load_checkpoint

from .provenance import file_sha256
from .utils import atomic_write_json, config_diff, plain_json, read_json
from .validate import check_checkpoint, check_same_model

MANIFEST = "fewshot.json"
FORMAT = "vidnas-fewshot-v1"


def part_dir(out: str | Path, p: int) -> Path:
    return Path(out) / "parts" / f"{p:02d}"


def check_fewshot_run(cfg, model) -> tuple[dict, SpaceSplit]:
    """Before any output: the one-shot checkpoint (same model and spec as the config, whole
    weights) and the split. Returns (the loaded one-shot checkpoint, the split)."""
    fs = cfg.few_shot
    where = f"few_shot.init_from {shorten(str(fs.init_from), quote=False)}"
    for key, _, _ in cfg.run_options("init") + cfg.run_options("adjust"):
        raise ConfigError(f"options.{key} sets a network's starting weights; a few-shot run starts every "
                          "sub-supernet from few_shot.init_from: remove it")
    if cfg.init_from or cfg.arch:
        raise ConfigError("init_from and arch are for standalone training; a few-shot run starts from "
                          "few_shot.init_from")
    ckpt = check_checkpoint(fs.init_from, "few_shot.init_from", kinds=("supernet",))
    check_same_model(ckpt["model_spec"], cfg.model.name, where)
    if plain_json(ckpt["model_spec"]) != plain_json(model.spec):
        diff = config_diff(plain_json(ckpt["model_spec"]), plain_json(model.spec))
        raise InputFileError(f"{where} holds {cfg.model.name} with another spec than the config's ({diff}); "
                             "use the one-shot run's model and data settings")
    return ckpt, SpaceSplit(model.space, fs.split_units, fs.split_field)


def part_train_config(train_cfg, steps: int, steps_per_epoch: int):
    """The training loop's config for one part: `steps` steps (the schedule spans the whole
    epochs they start), no warm-start architecture (the one-shot run had it)."""
    return dataclasses.replace(train_cfg, epochs=math.ceil(steps / steps_per_epoch), max_steps=steps,
                               warmup_arch=None, warmup_arch_steps=0)


def open_manifest(out: Path, cfg, one_shot: dict, split: SpaceSplit, resume: bool, write: bool) -> dict:
    """The run's fewshot.json: read back on resume (its split must be this config's), else new."""
    path = out / MANIFEST
    if resume and path.is_file():
        manifest = read_json(path, "few-shot manifest")
        if manifest.get("split") != split.describe():
            raise InputFileError(f"{path} was written for another split ({manifest.get('split')}); "
                                 "resume with the same few_shot settings")
        return manifest
    manifest = {"format": FORMAT, "model": cfg.model.name, "split": split.describe(),
                "init_from": str(Path(cfg.few_shot.init_from).resolve()),
                "init_sha256": file_sha256(cfg.few_shot.init_from),
                "one_shot": {"steps": int(one_shot["step"]), "sampler": (one_shot.get("sampler") or {}).get("kind")},
                "steps_per_part": cfg.few_shot.steps,
                "parts": [{"index": p, "label": split.label(p), "dir": str(part_dir(".", p)), "done": False}
                          for p in range(split.num_parts)]}
    if write:
        write_manifest(out, manifest)
    return manifest


def write_manifest(out: Path, manifest: dict) -> None:
    """Write fewshot.json with its compute summary (fine-tuning against the one-shot run)."""
    done = [e for e in manifest["parts"] if e["done"]]
    manifest["compute"] = {
        "one_shot_steps": manifest["one_shot"]["steps"],
        "few_shot_steps": sum(e["steps"] for e in done),
        "few_shot_cpu_seconds": round(sum(e["cpu_seconds"] for e in done), 3),
        "parts_done": len(done), "parts": len(manifest["parts"]),
        "note": "few-shot total = one-shot training + few_shot_steps; CPU seconds are process CPU time "
                "(all threads) of the fine-tuning; the one-shot run's CPU time is not recorded by nas pretrain"}
    atomic_write_json(out / MANIFEST, manifest)


# ---- reading a few-shot folder ---------------------------------------------------------------
def fewshot_folder(path: str | Path) -> Path | None:
    """The few-shot folder `path` names (the folder or its fewshot.json), or None for anything
    else (an ordinary checkpoint file)."""
    p = Path(path)
    if p.is_dir() and (p / MANIFEST).is_file():
        return p
    if p.name == MANIFEST and p.is_file():
        return p.parent
    return None


def load_fewshot(path: str | Path, what: str = "--checkpoint") -> tuple[dict, SpaceSplit, list[Path]]:
    """(manifest, split, part checkpoints) of a finished few-shot folder; one-line errors for an
    unfinished or damaged one."""
    folder = fewshot_folder(path)
    if folder is None:
        raise InputFileError(f"{what} {shorten(str(path), quote=False)} is not a few-shot folder (no {MANIFEST})")
    manifest = read_json(folder / MANIFEST, "few-shot manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputFileError(f"{folder / MANIFEST} is not a few-shot manifest (expected format {FORMAT!r})")
    ckpts = [part_dir(folder, e["index"]) / "supernet.pt" for e in manifest["parts"]]
    missing = [str(c) for c, e in zip(ckpts, manifest["parts"]) if not e.get("done") or not c.is_file()]
    if missing:
        raise InputFileError(f"{what} {shorten(str(folder), quote=False)}: {len(missing)} of {len(ckpts)} "
                             f"sub-supernets are not trained yet (first {missing[0]}); finish it with "
                             "nas pretrain --resume")
    spec = load_checkpoint(ckpts[0], what=f"{what} part 0")["model_spec"]
    s = manifest["split"]
    split = SpaceSplit(build_from_spec(spec).space, s["split_units"], s["split_field"])
    if split.describe() != s:
        raise InputFileError(f"{folder / MANIFEST}: its split {s} does not match the model's space")
    return manifest, split, ckpts


def supernet_checkpoint(path: str | Path, what: str = "--checkpoint") -> dict[str, Any]:
    """The loaded supernet checkpoint a ``--checkpoint`` names, where its spec and run config
    are read: the file itself, or for a few-shot folder its part 0 (every part has the same
    model and config)."""
    if fewshot_folder(path) is not None:
        _, _, ckpts = load_fewshot(path, what)
        path, what = ckpts[0], f"{what} part 0"
    return check_checkpoint(path, what, kinds=("supernet",), weights=False)
