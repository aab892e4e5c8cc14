"""Zero-cost proxies (`nas.proxies`, `nas proxies`): hand-computed values on tiny networks,
determinism, the degenerate flag, the bad-input errors, plug-ins, and every registered model
family."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas.cli import main
from nas.proxies import PROXIES, ProxyContext, register_proxy
from nas.proxies.naswot import naswot_kernel
from nas.proxies.run import (DEGENERATE_SPREAD, ProxyRun, relative_spread, resolve_proxies,
                             score_archs, seeded_supernet, write_proxies)
from nas.proxies.st_entropy import kernel_alpha
from tests.support import ROOT

pytestmark = pytest.mark.usefixtures("one_thread")


def ctx_for(net: nn.Module, sample_shape=None, batch=None, input_size=(1,)) -> ProxyContext:
    return ProxyContext(None, None, input_size, lambda: net, batch=batch, sample_shape=sample_shape)


# ---- hand-computed values ----------------------------------------------------------------
def test_synflow_of_a_two_layer_linear_network_by_hand():
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.5]]))
        net[1].weight.copy_(torch.tensor([[-1.0, 2.0]]))
    # |W1| 1 = (3, 3.5); R = |W2| (3, 3.5) = 1*3 + 2*3.5 = 10. dR/d|W1|_ij = |W2|_i, so layer 1
    # gives sum_ij |W1_ij| |W2_i| = 1*3 + 2*3.5 = 10; layer 2 gives sum_i |W2_i| (|W1| 1)_i = 10.
    assert PROXIES["synflow"].fn(ctx_for(net, sample_shape=(2,))) == pytest.approx(20.0, abs=1e-12)


class FunctionalNet(nn.Module):
    """Rectifiers as functional calls (as the conv hosts' blocks use them), then a GELU module."""

    def __init__(self, gelu: bool):
        super().__init__()
        self.gelu = gelu
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(x) if self.gelu else F.relu(x.clone(), inplace=True)


@pytest.mark.parametrize("gelu", [False, True])
def test_naswot_on_a_batch_whose_codes_are_written_down(gelu):
    x = torch.tensor([[0.5, 2.0, -1.0, -3.0],       # codes 1100
                      [1.0, -1.0, 4.0, -0.2],       #       1010
                      [-1.0, -2.0, -3.0, 5.0]])     #       0001
    # K = N_A - Hamming: d(1,2) = 2, d(1,3) = 3, d(2,3) = 3, N_A = 4
    want = torch.tensor([[4.0, 2.0, 1.0], [2.0, 4.0, 1.0], [1.0, 1.0, 4.0]], dtype=torch.float64)
    kernel, units = naswot_kernel(FunctionalNet(gelu), x)
    assert units == 4 and torch.equal(kernel, want)
    det = 4 * (16 - 1) - 2 * (8 - 1) + 1 * (2 - 4)     # 44
    score = PROXIES["naswot"].fn(ctx_for(FunctionalNet(gelu), batch=(x, torch.zeros(3, dtype=torch.long))))
    assert score == pytest.approx(math.log(det), abs=1e-12)


def test_naswot_of_identical_codes_is_minus_infinity():
    x = torch.tensor([[1.0, -1.0], [2.0, -3.0]])
    assert PROXIES["naswot"].fn(ctx_for(nn.ReLU(), batch=(x, torch.zeros(2, dtype=torch.long)))) == -math.inf


def test_grad_norm_and_snip_of_a_linear_classifier_by_hand():
    w = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])                 # 2 classes, 3 features
    x = np.array([[1.0, 2.0, -1.0], [0.0, 1.0, 3.0]])
    y = np.array([1, 0])
    logits = x @ w.T
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    grad = (p - np.eye(2)[y]).T @ x / len(x)                           # d mean-CE / dW
    net = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor(w))
    batch = (torch.tensor(x, dtype=torch.float32), torch.tensor(y))
    assert PROXIES["grad_norm"].fn(ctx_for(net, batch=batch)) == pytest.approx(np.linalg.norm(grad), rel=1e-5)
    assert PROXIES["snip"].fn(ctx_for(net, batch=batch)) == pytest.approx(np.abs(w * grad).sum(), rel=1e-5)


def test_st_entropy_of_one_conv3d_by_hand():
    net = nn.Conv3d(2, 4, (3, 3, 3), padding=1)
    # fan-in 2*27 on the (4, 8, 8) map; cos = (12 + 24 + 24) / (sqrt(27) sqrt(144)) = 60 / 62.354
    cos = 60 / (math.sqrt(27) * 12)
    want = 0.5 * math.log(54 * -math.log(1 - cos)) + math.log(4)
    got = PROXIES["st_entropy"].fn(ctx_for(net, sample_shape=(2, 4, 8, 8)))
    assert got == pytest.approx(want, abs=1e-12)
    assert kernel_alpha((1, 1, 1), (4, 8, 8)) == 1.0
    assert kernel_alpha((2, 4, 4), (4, 8, 8)) == pytest.approx(-math.log(1e-6))    # parallel: clamped


