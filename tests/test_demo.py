"""`nas demo`: pretrain, greedy search and figures in one resumable command."""
import pandas as pd
import pytest
import yaml

import nas.demo
from nas.cli import main
from tests.test_pretrain import tiny_config


def test_demo_runs_the_pipeline_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(nas.demo, "demo_config_path", lambda space: tiny_config(tmp_path, max_steps=4))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    assert (out / "supernet" / "supernet.pt").exists() and (out / "supernet" / "metrics.csv").exists()
    results = pd.read_csv(out / "search" / "results.csv")
    assert yaml.safe_load((out / "demo_config.yaml").read_text()) == {"space": "mlp3d", "out": str(out),
                                                                      "val_size": 256}
    assert len(results) > 0 and (out / "search" / "best_arch.json").exists()
    for name in ("search_progress.png", "searched_arch.png"):
        assert (out / name).stat().st_size > 5_000
    captured = capsys.readouterr()
    assert "supernet training" not in captured.err          # --no-progress: no bar, pretraining included
    first = captured.out
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
