"""Distributed evaluation on Ray Tune gives the in-process results (local 2-CPU Ray)."""
import pandas as pd
import pytest
import torch

from nas.search import InMemoryEvaluatorFactory, SearchConfig, build_cost_table, run_search
from supernet.registry import build_model

pytest.importorskip("ray")


def search_on_ray_and_in_process(tmp_path, config):
    """The same search on a 2-worker local Ray Tune and in this process: (ray, local, backend)."""
    from nas.search.ray_eval import RayTuneBackend

    torch.manual_seed(0)
    model = build_model("mlp3d-nano", (16, 32, 32), 10, gtm_types=("short_range", "long_range"))
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(4, 3, 16, 32, 32, generator=g), torch.randint(0, 10, (4,), generator=g))
               for _ in range(2)]
    before = torch.get_num_threads()
    torch.set_num_threads(1)                            # as the 1-CPU workers do
    try:
        table = build_cost_table(model, (16, 32, 32))
        factory = InMemoryEvaluatorFactory.from_model(model, batches)
        quiet = dict(cost_table=table, progress=False, log=lambda s: None)
        backend = RayTuneBackend(factory, workers=2)
        on_ray = run_search(config, factory, out=tmp_path / "ray", backend=backend, **quiet)
        local = run_search(config, factory, out=tmp_path / "local", **quiet)
    finally:
        torch.set_num_threads(before)
    return on_ray, local, backend


def assert_same_search(on_ray, local, backend):
    """Same architecture and table (losses to 1e-5: 1-thread workers) as in process, and every
    worker built (loaded) its evaluator exactly once."""
    assert on_ray.arch == local.arch
    a, b = on_ray.table.drop(columns=["seconds"]), local.table.drop(columns=["seconds"])
    pd.testing.assert_frame_equal(a.drop(columns=["loss", "objective"]), b.drop(columns=["loss", "objective"]))
    assert (a["loss"] - b["loss"]).abs().max() < 1e-5
    assert (a["objective"] - b["objective"]).abs().max() < 1e-9
    assert backend.workers_seen and set(backend.workers_seen.values()) == {1}


def test_random_search_on_ray_tune_equals_in_process(ray_session, tmp_path):
    """The default run's Ray path: one round of 4 candidates on two workers."""
    cfg = SearchConfig("random", {"budget": 4, "batch": 4}, seed=3, alpha=50.0)
    on_ray, local, backend = search_on_ray_and_in_process(tmp_path, cfg)
    assert_same_search(on_ray, local, backend)
    assert len(on_ray.table) == 4


@pytest.mark.slow
def test_greedy_on_ray_tune_equals_in_process(ray_session, tmp_path):
    """Eight rounds of a greedy search (32 trials, the strategy waiting on each round); slow:
    95 s of the default run's 600 s on 2 cores, and 283 s beside two busy processes."""
    cfg = SearchConfig("greedy", {"repeats": 1}, seed=3, alpha=50.0)
    on_ray, local, backend = search_on_ray_and_in_process(tmp_path, cfg)
    assert_same_search(on_ray, local, backend)
    assert len(on_ray.table) == 8 * 4                   # 4 distinct functions per unit