# ---- determinism, degenerate flag ---------------------------------------------------------
def _run(seed: int, proxies=("synflow", "naswot", "grad_norm", "snip", "st_entropy")):
    size = (8, 32, 32)
    model = seeded_supernet("r3d-rs-nano", size, 4, seed)
    archs = [model.space.parse(a) for a in ("padd-padd-c3d", "p3dc-rs-pcat", "padd-padd-c3d")]
    g = torch.Generator().manual_seed(seed)
    batch = (torch.randn(4, 3, *size, generator=g), torch.tensor([0, 1, 2, 3]))
    return score_archs(model, archs, list(proxies), size, batch, seed).frame


def test_a_fixed_seed_gives_the_same_scores_and_another_seed_other_ones():
    a, b, c = _run(0), _run(0), _run(1)
    cols = ["synflow", "naswot", "grad_norm", "snip", "st_entropy"]
    # every proxy gets a fresh export: scoring an architecture again gives the same numbers
    assert a.loc[0, cols].tolist() == a.loc[2, cols].tolist()
    pd.testing.assert_frame_equal(a[["arch", "canonical_arch"] + cols], b[["arch", "canonical_arch"] + cols])
    assert not np.allclose(a[["synflow", "grad_norm", "snip"]], c[["synflow", "grad_norm", "snip"]])
    assert np.allclose(a["st_entropy"], c["st_entropy"])                # analytic: no weights read


def test_relative_spread_and_the_degenerate_flag(tmp_path):
    assert relative_spread([379.92, 379.99, 379.95]) == pytest.approx(0.07 / 379.9533, rel=1e-6)
    assert math.isnan(relative_spread([1.0, float("nan")]))
    assert relative_spread([0.0, 0.0]) == 0.0
    frame = pd.DataFrame({"arch": ["a", "b", "c"], "canonical_arch": ["a", "b", "c"],
                          "synflow": [379.92, 379.99, 379.95], "params": [1.0, 2.0, 3.0],
                          "synflow_seconds": [0.1] * 3, "params_seconds": [0.0] * 3})
    info = write_proxies(tmp_path, ProxyRun(frame, ["synflow", "params"], {"model": "x"}))
    stored = json.loads((tmp_path / "proxies.json").read_text())
    assert stored == json.loads(json.dumps(info))
    assert stored["proxies"]["synflow"]["degenerate"] and not stored["proxies"]["params"]["degenerate"]
    assert stored["degenerate_threshold"] == DEGENERATE_SPREAD
    back = pd.read_csv(tmp_path / "proxies.csv")
    assert list(back.columns[:4]) == ["arch", "canonical_arch", "synflow", "params"]
    assert back["synflow"].tolist() == frame["synflow"].tolist()


