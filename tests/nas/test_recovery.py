"""Recovery: batches made only of unreadable videos are skipped and counted, never fatal; an
epoch without a single readable clip ends the run with one line after saving its checkpoint;
resume removes the temporaries of killed writes; identical runs write identical bytes with the
user's umask."""
from pathlib import Path

import pytest
import torch
import yaml

from nas.config import load_run_config
from nas.data import ClipSampler
from nas.pretrain import run_pretrain
from nas.data.videogen import moving_frames, write_video
from supernet.training.checkpoint import load_checkpoint
from tests.support import ROOT

SEED, BATCH = 3, 4


def video_list(root: Path, good: int, bad: int, name: str) -> Path:
    """A list of `good` videos and `bad` corrupt/missing ones placed so that the first shuffled
    batch of epoch 0 (seed SEED, batch BATCH) holds only bad ones (when bad >= BATCH)."""
    n = good + bad
    order, _ = ClipSampler(n, True, SEED, 0).order()
    bad_slots = set(order[:bad])
    lines, g = [], 0
    for i in range(n):
        if i in bad_slots:
            path = root / f"bad{i}.mp4"
            if i % 2:
                path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 40)   # corrupt; even: missing
            lines.append(f"{path.name} {i % 2}")
        else:
            path = root / f"good{g}.mp4"
            if not path.exists():
                write_video(path, moving_frames(8, 32, 32, seed=g), fps=8, gop=4)
            lines.append(f"{path.name} {g % 2}")
            g += 1
    out = root / f"{name}.txt"
    out.write_text("\n".join(lines) + "\n")
    return out


def config(tmp_path, train_list, val_list, name):
    cfg = {"output_dir": str(tmp_path / name), "model": {"name": "mlp3d-nano"},
           "data": {"dataset": "video-list", "root": str(tmp_path), "train_list": str(train_list),
                    "val_list": str(val_list), "num_classes": 2, "num_frames": 8, "size": 32},
           "optim": {"lr": 1e-3, "base_batch_size": BATCH},
           "train": {"epochs": 1, "batch_size": BATCH, "seed": SEED, "checkpoint_every": 100,
                     "threads": 1}}
    return load_run_config(None, base=cfg)


def test_all_bad_first_batch_is_skipped_and_counted(tmp_path, capsys):
    train_list = video_list(tmp_path, 8, 4, "train")
    result = run_pretrain(config(tmp_path, train_list, train_list, "run"))
    assert result.step == 3                              # 12 clips / 4: every batch position
    assert result.last_epoch["clips"] == 8 and result.last_epoch["skipped"] == 4
    assert result.last_epoch["skipped_batches"] == 1
    captured = capsys.readouterr()
    assert "4 skipped (1 empty batches skipped)" in captured.out + captured.err
    ckpt = load_checkpoint(tmp_path / "run" / "supernet.pt")
    assert ckpt["step"] == 3
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_epoch_without_readable_clip_is_one_line_after_saving(tmp_path):
    train_list = video_list(tmp_path, 0, 8, "train")
    cfg = config(tmp_path, train_list, train_list, "run")
    cfg.train.eval_every = 0                  # (a validation pass would refuse the unreadable list up front)
    with pytest.raises(ValueError, match=r"^epoch 0 had no readable clip: all 8 clips of 2 batch") as e:
        run_pretrain(cfg)
    assert "\n" not in str(e.value)
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 2
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["seed"] == SEED


def test_evaluation_skips_and_counts_empty_batches(tmp_path):
    from nas.data import build_dataset, build_loader
    from nas.evaluate import evaluate_model
    from supernet.registry import build_model

    val_list = video_list(tmp_path, 8, 4, "val")
    cfg = config(tmp_path, val_list, val_list, "run")
    model = build_model("mlp3d-nano", cfg.input_size, 2)
    model.set_arch(model.space.default_arch())
    loader = build_loader(build_dataset(cfg.data, "val"), BATCH, shuffle=True, seed=SEED)
    res = evaluate_model(model, loader)
    assert (res["clips"], res["skipped"], res["skipped_batches"]) == (8, 4, 1)


