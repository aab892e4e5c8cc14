"""Where a run's weights start: scratch, a supernet's shared weights, or a 2D image model.

One function, `initialise(model, cfg)`, serves supernet pretraining and standalone training,
so there is one 2D -> 3D path (MLP-3D, Qiu et al., Sec. 4.2: every network, the supernet and
each standalone one, starts from an ImageNet-pretrained 2D CycleMLP by center
initialization):

* ``init_from`` (standalone only): the weights an architecture uses in a supernet checkpoint
  (`Supernet.export`), or a ``nas export`` folder of it.
* ``center_init_from`` (MLP-3D supernets and fixed networks): a 2D CycleMLP checkpoint (a
  vidnas ``nas pretrain`` output of a ``cyclemlp-*`` model, a plain state dict, or an official
  CycleMLP checkpoint), inflated by the family's ``center_init_from`` run option (`supernet.registry.RunOption`). The
  classifier is not copied (the 2D model's classes are image classes; a video task has its
  own), as a Kinetics model replaces its ImageNet head.
"""
from __future__ import annotations

from pathlib import Path

from search_spaces import shorten
from search_spaces.errors import InputFileError, VidnasInputError
from supernet.training.checkpoint import check_weights

from .deploy.export import export_state_dict
from .validate import check_checkpoint, check_same_model


def check_init_from(cfg, standalone: bool = True) -> dict | None:
    """A run config's ``init_from``, if set: a `nas export` folder of the run's model, or a
    supernet checkpoint of it (loaded, finite, its model named when it is another). Returns
    the starting weights it names for a `standalone` run (the state dict of ``cfg.arch``'s
    subnet), loaded once here and handed to `initialise`; else None."""
    if cfg.init_from and Path(cfg.init_from).is_dir():            # a `nas export` folder
        exported = export_state_dict(cfg.init_from, cfg.model.name, cfg.arch)
        return exported if standalone else None
    if cfg.init_from:
        where = f"init_from {shorten(str(cfg.init_from), quote=False)}"
        ckpt = check_checkpoint(cfg.init_from, "init_from", kinds=("supernet",), weights=False)
        supernet = check_weights(ckpt["model_spec"], ckpt["model"], where)     # built once: checked and used
        check_same_model(ckpt["model_spec"], cfg.model.name, where)
        if standalone and cfg.arch is not None:
            return supernet.export(cfg.arch).state_dict()
    return None


def network_paths(model) -> list:
    """The networks inside `model` (both paths of a two-path network, without the joint head)."""
    return [model.main, model.extra] if hasattr(model, "extra") else [model]


def initialise(model, cfg, supernet: bool = False, init_weights: dict | None = None) -> str:
    """Apply ``cfg.init_from`` (its weights as `check_init_from` returned them, or loaded
    here when not given) or the family's initialisation option (``options``, e.g. MLP-3D's
    ``center_init_from``) to `model`, then its ``adjust`` options (e.g. MLP-3D's
    ``temporal_init``); a one-line description."""
    how = _starting_weights(model, cfg, supernet, init_weights)
    for _, value, option in cfg.run_options("adjust"):
        how += "; " + option.apply(model, value, cfg.train.seed)
    return how


def _starting_weights(model, cfg, supernet: bool, exported: dict | None) -> str:
    if cfg.init_from:
        if supernet:
            raise VidnasInputError("init_from starts a standalone network from a supernet; a supernet "
                                   "starts from scratch or from its family's initialisation option")
        if exported is None:
            exported = check_init_from(cfg)
        if exported is None:
            raise VidnasInputError(f"init_from {shorten(str(cfg.init_from), quote=False)} is a supernet: "
                                   "set arch to the architecture whose weights to start from")
        for path in network_paths(model):             # a two-path net: both paths, no head FC
            own = path.state_dict()
            missing = sorted(set(own) - set(exported))
            if missing:
                raise InputFileError(f"supernet checkpoint {cfg.init_from} has no {missing[0]!r} for "
                                     f"{cfg.model.name}; was it pretrained for this model?")
            path.load_state_dict({k: exported[k] for k in own})
        return f"initialised from the supernet weights in {cfg.init_from}"
    for _, value, option in cfg.run_options("init"):      # at most one (`RunConfig.validate`)
        return option.apply(model, value)
    return "trained from scratch"
