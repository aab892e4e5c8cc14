"""Generic tests over everything registered (models, their spaces), instead of hand-kept lists.

The worked plug-in (`experiments/plugins/elastic_mlp3d.py`) is imported first, so it is
covered like the built-in families. Full-size variants and heavy cost tables (more than 10
fvcore traces) are marked slow; `tests/nas/search/test_search.py` already checks the MLP-3D and
MorphMLP tables.
"""
from functools import lru_cache

import pytest
import torch

import experiments.plugins.elastic_mlp3d  # noqa: F401  (registers its models and space)
from nas.costs.unit_table import build_cost_table, full_trace_flops
from search_spaces import build_space, known_spaces
from supernet.registry import build_from_spec, build_model, list_models

pytestmark = pytest.mark.usefixtures("one_thread")

MODELS = [e.name for e in list_models()]
SEARCHABLE = [e.name for e in list_models() if e.searchable]
NANO = [e.name for e in list_models() if e.searchable and e.is_video and max(e.default_input[1:]) <= 64]
SMALL_INPUT = {e.name for e in list_models() if max(e.default_input[-2:]) <= 64}


def big_slow(names):
    """Full-size variants (224 x 224 and up) take seconds each even on the meta device: slow."""
    return [n if n in SMALL_INPUT else pytest.param(n, marks=pytest.mark.slow) for n in names]


@lru_cache(maxsize=None)
def meta_model(name):
    with torch.device("meta"):                       # big variants: structure only, no memory
        return build_model(name)


def traces(name) -> int:
    space = meta_model(name).space
    return max(len(space.choices(i)) for i in range(space.num_units))


def test_the_lists_cover_every_registered_space():
    spaces = {meta_model(n).space.name for n in NANO}             # every space has a nano model
    assert set(known_spaces()) <= spaces, set(known_spaces()) - spaces
    assert {"mlp3d-nano", "morphmlp-nano", "eco-nano", "elastic-mlp3d-nano"} <= set(NANO)


@pytest.mark.parametrize("name", big_slow(MODELS))
def test_every_model_builds_and_rebuilds_from_its_spec(name):
    model = meta_model(name)
    with torch.device("meta"):
        twin = build_from_spec(model.spec)
    assert type(twin) is type(model) and twin.spec == model.spec
    assert [k for k, _ in twin.state_dict().items()] == [k for k, _ in model.state_dict().items()]
    space = getattr(model, "space", None)
    if name in SEARCHABLE:
        assert space is not None and len(model.unit_layers) == space.num_units
        assert model.arch is None and space.contains(space.default_arch())
    else:
        assert space is None


@pytest.mark.parametrize("name", big_slow(SEARCHABLE))
def test_every_space_rebuilds_and_round_trips_architectures(name):
    space = meta_model(name).space
    assert build_space(space.config()) == space
    for seed in range(5):
        a = space.sample(seed)
        assert space.decode(space.encode(a)) == a
        assert space.from_json(space.to_json(a)) == a and space.parse(space.to_dict(a)) == a
        c = space.canonical(a)
        assert space.contains(c) and space.canonical(c) == c
    with pytest.raises(ValueError, match=space.name):
        space.decode(str(space.default_arch()) + "-" + space.default_arch()[0].token)   # one unit too many


@pytest.mark.parametrize("name", NANO)
@torch.no_grad()
def test_every_export_equals_its_supernet(name):
    torch.manual_seed(0)
    net = build_model(name).eval()
    x = torch.randn(2, 3, *net.spec["input_size"])
    for seed in (0, 1):
        arch = net.set_arch(net.space.sample(seed))
        fixed = net.export(arch).eval()
        assert fixed.is_fixed and fixed.arch == arch
        out = net(x)
        assert out.shape == (2, net.spec["num_classes"])
        torch.testing.assert_close(fixed(x), out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if traces(n) > 10 else n
                                  for n in NANO])
def test_every_cost_table_sum_equals_a_full_fvcore_count(name):
    net = build_model(name)
    size = tuple(net.spec["input_size"])
    table = build_cost_table(net, size)
    for seed in (3, 4):
        arch = net.space.sample(seed)
        assert (table.flops(arch), table.params(arch)) == full_trace_flops(net, arch, size)
