"""Evaluator recipes: picklable descriptions of an `Evaluator`, built once per process.

The engine builds its evaluator from a recipe, and so does every Ray worker (once, then
cached), so in-process and distributed searches score with identical models and batches.
`describe()` is the plain-data identity of a recipe written into ``search_config.yaml``;
a resumed search must describe the same evaluation.

* `InMemoryEvaluatorFactory`: the model spec, weights and batches themselves (tests, notebooks).
* `CheckpointEvaluatorFactory`: a supernet checkpoint plus the data config stored in it; the fixed
  validation subset is `fixed_subset(val split, val_size, val_seed)` in order, batched
  without shuffling, so every candidate sees the same clips in the same batches.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from search_spaces.errors import ConfigError, DataError, InputFileError
from supernet.registry import build_from_spec, family_info, model_entry
from supernet.training.checkpoint import model_from_checkpoint
from supernet.utils.config import from_dict

from ..data import build_dataset, build_loader, fixed_subset
from ..data.config import DataConfig
from ..fewshot import fewshot_folder, load_fewshot
from ..log import get_logger
from ..provenance import file_sha256
from ..validate import (check_checkpoint, check_data, check_device, check_input_file, drop_write_paths,
                        first_readable)
from .evaluator import Evaluator, FewShotEvaluator


class EvaluatorFactory:
    """A picklable recipe for an `Evaluator`. `key` identifies it in a worker's cache.
    `per_clip`: its results carry per-clip outcomes (racing and paired tests need them)."""
    key: str
    prefix_cache: bool = True
    device: str = "cpu"
    per_clip: bool = True

    def model_spec(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def build(self) -> Evaluator:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def cost_model(self):
        """The network with random weights (costs do not depend on weights)."""
        return build_from_spec(self.model_spec())

    def search_space(self, model):
        """The space the strategies search (the model's; a standalone table restricts it)."""
        return model.space


def _fingerprint(tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class InMemoryEvaluatorFactory(EvaluatorFactory):
    """A recipe holding the model spec, its weights and the batches themselves."""

    def __init__(self, model_spec: dict, state: dict, val_batches, train_batches=None,
                 bn_recalib: int = 0, prefix_cache: bool = True, device: str = "cpu"):
        self.spec = model_spec
        self.state = {k: v.detach().cpu().clone() for k, v in state.items()}
        self.val = [(x.cpu(), y.cpu()) for x, y, *_ in val_batches]
        self.train = [(x.cpu(), y.cpu()) for x, y, *_ in (train_batches or [])]
        self.bn_recalib, self.prefix_cache, self.device = bn_recalib, prefix_cache, device
        self.key = uuid.uuid4().hex

    @classmethod
    def from_model(cls, model, val_batches, train_batches=None, **kwargs) -> "InMemoryEvaluatorFactory":
        if getattr(model, "spec", None) is None:
            raise ValueError("the search needs a model built by supernet.registry.build_model")
        return cls(model.spec, model.state_dict(), val_batches, train_batches, **kwargs)

    def model_spec(self) -> dict[str, Any]:
        return self.spec

    def build(self) -> Evaluator:
        model = build_from_spec(self.spec)
        model.load_state_dict(self.state, strict=True)
        return Evaluator(model, self.val, self.train, self.bn_recalib, self.prefix_cache, self.device)

    def describe(self) -> dict[str, Any]:
        tensors = [t for b in self.val + self.train for t in b]
        return {"source": "in-memory", "model": self.spec,
                "val_clips": sum(len(y) for _, y in self.val), "val_batches": len(self.val),
                "bn_recalib": self.bn_recalib, "data_fingerprint": _fingerprint(tensors),
                "weights_fingerprint": _fingerprint(self.state.values())}


def load_clip_batches(data: dict[str, Any], split: str, count: int, batch_size: int, seed: int) -> list:
    """`count` clips of `split` (a fixed seeded subset; all when count >= the split), as
    in-order ``(clips, labels)`` batches of `batch_size`."""
    cfg = from_dict(DataConfig, data, "data.")
    dataset = build_dataset(cfg, split)
    subset = fixed_subset(dataset, min(int(count), len(dataset)), seed)
    loader = build_loader(subset, batch_size=batch_size, shuffle=False, seed=seed, num_workers=0,
                          drop_last=False)
    batches = [(b[0], b[1]) for b in loader if len(b[1])]       # a batch of only bad files: none
    if not batches:
        raise DataError(f"the {split} split ({cfg.val_list if split == 'val' else cfg.train_list}) "
                        f"has no readable clip among the {len(subset)} chosen; check it with "
                        "`nas data check`")
    return batches


def search_default(model_spec: dict[str, Any], key: str, fallback: Any) -> Any:
    """The search/evaluation default `key` the model's family declares (`register_family`)."""
    return family_info(model_entry(model_spec["name"]).family).search_defaults.get(key, fallback)


class CheckpointEvaluatorFactory(EvaluatorFactory):
    """A supernet checkpoint and a validation subset of the data it was trained on.

    Args:
        checkpoint: path of a ``kind="supernet"`` checkpoint.
        val_size: clips in the fixed validation subset (None: the whole split; a split
            smaller than asked is used whole, said in one line, and recorded as the number
            of clips used); batch_size: clips per batch.
        val_seed: seed of the subset choice. bn_recalib: N training batches per θ (0: off;
            None: the model family's default, e.g. 4 on BatchNorm hosts).
        data: overrides of the checkpoint's data config (e.g. another ``val_list``).
    """

    def __init__(self, checkpoint: str | Path, val_size: int | None = 256, batch_size: int = 32,
                 val_seed: int = 0, bn_recalib: int | None = 0, prefix_cache: bool = True,
                 device: str = "cpu", data: dict[str, Any] | None = None):
        for name, value, low in ((("val_size", val_size, 1),) if val_size is not None else ()) + (
                                 ("batch_size", batch_size, 1),
                                 ("val_seed", val_seed, 0)) + ((("bn_recalib", bn_recalib, 0),)
                                                                if bn_recalib is not None else ()):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        check_device(str(device), "--device")
        self.checkpoint = str(check_input_file(checkpoint, "checkpoint").resolve())
        ckpt = check_checkpoint(self.checkpoint, "checkpoint")       # spec and weights agree
        if ckpt.get("kind") != "supernet":
            raise InputFileError(f"{checkpoint} is a {ckpt.get('kind')!r} checkpoint; the search needs "
                                 "a supernet checkpoint (from nas pretrain)")
        self.spec = ckpt["model_spec"]
        self._checked = ckpt                        # the checked checkpoint: `build` here reuses it
        if bn_recalib is None:                      # the model family's default (`register_family`)
            bn_recalib = search_default(self.spec, "bn_recalib", 0)
        stored = drop_write_paths(ckpt.get("config") or {}, f"checkpoint {checkpoint}").get("data")
        if stored is None and not data:
            raise InputFileError(f"{checkpoint} stores no data config; pass the data settings")
        self.data = DataConfig.absolute_paths({**(stored or {}), **(data or {})})
        val_size = self._check_data(val_size, val_seed, bn_recalib)
        self.sha256 = file_sha256(self.checkpoint)
        self.val_size, self.batch_size, self.val_seed = val_size, batch_size, val_seed
        self.bn_recalib, self.prefix_cache, self.device = bn_recalib, prefix_cache, device
        self.key = hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()

    def _check_data(self, val_size: int | None, val_seed: int, bn_recalib: int) -> int:
        """Before any output: the lists exist and parse, and the validation subset holds a
        readable clip (`nas.validate`). Returns the number of validation clips used."""
        cfg = from_dict(DataConfig, self.data, "data.")
        sets = check_data(cfg, ("val", "train") if bn_recalib else ("val",))
        available = len(sets["val"])
        if val_size is not None and val_size > available:
            get_logger().info(f"val_size {val_size}: the validation list "
                              f"({cfg.val_list or cfg.dataset}) has {available} clips; all {available} "
                              "are used and recorded as val_size")
        val_size = available if val_size is None else min(val_size, available)
        subset = fixed_subset(sets["val"], val_size, val_seed)
        if first_readable(subset) is None:
            raise DataError(f"data.val_list {cfg.val_list or cfg.dataset}: none of the "
                            f"{len(subset)} validation clips is readable (missing or corrupt); "
                            "check it with `nas data check`")
        return val_size

    def model_spec(self) -> dict[str, Any]:
        return self.spec

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for a Ray worker without the loaded checkpoint: the worker reads the file."""
        return {k: v for k, v in self.__dict__.items() if k != "_checked"}

    def build(self) -> Evaluator:
        # the first build in the process that checked the checkpoint uses it (issue 23: "validate
        # once, pass the result on") and lets it go; a Ray worker, or a later build, reads the file
        model = model_from_checkpoint(self.__dict__.pop("_checked", None) or self.checkpoint)
        val = load_clip_batches(self.data, "val", self.val_size, self.batch_size, self.val_seed)
        train = (load_clip_batches(self.data, "train", self.bn_recalib * self.batch_size,
                                   self.batch_size, self.val_seed) if self.bn_recalib else None)
        return Evaluator(model, val, train, self.bn_recalib, self.prefix_cache, self.device)

    def describe(self) -> dict[str, Any]:
        return {"source": "checkpoint", "checkpoint": self.checkpoint, "sha256": self.sha256,
                "model": self.spec, "data": self.data, "val_size": self.val_size,
                "batch_size": self.batch_size, "val_seed": self.val_seed,
                "bn_recalib": self.bn_recalib, "device": str(self.device)}


class FewShotEvaluatorFactory(EvaluatorFactory):
    """A few-shot folder (`nas.fewshot`): one `CheckpointEvaluatorFactory` per sub-supernet, all
    on the same validation subset (loaded once and shared); an architecture is scored by the
    sub-supernet of its part (`FewShotEvaluator`). Arguments as `CheckpointEvaluatorFactory`."""

    def __init__(self, folder: str | Path, *args, **kwargs):
        self.folder = str(Path(fewshot_folder(folder) or folder).resolve())
        self.manifest, self.split, ckpts = load_fewshot(folder)
        self.parts = [CheckpointEvaluatorFactory(c, *args, **kwargs) for c in ckpts]
        first = self.parts[0]
        self.spec, self.prefix_cache, self.device = first.spec, first.prefix_cache, first.device
        self.bn_recalib = first.bn_recalib
        for p, part in enumerate(self.parts[1:], 1):
            if part.spec != first.spec or part.data != first.data:
                raise InputFileError(f"{self.folder}: sub-supernet {p} holds another model or data config "
                                     "than sub-supernet 0; the folder is damaged")
        self.key = hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()

    def model_spec(self) -> dict[str, Any]:
        return self.spec

    def build(self):
        f = self.parts[0]
        val = load_clip_batches(f.data, "val", f.val_size, f.batch_size, f.val_seed)
        train = (load_clip_batches(f.data, "train", f.bn_recalib * f.batch_size, f.batch_size, f.val_seed)
                 if f.bn_recalib else None)
        evaluators = [Evaluator(model_from_checkpoint(p.__dict__.pop("_checked", None) or p.checkpoint), val,
                                train, f.bn_recalib, f.prefix_cache, f.device) for p in self.parts]
        return FewShotEvaluator(self.split, evaluators)

    def describe(self) -> dict[str, Any]:
        first = self.parts[0].describe()
        return {**first, "source": "few-shot", "checkpoint": self.folder, "split": self.split.describe(),
                "sha256": [p.sha256 for p in self.parts]}


def supernet_factory(checkpoint: str | Path, *args, **kwargs) -> EvaluatorFactory:
    """The evaluator recipe of a ``--checkpoint``: a few-shot folder (`FewShotEvaluatorFactory`)
    or a supernet checkpoint file (`CheckpointEvaluatorFactory`)."""
    if fewshot_folder(checkpoint) is not None:
        return FewShotEvaluatorFactory(checkpoint, *args, **kwargs)
    return CheckpointEvaluatorFactory(checkpoint, *args, **kwargs)
