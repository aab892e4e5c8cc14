"""Few-shot supernets (`search_spaces.split`, `nas.fewshot`): the split, the restricted sampler,
bit-exact resume of an interrupted few-shot pretrain, search / correlate on its folder, and
the bad-input errors."""
import json
import random
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

import supernet.training.loop as loop
from nas.cli import main
from nas.config import load_run_config
from nas.fewshot import load_fewshot
from nas.pretrain import run_pretrain
from nas.search.evaluator import EvalRequest
from nas.search.recipes import CheckpointEvaluatorFactory, supernet_factory
from search_spaces.split import MAX_PARTS, SpaceSplit
from supernet.registry import build_model
from supernet.training.checkpoint import load_checkpoint
from supernet.training.sampler import ArchSampler

pytestmark = pytest.mark.usefixtures("one_thread")

SMALLEST = ("mlp3d-nano", "morphmlp-nano", "eco-nano", "r3d-rs-nano")   # one model per family


def space_of(name):
    return build_model(name).space


@pytest.mark.parametrize("name", SMALLEST)
def test_every_arch_falls_in_exactly_one_part_and_equivalents_share_it(name):
    space = space_of(name)
    split = SpaceSplit(space, 1)
    parts = [split.part_space(p) for p in range(split.num_parts)]
    assert split.num_parts == len(space.distinct_choices(0))
    rng = random.Random(0)
    for _ in range(300):
        a = space.sample(rng)
        holders = [p for p, sub in enumerate(parts) if sub.contains(a)]
        assert holders == [split.part_of(a)]
        assert split.part_of(space.canonical(a)) == holders[0]
    assert sum(sub.size() for sub in parts) == space.size()


def test_exhaustive_split_of_a_small_space_on_two_units():
    space = space_of("r3d-rs-nano")                     # 3 units x 9 choices: 729 architectures
    split = SpaceSplit(space, 2)
    assert split.num_parts == 81
    counts = [0] * split.num_parts
    for a in space.enumerate():
        counts[split.part_of(a)] += 1
    assert counts == [split.part_space(p).size() for p in range(split.num_parts)] == [9] * 81


def test_split_on_a_field_gives_mlp3d_its_four_gtm_types():
    space = space_of("mlp3d-nano")
    split = SpaceSplit(space, 1, "gtm_type")
    assert [split.label(p) for p in range(4)] == ["short_range", "long_range", "shift_window", "shift_token"]
    lr8 = space.parse("lr8-" + "-".join(["sr1"] * 7)) if "lr8" in [c.token for c in space.choices(0)] else None
    if lr8 is not None:                                  # LR at S = T' is SR: the short-range part
        assert split.part_of(lr8) == 0
    assert split.part_of(space.parse("-".join(["lr1"] * space.num_units))) == 0   # S = 1: no mixing


@pytest.mark.parametrize("kind", ["uniform", "fair"])
def test_the_restricted_sampler_never_leaves_its_part(kind):
    space = space_of("mlp3d-nano")
    split = SpaceSplit(space, 2, "gtm_type")
    for p in range(split.num_parts):
        sampler = ArchSampler(split.part_space(p), kind, seed=3)
        seen = set()
        for step in range(40):
            for a in sampler.archs_for_step(step):
                assert split.part_of(a) == p
                seen.add(a[2])
        assert len(seen) > 1                             # the units after the split still vary


