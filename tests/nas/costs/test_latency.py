"""The latency lookup table: its schema, its sum, its refusals, and `nas search --cost latency
--latency-table` summing it exactly."""
import json

import pytest
import torch

from nas.cli import main
from nas.costs.latency import LUT_FORMAT, LatencyTable, build_latency_table, choice_sweep, median_ms
from nas.search import InMemoryEvaluatorFactory, SearchConfig, build_cost_table, run_search
from supernet.registry import build_model
from supernet.training.checkpoint import save_checkpoint

NAME, SIZE = "r3d-rs-nano", (8, 32, 32)
STRATS = ("c3d", "r21d", "padd", "rs")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(NAME, SIZE, 10, strategies=STRATS)


@pytest.fixture(scope="module")
def lut(model, tmp_path_factory):
    """A table written by `nas latency-table` from a checkpoint's model spec."""
    folder = tmp_path_factory.mktemp("lut")
    save_checkpoint(folder / "s.pt", model=model, kind="supernet", step=0, epoch=0)
    path = folder / "lut.json"
    assert main(["latency-table", "--checkpoint", str(folder / "s.pt"), "--out", str(path), "--threads", "1",
                 "--min-run-time", "0.005", "--repeats", "2", "--clock", "cpu", "--no-progress"]) == 0
    return path


def test_schema_and_every_entry(lut, model):
    data = json.loads(lut.read_text())
    assert data["format"] == LUT_FORMAT and data["model"] == NAME
    assert (data["input"], data["batch"], data["device"], data["threads"], data["runtime"]) == \
           (list(SIZE), 1, "cpu", 1, "torch")
    assert data["model_spec"]["kwargs"]["strategies"] == list(STRATS)
    meta = data["meta"]
    assert meta["versions"]["torch"] == torch.__version__ and meta["repeats"] == 2 and meta["clock"] == "cpu"
    assert {"cpu", "cores"} <= set(meta["machine"]) and meta["seconds"] > 0
    # fixed parts: stem, the two fixed bottlenecks (C2, C3), head; every choice of every unit
    assert list(data["fixed_ms"]) == ["stem", "layers.0", "layers.1", "head"]
    assert [sorted(u) for u in data["unit_ms"]] == \
           [sorted(c.token for c in model.space.choices(i)) for i in range(model.space.num_units)]
    assert all(v > 0 for u in data["unit_ms"] for v in u.values()) and all(v > 0 for v in data["fixed_ms"].values())
    table = LatencyTable.load(lut)
    assert table.to_dict() == data                                       # save / load round trip


def test_the_sum_is_fixed_plus_units(lut, model):
    table = LatencyTable.load(lut)
    for seed in range(5):
        arch = model.space.sample(seed)
        by_hand = sum(table.fixed_ms.values()) + sum(table.unit_ms[i][c.token] for i, c in enumerate(arch))
        assert table.ms(arch) == pytest.approx(by_hand, rel=1e-12)
    arch = model.space.sample(0)
    mean_last = sum(table.unit_ms[2].values()) / len(table.unit_ms[2])
    assert table.ms(arch, decided=2) == pytest.approx(table.ms(arch) - table.unit_ms[2][arch[2].token] + mean_last)
    assert len(choice_sweep(model.space)) == max(len(model.space.choices(i)) for i in range(3))


def test_a_table_for_another_model_input_batch_or_device_is_refused(lut, model):
    table = LatencyTable.load(lut)
    table.check(model.spec, SIZE, 1, "cpu")                            # its own: fine
    other_kwargs = build_model(NAME, SIZE, 10).spec                    # all strategies
    cases = [
        (dict(model_spec=build_model("eco-nano", SIZE, 10).spec, input_size=SIZE), "made for model r3d-rs-nano, not eco-nano"),
        (dict(model_spec=model.spec, input_size=(8, 64, 64)), "made for input 8x32x32, not 8x64x64"),
        (dict(model_spec=model.spec, input_size=SIZE, batch=4), "made for batch 1, not 4"),
        (dict(model_spec=model.spec, input_size=SIZE, device="cuda"), "made on device cpu, not cuda"),
        (dict(model_spec=other_kwargs, input_size=SIZE), "another configuration of r3d-rs-nano (kwargs.strategies"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(ValueError) as e:
            table.check(**kwargs)
        assert needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError, match="not a latency table"):
        LatencyTable.from_dict({"format": "something else"})


def val_batches(seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(2, 3, *SIZE, generator=g), torch.randint(0, 10, (2,), generator=g))]


