"""MLP-3D networks, the 2D CycleMLP models, Cycle FC, export and costs."""
import itertools

import pytest
import torch

from nas.costs.flops import model_cost
from supernet.models.mlp3d import CYCLEMLP_VARIANTS, MLP3D, MLP3D_VARIANTS
from supernet.ops.cycle_fc import CycleFC, cycle_offsets
from supernet.ops.gtm import gtm_param_count
from supernet.registry import build_model


def naive_cycle_fc(x, fc: CycleFC):
    """Per channel: read the value `offset(c)` positions along the axis (zero outside), then FC."""
    dim = x.dim() - 3 if fc.axis == "height" else x.dim() - 2
    shifted = torch.zeros_like(x)
    n = x.shape[dim]
    for c, off in enumerate(cycle_offsets(x.shape[-1])):
        for p in range(n):
            if 0 <= p + off < n:
                shifted.select(-1, c).select(dim, p).copy_(x.select(-1, c).select(dim, p + off))
    return shifted @ fc.weight.t() + fc.bias


@pytest.mark.parametrize("axis", ["height", "width"])
@pytest.mark.parametrize("channels", [1, 2, 7])
def test_cycle_fc_matches_naive_reference(axis, channels):
    torch.manual_seed(0)
    fc = CycleFC(channels, axis)
    with torch.no_grad():
        fc.bias.normal_()
    x = torch.randn(2, 3, 4, 5, channels)
    torch.testing.assert_close(fc(x), naive_cycle_fc(x, fc))


def test_cycle_offsets_follow_cyclemlp_staircase():
    assert cycle_offsets(7) == [0, 1, -1, 0, 1, -1, 0]


def test_cycle_fc_counts_as_a_1x1_layer():
    from nas.costs.flops import flop_analysis
    fc = CycleFC(12, "height")
    assert flop_analysis(fc, torch.zeros(1, 2, 5, 6, 12)).total() == 2 * 5 * 6 * 12 * 12


@pytest.mark.parametrize("variant", sorted(MLP3D_VARIANTS))
def test_every_mlp3d_config_builds_and_runs(variant):
    torch.manual_seed(0)
    m = build_model(f"mlp3d-{variant}", (8, 32, 32), 5).eval()
    assert m.space.num_units == sum(MLP3D_VARIANTS[variant].depths)
    m.set_arch(m.space.sample(0))
    with torch.no_grad():
        assert m(torch.randn(1, 3, 8, 32, 32)).shape == (1, 5)


@pytest.mark.parametrize("variant", sorted(set(CYCLEMLP_VARIANTS) - {"nano"}))
def test_cyclemlp_2d_matches_published_params_and_flops(variant):
    published = {"b1": (15.2, 2.1), "b2": (26.8, 3.9), "b3": (38.4, 6.9), "b4": (51.8, 10.1),
                 "b5": (75.7, 12.3)}[variant]
    m = build_model(f"cyclemlp-{variant}")
    cost = model_cost(m, (224, 224))
    assert round(cost.params / 1e6, 1) == pytest.approx(published[0], abs=0.051)
    assert round(cost.gflops, 1) == pytest.approx(published[1], abs=0.051)
    with torch.no_grad():
        assert m.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_cyclemlp_nano_is_the_2d_twin_of_mlp3d_nano():
    two_d, three_d = build_model("cyclemlp-nano"), build_model("mlp3d-nano")
    assert two_d.spec["input_size"] == [32, 32] and two_d.spec["num_classes"] == 10
    assert CYCLEMLP_VARIANTS["nano"] == MLP3D_VARIANTS["nano"]
    with torch.no_grad():
        assert two_d.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    shapes_2d = {k: v.shape for k, v in two_d.state_dict().items()}
    for key, value in three_d.state_dict().items():            # same layers apart from time
        if "fc_t" not in key and key != "stem.proj.weight":
            assert shapes_2d[key] == value.shape, key


def test_every_type_and_group_size_runs_inside_the_network():
    torch.manual_seed(0)
    m = build_model("mlp3d-nano", (64, 32, 32), 3).eval()          # T' = 16
    assert m.space.max_group_size == 16
    x = torch.randn(1, 3, 64, 32, 32)
    outs = {}
    with torch.no_grad():
        for c in m.space.choices(0):
            m.set_arch(m.space.uniform(lambda i: c))
            outs[c.token] = m(x)
            assert torch.isfinite(outs[c.token]).all()
    assert len(outs) == 19
    assert torch.allclose(outs["sr1"], outs["lr1"]) and torch.allclose(outs["sr1"], outs["st1"])
    assert not torch.allclose(outs["sr4"], outs["lr4"])