def synthetic_config(tmp_path, name="run", **train):
    cfg = {"output_dir": str(tmp_path / name), "model": {"name": "mlp3d-nano"},
           "data": {"dataset": "synthetic-temporal", "num_frames": 16, "size": 32, "num_classes": 10,
                    "train_clips_per_class": 2, "val_clips_per_class": 1,
                    "cache_dir": str(tmp_path / "cache")},
           "optim": {"lr": 1e-3, "base_batch_size": 8},
           "train": {"epochs": 1, "batch_size": 8, "seed": 1, "threads": 1, "checkpoint_every": 1, **train}}
    return load_run_config(None, base=cfg)


def test_identical_runs_write_identical_checkpoint_bytes_and_follow_the_umask(tmp_path):
    """Python's `random` state is no longer saved (nothing in a step reads it), so two identical
    runs write the same bytes; outputs get the umask's mode, not mkstemp's 0600."""
    import os
    import random
    import stat

    old = os.umask(0o022)
    try:
        random.seed(1)
        run_pretrain(synthetic_config(tmp_path, max_steps=1))
        first = (tmp_path / "run" / "supernet.pt").read_bytes()
        mode = stat.S_IMODE((tmp_path / "run" / "supernet.pt").stat().st_mode)
        import shutil
        shutil.rmtree(tmp_path / "run")
        random.seed(2)                                   # a different global state changes nothing
        run_pretrain(synthetic_config(tmp_path, max_steps=1))
        assert (tmp_path / "run" / "supernet.pt").read_bytes() == first
        assert "python" not in load_checkpoint(tmp_path / "run" / "supernet.pt")["rng"]
    finally:
        os.umask(old)
    assert mode == 0o644
    for name in ("config.yaml", "metrics.csv", ".vidnas-run", "checkpoints/last.pt"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o644, name


def test_resume_removes_leftover_temporaries(tmp_path):
    """A write killed mid-way leaves `.NAME.*.tmp` files; resume deletes them (and only them)."""
    cfg = synthetic_config(tmp_path, max_steps=1)
    run_pretrain(cfg)
    run = tmp_path / "run"
    leftovers = [run / "checkpoints" / ".last.pt.abc123.tmp", run / ".results.csv.x1.tmp"]
    for p in leftovers:
        p.write_bytes(b"\0" * 1000)
    (run / "keep.tmp").write_text("not ours")
    cfg2 = synthetic_config(tmp_path, max_steps=2)
    run_pretrain(cfg2, resume=True)
    assert not any(p.exists() for p in leftovers)
    assert (run / "keep.tmp").exists()
    assert load_checkpoint(run / "supernet.pt")["step"] == 2


@pytest.mark.slow
def test_ddp_ranks_agree_on_skipping_and_keep_in_step(tmp_path):
    """torchrun, 2 processes, global batch 4: batch 0 is all bad (every rank skips it), batch 2
    is bad only in rank 0's slice (rank 0 runs a zero-weight pass so the gradient all-reduce
    stays in step). The run ends at step 3 with the clips of both ranks counted."""
    import subprocess
    import sys

    n = 12
    order, _ = ClipSampler(n, True, SEED, 0).order()
    bad = set(order[0:4]) | set(order[8:10])             # batch 0: all; batch 2: rank 0's half
    lines, g = [], 0
    for i in range(n):
        if i in bad:
            lines.append(f"missing{i}.mp4 0")
        else:
            path = tmp_path / f"good{g}.mp4"
            write_video(path, moving_frames(8, 32, 32, seed=g), fps=8, gop=4)
            lines.append(f"{path.name} {g % 2}")
            g += 1
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    cfg = config(tmp_path, tmp_path / "train.txt", tmp_path / "train.txt", "ddp").to_dict()
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(cfg))
    root = ROOT
    env = {k: v for k, v in __import__("os").environ.items() if k != "WORLD_SIZE"}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(root))
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29541", "-m", "nas.cli", "pretrain", "--config",
                          str(tmp_path / "ddp.yaml")], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "6 clips, 6 skipped (1 empty batches skipped)" in res.stdout + res.stderr, res.stdout[-600:]
    assert load_checkpoint(tmp_path / "ddp" / "supernet.pt")["step"] == 3
