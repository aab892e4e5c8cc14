"""`nas pretrain` end to end: resume after SIGKILL, DDP equality, configs, all three spaces."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from nas.cli import main
from nas.config import load_run_config
from nas.pretrain import run_pretrain
from supernet.training.checkpoint import load_checkpoint
from tests.support.pretrain import nas_cmd, subprocess_env, tiny_config


def final_state(out_dir):
    return load_checkpoint(Path(out_dir) / "supernet.pt")["model"]


def test_killed_run_resumes_to_bit_identical_weights(tmp_path):
    env = subprocess_env()
    full = tiny_config(tmp_path, "full")
    subprocess.run(nas_cmd("pretrain", "--config", str(full)), env=env, check=True, capture_output=True)
    part = tiny_config(tmp_path, "part")
    proc = subprocess.Popen(nas_cmd("pretrain", "--config", str(part)), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "part" / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and load_checkpoint(ckpt)["step"] >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(ckpt)["step"]
    assert 3 <= killed_at < 20, "the run should be killed mid-way (after a checkpoint, before the end)"
    assert not (tmp_path / "part" / "supernet.pt").exists()
    subprocess.run(nas_cmd("pretrain", "--config", str(part), "--resume"), env=env, check=True,
                   capture_output=True)
    a, b = final_state(tmp_path / "full"), final_state(tmp_path / "part")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows = (tmp_path / "part" / "metrics.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(1, 21))


def test_two_process_ddp_matches_one_process(tmp_path):
    env = subprocess_env()
    kw = dict(max_steps=3)
    one = tiny_config(tmp_path, "one", **kw)
    two = tiny_config(tmp_path, "two", **kw)
    for path in (one, two):                      # dropout masks would differ between layouts
        cfg = yaml.safe_load(path.read_text())
        cfg["model"]["kwargs"] = {"drop_path_rate": 0.0, "head_dropout": 0.0}
        path.write_text(yaml.safe_dump(cfg))
    subprocess.run(nas_cmd("pretrain", "--config", str(one)), env=env, check=True, capture_output=True)
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29533", "-m", "nas.cli", "pretrain", "--config", str(two)],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    a, b = final_state(tmp_path / "one"), final_state(tmp_path / "two")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-5, msg=k)
    assert load_checkpoint(tmp_path / "two" / "supernet.pt")["step"] == 3


def test_bad_configs_and_foreign_output_dirs_are_one_line_errors(tmp_path, capsys):
    path = tiny_config(tmp_path, "run", max_steps=1)
    assert main(["pretrain", "--config", str(path), "--set", "train.epohcs=3"]) == 2
    assert "unknown config key 'train.epohcs'" in capsys.readouterr().err
    assert main(["pretrain", "--config", str(path), "--set", "data.dataset=kinetics"]) == 2
    assert "kinetics" in capsys.readouterr().err
    assert main(["pretrain", "--config", str(path), "--set", "data.dataset=video-list",
                 "--set", "data.train_list=/nonexistent/train.csv"]) == 2
    assert "/nonexistent/train.csv" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()                      # nothing written for a bad run
    assert main(["pretrain", "--config", str(path), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["pretrain", "--config", str(path)]) == 0
    capsys.readouterr()
    before = (tmp_path / "run" / "checkpoints" / "last.pt").read_bytes()
    assert main(["pretrain", "--config", str(path)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["pretrain", "--config", str(path), "--resume", "--set", "optim.lr=0.5"]) == 2
    err = capsys.readouterr().err
    assert "different config (optim.lr" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "run" / "checkpoints" / "last.pt").read_bytes() == before
    # a run written before a schema key existed resumes (the key takes its default) ...
    stored = tmp_path / "run" / "config.yaml"
    old = yaml.safe_load(stored.read_text())
    assert old["data"].pop("decoder") == "pyav"
    stored.write_text(yaml.safe_dump(old))
    assert main(["pretrain", "--config", str(path), "--resume", "--set", "train.max_steps=2"]) == 0
    capsys.readouterr()
    # ... but a stored key the schema does not know is a one-line error, not a silent match
    old["data"]["decodr"] = "pyav"
    stored.write_text(yaml.safe_dump(old))
    assert main(["pretrain", "--config", str(path), "--resume", "--set", "train.max_steps=3"]) == 2
    err = capsys.readouterr().err
    assert "does not fit the current run config" in err and "decodr" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("model,sampler", [("mlp3d-nano", "fair"), ("morphmlp-nano", "uniform"),
                                           ("eco-nano", "uniform"), ("r3d-rs-nano", "uniform")])
def test_every_space_pretrains(tmp_path, model, sampler):
    path = tiny_config(tmp_path, model, model=model, max_steps=2, sampler=sampler)
    cfg = load_run_config(path)
    cfg.model.kwargs = {} if model.startswith(("eco", "r3d")) else cfg.model.kwargs
    if model == "r3d-rs-nano":
        cfg.data.size = 64
    result = run_pretrain(cfg)
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["step"] == 2 and ckpt["kind"] == "supernet" and ckpt["space"]["space"]
    assert (tmp_path / model / "config.yaml").exists() and (tmp_path / model / "metrics.csv").exists()


def test_unknown_model_option_is_a_one_line_error(capsys, tmp_path):
    path = tiny_config(tmp_path, "eco", model="eco-nano", max_steps=1)
    assert main(["pretrain", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "model eco-nano does not take the option 'drop_path_rate'" in err and "\n" not in err


def test_validation_passes_leave_the_run_bit_identical_and_resume_across_one(tmp_path, monkeypatch, capsys):
    """Issue 24: pretraining validates by default. A pass must not draw from the training RNG
    streams: the run stopped right after the pass of epoch 1, whose checkpoint (step 10) was
    written before it, resumes to the weights of an uninterrupted run and of a run without
    validation (drop_path 0.1 draws from the torch RNG every step)."""
    import nas.pretrain
    from supernet.training.loop import TrainingInterrupted

    torch.set_num_threads(1)
    real = nas.pretrain.eval_curve

    def drawing(stop: bool):
        """The real hook, plus a draw from the torch RNG (as a pass with random views would)
        and, with `stop`, Ctrl-C right after the first pass."""
        def factory(*args, **kw):
            hook = real(*args, **kw)
            if hook is None:                    # train.eval_every 0
                return None

            def wrapped(model, step):
                out = hook(model, step)
                torch.rand(3)
                if out and stop:
                    raise KeyboardInterrupt
                return out
            return wrapped
        return factory

    config = {name: tiny_config(tmp_path, name, checkpoint_every=5, eval_every=every)
              for name, every in (("plain", 0), ("full", 1), ("part", 1))}
    monkeypatch.setattr(nas.pretrain, "eval_curve", drawing(stop=False))
    for name in ("plain", "full"):
        run_pretrain(load_run_config(config[name]), progress=False)
    monkeypatch.setattr(nas.pretrain, "eval_curve", drawing(stop=True))
    with pytest.raises(TrainingInterrupted):
        run_pretrain(load_run_config(config["part"]), progress=False)
    assert load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")["step"] == 10
    monkeypatch.setattr(nas.pretrain, "eval_curve", drawing(stop=False))
    run_pretrain(load_run_config(config["part"]), resume=True, progress=False)
    plain, full, part = (final_state(tmp_path / n) for n in ("plain", "full", "part"))
    for k in plain:
        assert torch.equal(plain[k], full[k]) and torch.equal(full[k], part[k]), k
    import pandas as pd
    curves = [pd.read_csv(tmp_path / n / "eval_curve.csv") for n in ("full", "part")]
    assert list(curves[0]["step"]) == [10, 20] and curves[0].equals(curves[1])
    assert set(curves[0]["chance"]) == {10.0} and (curves[0]["val_top1_min"] <= curves[0]["val_top1_max"]).all()
    assert len(curves[0]["archs"][0].split()) == 3
    assert not (tmp_path / "plain" / "eval_curve.csv").exists()


def test_pretraining_validates_by_default_and_says_so(tmp_path, capsys):
    path = tiny_config(tmp_path, "run", max_steps=4)
    assert main(["pretrain", "--config", str(path), "--no-progress", "--set", "train.threads=1"]) == 0
    out = capsys.readouterr().out
    stored = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]
    assert (stored["eval_every"], stored["eval_clips"]) == (5, 256)       # the resolved defaults
    assert "validation every 5 epoch(s) and at the end: 3 fixed sampled architectures on 20 val clips" in out
    import pandas as pd
    curve = pd.read_csv(tmp_path / "run" / "eval_curve.csv")
    assert list(curve["step"]) == [4] and list(curve["clips"]) == [20]      # the last step is validated
    epoch_line = next(line for line in out.splitlines() if line.startswith("epoch 0"))
    assert f"val_top1 {curve['val_top1'][0]:.4f}" in epoch_line and "chance 10.0000" in epoch_line
    assert "warning: the supernet is at chance on validation" in out     # 4 steps: it is
    # a video list without a val list: one line naming the way out, nothing written
    (tmp_path / "train.txt").write_text("a.mp4 0\nb.mp4 1\n")
    assert main(["pretrain", "--config", str(path), "--set", f"output_dir={tmp_path / 'video'}",
                 "--set", "data.dataset=video-list", "--set", f"data.train_list={tmp_path / 'train.txt'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "error: data.val_list is empty; pretraining validates" in err and "train.eval_every=0" in err
    assert "\n" not in err and not (tmp_path / "video").exists()
