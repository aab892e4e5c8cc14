"""An accuracy predictor for search: V(θ) from the architecture encoding (Once-for-All).

Once-for-All scores candidates with "an accuracy predictor (a three-layer MLP) on the
one-hot architecture encoding" instead of evaluating each. Here:

* encoding: one one-hot group per unit over the unit's *canonical* choices
  (`space.canonical`), so equivalent tokens share a column;
* `mlp`: two hidden layers (64 units, ReLU), full-batch Adam on the standardised target,
  seeded (the same data and seed give the same predictor);
* `ridge`: the baseline, closed-form ridge regression on the same encoding;
* extra features (optional): numbers per architecture appended to the encoding, standardised
  with the training rows' mean and SD, e.g. zero-cost proxies, as NAS-Bench-Suite-Zero
  (Krishnakumar et al., NeurIPS 2022) adds them to a model-based predictor;
  `cross_val_predict` scores architectures out of fold, so none is predicted by a model fit
  on its own label.

Predictors are fitted on the complete, full-set rows of a search's `results.csv` (V =
``top1_pct``), saved with `atomic_torch_save` as plain tensors and data, and loaded with
``torch.load(weights_only=True)``. Commands::

    nas predictor fit  --results runs/search/results.csv --out runs/pred.pt [--kind ridge]
    nas predictor eval --predictor runs/pred.pt --results runs/other/results.csv
    nas predictor eval --predictor runs/pred.pt --bench-table experiments/results/ranking_fidelity

Predictor-guided evolution (`--strategy evolution --predictor-share 0.25`) uses `fit` on
the evaluated history to choose which children reach the evaluator.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from search_spaces import Arch, SearchSpace, build_space, shorten
from search_spaces.errors import ConfigError, DataError, InputFileError, InputNotFoundError
from supernet.training.checkpoint import atomic_torch_save, safe_load

from ..stats import correlations
from ..utils import read_json
from .store import complete_rows, read_results

FORMAT = "vidnas-predictor-v1"
KINDS = ("mlp", "ridge")


class Encoder:
    """One-hot of each unit's canonical choice."""

    def __init__(self, space: SearchSpace):
        self.space = space
        self.columns = [[c.token for c in space.distinct_choices(i)] for i in range(space.num_units)]
        self.width = sum(len(c) for c in self.columns)

    def encode(self, archs: Sequence[Arch | str]) -> np.ndarray:
        out = np.zeros((len(archs), self.width), dtype=np.float32)
        for r, a in enumerate(archs):
            canon = self.space.canonical(self.space.parse(a))
            offset = 0
            for i, c in enumerate(canon):
                out[r, offset + self.columns[i].index(c.token)] = 1.0
                offset += len(self.columns[i])
        return out


