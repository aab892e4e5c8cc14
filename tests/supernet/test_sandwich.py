"""The sandwich recipe (BigNAS / AttentiveNAS): schedule, bounds by GFLOPs, in-place
distillation, and bit-exact resume."""
import copy

import pytest
import torch
import torch.nn.functional as F

from nas.costs.unit_table import build_cost_table, extreme_archs
from search_spaces import Arch
from supernet.registry import build_model
from supernet.training.config import OptimConfig, TrainConfig
from supernet.training.loop import build_optimizer, train, warmup_cosine
from supernet.training.checkpoint import load_checkpoint
from supernet.training.sampler import ArchSampler


def _space():
    return build_model("mlp3d-nano", (32, 32, 32), 10).space


def test_sandwich_schedule_is_largest_smallest_then_k_uniform_draws():
    space = _space()
    big, small = space.named_variant("sr", 8), space.named_variant("2d")
    s = ArchSampler(space, "sandwich", seed=4, largest=big, smallest=small, sandwich_random=3)
    uniform = ArchSampler(space, "uniform", seed=4)
    assert s.paths_per_step == 5
    for step in range(6):
        archs = s.archs_for_step(step)
        assert len(archs) == 5 and archs[0] == big and archs[1] == small
        assert s.is_distilling(step)
        assert archs[2:] == ArchSampler(space, "sandwich", seed=4, largest=big, smallest=small,
                                        sandwich_random=3).archs_for_step(step)[2:]
    assert s.archs_for_step(0)[2] == uniform.archs_for_step(0)[0]       # the same first draw
    assert len({str(a) for step in range(6) for a in s.archs_for_step(step)[2:]}) == 18
    warm = ArchSampler(space, "sandwich", seed=4, largest=big, smallest=small,
                       warmup_arch=big, warmup_steps=2)
    assert warm.archs_for_step(1) == [big] and not warm.is_distilling(1) and warm.is_distilling(2)
    with pytest.raises(ValueError, match="needs the largest and the smallest"):
        ArchSampler(space, "sandwich")
    with pytest.raises(ValueError, match="sandwich_random must be >= 0"):
        ArchSampler(space, "sandwich", largest=big, smallest=small, sandwich_random=-1)
    with pytest.raises(ValueError, match="train.sandwich_random"):
        TrainConfig(sandwich_random=-2).validate()


def test_bounds_take_the_most_and_least_flops_then_params_then_choice_order():
    from nas.costs.unit_table import CostTable
    from search_spaces import GTMSpace

    space = GTMSpace((1, 1), time_tokens=2, max_group_size=2)     # sr1 sr2 lr1 lr2 sw2 st1 st2
    tokens = [c.token for c in space.choices(0)]
    flops = {"sr1": 10, "sr2": 20, "lr1": 10, "lr2": 20, "sw2": 20, "st1": 10, "st2": 20}
    params = {"sr1": 1, "sr2": 3, "lr1": 1, "lr2": 3, "sw2": 3, "st1": 1, "st2": 2}
    unit1 = {**flops, "sw2": 25}                                   # unit 1: sw2 strictly largest
    table = CostTable(space.config(), {}, (8, 16, 16), [flops, unit1], [params, params], 0, 0)
    big, small = extreme_archs(table, space)
    assert [c.token for c in big] == ["sr2", "sw2"] and [c.token for c in small] == ["sr1", "sr1"]
    assert tokens.index("sr2") < tokens.index("lr2")               # the tie went to the first


def test_mlp3d_bounds_on_real_costs_are_sr_at_s_max_and_per_frame():
    model = build_model("mlp3d-nano", (8, 16, 16), 10)            # T' = 2: small traces
    table = build_cost_table(model, (8, 16, 16))
    big, small = extreme_archs(table, model.space)
    assert str(big) == "-".join(["sr2"] * 8)      # sr/lr/sw/st 2 tie on FLOPs; sr2 has the most params
    assert str(small) == "-".join(["sr1"] * 8)    # every type at S=1 is w_0: the first in order
    samples = [model.space.sample(k) for k in range(100)]
    assert all(table.flops(small) <= table.flops(a) <= table.flops(big) for a in samples)
    tied = model.space.parse("-".join(["st2"] * 8))
    assert table.flops(tied) == table.flops(big) and table.params(tied) < table.params(big)


