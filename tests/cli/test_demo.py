"""`nas demo`: pretrain, greedy search and figures in one resumable command."""
import pandas as pd
import pytest
import yaml

import nas.demo
from nas.cli import main
from tests.support.pretrain import tiny_config


def test_demo_runs_the_pipeline_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(nas.demo, "demo_config_path", lambda space: tiny_config(tmp_path, max_steps=4))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    assert (out / "supernet" / "supernet.pt").exists() and (out / "supernet" / "metrics.csv").exists()
    results = pd.read_csv(out / "search" / "results.csv")
    stored = yaml.safe_load((out / "demo_config.yaml").read_text())
    assert {k: stored[k] for k in ("space", "out", "val_size")} == {"space": "mlp3d", "out": str(out),
                                                                    "val_size": 256}
    assert len(results) > 0 and (out / "search" / "best_arch.json").exists()
    for name in ("search_progress.png", "searched_arch.png"):
        assert (out / name).stat().st_size > 5_000
    captured = capsys.readouterr()
    assert "supernet training" not in captured.err          # --no-progress: no bar, pretraining included
    first = captured.out
    assert "threads: " in first and "load average" in first        # the chosen thread count, printed
    best = first.split("demo done: best ")[1].split(";")[0]
    # a second run skips pretraining and re-evaluates nothing
    mtime = (out / "supernet" / "supernet.pt").stat().st_mtime_ns
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    assert (out / "supernet" / "supernet.pt").stat().st_mtime_ns == mtime
    assert len(pd.read_csv(out / "search" / "results.csv")) == len(results)
    assert f"demo done: best {best};" in capsys.readouterr().out


def test_demo_rejects_an_unknown_space():
    with pytest.raises(ValueError, match="unknown demo space 'resnet'; allowed: mlp3d, morphmlp"):
        nas.demo.demo_config_path("resnet")


def test_demo_threads_and_set_reach_pretraining_and_search(tmp_path, monkeypatch, capsys):
    """Issue 24 defect 1: `--set train.threads=1` was 'unknown config key'; `--threads` did not
    exist; the demo's pretraining config fixed 2 threads."""
    import torch

    monkeypatch.setattr(nas.demo, "demo_config_path", lambda space: tiny_config(tmp_path, max_steps=2))
    out = tmp_path / "demo"
    before = torch.get_num_threads()
    try:
        assert main(["demo", "--out", str(out), "--no-progress", "--set", "train.threads=1",
                     "--set", "train.max_steps=1", "--set", "search.seed=3",
                     "--set", "evaluation.batch_size=8", "--set", "val_size=16"]) == 0
    finally:
        torch.set_num_threads(before)
    stored = yaml.safe_load((out / "demo_config.yaml").read_text())
    assert stored["threads"] == 1 and stored["val_size"] == 16
    assert stored["pretrain_overrides"] == ["train.threads=1", "train.max_steps=1"]
    pretrain = yaml.safe_load((out / "supernet" / "config.yaml").read_text())
    assert pretrain["train"]["threads"] == 1 and pretrain["train"]["max_steps"] == 1
    search = yaml.safe_load((out / "search" / "search_config.yaml").read_text())
    assert search["search"]["seed"] == 3 and search["evaluation"]["batch_size"] == 8
    capsys.readouterr()
    assert main(["demo", "--out", str(tmp_path / "bad"), "--set", "tarin.threads=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown config key 'tarin'" in err and "train" in err
    assert not (tmp_path / "bad").exists()


def test_threads_are_chosen_from_the_cores_and_the_load():
    from nas.utils import choose_threads

    assert choose_threads(cores=2, load=0.1)[0] == 2
    assert choose_threads(cores=2, load=1.2)[0] == 1
    threads, why = choose_threads(cores=4, load=9.0)
    assert threads == 1 and "4 cores" in why and "load average 9.0" in why