def _mlp(width: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


class Predictor:
    """A fitted predictor of V (%) from architectures of one space."""

    def __init__(self, space: SearchSpace, kind: str, mean: float, std: float, state: dict[str, Any],
                 settings: dict[str, Any], fitted_on: int, features: dict[str, list] | None = None):
        if kind not in KINDS:
            raise ConfigError(f"predictor kind {kind!r} is not allowed; use one of {', '.join(KINDS)}")
        self.space, self.kind, self.mean, self.std = space, kind, float(mean), float(std)
        self.state, self.settings, self.fitted_on = state, dict(settings), int(fitted_on)
        self.features = features or {"names": [], "mean": [], "std": []}
        self.encoder = Encoder(space)
        self._net = None
        if kind == "mlp":
            self._net = _mlp(self.encoder.width + len(self.features["names"]), int(settings["hidden"]))
            self._net.load_state_dict(state)
            self._net.eval()

    @classmethod
    def fit(cls, space: SearchSpace, archs: Sequence[Arch | str], targets: Sequence[float],
            kind: str = "mlp", seed: int = 0, hidden: int = 64, epochs: int = 400, lr: float = 1e-2,
            weight_decay: float = 1e-4, ridge_lambda: float = 1.0, extra: np.ndarray | None = None,
            extra_names: Sequence[str] = ()) -> "Predictor":
        """Fit on (architecture, V) pairs, with `extra` (one row per architecture, one column
        per name in `extra_names`) appended to the encoding; see the module docstring."""
        if kind not in KINDS:
            raise ConfigError(f"predictor kind {kind!r} is not allowed; use one of {', '.join(KINDS)}")
        y = np.asarray(targets, dtype=np.float64)
        if len(archs) != len(y) or len(y) < 2:
            raise DataError(f"a predictor needs at least 2 (architecture, V) pairs, got {len(y)}")
        features = {"names": list(extra_names), "mean": [], "std": []}
        if features["names"]:
            e = _check_extra(extra, len(y), features["names"])
            features["mean"] = e.mean(axis=0).tolist()
            features["std"] = [float(s) or 1.0 for s in e.std(axis=0)]
        elif extra is not None:
            raise ValueError("extra features need their names (extra_names)")
        x = Encoder(space).encode(archs)
        if features["names"]:
            x = np.concatenate([x, _scaled(extra, features)], axis=1)
        mean, std = float(y.mean()), float(y.std()) or 1.0
        z = (y - mean) / std
        settings = {"hidden": hidden, "epochs": epochs, "lr": lr, "weight_decay": weight_decay,
                    "ridge_lambda": ridge_lambda, "seed": seed}
        if kind == "ridge":
            xc = x.astype(np.float64)
            xm = xc.mean(axis=0)
            a = (xc - xm).T @ (xc - xm) + ridge_lambda * np.eye(x.shape[1])
            w = np.linalg.solve(a, (xc - xm).T @ z)
            state = {"w": torch.tensor(w), "x_mean": torch.tensor(xm)}
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                net = _mlp(x.shape[1], hidden)
            xt, zt = torch.from_numpy(x), torch.tensor(z, dtype=torch.float32)[:, None]
            opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
            for _ in range(epochs):
                opt.zero_grad()
                loss = torch.mean((net(xt) - zt) ** 2)
                loss.backward()
                opt.step()
            state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        return cls(space, kind, mean, std, state, settings, len(y), features)

    def predict(self, archs: Sequence[Arch | str], extra: np.ndarray | None = None) -> np.ndarray:
        """Predicted V (%) of each architecture (`extra`: its features, when fitted with some)."""
        x = self.encoder.encode(archs)
        if self.features["names"]:
            x = np.concatenate([x, _scaled(_check_extra(extra, len(x), self.features["names"]),
                                           self.features)], axis=1)
        elif extra is not None:
            raise ValueError("this predictor was fitted without extra features; pass none")
        if self.kind == "ridge":
            z = (x.astype(np.float64) - self.state["x_mean"].numpy()) @ self.state["w"].numpy()
        else:
            with torch.inference_mode():
                z = self._net(torch.from_numpy(x))[:, 0].double().numpy()
        return self.mean + self.std * z

    # ---- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "kind": self.kind, "space": self.space.config(), "mean": self.mean,
                "std": self.std, "state": self.state, "settings": self.settings,
                "fitted_on": self.fitted_on, "target": "top1_pct", "features": self.features}

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> "Predictor":
        """A predictor file, loaded weights-only (`supernet.training.checkpoint.safe_load`: a
        file that needs anything beyond tensors and plain values is "not a vidnas file, or
        unsafe to load", never torch's advice); one-line errors for a foreign or damaged file."""
        try:
            data = safe_load(path, "predictor")
        except InputNotFoundError:                  # (a FileNotFoundError too: as it is)
            raise
        except ValueError as e:
            raise InputFileError(f"cannot load predictor: {e}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputFileError(f"{path} is not a vidnas predictor (expected format {FORMAT!r})")
        missing = [k for k in ("kind", "space", "mean", "std", "state", "settings", "fitted_on") if k not in data]
        if missing:
            raise InputFileError(f"predictor {path} is damaged: it has no {missing[0]!r}")
        if data["kind"] not in KINDS or not isinstance(data["state"], dict):
            raise InputFileError(f"predictor {path} is damaged: kind {shorten(data['kind'])} (allowed: "
                                 f"{', '.join(KINDS)}) or its state is not a mapping of tensors")
        try:
            space = build_space(data["space"])
            return cls(space, data["kind"], data["mean"], data["std"], data["state"],
                       data["settings"], data["fitted_on"], data.get("features"))
        except (ValueError, TypeError, KeyError, RuntimeError) as e:
            raise InputFileError(f"predictor {path} is damaged: {(str(e).splitlines() or [type(e).__name__])[0][:200]}") from None


def _check_extra(extra, rows: int, names: Sequence[str]) -> np.ndarray:
    """`extra` as a finite (rows, len(names)) float array, else a one-line ValueError."""
    e = None if extra is None else np.asarray(extra, dtype=np.float64)
    if e is None or e.shape != (rows, len(names)):
        got = "none" if e is None else f"shape {e.shape}"
        raise ValueError(f"extra features: expected {rows} rows x {len(names)} columns "
                         f"({', '.join(names)}), got {got}")
    if not np.isfinite(e).all():
        raise DataError(f"extra features hold a NaN or an infinity (columns {', '.join(names)})")
    return e


def _scaled(extra, features: dict) -> np.ndarray:
    return ((np.asarray(extra, dtype=np.float64) - np.asarray(features["mean"]))
            / np.asarray(features["std"])).astype(np.float32)


def cross_val_predict(space: SearchSpace, archs: Sequence[Arch | str], targets: Sequence[float],
                      extra: np.ndarray | None = None, extra_names: Sequence[str] = (), folds: int = 5,
                      repeats: int = 10, seed: int = 0, **fit_kwargs) -> np.ndarray:
    """Out-of-fold predictions: `repeats` random partitions (seeded) into `folds` folds; each
    architecture's prediction is the mean over repeats of the model fit on the other folds, so
    no architecture is ever predicted by a model that saw its own label. (K-fold rather than
    leave-one-out: with a weak signal, leave-one-out predictions of a model with an intercept
    anti-correlate with the targets by construction.)"""
    y = np.asarray(targets, dtype=np.float64)
    n = len(y)
    if not isinstance(folds, int) or not 2 <= folds <= n or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"cross-validation needs 2 <= folds <= {n} architectures and repeats >= 1, "
                          f"got folds={folds!r}, repeats={repeats!r}")
    e = None if extra is None else np.asarray(extra, dtype=np.float64)
    out = np.zeros(n)
    for r in range(repeats):
        order = np.random.default_rng(seed + r).permutation(n)
        for f in range(folds):
            test = np.sort(order[f::folds])
            train = np.setdiff1d(np.arange(n), test)
            pred = Predictor.fit(space, [archs[i] for i in train], y[train], extra=None if e is None else e[train],
                                 extra_names=extra_names, seed=seed, **fit_kwargs)
            out[test] += pred.predict([archs[i] for i in test], None if e is None else e[test])
    return out / repeats


