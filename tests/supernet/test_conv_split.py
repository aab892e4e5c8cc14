"""3D-conv split strategies (Hajimolahoseini et al. Sec. I-II), their search space, and the ECO-Lite / R3D-RS hosts."""
import json
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from nas.cli import main
from nas.costs.flops import model_cost, param_count
from search_spaces import build_space
from search_spaces.conv_split import (DROP_IN_STRATEGIES, STRATEGY_TOKENS, ConvSplitChoice,
                                      ConvSplitSpace, SplitUnit)
from supernet.ops.conv3d_split import SplitConv3d, build_split_op, r2plus1d_mid_channels
from supernet.registry import build_model

TOKENS = [STRATEGY_TOKENS[s] for s in DROP_IN_STRATEGIES]

# (C, S, t, d, s_t, s, clip T x H x W)
SETTINGS = [
    (3, 5, 3, 3, 1, 1, (4, 6, 6)),
    (4, 6, 3, 3, 2, 2, (8, 8, 8)),
    (4, 4, 3, 3, 1, 2, (5, 6, 10)),
    (2, 6, 5, 3, 2, 1, (7, 5, 9)),
    (3, 4, 3, 5, 2, 2, (6, 10, 10)),
    (5, 3, 1, 3, 1, 2, (3, 4, 4)),
]


def proposed_ok(s, h, w):
    return s == 1 or (h % s == 0 and w % s == 0)


@pytest.mark.parametrize("c,s,t,d,st,ss,size", SETTINGS)
def test_every_op_matches_conv3d_shape_and_stride(c, s, t, d, st, ss, size):
    torch.manual_seed(0)
    x = torch.randn(2, c, *size)
    ref = nn.Conv3d(c, s, (t, d, d), (st, ss, ss), (t // 2, d // 2, d // 2))(x)
    for strategy in DROP_IN_STRATEGIES:
        if strategy.startswith("proposed") and not proposed_ok(ss, *size[1:]):
            continue
        op = build_split_op(strategy, c, s, (t, d), (st, ss)).eval()
        y = op(x)
        assert y.shape == ref.shape, strategy
        assert op.out_size(size) == tuple(ref.shape[2:]), strategy


def conv_weights(op):
    return sum(m.weight.numel() for m in op.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d)))


def expected_conv_weights(strategy, c, s, t, d, st):
    """Conv weights of each strategy, written out from its definition (no BN)."""
    m = (t * d * d * c * s) // (d * d * c + t * s)
    return {
        "conv3d": t * d * d * c * s,
        "r2plus1d": d * d * c * m + t * m * s,
        "p3d_a": d * d * c * s + t * s * s,
        "p3d_b": d * d * c * s + t * c * s,
        "p3d_c": d * d * c * s + t * s * s,
        "rank1": t * c * s + 2 * d * s * s,
        "proposed_add": d * d * c * s + t * c * s + (s * s if st > 1 else 0),
        "proposed_cat": d * d * c * s + t * c * s + (s * s if st > 1 else 0) + 2 * s * s,
    }[strategy]


@pytest.mark.parametrize("c,s,t,d,st", [(96, 128, 3, 3, 1), (128, 256, 3, 3, 2), (64, 64, 5, 3, 1)])
def test_parameter_count_formulas(c, s, t, d, st):
    for strategy in DROP_IN_STRATEGIES:
        op = build_split_op(strategy, c, s, (t, d), (st, st))
        assert conv_weights(op) == expected_conv_weights(strategy, c, s, t, d, st), strategy
    # R(2+1)D matches the 3D conv up to the floor in M (less than one mid channel's weights).
    r21d = conv_weights(build_split_op("r21d", c, s, (t, d), (st, st)))
    assert 0 <= t * d * d * c * s - r21d < d * d * c + t * s
    assert r2plus1d_mid_channels(64, 64, 3, 3) == 144          # torchvision's R(2+1)D-18 layer1


class TensorDims(TorchFunctionMode):
    """Records every tensor produced by a torch function while active."""

    def __init__(self):
        super().__init__()
        self.produced = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for o in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(o, torch.Tensor):
                self.produced.append((getattr(func, "__name__", str(func)), o))
        return out


