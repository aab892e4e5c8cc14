"""Why do standalone runs of the v1 benchmark stall at chance? Instrumented standalone training.

    python experiments/ground_truth_diagnose.py --two-d runs/gt/2d/model.pt \
        --arch sr4-sr4-sr4-sr4-sr4-sr4-sr4-sr4 --seed 0 --steps 400 --work runs/gt/diagnose

Runs exactly the v1 standalone protocol (experiments/configs/train_mlp3d_nano_t8_cpu.yaml, the
6-epoch schedule, `nas train`'s model, initialisation, data order and loop) for the first
`--steps` steps, with read-only probes (no probe changes the trajectory):

* per-layer gradient norms (raw, before clipping: a post-accumulate hook per parameter);
* per GTM: the order-sensitive part of its weights, sum over dt > 0 of |w_dt - w_-dt|, against
  the order-symmetric part |w_dt + w_-dt|, and the same split of its gradient (shift-token
  GTMs have only dt >= 0: every w_dt with dt > 0 is order-sensitive, counted as such);
* the head's weights for each reversal pair (2a, 2a + 1): |h_2a - h_2a+1| against |h_2a + h_2a+1| / 2;
* the spread of the logits across the clips of a batch (std over clips, mean over classes)
  and of the pooled features (the same, relative to their mean norm);
* the training loss and accuracy of the step.

One CSV row per probed step in ``<work>/<arch>-seed<seed>/diagnostics.csv``; ``--report``
joins all runs of ``--work`` into ``--out`` (committed) with a summary per run.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = ROOT / "experiments" / "configs" / "train_mlp3d_nano_t8_cpu.yaml"
PLATEAU_LOSS = 2.2       # ln 10 = 2.303: a run whose mean train loss stays above this is on the plateau


def _pair_stats(weight, bias, classes: int) -> tuple[float, float]:
    """Mean over pairs of |h_2a - h_2a+1| and |h_2a + h_2a+1| / 2 (weights and bias as one vector)."""
    import torch
    h = torch.cat([weight, bias[:, None]], 1)
    diff = [float((h[2 * a] - h[2 * a + 1]).norm()) for a in range(classes // 2)]
    mean = [float((h[2 * a] + h[2 * a + 1]).norm() / 2) for a in range(classes // 2)]
    return sum(diff) / len(diff), sum(mean) / len(mean)


def _order_split(w, token_only: bool) -> tuple[float, float]:
    """(order-sensitive, order-symmetric) norms of a GTM weight (or its gradient), see the docstring."""
    if token_only:
        return float(w[1:].norm()) if w.shape[0] > 1 else 0.0, 0.0
    if w.dim() == 4:                                        # free blocks: w_{j-i} per block
        s = w.shape[0]
        anti = sum(float((w[i, j] - w[j, i]).norm()) for i in range(s) for j in range(i + 1, s))
        sym = sum(float((w[i, j] + w[j, i]).norm()) for i in range(s) for j in range(i + 1, s))
        return anti, sym
    m = (w.shape[0] + 1) // 2
    anti = sum(float((w[m - 1 + d] - w[m - 1 - d]).norm()) for d in range(1, m))
    sym = sum(float((w[m - 1 + d] + w[m - 1 - d]).norm()) for d in range(1, m))
    return anti, sym


def diagnose(two_d: str, arch: str, seed: int, steps: int, work: Path, every: int,
             overrides: list[str]) -> Path:
    import torch

    from nas.config import load_run_config
    from nas.initialise import initialise
    from nas.pretrain import make_loader_factory
    from nas.data import build_dataset
    from supernet.registry import build_model
    from supernet.training.loop import train

    out = work / f"{arch}-seed{seed}"
    if (out / "diagnostics.csv").exists() and (out / "done").exists():
        return out
    cfg = load_run_config(CONFIG, [f"output_dir={out / 'run'}", f"train.seed={seed}", f"arch={arch}",
                                   f"options.center_init_from={two_d}", "train.threads=1",
                                   f"train.max_steps={steps}", "train.checkpoint_every=100000",
                                   *overrides])
    torch.manual_seed(cfg.train.seed)                        # as run_train: weights from the seed
    model = build_model(cfg.model.name, cfg.input_size, cfg.data.num_classes, arch=cfg.arch,
                        **cfg.model.kwargs)
    how = initialise(model, cfg)
    torch.set_num_threads(1)
    train_set = build_dataset(cfg.data, "train")
    make_loader, per_epoch = make_loader_factory(cfg, train_set, 0, 1)

    grads: dict[str, float] = {}
    for name, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(lambda p, name=name: grads.__setitem__(name, float(p.grad.norm())))
    gtms = [(n, m) for n, m in model.named_modules() if n.endswith("token_mix.fc_t")]
    seen: dict[str, float] = {}

    def head_hook(module, inputs, output):
        pooled = module.pool(inputs[0]).detach()
        seen["feature_spread"] = float(pooled.std(0).mean() / pooled.norm(dim=1).mean().clamp_min(1e-12))
        seen["logit_spread"] = float(output.detach().std(0).mean())
    model.head.register_forward_hook(head_hook)
    rows: list[dict] = []

    def group(name: str) -> str:
        if name.startswith("stem"):
            return "stem"
        if name.startswith("head"):
            return "head"
        parts = name.split(".")                               # layers.<i>.<module>...
        kind = "gtm" if ".fc_t." in name else ("mlp" if ".mlp." in name else "other")
        return f"L{int(parts[1]):02d}.{kind}"

    def probe(step: int, force: bool = False) -> None:        # before step `step`: grads are of step-1
        if step == 0 or ((step - 1) % every and not force):
            return
        row = {"step": step - 1}
        by_group: dict[str, float] = {}
        for name, g in grads.items():
            by_group[group(name)] = by_group.get(group(name), 0.0) + g * g
        row.update({f"grad/{k}": v ** 0.5 for k, v in sorted(by_group.items())})
        for n, m in gtms:
            key = n.replace(".token_mix.fc_t", "")
            w = m.weight.detach()
            row[f"w_order/{key}"], row[f"w_sym/{key}"] = _order_split(w, m.token_only)
            row[f"w_centre/{key}"] = float(w.norm())
            if m.weight.grad is not None:
                row[f"g_order/{key}"], row[f"g_sym/{key}"] = _order_split(m.weight.grad, m.token_only)
        row["head_pair_diff"], row["head_pair_mean"] = _pair_stats(model.head.fc.weight.detach(),
                                                                   model.head.fc.bias.detach(),
                                                                   cfg.data.num_classes)
        row.update(seen)
        rows.append(row)

    out.mkdir(parents=True, exist_ok=True)
    train(model, train_cfg=cfg.train, optim_cfg=cfg.optim, make_loader=make_loader, steps_per_epoch=per_epoch,
          out_dir=out / "run", kind="standalone", config=cfg.to_dict(), device=torch.device("cpu"),
          before_step=probe, progress=False)
    probe(steps, force=True)                                  # the last step's gradients
    import pandas as pd
    metrics = pd.read_csv(out / "run" / "metrics.csv")[["step", "loss", "acc"]]
    metrics["step"] -= 1                                      # metrics rows count steps done
    frame = pd.DataFrame(rows).merge(metrics, on="step", how="left")
    frame.insert(0, "seed", seed)
    frame.insert(0, "arch", arch)
    from nas.utils import atomic_write_json, atomic_write_text
    atomic_write_text(out / "diagnostics.csv", frame.to_csv(index=False))
    atomic_write_json(out / "done", {"init": how, "steps": steps, "overrides": overrides})
    return out


def report(work: Path, out: Path) -> None:
    """All runs' rows in one CSV, and a per-run summary: did it leave the plateau, when, and the
    probes averaged over the first 100 steps and the last 100."""
    import numpy as np
    import pandas as pd
    from nas.utils import atomic_write_text

    frames = [pd.read_csv(p) for p in sorted(work.glob("*/diagnostics.csv"))]
    if not frames:
        print("no diagnostics yet")
        return
    frame = pd.concat(frames, ignore_index=True)
    atomic_write_text(out / "diagnostics.csv", frame.to_csv(index=False))
    summary = []
    for (arch, seed), g in frame.groupby(["arch", "seed"]):
        g = g.sort_values("step")
        loss = g["loss"].rolling(5, min_periods=1).mean()             # metrics: one row per probe
        left = g.loc[loss < PLATEAU_LOSS, "step"]
        cols = lambda prefix: [c for c in g.columns if c.startswith(prefix)]   # noqa: E731
        row = {"arch": arch, "seed": int(seed), "left_plateau_at_step": int(left.iloc[0]) if len(left) else None,
               "final_loss_mean_last50": float(g[g["step"] >= g["step"].max() - 50]["loss"].mean())}
        for name, part in (("first100", g[g["step"] < 100]), ("last100", g[g["step"] >= g["step"].max() - 100])):
            row[f"g_order_over_g_sym_{name}"] = float(np.nanmean(part[cols("g_order/")].sum(1) /
                                                                 part[cols("g_sym/")].sum(1).replace(0, np.nan)))
            row[f"g_order_{name}"] = float(part[cols("g_order/")].sum(1).mean())
            row[f"w_order_{name}"] = float(part[cols("w_order/")].sum(1).mean())
            row[f"head_pair_diff_{name}"] = float(part["head_pair_diff"].mean())
            row[f"head_pair_mean_{name}"] = float(part["head_pair_mean"].mean())
            row[f"logit_spread_{name}"] = float(part["logit_spread"].mean())
            row[f"feature_spread_{name}"] = float(part["feature_spread"].mean())
            row[f"grad_head_{name}"] = float(part["grad/head"].mean())
            row[f"grad_gtm_{name}"] = float(np.sqrt((part[cols("grad/") ][[c for c in cols("grad/") if c.endswith(".gtm")]] ** 2).sum(1)).mean())
        summary.append(row)
    table = pd.DataFrame(summary)
    atomic_write_text(out / "summary.csv", table.to_csv(index=False))
    print(table.T.to_string())
    plot(frame, out / "diagnostics")


def plot(frame, path: Path) -> None:
    """One panel per probe over the steps, one line per (arch, seed); escaped runs solid."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("loss", "train loss (ln 10 = 2.303)", False),
              ("feature_spread", "pooled-feature spread across clips", True),
              ("logit_spread", "logit spread across clips", True),
              ("g_order", "|grad| of GTM order-sensitive part", True),
              ("w_order", "|GTM order-sensitive part| (w_dt - w_-dt)", False),
              ("head_pair_diff", "|h_2a - h_2a+1| (mean over pairs)", False)]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.4))
    for ax, (key, title, log) in zip(axes.flat, panels):
        for i, ((arch, seed), g) in enumerate(frame.groupby(["arch", "seed"])):
            g = g.sort_values("step")
            cols = [c for c in g.columns if c.startswith(key + "/")]
            y = g[cols].sum(axis=1) if cols else g[key]
            escaped = g["loss"].rolling(5, min_periods=1).mean().min() < PLATEAU_LOSS
            ax.plot(g["step"], y, lw=1.2, ls="-" if escaped else "--", color=f"C{i}",
                    label=f"{arch.split('-')[0]}x8 seed {seed}" + (" (left plateau)" if escaped else " (stuck)"))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        if log:
            ax.set_yscale("log")
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("v1 standalone protocol, first steps: stuck vs escaping seeds", fontsize=10)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(path.with_suffix(f".{ext}"), dpi=130)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--two-d", default="runs/gt/2d/model.pt", help="the 2D CycleMLP checkpoint (center init)")
    p.add_argument("--arch", action="append", default=[], help="architecture(s) to diagnose")
    p.add_argument("--seed", type=int, action="append", default=[], help="seed(s)")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--every", type=int, default=5, help="probe every N steps")
    p.add_argument("--set", action="append", default=[], dest="overrides", help="config override (KEY=VALUE)")
    p.add_argument("--work", type=Path, default=Path("runs/gt/diagnose"))
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "ground_truth" / "diagnose")
    p.add_argument("--report", action="store_true", help="only join the finished runs into --out")
    args = p.parse_args(argv)
    if not args.report:
        for arch in args.arch:
            for seed in args.seed or [0]:
                print(f"diagnosing {arch} seed {seed}", flush=True)
                diagnose(args.two_d, arch, seed, args.steps, args.work, args.every, args.overrides)
    report(args.work, args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "commands.txt", "a") as f:
        f.write("python " + " ".join(["experiments/ground_truth_diagnose.py", *(argv or sys.argv[1:])]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