# ---- training data from search results ---------------------------------------------------
def results_space(results: str | Path) -> SearchSpace:
    """The space of a search folder's results.csv (from cost_table.json beside it)."""
    table = Path(results).with_name("cost_table.json")
    if not table.is_file():
        raise InputNotFoundError(f"{table} not found: fit and eval read the space from the search "
                                 "folder of --results")
    data = read_json(table, "cost table")
    if not isinstance(data, dict) or "space" not in data:
        raise InputFileError(f"{table} holds no search space (no 'space' field)")
    try:
        return build_space(data["space"])
    except ValueError as e:
        raise InputFileError(f"{table}: {e}") from None


def training_rows(results: str | Path) -> tuple[list[str], np.ndarray]:
    """(architectures, V) of the complete rows of `results` scored on the most clips (racing's
    stopped candidates are left out)."""
    records = read_results(results)
    if not records:
        raise InputFileError(f"{results} has no rows; fit and eval need a search's evaluated architectures")
    df = complete_rows(pd.DataFrame([r.to_dict() for r in records]))
    if df.empty:
        raise InputFileError(f"{results} has no complete architectures to fit on")
    df = df[df["clips"] == df["clips"].max()]
    return list(df["arch"]), df["top1_pct"].to_numpy(float)


def rank_report(predicted: np.ndarray, actual: np.ndarray) -> dict[str, Any]:
    """Kendall τ / Spearman ρ (bootstrap 95% CIs, `nas.stats`) and RMSE of predictions."""
    out: dict[str, Any] = {"n": int(len(actual)),
                           "rmse": float(np.sqrt(np.mean((predicted - actual) ** 2)))}
    for c in correlations(predicted, actual):
        out[c.name] = {"value": c.value, "low": c.low, "high": c.high}
    return out


# ---- the command line --------------------------------------------------------------------
