"""Every cost answers one interface (`nas.costs.base.CostModel`): the FLOPs table, the latency
lookup table, live latency and memory are called the same way, in the objective's unit, and
the search uses whichever the run asks for through it."""
import pytest
import torch

from nas.costs.base import CostModel
from nas.costs.latency import LatencyTable
from nas.costs.measured import LatencyCost
from nas.costs.memory import MemoryCost, build_memory_table
from nas.costs.unit_table import FlopsCost, build_cost_table
from nas.search.engine import SearchContext
from nas.search.objective import COST_UNITS, Objective
from supernet.registry import build_model

SIZE = (8, 32, 32)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("mlp3d-nano", SIZE, 10)


@pytest.fixture(scope="module")
def cost_models(model):
    table = build_cost_table(model, SIZE)
    space = model.space
    units = [{c.token: 0.1 * (k + 1) for k, c in enumerate(space.choices(i))} for i in range(space.num_units)]
    lut = LatencyTable(model.spec, SIZE, 1, "cpu", 1, "eager", units, {"stem": 1.0, "head": 0.5})
    return table, {"flops": FlopsCost(table), "latency": lut,
                   "latency-live": LatencyCost(model, SIZE, min_run_time=0.001),
                   "memory": MemoryCost(model, SIZE, 1, "cpu", "inference", build_memory_table(model, SIZE))}


def test_every_cost_is_a_cost_model_in_its_kinds_unit(model, cost_models):
    table, models = cost_models
    arch = model.space.sample(__import__("random").Random(0))
    for name, cost in models.items():
        assert isinstance(cost, CostModel), name
        assert cost.unit == COST_UNITS[name.split("-")[0]]
        value = cost(arch)
        assert isinstance(value, float) and value > 0, name
    assert models["flops"](arch) == table.gflops(arch)
    assert models["flops"](arch, 3) == table.gflops(arch, 3)          # the expectation over random units
    assert models["latency"](arch) == pytest.approx(1.5 + sum(0.1 * (model.space.choices(i).index(c) + 1)
                                                              for i, c in enumerate(arch.choices)))


def test_the_search_context_takes_its_cost_from_the_model_and_refuses_another_unit(model, cost_models):
    table, models = cost_models
    arch = model.space.sample(__import__("random").Random(1))
    ctx = SearchContext(model.space, table, Objective(kind="latency"), None, None, "random", 0, cost=models["latency"])
    assert ctx.cost_of(arch) == (table.gflops(arch), table.params(arch) / 1e6, models["latency"](arch))
    plain = SearchContext(model.space, table, Objective(), None, None, "random", 0)        # flops by default
    assert plain.cost_of(arch)[2] == table.gflops(arch) and plain.cost.unit == "GFLOPs"
    with pytest.raises(RuntimeError, match="internal: a MB cost model for a ms objective"):
        SearchContext(model.space, table, Objective(kind="latency"), None, None, "random", 0, cost=models["memory"])
