"""The GPU path: ``experiments/gpu_check.sh --cpu`` with the packages the GPU machines lack
blocked, ``train.compile``'s fallback, and out-of-memory reports (not bad input)."""
import os
import subprocess
import sys
import warnings

import pytest
import torch
import yaml
from torch import nn

from supernet.training.gpu import compile_or_eager
from tests.support import ROOT

BLOCKER = '''
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("av", "optuna", "ray", "fvcore"):
            raise ImportError(f"{name} is blocked (the GPU machines do not have it)")
        return None
sys.meta_path.insert(0, _Block())
'''


def test_gpu_check_cpu_passes_without_av_optuna_ray_fvcore(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)        # runs first in every python started
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHON=sys.executable,
               PYTHONPATH=str(tmp_path), VIDNAS_LOG_LEVEL="WARNING")
    probe = subprocess.run([sys.executable, "-c", "import av"], env=env, capture_output=True, text=True)
    assert "blocked" in probe.stderr                            # the blocker is active
    res = subprocess.run(["bash", str(ROOT / "experiments" / "gpu_check.sh"), "--cpu"], env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    table = res.stdout[res.stdout.index("vidnas GPU check"):]
    for check in ("bf16 vs fp32 step", "largest batch", "DDP step (gloo, 1 process)", "resume",
                  "loader vs step"):
        assert check in table
    assert "bit-exact" in table and "5/5 checks passed" in table
    assert "blocked" not in res.stderr


def test_compile_falls_back_to_eager_with_one_warning(monkeypatch):
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    x = torch.randn(2, 4)

    def broken(gm, example_inputs):
        raise RuntimeError("no C++ compiler here")

    wrapped = compile_or_eager(net, backend=broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y1, y2 = wrapped(x), wrapped(x)
    assert torch.equal(y1, net(x)) and torch.equal(y2, y1) and not wrapped.active
    lines = [str(w.message) for w in caught if "train.compile" in str(w.message)]
    assert len(lines) == 1 and "\n" not in lines[0] and "training continues uncompiled" in lines[0]

    def model_bug(*args):                                      # the model's own errors pass through
        raise ValueError("bad shape")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                         # and are no compile failure
        with pytest.raises(ValueError, match="bad shape"):
            compile_or_eager(model_bug, backend="eager")(x)

    def unavailable(*args, **kwargs):                          # e.g. a Python torch cannot trace
        raise RuntimeError("torch.compile is not supported on this Python")
    monkeypatch.setattr(torch, "compile", unavailable)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        eager = compile_or_eager(net)
    assert torch.equal(eager(x), net(x))



def test_cuda_out_of_memory_says_what_to_lower_and_is_not_bad_input(tmp_path, capsys, monkeypatch):
    import supernet.training.loop as loop
    from nas.cli import main

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(loop, "_forward_loss", oom)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({
        "output_dir": str(tmp_path / "out"), "model": {"name": "mlp3d-nano"},
        "data": {"num_frames": 8, "num_classes": 4, "train_clips_per_class": 2, "cache_dir": str(tmp_path / "c")},
        "train": {"batch_size": 4, "max_steps": 1}}))
    assert main(["pretrain", "--config", str(path), "--no-progress"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" not in err[0], err
    line = err[0]
    assert line.startswith("nas pretrain: out of memory: CUDA out of memory at step 0 with 4 clips of 8 frames at 32x32")
    for lower in ("train.batch_size", "data.num_frames", "data.size"):
        assert lower in line
    trace = tmp_path / "out" / "oom_traceback.txt"
    assert str(trace) in line and "Tried to allocate 2.00 GiB" in trace.read_text()