def test_shared_gtm_parameter_count_is_independent_of_sampled_arch():
    m = build_model("mlp3d-nano", (64, 32, 32), 3)
    dims = MLP3D_VARIANTS["nano"].embed_dims
    depths = MLP3D_VARIANTS["nano"].depths
    for block in m.units():
        c = block.token_mix.fc_t.channels
        assert sum(p.numel() for p in block.token_mix.fc_t.parameters()) == (2 * 16 - 1) * c * c
    total = sum(p.numel() for p in m.parameters())
    x = torch.randn(1, 3, 64, 32, 32)
    for seed in range(3):
        m.set_arch(m.space.sample(seed))
        m(x).sum().backward()
        assert sum(p.numel() for p in m.parameters()) == total
    gtm_total = sum((2 * 16 - 1) * d * d * n for d, n in zip(dims, depths))
    two_d = build_model("mlp3d-nano", (64, 32, 32), 3, arch=m.space.named_variant("2d"))
    assert total - sum(p.numel() for p in two_d.parameters()) == gtm_total - sum(d * d * n for d, n in zip(dims, depths))


def test_export_equals_supernet_and_holds_only_used_weights():
    torch.manual_seed(0)
    m = build_model("mlp3d-nano", (16, 32, 32), 10).eval()
    x = torch.randn(2, 3, 16, 32, 32)
    dims = [d for d, n in zip(MLP3D_VARIANTS["nano"].embed_dims, MLP3D_VARIANTS["nano"].depths) for _ in range(n)]
    base = sum(p.numel() for p in m.parameters()) - sum(
        p.numel() for b in m.units() for p in b.token_mix.fc_t.parameters())
    for seed in range(4):
        arch = m.space.sample(seed)
        m.set_arch(arch)
        fixed = m.export(arch)
        assert fixed.is_fixed and fixed.arch == arch and fixed.spec["arch"] == str(arch)
        with torch.no_grad():
            torch.testing.assert_close(fixed(x), m(x), rtol=0, atol=0)
        gtm = sum(gtm_param_count(d, c.gtm_type, c.group_size) for d, c in zip(dims, arch))
        assert sum(p.numel() for p in fixed.parameters()) == base + gtm
    with pytest.raises(RuntimeError, match="fixed to"):
        fixed.set_arch(m.space.sample(99))


def test_supernet_without_arch_explains_itself():
    m = build_model("mlp3d-nano")
    with pytest.raises(RuntimeError, match="set_arch"):
        m(torch.randn(1, 3, 16, 32, 32))
    with pytest.raises(RuntimeError, match="needs an architecture"):
        m.export()


def test_gtm_flops_follow_the_paper_complexity():
    """fvcore: GTM costs T'·H·W·S·C² per block (O(HWTSC²), Sec. 3.3); shift-token the same."""
    m = build_model("mlp3d-nano", (32, 32, 32), 10)              # T' = 8
    s = m.space
    base = model_cost(m.export(s.named_variant("2d")), (32, 32, 32)).flops
    tokens = [8 * 8 * 8, 8 * 4 * 4, 8 * 2 * 2, 8 * 1 * 1]
    per_s = sum(n * d * d * k for n, d, k in zip(tokens, MLP3D_VARIANTS["nano"].embed_dims,
                                                 MLP3D_VARIANTS["nano"].depths))
    for variant, size in itertools.product(["sr", "lr", "st", "sr-sw"], [2, 4, 8]):
        flops = model_cost(m.export(s.named_variant(variant, size)), (32, 32, 32)).flops
        assert flops - base == (size - 1) * per_s, (variant, size)


def test_clip_length_must_fit_the_tubelet():
    with pytest.raises(ValueError, match="multiple of the tubelet depth 4"):
        MLP3D("nano", (10, 32, 32), 3)
    with pytest.raises(ValueError, match="unknown MLP-3D variant 'xxl'"):
        MLP3D("xxl", (16, 32, 32), 3)
