"""The generic search-space machinery, exercised on the MLP-3D GTM space."""
import collections
import json
import math

import pytest

from search_spaces import Arch, GTMChoice, GTMSpace, build_space


@pytest.fixture
def space():
    return GTMSpace((2, 2, 4, 2), time_tokens=16)


def test_allowed_group_sizes_are_divisors_up_to_smax():
    assert GTMSpace((1,), 16).group_sizes == (1, 2, 4, 8, 16)
    assert GTMSpace((1,), 16, max_group_size=4).group_sizes == (1, 2, 4)
    assert GTMSpace((1,), 12).group_sizes == (1, 2, 3, 4, 6, 12)
    assert GTMSpace((1,), 4).group_sizes == (1, 2, 4)
    toks = {c.token for c in GTMSpace((1,), 12).choices(0)}
    assert "sw3" not in toks and "sw6" in toks and "st3" in toks      # shift-window: even S only
    assert len(GTMSpace((1,), 16).choices(0)) == 5 * 3 + 4            # sw has no S = 1


def test_string_and_json_round_trip(space):
    for seed in range(50):
        a = space.sample(seed)
        s = space.encode(a)
        assert len(s.split("-")) == 10
        assert space.decode(s) == a and space.encode(space.decode(s)) == s
        assert space.from_json(space.to_json(a)) == a
        assert json.loads(space.to_json(a))["units"][3]["name"] == "s2.b1"
    assert str(space.decode("sr4-lr2-st8-sw4-sr1-sr1-sr1-sr1-sr16-st16")) == \
        "sr4-lr2-st8-sw4-sr1-sr1-sr1-sr1-sr16-st16"


@pytest.mark.parametrize("text,unit,bad", [
    ("xr4" + "-sr1" * 9, "unit 0 (s1.b0)", "'xr4'"),
    ("sr1-sr1-sr1-sr3" + "-sr1" * 6, "unit 3 (s2.b1)", "S=3 does not divide T'=16"),
    ("sr1" * 1 + "-sw2" * 8 + "-sw1", "unit 9 (s4.b1)", "even group size"),
    ("sr32" + "-sr1" * 9, "unit 0", "S=32"),
    ("sr4" + "-sr1" * 8, "9 tokens", "10 units"),
    ("sr4" + "-sr1" * 10, "11 tokens", "10 units"),
])
def test_bad_architectures_give_one_line_errors(space, text, unit, bad):
    with pytest.raises(ValueError) as e:
        space.decode(text)
    msg = str(e.value)
    assert "\n" not in msg and unit in msg and bad in msg
    if "tokens" not in unit:
        assert "allowed: sr1, sr2, sr4, sr8, sr16" in msg


def test_bad_json_is_rejected(space):
    a = space.sample(0)
    d = space.to_dict(a)
    d["units"][2]["gtm_type"] = "middle_range"
    with pytest.raises(ValueError, match="unit 2.*middle_range"):
        space.from_dict(d)
    d = space.to_dict(a)
    d["units"] = d["units"][:4]
    with pytest.raises(ValueError, match="4 units"):
        space.from_dict(d)
    with pytest.raises(ValueError, match="does not parse"):
        space.from_json("{not json")


def test_sampling_is_seeded_and_uniform(space):
    assert space.sample(3) == space.sample(3)
    assert space.sample(3) != space.sample(4)
    counts = collections.Counter(space.sample(s)[0] for s in range(3800))
    assert set(counts) == set(space.choices(0))
    expected = 3800 / 19
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 45          # 18 dof: p ~ 5e-4 for a uniform sampler


def test_mutation_changes_at_least_one_unit_and_stays_valid(space):
    parent = space.sample(0)
    for seed in range(100):
        child = space.mutate(parent, seed)
        space.validate(child)
        assert child != parent
    far = space.mutate(parent, 0, prob=1.0)
    assert all(a != b for a, b in zip(far, parent))


def test_crossover_takes_every_unit_from_a_parent(space):
    a, b = space.sample(1), space.sample(2)
    seen = set()
    for seed in range(40):
        c = space.crossover(a, b, seed)
        assert all(x in (y, z) for x, y, z in zip(c, a, b))
        seen.add(c)
    assert len(seen) > 10


def test_enumerate_matches_size():
    small = GTMSpace((1, 1), time_tokens=4)
    archs = list(small.enumerate())
    assert len(archs) == small.size() == 11 ** 2
    assert len(set(archs)) == len(archs)
    assert GTMSpace((2, 2, 4, 2), 16).size() == 19 ** 10


def test_named_variants_alternate_types(space):
    assert str(space.named_variant("2d")) == "-".join(["sr1"] * 10)
    assert str(space.named_variant("sr-lr", 4)).startswith("sr4-lr4-sr4-lr4")
    assert str(space.named_variant("MLP-3D-SR-SW", 8)).startswith("sr8-sw8-sr8")
    assert set(str(space.named_variant("st", 16)).split("-")) == {"st16"}
    with pytest.raises(ValueError, match="unknown variant 'sr-xx'"):
        space.named_variant("sr-xx", 4)
    with pytest.raises(ValueError, match="does not divide"):
        space.named_variant("sr", 3)


def test_canonical_merges_equal_functions(space):
    a = space.decode("lr1-st1-sr1-lr16-sr16-st2-sw2-lr2-sr4-st4")
    assert str(space.canonical(a)) == "sr1-sr1-sr1-sr16-sr16-st2-sw2-lr2-sr4-st4"


def test_space_config_rebuilds(space):
    again = build_space(space.config())
    assert again == space and again.size() == space.size()
    with pytest.raises(ValueError, match="unknown search space 'nope'"):
        build_space({"space": "nope"})


def test_arch_is_hashable_and_replace_does_not_mutate(space):
    a = space.sample(0)
    b = a.replace(0, GTMChoice("shift_token", 16))
    assert a != b and hash(a) != hash(b) and a[0] != b[0]
    assert isinstance(a, Arch) and math.prod([1]) == 1


def test_distinct_choices_are_exactly_the_choices_that_compute_different_functions():
    import torch

    from supernet.registry import build_model

    net = build_model("mlp3d-nano", (32, 16, 16), 4).eval()
    space = net.space
    assert len(space.choices(0)) == 15 and len(space.distinct_choices(0)) == 12
    assert space.num_functions() == 12 ** 8 and space.size() == 15 ** 8
    x = torch.randn(1, 3, 32, 16, 16)
    base = space.default_arch()
    outputs = {}
    with torch.no_grad():
        for c in space.choices(0):
            net.set_arch(base.replace(0, c))
            outputs[c.token] = net(x)
    groups: dict[str, set] = {}
    for c in space.choices(0):
        same = frozenset(t for t, y in outputs.items() if torch.allclose(y, outputs[c.token], atol=1e-6))
        groups[c.token] = same
        assert space.canonical(base.replace(0, c))[0].token in same
    assert len(set(groups.values())) == 12                      # numerically: 12 functions
    assert groups["sr1"] == {"sr1", "lr1", "st1"} and groups["sr8"] == {"sr8", "lr8"}
    small = build_model("mlp3d-nano", (16, 32, 32), 4).space
    assert len(small.distinct_choices(3)) == 8                  # T' = 4: 11 strings, 8 functions
