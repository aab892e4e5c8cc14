"""Grouped Time Mixing against a naive dense reference (MLP-3D Eq. 3-5, Fig. 3)."""
import itertools

import pytest
import torch

from supernet.ops import GTM, GroupedTimeMixing, grouped_time_mixing
from supernet.ops.gtm import gtm_param_count

TYPES = ["short_range", "long_range", "shift_window", "shift_token"]


def group_position(t: int, gtm_type: str, s: int, T: int) -> tuple[int, int]:
    """(group, position in group) of token t, straight from Fig. 3 / Algorithm 1."""
    if gtm_type == "short_range":
        return t // s, t % s
    if gtm_type == "long_range":                      # interval T/S between members
        g = T // s
        return t % g, t // g
    if gtm_type == "shift_window":                    # partition shifted by S/2, circular
        tr = (t + s // 2) % T
        return tr // s, tr % s
    raise AssertionError(gtm_type)


def dense_reference_matrix(block, gtm_type: str, s: int, T: int, C: int) -> torch.Tensor:
    """W of Eq. 3 (T·C x T·C, rows = input token, cols = output token), element by element.

    `block(a_pos, b_pos, dt)` returns the C x C matrix linking input member a_pos to output
    member b_pos (dt = b_pos - a_pos); for shift_token a_pos is 0 and dt the shift.
    """
    W = torch.zeros(T * C, T * C, dtype=torch.float64)
    for a, b in itertools.product(range(T), range(T)):
        if gtm_type == "shift_token":
            shift = (b - a) % T                       # y_b gets x_{b - shift}
            if shift >= s:
                continue
            blk = block(0, shift, shift)
        else:
            ga, pa = group_position(a, gtm_type, s, T)
            gb, pb = group_position(b, gtm_type, s, T)
            if ga != gb:
                continue
            blk = block(pa, pb, pb - pa)
        W[a * C:(a + 1) * C, b * C:(b + 1) * C] = blk
    return W


def reference_gtm(x, op: GroupedTimeMixing, gtm_type: str, s: int) -> torch.Tensor:
    B, T, H, Wd, C = x.shape
    m = op.max_group_size
    w = op.weight.detach().double()
    if op.shared:
        block = lambda pa, pb, dt: w[dt + m - 1]      # Eq. 5: W_S[i, j] = w_{j-i}
    else:
        block = lambda pa, pb, dt: w[pa, pb]          # Eq. 4: free blocks of W_S
    W = dense_reference_matrix(block, gtm_type, s, T, C)
    xhat = x.double().permute(0, 2, 3, 1, 4).reshape(B * H * Wd, T * C)   # X̂ in R^{HW x TC}
    y = (xhat @ W).reshape(B, H, Wd, T, C).permute(0, 3, 1, 2, 4)
    if op.bias is not None:
        y = y + op.bias.double()
    return y


def valid(gtm_type, s):
    return not (gtm_type == "shift_window" and s % 2)


@pytest.mark.parametrize("T", [8, 16])
@pytest.mark.parametrize("shared", [True, False])
def test_gtm_matches_dense_reference(T, shared):
    torch.manual_seed(0)
    C = 3
    op = GroupedTimeMixing(C, max_group_size=16, shared=shared, bias=True).double()
    with torch.no_grad():
        op.weight.normal_()
        op.bias.normal_()
    x = torch.randn(2, T, 2, 3, C, dtype=torch.float64)
    checked = 0
    for gtm_type, s in itertools.product(TYPES, [1, 2, 4, 8, 16]):
        if s > T or not valid(gtm_type, s):
            continue
        got = op(x, gtm_type, s)
        want = reference_gtm(x, op, gtm_type, s)
        assert got.shape == x.shape
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5,
                                   msg=f"{gtm_type} S={s} T={T} shared={shared}")
        checked += 1
    assert checked == (19 if T == 16 else 15)   # sw needs even S


def test_types_differ_and_reference_would_catch_a_wrong_offset():
    """The four types are different functions, and the reference is sharp: shifting the
    window partition by 1 instead of S/2 breaks equality (±S/2 give the same partition)."""
    torch.manual_seed(1)
    op = GroupedTimeMixing(2, max_group_size=4)
    x = torch.randn(1, 8, 1, 1, 2)
    outs = {t: op(x, t, 4) for t in TYPES}
    for a, b in itertools.combinations(TYPES, 2):
        assert not torch.allclose(outs[a], outs[b]), (a, b)
    w = op.used_weight("short_range", 4)
    minus = grouped_time_mixing(x.roll(-2, 1), w, None, "short_range", 4).roll(2, 1)
    torch.testing.assert_close(minus, outs["shift_window"])
    wrong = grouped_time_mixing(x.roll(1, 1), w, None, "short_range", 4).roll(-1, 1)
    assert not torch.allclose(wrong, outs["shift_window"])