# ---- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["--model", "r3d-rs-nano", "--proxies", "synflow,zen"], "unknown proxy 'zen'; allowed: params, flops"),
    (["--model", "r3d-rs-nano", "--proxies", "synflow,naswot"], "--proxies naswot: data-dependent, they need --config"),
    (["--model", "r3d-rs-nano", "--input", "32x32"], "--input 32x32: r3d-rs-nano takes TxHxW"),
    (["--model", "r3d-rs-nano", "--input", "16xbig"], "input size '16xbig' must look like TxHxW"),
    (["--model", "no-such-net"], "unknown model 'no-such-net'; known:"),
    (["--model", "cyclemlp-nano"], "--model cyclemlp-nano is a fixed model"),
    (["--model", "r3d-rs-nano", "--batch", "1"], "--batch 1: the proxy batch needs >= 2 clips"),
    (["--model", "r3d-rs-nano", "--set", "data.size=16"], "--set overrides --config; give --config too"),
    (["--config", "experiments/configs/train_mlp3d_nano_t8_cpu.yaml", "--input", "16x32x32"],
     "--input 16x32x32 differs from the --config data's clips 32x32x32"),
])
def test_bad_input_is_one_line_exit_2_before_anything_is_written(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    assert main(["proxies", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nas proxies: error: ") and needle in err[0], err
    assert not out.exists()


def test_resolve_proxies_defaults():
    assert resolve_proxies(None, True) == list(PROXIES)
    assert "naswot" not in resolve_proxies(None, False) and "synflow" in resolve_proxies(None, False)
    with pytest.raises(ValueError, match="names a proxy twice"):
        resolve_proxies("params,params", False)


# ---- registry and plug-ins ------------------------------------------------------------------
def test_register_proxy_refuses_a_second_function_under_one_name():
    with pytest.raises(ValueError, match="proxy 'synflow' registered twice"):
        register_proxy("synflow")(lambda ctx: 0.0)
    with pytest.raises(ValueError, match="identifier"):
        register_proxy("two words")


PLUGIN = '''
from nas.proxies import register_proxy

@register_proxy("weight_count_plugin", description="tensors of >= 2 dims")
def weight_count(ctx):
    return float(sum(p.dim() >= 2 for p in ctx.network().parameters()))
'''


def test_a_plugin_adds_a_proxy_to_nas_proxies(tmp_path):
    path = tmp_path / "my_proxy.py"
    path.write_text(PLUGIN)
    env = dict(os.environ, VIDNAS_PLUGINS=str(path), OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-m", "nas.cli", "proxies", "--model", "r3d-rs-nano", "--input",
                          "8x32x32", "--sample", "2", "--proxies", "weight_count_plugin,st_entropy",
                          "--out", str(tmp_path / "out")], env=env, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    frame = pd.read_csv(tmp_path / "out" / "proxies.csv")
    assert list(frame.columns) == ["arch", "canonical_arch", "weight_count_plugin", "st_entropy",
                                   "weight_count_plugin_seconds", "st_entropy_seconds"]
    assert (frame["weight_count_plugin"] > 10).all()


# ---- every registered model family ----------------------------------------------------------
def _family_models():
    from supernet.registry import list_models
    picks = {}
    for e in list_models():
        if e.searchable and e.is_video and "nano" in e.name:
            picks.setdefault(e.family, []).append(e.name)
    return sorted(n for names in picks.values() for n in names)


def test_the_registry_test_covers_every_family():
    from supernet.registry import model_entry
    assert {model_entry(n).family for n in _family_models()} >= {"mlp3d", "morphmlp", "conv3d_split"}
    assert {"eco-nano", "r3d-rs-nano"} <= set(_family_models())


@pytest.mark.parametrize("name", _family_models())
def test_every_proxy_runs_on_every_registered_video_family(name):
    size = (8, 32, 32)
    model = seeded_supernet(name, size, 4, 0)
    import random
    archs = [model.space.sample(random.Random(i)) for i in range(2)]
    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(3, 3, *size, generator=g), torch.tensor([0, 1, 2]))
    proxies = [p for p in PROXIES if p not in ("params", "flops")]
    run = score_archs(model, archs, proxies, size, batch, 0)
    frame = run.frame
    assert list(frame["arch"]) == [str(a) for a in archs]
    for p in proxies:
        if p == "st_entropy" and name.startswith("morphmlp"):
            assert frame[p].isna().all() and "MorphFC" in run.notes["st_entropy"]
            continue
        assert np.isfinite(frame[p]).all(), (p, frame[p].tolist())
        assert (frame[f"{p}_seconds"] >= 0).all()


def test_params_and_flops_are_exact():
    from nas.costs.flops import model_cost

    size = (8, 32, 32)
    model = seeded_supernet("r3d-rs-nano", size, 4, 0)
    arch = model.space.parse("p3dc-rs-pcat")
    frame = score_archs(model, [arch], ["params", "flops"], size).frame
    cost = model_cost(model.export(arch), size)
    assert frame.loc[0, "params"] == cost.params and frame.loc[0, "flops"] == cost.flops


def test_nas_proxies_end_to_end_with_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIDNAS_CACHE", str(tmp_path / "cache"))
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: {name: mlp3d-nano}\n"
                   "data: {dataset: synthetic-temporal, size: 32, num_frames: 8, num_classes: 4, "
                   "train_clips_per_class: 2, val_clips_per_class: 1}\n")
    archs = tmp_path / "archs.txt"
    archs.write_text("sr1-sr1-sr1-sr1-sr1-sr1-sr1-sr1  # 2D\nsr2-lr2-st2-sw2-sr1-sr2-lr2-st2\n\n")
    out = tmp_path / "out"
    assert main(["proxies", "--config", str(cfg), "--archs", str(archs), "--batch", "4",
                 "--proxies", "naswot,grad_norm,snip,synflow", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    frame = pd.read_csv(out / "proxies.csv")
    info = json.loads((out / "proxies.json").read_text())
    assert frame["arch"].tolist() == ["sr1-sr1-sr1-sr1-sr1-sr1-sr1-sr1", "sr2-lr2-st2-sw2-sr1-sr2-lr2-st2"]
    assert info["batch"] == 4 and info["input"] == [8, 32, 32] and info["data"]["num_classes"] == 4
    assert np.isfinite(frame[["naswot", "grad_norm", "snip", "synflow"]].to_numpy()).all()
    # MLP-3D's LayerNorms: synflow is the known degenerate case
    assert info["proxies"]["synflow"]["degenerate"] and "DEGENERATE synflow" in printed