@pytest.mark.parametrize("strategy", ["proposed_add", "proposed_cat"])
@pytest.mark.parametrize("st,ss", [(1, 1), (2, 2), (1, 2)])
def test_proposed_ops_only_make_4d_tensors(strategy, st, ss):
    op = build_split_op(strategy, 3, 4, (3, 3), (st, ss))
    x = torch.randn(2, 3, 4, 8, 8)
    with TensorDims() as rec:
        y = op(x)
    inner = [(name, t.dim()) for name, t in rec.produced if t is not y]
    assert inner and all(dim <= 4 for _, dim in inner), inner
    assert y.dim() == 5
    with TensorDims() as rec:                         # the recorder does catch 5D work
        build_split_op("p3d_b", 3, 4, (3, 3), (st, ss))(x)
    assert any(t.dim() == 5 for _, t in rec.produced[:-1])


def naive_proposed(op, x):
    """Hajimolahoseini et al. Sec. II straight from the text, in float64, with explicit indexing."""
    b, c, T, H, W = x.shape
    S, t, d, st, ss = op.out_channels, op.t, op.d, op.st, op.ss
    ws = op.spatial.weight.double()
    sp = F.conv3d(x, ws.unsqueeze(2), stride=(1, ss, ss), padding=(0, d // 2, d // 2))
    sp = sp.flatten(3)                                                  # [B, S, T, X'Y']
    if st > 1:
        sp = torch.einsum("oc,bctj->botj", op.time_pool.weight.double()[:, :, 0, 0], sp[:, :, ::st])
    flat = F.pad(x.flatten(3), (0, 0, t // 2, t // 2))                 # [B, C, T + 2p, XY]
    wt = op.temporal.weight.double()[:, :, :, 0]                        # [S, C, t]
    t_out, j_out = sp.shape[2], sp.shape[3]
    tb = torch.zeros(b, S, t_out, j_out, dtype=torch.float64)
    for to in range(t_out):
        for j in range(j_out):
            window = flat[:, :, to * st: to * st + t, j * ss * ss]      # [B, C, t]
            tb[:, :, to, j] = torch.einsum("bck,sck->bs", window, wt)
    if op.combine == "add":
        y = sp + tb
    else:
        y = torch.einsum("oc,bctj->botj", op.fuse.weight.double()[:, :, 0, 0], torch.cat([sp, tb], 1))
    return y.reshape(b, S, t_out, -1, (W - 1) // ss + 1)


@pytest.mark.parametrize("strategy", ["proposed_add", "proposed_cat"])
@pytest.mark.parametrize("t,st,ss,size", [(3, 1, 1, (4, 3, 5)), (3, 2, 2, (5, 4, 6)), (5, 1, 2, (6, 6, 4))])
def test_proposed_ops_match_naive_reference(strategy, t, st, ss, size):
    torch.manual_seed(1)
    op = build_split_op(strategy, 3, 4, (t, 3), (st, ss)).double()
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    torch.testing.assert_close(op(x), naive_proposed(op, x))


@pytest.mark.parametrize("st,ss", [(1, 1), (2, 2)])
def test_rank1_and_p3db_equal_a_3d_conv_with_their_kernel(st, ss):
    torch.manual_seed(2)
    c, s, t, d = 3, 4, 3, 3
    x = torch.randn(2, c, 5, 6, 6, dtype=torch.float64)
    pad = (t // 2, d // 2, d // 2)
    r1 = build_split_op("rank1", c, s, (t, d), (st, ss)).double()
    wt, wh, ww = r1.temporal.weight[:, :, :, 0, 0], r1.height.weight[:, :, 0, :, 0], r1.width.weight[:, :, 0, 0, :]
    kernel = torch.einsum("sne,nmb,mca->scabe", ww, wh, wt)             # outer product per path
    torch.testing.assert_close(r1(x), F.conv3d(x, kernel, stride=(st, ss, ss), padding=pad))
    pb = build_split_op("p3d_b", c, s, (t, d), (st, ss)).double()
    kernel = torch.zeros(s, c, t, d, d, dtype=torch.float64)
    kernel[:, :, t // 2] += pb.spatial.weight[:, :, 0]
    kernel[:, :, :, d // 2, d // 2] += pb.temporal.weight[:, :, :, 0, 0]
    torch.testing.assert_close(pb(x), F.conv3d(x, kernel, stride=(st, ss, ss), padding=pad))


def test_bad_op_arguments_are_one_line_errors():
    cases = [
        (lambda: build_split_op("p3d_x", 3, 4, (3, 3)), "unknown conv split strategy 'p3d_x'"),
        (lambda: build_split_op("rs", 3, 4, (3, 3)), "rs is not a drop-in conv op"),
        (lambda: build_split_op("c3d", 3, 4, (2, 3)), "t=2 must be an odd"),
        (lambda: build_split_op("padd", 3, 4, (3, 3), (1, 2))(torch.randn(1, 3, 4, 5, 6)),
         "needs H and W divisible by 2, got 5x6"),
        (lambda: SplitConv3d(3, 4, (3, 3), strategies=["c3d"])(torch.randn(1, 3, 2, 4, 4), "r1"),
         "strategy r1 is not held by this op; held: c3d"),
    ]
    for fn, needle in cases:
        with pytest.raises(ValueError) as e:
            fn()
        assert needle in str(e.value) and "\n" not in str(e.value)


# ---- the search space -----------------------------------------------------------------

def small_space():
    units = [SplitUnit("a", 0, 8, 8, (3, 3), (1, 1), (4, 8, 8)),
             SplitUnit("b", 1, 8, 16, (3, 3), (2, 2), (4, 7, 7)),      # odd map: no padd / pcat
             SplitUnit("c", 1, 16, 16, (1, 3), (1, 1), (2, 4, 4)),     # t = 1: only c3d
             SplitUnit("d", 2, 16, 16, (3, 3), (1, 2), (2, 4, 4), bottleneck=True)]
    return ConvSplitSpace(units)


def test_space_lists_only_valid_strategies_and_explains_the_rest():
    sp = small_space()
    toks = [[c.token for c in sp.choices(i)] for i in range(sp.num_units)]
    assert toks[0] == TOKENS
    assert toks[1] == ["c3d", "r21d", "p3da", "p3db", "p3dc", "r1"]
    assert toks[2] == ["c3d"]
    assert toks[3] == TOKENS + ["rs"]
    assert sp.size() == 8 * 6 * 1 * 9
    for text, needle in [
        ("c3d-padd-c3d-c3d", "multiples of s=2; this unit sees 7x7"),
        ("rs-c3d-c3d-c3d", "has no reduce conv"),
        ("c3d-c3d-r21d-c3d", "kernel 1x3x3 has no spatial/temporal pair to split"),
        ("c3d-c3d-c3d-xyz", "bad token 'xyz'"),
        ("c3d-c3d-c3d", "has 3 tokens, the space has 4 units"),
    ]:
        with pytest.raises(ValueError) as e:
            sp.decode(text)
        assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)
    narrow = ConvSplitSpace(sp.units, strategies=["c3d", "padd"])
    with pytest.raises(ValueError, match="strategy r1 is not searched in this space"):
        narrow.decode("r1-c3d-c3d-c3d")


def test_space_round_trips_and_variation():
    sp = small_space()
    rebuilt = build_space(json.loads(json.dumps(sp.config())))
    assert rebuilt == sp
    rng = random.Random(0)
    seen = set()
    for _ in range(30):
        a = sp.sample(rng)
        seen.add(str(a))
        assert sp.decode(str(a)) == a and sp.from_json(sp.to_json(a)) == a
        m = sp.mutate(a, rng)
        assert sp.contains(m) and m != a
        b = sp.sample(rng)
        child = sp.crossover(a, b, rng)
        assert all(ci in (ai, bi) for ci, ai, bi in zip(child, a, b))
    assert len(seen) > 20
    assert sp.sample(5) == sp.sample(5)
    assert str(sp.default_arch()) == "c3d-c3d-c3d-rs"
    with pytest.raises(ValueError, match="unit 1 .*multiples of s=2"):
        sp.strategy_arch("pcat")
    with pytest.raises(ValueError, match="unknown conv split strategy"):
        ConvSplitChoice("conv4d")


# ---- host networks --------------------------------------------------------------------

def randomize_bn(model):
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def strategy_paths(unit):
    """Strategy tokens of the per-strategy paths a unit holds (SplitConv3d ``paths.<tok>``,
    R3D-RS ``middle.<tok>`` / ``expand_bn.<tok>``)."""
    tokens = set()
    for key in unit.state_dict():
        parts = key.split(".")
        if "paths" in parts:
            tokens.add(parts[parts.index("paths") + 1])
        elif parts[0] in ("middle", "expand_bn"):
            tokens.add(parts[1])
    return tokens


@pytest.mark.parametrize("name", ["eco-nano", "r3d-rs-nano"])
def test_export_equals_supernet_and_keeps_only_the_chosen_paths(name):
    torch.manual_seed(0)
    sup = build_model(name)
    with torch.no_grad():
        randomize_bn(sup)
    sup.eval()
    x = torch.randn(2, 3, *sup.spec["input_size"])
    archs = [sup.space.sample(s) for s in range(2)] + [sup.space.default_arch()]
    for arch in archs:
        sup.set_arch(arch)
        with torch.no_grad():
            y_sup = sup(x)
            fixed = sup.export(arch)
            y_fix = fixed(x)
        torch.testing.assert_close(y_fix, y_sup, rtol=1e-4, atol=1e-5)
        assert param_count(fixed) == param_count(build_model(name, arch=arch)) < param_count(sup)
        for i, choice in enumerate(arch):
            assert strategy_paths(fixed.unit(i)) == {choice.token}, i
            assert len(strategy_paths(sup.unit(i))) == len(sup.space.choices(i)) > 1


def test_unit_flops_depend_only_on_their_own_choice():
    sup = build_model("r3d-rs-nano")
    size = tuple(sup.spec["input_size"])
    a = sup.space.decode("padd-rs-r1")
    b = sup.space.decode("padd-c3d-pcat")
    ca, cb = model_cost(sup.export(a), size), model_cost(sup.export(b), size)
    first = sup.unit_module_name(0)
    assert ca.by_module[first] == cb.by_module[first] > 0
    assert ca.by_module[sup.unit_module_name(1)] != cb.by_module[sup.unit_module_name(1)]


def test_nano_hosts_exclude_proposed_where_the_map_is_odd():
    sup = build_model("eco-nano", (8, 40, 40))                 # 2D-Net -> 5 x 5 maps
    toks = [[c.token for c in sup.space.choices(i)] for i in range(sup.space.num_units)]
    assert "padd" in toks[1] and "padd" not in toks[2] and "pcat" not in toks[4]
    arch = sup.space.sample(1)
    sup.set_arch(arch)
    assert sup.eval()(torch.randn(1, 3, 8, 40, 40)).shape == (1, 10)


def meta_params(name, arch_of):
    with torch.device("meta"):
        sup = build_model(name)
        return param_count(build_model(name, arch=arch_of(sup.space)))


def test_r3d_rs_parameters_match_table_3():
    # Table 3 (Kinetics-400): 48.2M / 85.1M / 114.9M / 121.6M; ours with 400 classes.
    for depth, paper in [("50", 48.2), ("101", 85.1), ("152", 114.9), ("200", 121.6)]:
        ours = meta_params(f"r3d-rs-{depth}", lambda sp: sp.default_arch()) / 1e6
        assert abs(ours - paper) / paper < (0.05 if depth == "50" else 0.01), (depth, ours)


def test_eco_lite_parameters_follow_table_2():
    counts = {tok: meta_params("eco-lite", lambda sp, t=tok: sp.strategy_arch(t)) / 1e6 for tok in TOKENS}
    assert abs(counts["c3d"] - 33.7) / 33.7 < 0.02 and abs(counts["padd"] - 16.3) / 16.3 < 0.05
    assert abs(counts["r21d"] - counts["c3d"]) / counts["c3d"] < 1e-3          # Conv3D = R(2+1)D
    assert counts["c3d"] > counts["pcat"] > counts["p3dc"] == counts["p3da"] > counts["padd"] > counts["r1"]
    # P3D-B: Table II has it above P3D-A/C; by definition it is the same as A/C where C = S
    # and smaller where C < S (its temporal conv is C -> S, theirs S -> S): see docs/spaces/conv3d-split.md.
    assert counts["padd"] * 0.95 < counts["p3db"] < counts["p3da"]


def test_nas_flops_cli_for_both_hosts(capsys):
    for name, arch in [("eco-nano", "c3d-r21d-p3da-p3db-padd-pcat"), ("r3d-rs-nano", "rs-p3dc-r1")]:
        assert main(["flops", "--model", name, "--arch", arch, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["arch"] == arch and out["flops"] > 0
        assert sum(v["flops"] for v in out["stages"].values()) == out["flops"]
    assert main(["flops", "--model", "eco-nano", "--arch", "rs-c3d-c3d-c3d-c3d-c3d"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no reduce conv" in err


@pytest.mark.parametrize("name,size", [("eco-lite", (2, 64, 64)), ("r3d-rs-50", (4, 32, 32))])
def test_full_size_hosts_run_on_a_tiny_clip(name, size):
    with torch.device("meta"):                 # the supernet only for its space
        space = build_model(name, size).space
    net = build_model(name, size, arch=space.sample(0)).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, *size)).shape == (1, 400)