@pytest.mark.slow
def test_bounds_at_t8_and_on_a_constant_cost_space():
    model = build_model("mlp3d-nano", (32, 32, 32), 10)
    big, small = extreme_archs(build_cost_table(model, (32, 32, 32)), model.space)
    assert (str(big), str(small)) == ("-".join(["sr8"] * 8), "-".join(["sr1"] * 8))
    morph = build_model("morphmlp-nano", (16, 32, 32), 10)
    mbig, msmall = extreme_archs(build_cost_table(morph, (16, 32, 32)), morph.space)
    first = Arch(tuple(morph.space.choices(i)[0] for i in range(morph.space.num_units)))
    assert mbig == msmall == first                        # constant-cost space: the sandwich degenerates


def _toy(batch=4, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, 3, 16, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g))
            for _ in range(n)]


def test_distillation_target_is_the_largest_paths_detached_output(tmp_path):
    torch.manual_seed(7)
    model = build_model("mlp3d-nano", (16, 32, 32), 10, head_dropout=0.0)
    reference = copy.deepcopy(model)
    space = model.space
    big, small = space.named_variant("sr", 4), space.named_variant("2d")
    sampler = ArchSampler(space, "sandwich", seed=2, largest=big, smallest=small, sandwich_random=1)
    data = _toy(n=1)
    tcfg, ocfg = TrainConfig(epochs=1, batch_size=4, seed=3), OptimConfig(lr=1e-3, base_batch_size=4,
                                                                           label_smoothing=0.1)
    train(model, train_cfg=tcfg, optim_cfg=ocfg, make_loader=lambda e, s: ((x, y, 0) for x, y in data),
          steps_per_epoch=1, out_dir=tmp_path / "run", kind="supernet", config={}, device=torch.device("cpu"),
          arch_sampler=sampler, final_name="supernet.pt")

    # the same step by hand: labels for the largest, its detached softmax for the others
    x, y = data[0]
    opt = build_optimizer(reference, ocfg, 4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(1, 0, 0.0))
    archs = sampler.archs_for_step(0)
    reference.set_arch(archs[0])
    logits = reference(x)
    (F.cross_entropy(logits, y, label_smoothing=0.1) / 3).backward()
    teacher = logits.detach().softmax(1)
    for arch in archs[1:]:
        reference.set_arch(arch)
        (-(teacher * F.log_softmax(reference(x), 1)).sum(1).mean() / 3).backward()
    torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
    opt.step()
    sched.step()
    for (k, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7, msg=k)
    # a teacher that kept its graph would send the students' gradients into the largest path
    leaky = copy.deepcopy(model)
    leaky.set_arch(big)
    t = leaky(x).softmax(1)
    leaky.set_arch(small)
    (-(t * F.log_softmax(leaky(x), 1)).sum(1).mean()).backward()
    w = "layers.0.token_mix.fc_t.weight"                    # w_dt (dt != 0): only sr4 reads them
    assert dict(leaky.named_parameters())[w].grad[1:3].abs().sum() > 0


def _run(out, sampler_kind, resume=False, max_steps=None):
    torch.manual_seed(11)
    model = build_model("mlp3d-nano", (16, 32, 32), 10, drop_path_rate=0.1)
    space = model.space
    sampler = ArchSampler(space, sampler_kind, 5, largest=space.named_variant("sr", 4),
                          smallest=space.named_variant("2d"), sandwich_random=1)
    data = _toy(n=4, seed=1)
    cfg = TrainConfig(epochs=2, batch_size=4, checkpoint_every=3, max_steps=max_steps, seed=5,
                      sampler=sampler_kind)
    train(model, train_cfg=cfg, optim_cfg=OptimConfig(lr=1e-3, base_batch_size=4),
          make_loader=lambda e, s: ((x, y, 0) for x, y in data[s:]), steps_per_epoch=4, out_dir=out,
          kind="supernet", config={}, device=torch.device("cpu"), arch_sampler=sampler, resume=resume,
          final_name="supernet.pt")
    return model


def test_sandwich_resume_is_bit_identical(tmp_path):
    full = _run(tmp_path / "full", "sandwich")
    _run(tmp_path / "part", "sandwich", max_steps=5)
    assert load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")["step"] == 5
    resumed = _run(tmp_path / "part", "sandwich", resume=True)
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    assert load_checkpoint(tmp_path / "full" / "supernet.pt")["sampler"]["largest"] == "sr4-" * 7 + "sr4"