def test_search_with_the_table_sums_it(lut, model, tmp_path):
    factory = InMemoryEvaluatorFactory.from_model(model, val_batches())
    table = LatencyTable.load(lut)
    costs = build_cost_table(model, SIZE)
    res = run_search(SearchConfig("random", {"budget": 4, "batch": 2}, cost="latency", latency_table=str(lut)),
                     factory, out=tmp_path / "s", cost_table=costs, progress=False, log=lambda s: None)
    assert set(res.table["cost_unit"]) == {"ms"} and len(res.table) == 4
    for row in res.table.itertuples():
        assert row.cost == pytest.approx(table.ms(model.space.parse(row.arch)), rel=1e-12)
        assert row.objective == pytest.approx(row.top1_pct - 5e-3 * row.cost)
    assert json.loads((tmp_path / "s" / "latency_table.json").read_text()) == table.to_dict()
    # greedy's partly random candidates get the expectation, like FLOPs
    res = run_search(SearchConfig("greedy", {"repeats": 1}, cost="latency", latency_table=str(lut)), factory,
                     cost_table=costs, progress=False, log=lambda s: None)
    first = res.table[res.table["arch"].str.contains(r"\*")].iloc[0]
    arch = model.space.parse(first.arch.replace("*", "c3d"))
    assert first.cost == pytest.approx(table.ms(arch, decided=first.arch.split("-").index("*")), rel=1e-12)


def test_search_cli_refuses_a_mismatched_table(lut, model, tmp_path, capsys):
    data = json.loads(lut.read_text())
    data["batch"] = 2
    other = tmp_path / "b2.json"
    other.write_text(json.dumps(data))
    data = {"dataset": "synthetic-temporal", "num_classes": 10, "num_frames": 8, "size": 32,
            "train_clips_per_class": 2, "val_clips_per_class": 2, "cache_dir": str(tmp_path / "cache")}
    save_checkpoint(tmp_path / "s.pt", model=model, kind="supernet", step=0, epoch=0, config={"data": data})
    for extra, needle in (([], "made for batch 2, not 1"),
                          (["--cost", "flops"], "pass --cost latency, not flops")):
        argv = ["search", "--checkpoint", str(tmp_path / "s.pt"), "--out", str(tmp_path / "o"), "--cost", "latency",
                "--latency-table", str(other), "--strategy", "random", "--budget", "1", "--no-progress", *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err


def test_bad_timing_arguments_are_one_line_errors(model):
    with pytest.raises(ValueError, match="needs 1 thread, not 2"):
        median_ms(lambda: None, threads=2, clock="cpu")
    for kwargs, needle in ((dict(runtime="tflite"), "unknown runtime 'tflite'"),
                           (dict(batch=0), "batch must be a positive int"),
                           (dict(runtime="onnxruntime", device="cuda"), "use --device cpu")):
        with pytest.raises(ValueError, match=needle):
            build_latency_table(model, SIZE, **kwargs)


@pytest.mark.slow
def test_onnxruntime_table(model):
    pytest.importorskip("onnxruntime")
    small = build_model(NAME, SIZE, 10, strategies=("c3d", "padd"))
    table = build_latency_table(small, SIZE, runtime="onnxruntime", min_run_time=0.01, clock="cpu")
    assert table.runtime == "onnxruntime" and [sorted(u) for u in table.unit_ms] == [["c3d", "padd"]] * 3
    assert all(v > 0 for u in table.unit_ms for v in u.values())


def test_a_table_made_from_the_model_name_fits_a_supernet_with_other_training_options(tmp_path, capsys):
    """`nas latency-table --model M` records M's spec without kwargs; a supernet pretrained from a
    config sets drop_path_rate and head_dropout, which do not change latency. The table is keyed
    on what does (`supernet.registry.cost_spec`): the search accepts it; another network is
    still refused."""
    from supernet.registry import cost_spec

    path = tmp_path / "lut.json"
    assert main(["latency-table", "--model", NAME, "--input", "x".join(map(str, SIZE)), "--out", str(path),
                 "--threads", "1", "--min-run-time", "0.002", "--repeats", "1", "--clock", "cpu",
                 "--no-progress"]) == 0
    table = LatencyTable.load(path)
    assert table.model_spec["kwargs"] == {}
    trained = build_model(NAME, SIZE, 10, drop_path_rate=0.0, head_dropout=0.0)
    assert cost_spec(trained.spec) == cost_spec(table.model_spec)
    table.check(trained.spec, SIZE, 1, "cpu")
    with pytest.raises(ValueError, match=r"another configuration of r3d-rs-nano \(kwargs.strategies"):
        table.check(build_model(NAME, SIZE, 10, strategies=STRATS, drop_path_rate=0.0).spec, SIZE, 1, "cpu")
    costs = build_cost_table(build_model(NAME, SIZE, 10), SIZE)
    assert costs.matches(trained.spec, SIZE) and not costs.matches(build_model(NAME, SIZE, 10, strategies=STRATS).spec, SIZE)
    data = {"dataset": "synthetic-temporal", "num_classes": 10, "num_frames": 8, "size": 32,
            "train_clips_per_class": 2, "val_clips_per_class": 2, "cache_dir": str(tmp_path / "cache")}
    save_checkpoint(tmp_path / "s.pt", model=trained, kind="supernet", step=0, epoch=0, config={"data": data})
    argv = ["search", "--checkpoint", str(tmp_path / "s.pt"), "--out", str(tmp_path / "o"), "--cost", "latency",
            "--latency-table", str(path), "--strategy", "random", "--budget", "1", "--val-size", "4", "--bn-recalib", "0",
            "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    assert "ms" in (tmp_path / "o" / "results.csv").read_text()
