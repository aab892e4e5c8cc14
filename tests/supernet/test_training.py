"""Training-loop pieces: schedule, architecture/batch samplers, configs, checkpoints, resume."""
import collections
import math
from dataclasses import dataclass

import pytest
import torch

from supernet.registry import build_model
from supernet.training.checkpoint import load_checkpoint, model_from_checkpoint
from supernet.training.config import (OptimConfig, TrainConfig, apply_overrides, from_dict,
                                      load_yaml)
from supernet.training.loop import build_optimizer, train, warmup_cosine
from supernet.training.sampler import ArchSampler, RankSlices


def test_warmup_then_cosine():
    f = warmup_cosine(total_steps=100, warmup_steps=10, min_ratio=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(100) == pytest.approx(0.1) and f(200) == pytest.approx(0.1)
    vals = [f(s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))


def test_lr_scales_linearly_with_batch():
    assert OptimConfig().scaled_lr(64) == pytest.approx(5e-4 * 64 / 512)


def test_no_weight_decay_on_biases_and_norms():
    m = build_model("mlp3d-nano")
    opt = build_optimizer(m, OptimConfig(), 64)
    decay, no_decay = opt.param_groups
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim <= 1 for p in no_decay["params"])
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(m.parameters()))


def test_uniform_arch_sampler_is_a_function_of_seed_and_step():
    space = build_model("mlp3d-nano").space
    s = ArchSampler(space, "uniform", seed=3)
    assert s.archs_for_step(5) == ArchSampler(space, "uniform", seed=3).archs_for_step(5)
    assert s.archs_for_step(5) != s.archs_for_step(6)
    counts = collections.Counter(s.archs_for_step(k)[0][0].token for k in range(2200))
    assert len(counts) == 11 and min(counts.values()) > 130


def test_warm_start_trains_one_arch_then_samples():
    space = build_model("mlp3d-nano").space
    warm = "sr4-" * 7 + "sr4"
    s = ArchSampler(space, "uniform", seed=3, warmup_arch=warm, warmup_steps=10)
    assert [str(a[0]) for k in range(10) for a in [s.archs_for_step(k)]] == [warm] * 10
    plain = ArchSampler(space, "uniform", seed=3)
    assert s.archs_for_step(10) == plain.archs_for_step(10)      # then the same draws as uniform
    with pytest.raises(ValueError):
        ArchSampler(space, "uniform", warmup_arch="sr4-sr4", warmup_steps=3)
    with pytest.raises(ValueError, match="warmup_arch_steps"):
        TrainConfig(warmup_arch_steps=5).validate()


def test_fair_sampler_gives_every_choice_one_update_per_step():
    space = build_model("mlp3d-nano").space
    s = ArchSampler(space, "fair", seed=0)
    assert s.paths_per_step == 11
    for step in range(5):
        archs = s.archs_for_step(step)
        assert len(archs) == 11
        for i in range(space.num_units):
            assert sorted(a[i].token for a in archs) == sorted(c.token for c in space.choices(i))
    with pytest.raises(ValueError, match="unknown architecture sampler 'greedy'"):
        ArchSampler(space, "greedy")


def test_rank_slices_split_each_global_batch():
    base = list(range(22))                               # 5 full batches of 4, 2 items dropped
    one = list(RankSlices(base, 4))
    r0, r1 = list(RankSlices(base, 4, 0, 2)), list(RankSlices(base, 4, 1, 2))
    assert one == list(range(20)) and len(RankSlices(base, 4, 1, 2)) == 10
    assert [r0[2 * k:2 * k + 2] + r1[2 * k:2 * k + 2] for k in range(5)] == \
        [one[4 * k:4 * k + 4] for k in range(5)]
    with pytest.raises(ValueError, match="not divisible by 3 processes"):
        RankSlices(base, 4, 0, 3)


@dataclass
class _Inner:
    a: int = 1
    b: tuple[float, float] = (0.1, 0.2)


@dataclass
class _Outer:
    name: str = "x"
    inner: _Inner = None
    opt: float | None = None


def test_config_errors_name_the_key():
    cfg = from_dict(_Outer, {"name": "y", "inner": {"a": 3, "b": [1, 2]}, "opt": 2})
    assert cfg.inner.a == 3 and cfg.inner.b == (1.0, 2.0) and cfg.opt == 2.0
    with pytest.raises(ValueError, match="unknown config key 'inner.c'; allowed in inner: a, b"):
        from_dict(_Outer, {"inner": {"c": 1}})
    with pytest.raises(ValueError, match="config key 'inner.a': expected an integer, got 'three'"):
        from_dict(_Outer, {"inner": {"a": "three"}})
    with pytest.raises(ValueError, match="'sampler': 'greedy' is not allowed; allowed: 'uniform', 'fair'"):
        from_dict(TrainConfig, {"sampler": "greedy"})
    with pytest.raises(ValueError, match="train.epochs and train.batch_size must be >= 1"):
        from_dict(TrainConfig, {"epochs": 0})