@pytest.mark.parametrize("units, field, needle", [
    (0, None, "out of range; allowed: an integer in 1..8"),
    (9, None, "out of range; allowed: an integer in 1..8"),
    (True, None, "out of range"),
    (1, "colour", "'colour' is not a field"),
    (3, None, f"sub-supernets; allowed: at most {MAX_PARTS}"),
])
def test_bad_splits_are_one_line_errors(units, field, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")) as e:
        SpaceSplit(space_of("mlp3d-nano"), units, field)
    assert "\n" not in str(e.value)


def test_a_unit_without_a_choice_to_split_on_is_refused():
    space = space_of("mlp3d-nano")
    sub = SpaceSplit(space, 1, "gtm_type").part_space(1)      # unit 0: long-range only
    with pytest.raises(ValueError, match="nothing to split"):
        SpaceSplit(sub, 1, "gtm_type")


# ---- pretraining, resume, search and correlate ------------------------------------------------
def write_config(tmp_path, name, **extra):
    cfg = {"output_dir": str(tmp_path / name),
           "model": {"name": "mlp3d-nano", "kwargs": {"drop_path_rate": 0.1}},
           "data": {"dataset": "synthetic-temporal", "num_frames": 16, "size": 32, "num_classes": 10,
                    "train_clips_per_class": 4, "val_clips_per_class": 2, "cache_dir": str(tmp_path / "cache")},
           "optim": {"lr": 1e-3, "base_batch_size": 8},
           "train": {"epochs": 1, "batch_size": 8, "checkpoint_every": 2, "seed": 1, "max_steps": 2}, **extra}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def one_shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("fewshot")
    run_pretrain(load_run_config(write_config(root, "oneshot")))
    return root, root / "oneshot" / "supernet.pt"


def fewshot_config(root, name, init, steps=4, **few):
    return write_config(root, name, few_shot={"split_units": 1, "split_field": "gtm_type", "steps": steps,
                                              "init_from": str(init), **few})


@pytest.fixture(scope="module")
def fewshot_run(one_shot):
    root, init = one_shot
    run_pretrain(load_run_config(fewshot_config(root, "full", init)))
    return root / "full"


def part_weights(folder):
    return [load_checkpoint(c)["model"] for c in load_fewshot(folder)[2]]


def test_fewshot_pretrain_writes_one_folder_with_its_compute(fewshot_run, one_shot):
    manifest, split, ckpts = load_fewshot(fewshot_run)
    assert split.num_parts == 4 and len(ckpts) == 4
    c = manifest["compute"]
    assert (c["one_shot_steps"], c["few_shot_steps"], c["parts_done"]) == (2, 16, 4)
    assert c["few_shot_cpu_seconds"] > 0
    one = load_checkpoint(one_shot[1])["model"]
    for p, state in enumerate(part_weights(fewshot_run)):
        assert load_checkpoint(ckpts[p])["step"] == 4
        assert any(not torch.equal(state[k], one[k]) for k in one)       # fine-tuned from it
    first = part_weights(fewshot_run)
    assert any(not torch.equal(first[0][k], first[1][k]) for k in first[0])   # parts differ


def test_interrupted_fewshot_pretrain_resumes_to_bit_identical_weights(fewshot_run, one_shot, monkeypatch):
    root, init = one_shot
    path = fewshot_config(root, "part", init)
    real, calls = loop._forward_loss, [0]

    def stop_in_part_two(*args, **kwargs):           # part 0: 4 steps; part 1 stops after step 3
        calls[0] += 1
        if calls[0] == 4 + 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "_forward_loss", stop_in_part_two)
    with pytest.raises(loop.TrainingInterrupted):
        run_pretrain(load_run_config(path))
    monkeypatch.setattr(loop, "_forward_loss", real)
    assert load_checkpoint(root / "part" / "parts" / "01" / "checkpoints" / "last.pt")["step"] == 2
    assert not (root / "part" / "parts" / "01" / "supernet.pt").exists()
    assert main(["pretrain", "--config", str(path)]) == 2          # started: needs --resume
    run_pretrain(load_run_config(path), resume=True)
    for a, b in zip(part_weights(fewshot_run), part_weights(root / "part")):
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), k
    rows = (root / "part" / "parts" / "01" / "metrics.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2, 3, 4]


def test_each_estimate_comes_from_the_sub_supernet_holding_the_arch(fewshot_run):
    few = supernet_factory(fewshot_run, 8, 4, 0, 0).build()
    _, split, ckpts = load_fewshot(fewshot_run)
    own = [CheckpointEvaluatorFactory(c, 8, 4, 0, 0).build() for c in ckpts]
    space = split.space
    rng = random.Random(1)
    for _ in range(6):
        a = str(space.sample(rng))
        got = few.evaluate(EvalRequest(a))
        want = own[split.part_of(space.parse(a))].evaluate(EvalRequest(a))
        assert (got.correct, got.loss, got.hits) == (want.correct, want.loss, want.hits)


def test_a_request_with_random_split_units_scores_each_batch_on_its_own_part(fewshot_run):
    few = supernet_factory(fewshot_run, 8, 2, 0, 0).build()       # 4 batches of 2 clips
    _, split, ckpts = load_fewshot(fewshot_run)
    own = [CheckpointEvaluatorFactory(c, 8, 2, 0, 0).build() for c in ckpts]
    arch = "-".join(["sr2"] * split.space.num_units)
    for seed in range(40):                           # a draw whose batches fall in 2+ parts
        drawn = few.parts[0].batch_archs(split.space.parse(arch), 0, seed)
        if len({split.part_of(a) for a in drawn}) > 1:
            break
    else:
        pytest.fail("no draw spans two parts")
    got = few.evaluate(EvalRequest(arch, decided=0, draw_seed=seed))
    correct = total = 0
    for b, a in enumerate(drawn):                    # naive: batch b, fixed arch, its own part
        y = own[0].val[b][1]
        model = own[split.part_of(a)].model
        model.set_arch(a)
        with torch.no_grad():
            correct += int((model(own[0].val[b][0]).argmax(1) == y).sum())
        total += len(y)
    assert (got.correct, got.total) == (correct, total) == (got.correct, 8)


@pytest.mark.slow          # suite time; the few-shot evaluator and its parts stay in the default run
def test_search_and_correlate_take_the_fewshot_folder(fewshot_run, tmp_path):
    out = tmp_path / "search"
    assert main(["search", "--checkpoint", str(fewshot_run), "--out", str(out), "--strategy", "random",
                 "--set", "params.budget=4", "--val-size", "8", "--batch-size", "4", "--threads", "1",
                 "--no-progress"]) == 0
    results = pd.read_csv(out / "results.csv")
    assert len(results) >= 4
    assert yaml.safe_load((out / "search_config.yaml").read_text())["evaluation"]["source"] == "few-shot"
    corr = tmp_path / "corr"
    archs = list(results["arch"][:3])
    assert main(["correlate", "--checkpoint", str(fewshot_run / "fewshot.json"), "--out", str(corr),
                 "--archs", *archs, "--val-size", "8", "--estimates-only", "--no-progress"]) == 0
    frame = pd.read_csv(corr / "correlation.csv").set_index("arch")
    few = supernet_factory(fewshot_run, 8, 32, 0, 0).build()
    for a in archs:
        assert frame.loc[a, "estimated_acc"] == pytest.approx(few.evaluate(EvalRequest(a)).top1)


def test_bad_fewshot_configs_are_one_line_errors_before_any_output(one_shot, fewshot_run, tmp_path, capsys):
    root, init = one_shot
    cases = [
        ({"split_units": 9}, "out of range; allowed: an integer in 1..8"),
        ({"split_units": -1}, "few_shot.split_units=-1 is not allowed"),
        ({"steps": 0}, "few_shot.steps=0 is not allowed"),
        ({"init_from": None}, "few_shot.init_from is missing"),
        ({"init_from": str(tmp_path / "nope.pt")}, "nope.pt"),
        ({"init_from": str(fewshot_run / "fewshot.json")}, "fewshot.json"),
        ({"split_field": "colour"}, "'colour' is not a field"),
    ]
    for few, needle in cases:
        path = fewshot_config(tmp_path, "bad", init, **few)
        assert main(["pretrain", "--config", str(path)]) == 2, few
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, (few, err)
        assert not (tmp_path / "bad").exists()
    centred = write_config(tmp_path, "bad", options={"center_init_from": str(init)},
                           few_shot={"split_units": 1, "steps": 2, "init_from": str(init)})
    assert main(["pretrain", "--config", str(centred)]) == 2
    assert "options.center_init_from sets a network's starting weights" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    other = write_config(tmp_path, "other", few_shot={"split_units": 1, "steps": 2, "init_from": str(init)})
    cfg = yaml.safe_load(other.read_text())
    cfg["data"]["num_frames"] = 8                          # another input size than the one-shot run
    other.write_text(yaml.safe_dump(cfg))
    assert main(["pretrain", "--config", str(other)]) == 2
    assert "another spec" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    manifest = yaml.safe_load((fewshot_run / "fewshot.json").read_text())
    manifest["parts"][2]["done"] = False
    (unfinished / "fewshot.json").write_text(json.dumps(manifest))
    assert main(["search", "--checkpoint", str(unfinished), "--out", str(tmp_path / "s")]) == 2
    assert "not trained yet" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    assert Path(init).is_file()


def test_sandwich_bounds_of_a_part_are_the_parts_own_extremes():
    """`build_sampler` over a part's space: the largest and smallest paths stay in the part."""
    from nas.config import load_run_config as load
    from nas.pretrain import build_sampler

    model = build_model("mlp3d-nano", (8, 32, 32), 10)
    cfg = load(None, base={"model": {"name": "mlp3d-nano"}, "train": {"sampler": "sandwich"},
                           "data": {"num_frames": 8, "size": 32, "num_classes": 10}})
    split = SpaceSplit(model.space, 1, "gtm_type")
    whole = build_sampler(cfg, model)
    for p in range(split.num_parts):
        s = build_sampler(cfg, model, split.part_space(p))
        for step in range(5):
            assert {split.part_of(a) for a in s.archs_for_step(step)} == {p}
        assert s.largest[1:] == whole.largest[1:] and s.smallest[1:] == whole.smallest[1:]
