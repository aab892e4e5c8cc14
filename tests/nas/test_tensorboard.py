"""`train.tensorboard: true` logs the training curves to OUT/tensorboard besides metrics.csv;
without the tensorboard package it is a one-line error when the config is read."""
from __future__ import annotations

import pandas as pd
import pytest

from nas.config import load_run_config
from supernet.training import config as train_config
from tests.support.pretrain import tiny_config


def test_tensorboard_without_the_package_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    from nas.cli import main

    monkeypatch.setattr(train_config, "tensorboard_available", lambda: False)
    path = tiny_config(tmp_path, tensorboard=True)
    with pytest.raises(ValueError, match=r"train.tensorboard: true needs the tensorboard package"):
        load_run_config(path)
    assert main(["pretrain", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.tensorboard" in err
    assert not (tmp_path / "run").exists()                  # refused before any output
    assert load_run_config(path, ["train.tensorboard=false"]).train.tensorboard is False


def test_tensorboard_logs_the_curves_of_metrics_csv(tmp_path):
    pytest.importorskip("torch.utils.tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from nas.pretrain import run_pretrain

    cfg = load_run_config(tiny_config(tmp_path, tensorboard=True, max_steps=4, epochs=1))
    run_pretrain(cfg)
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert {"train/loss", "train/acc", "train/lr"} <= set(events.Tags()["scalars"])
    loss = events.Scalars("train/loss")
    assert [e.step for e in loss] == list(metrics["step"])
    assert [round(e.value, 5) for e in loss] == [round(v, 5) for v in metrics["loss"]]
    assert [e.value for e in events.Scalars("train/lr")] == pytest.approx(list(metrics["lr"]), rel=1e-5)