def test_overrides_parse_yaml_values(tmp_path):
    d = apply_overrides({"train": {"epochs": 2}}, ["train.epochs=5", "optim.lr=1e-3", "model.kwargs.x=[1, 2]"])
    assert d == {"train": {"epochs": 5}, "optim": {"lr": "1e-3"}, "model": {"kwargs": {"x": [1, 2]}}}
    assert from_dict(OptimConfig, d["optim"]).lr == 1e-3          # YAML 1.1 string, read as a number
    with pytest.raises(ValueError, match="'lr': expected a number, got 'fast'"):
        from_dict(OptimConfig, {"lr": "fast"})
    with pytest.raises(ValueError, match="--set expects key=value"):
        apply_overrides({}, ["train.epochs"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1,\n")
    with pytest.raises(ValueError, match="not valid YAML at line"):
        load_yaml(bad)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_yaml(tmp_path / "missing.yaml")


def _toy_loader(n_batches=6, batch=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    data = [(torch.randn(batch, 3, 16, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g))
            for _ in range(n_batches)]

    def make_loader(epoch, start_batch):
        for clips, labels in data[start_batch:]:
            yield clips, labels, 0
    return make_loader


def _train_toy(out, resume=False, max_steps=None):
    torch.manual_seed(123)
    model = build_model("mlp3d-nano", (16, 32, 32), 10, drop_path_rate=0.1)
    cfg = TrainConfig(epochs=2, batch_size=4, checkpoint_every=4, max_steps=max_steps, seed=5)
    return model, train(model, train_cfg=cfg, optim_cfg=OptimConfig(lr=1e-3, base_batch_size=4),
                        make_loader=_toy_loader(), steps_per_epoch=6, out_dir=out, kind="supernet",
                        config={"note": "toy"}, device=torch.device("cpu"),
                        arch_sampler=ArchSampler(model.space, "uniform", 5), resume=resume,
                        final_name="supernet.pt")


def test_resumed_training_is_bit_identical(tmp_path):
    """Stop mid-epoch (step 5 of 6), resume to the end: the same weights as one run."""
    full, res = _train_toy(tmp_path / "full")
    assert res.step == 12
    _train_toy(tmp_path / "part4", max_steps=5)
    assert load_checkpoint(tmp_path / "part4" / "checkpoints" / "last.pt")["step"] == 5
    resumed, res2 = _train_toy(tmp_path / "part4", resume=True)
    assert res2.step == 12
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    rows = (tmp_path / "part4" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 13 and rows[-1].startswith("12,")
    loaded = model_from_checkpoint(tmp_path / "full" / "supernet.pt")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), full.state_dict().values()))


def test_missing_and_foreign_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="is not a vidnas checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_lr_multipliers_give_matching_parameters_their_own_learning_rate():
    m = build_model("mlp3d-nano")
    cfg = OptimConfig(lr=1e-4, base_batch_size=32, lr_mults={"token_mix.fc_t": 10})
    opt = build_optimizer(m, cfg, 32)
    by_param = {id(p): g for g in opt.param_groups for p in g["params"]}
    for name, p in m.named_parameters():
        g = by_param[id(p)]
        assert g["lr"] == pytest.approx(1e-3 if "token_mix.fc_t" in name else 1e-4), name
        assert g["weight_decay"] == (0.05 if p.ndim > 1 else 0.0), name
    gtm = [n for n, _ in m.named_parameters() if "token_mix.fc_t" in n]
    assert len(gtm) == 8 and sum(len(g["params"]) for g in opt.param_groups) == len(list(m.parameters()))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(10, 2, 0.0))
    assert sorted({round(lr / 0.5e-4, 6) for lr in sched.get_last_lr()}) == [1.0, 10.0]   # warmup: factor 1/2
    with pytest.raises(ValueError, match="optim.lr_mults maps"):
        OptimConfig(lr_mults={"fc_t": 0}).validate()
    with pytest.raises(ValueError, match="optim.lr_mults maps"):
        from_dict(OptimConfig, {"lr_mults": {"fc_t": "big"}})
