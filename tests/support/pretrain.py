"""A tiny pretraining config and the `nas` command in a subprocess (tests/nas/test_pretrain.py,
tests/nas/test_tensorboard.py, tests/cli/test_demo.py, tests/cli/test_new_user.py)."""
import os
import sys

import yaml

from tests.support import ROOT


def tiny_config(tmp_path, name="run", model="mlp3d-nano", **train):
    cfg = {
        "output_dir": str(tmp_path / name),
        "model": {"name": model, "kwargs": {"drop_path_rate": 0.1}},
        "data": {"dataset": "synthetic-temporal", "num_frames": 16, "size": 32, "num_classes": 10,
                 "train_clips_per_class": 8, "val_clips_per_class": 2, "cache_dir": str(tmp_path / "cache")},
        "optim": {"lr": 1e-3, "base_batch_size": 8},
        "train": {"epochs": 2, "batch_size": 8, "checkpoint_every": 3, "seed": 1, **train},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def subprocess_env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("WORLD_SIZE", None)
    return env


def nas_cmd(*args):
    return [sys.executable, "-m", "nas.cli", *args]