def test_shared_parameter_count_is_independent_of_choice():
    C, m = 8, 16
    op = GroupedTimeMixing(C, max_group_size=m)
    n = sum(p.numel() for p in op.parameters())
    assert n == (2 * m - 1) * C * C
    x = torch.randn(1, 16, 2, 2, C)
    for gtm_type, s in [("short_range", 4), ("shift_token", 16), ("long_range", 2)]:
        op(x, gtm_type, s).sum().backward()
        assert sum(p.numel() for p in op.parameters()) == n
    assert sum(p.numel() for p in GroupedTimeMixing(C, m, bias=True).parameters()) == n + C


@pytest.mark.parametrize("shared", [True, False])
def test_gradients_reach_only_used_intervals(shared):
    C, m = 4, 8
    op = GroupedTimeMixing(C, max_group_size=m, shared=shared)
    x = torch.randn(2, 8, 2, 2, C)
    op(x, "short_range", 2).pow(2).sum().backward()
    g = op.weight.grad
    if shared:
        used = g.abs().flatten(1).sum(1) > 0
        assert used.nonzero().flatten().tolist() == [m - 2, m - 1, m]     # dt = -1, 0, 1
    else:
        used = g.abs().flatten(2).sum(2) > 0
        assert used.nonzero().tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


@pytest.mark.parametrize("gtm_type,s", [("short_range", 4), ("long_range", 2),
                                         ("shift_window", 4), ("shift_token", 4),
                                         ("shift_token", 1)])
@pytest.mark.parametrize("shared", [True, False])
def test_export_holds_only_used_weights_and_matches(gtm_type, s, shared):
    torch.manual_seed(2)
    C = 5
    op = GroupedTimeMixing(C, max_group_size=8, shared=shared, bias=True)
    fixed = op.export(gtm_type, s)
    assert isinstance(fixed, GTM)
    n_fixed = sum(p.numel() for p in fixed.parameters())
    assert n_fixed == gtm_param_count(C, gtm_type, s, shared) + C
    x = torch.randn(2, 8, 3, 2, C)
    torch.testing.assert_close(fixed(x), op(x, gtm_type, s))


def test_shared_equals_independent_with_toeplitz_blocks():
    """Filling W_{S_max}'s blocks from the interval matrices gives the same op (Eq. 5 ⊂ Eq. 4)."""
    torch.manual_seed(3)
    C, m = 3, 8
    shared = GroupedTimeMixing(C, m)
    free = GroupedTimeMixing(C, m, shared=False)
    with torch.no_grad():
        for i, j in itertools.product(range(m), range(m)):
            free.weight[i, j] = shared.weight[j - i + m - 1]
    x = torch.randn(1, 8, 2, 2, C)
    for t, s in itertools.product(TYPES, [1, 2, 4, 8]):
        if valid(t, s):
            torch.testing.assert_close(free(x, t, s), shared(x, t, s))


@pytest.mark.parametrize("args,match", [
    (("middle_range", 2), "unknown GTM type 'middle_range'"),
    (("short_range", 3), "S=3 does not divide T'=8"),
    (("shift_window", 1), "even group size"),
    (("short_range", 16), "does not divide|exceeds"),
])
def test_bad_choices_raise_one_line_errors(args, match):
    op = GroupedTimeMixing(2, max_group_size=8)
    with pytest.raises(ValueError, match=match) as e:
        op(torch.randn(1, 8, 1, 1, 2), *args)
    assert "\n" not in str(e.value)


def test_group_size_above_max_is_rejected():
    op = GroupedTimeMixing(2, max_group_size=4)
    with pytest.raises(ValueError, match="exceeds"):
        op(torch.randn(1, 8, 1, 1, 2), "short_range", 8)


def test_evaluation_cache_is_reused_and_invalidated_by_updates():
    torch.manual_seed(4)
    op = GroupedTimeMixing(3, max_group_size=4)
    x = torch.randn(1, 8, 2, 2, 3)
    with torch.no_grad():
        a = op(x, "long_range", 4)
        cached = op._matrix_cache[1]
        b = op(x, "short_range", 4)                      # same S: the same matrix object
        assert op._matrix_cache[1] is cached
        op.weight.add_(1.0)                              # an optimizer step changes the version
        c = op(x, "long_range", 4)
        assert op._matrix_cache[1] is not cached
    with torch.enable_grad():
        torch.testing.assert_close(op(x, "long_range", 4), c)
    assert not torch.allclose(a, c) and not torch.allclose(a, b)


def test_evaluating_in_inference_mode_then_training_works():
    """Index tensors cached during evaluation must not be inference tensors (autograd saves them)."""
    op = GroupedTimeMixing(3, max_group_size=4)
    x = torch.randn(1, 8, 2, 2, 3)
    with torch.inference_mode():
        op(x, "shift_window", 2)
    op(x.requires_grad_(), "shift_window", 2).sum().backward()
    assert op.weight.grad is not None
