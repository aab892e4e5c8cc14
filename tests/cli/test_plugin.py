"""Plug-ins: discovery (`nas.plugins`) and the worked plug-in `experiments/plugins/elastic_mlp3d.py`
run through the real CLI (pretrain, search greedy and evolution, flops, export, plot arch)."""
import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from nas.cli import main
from nas.plugins import ENV_VAR, load_plugin, load_plugins
from nas.costs.unit_table import CostTable, full_trace_flops
from supernet.registry import build_model
from supernet.training.checkpoint import load_checkpoint

import experiments.plugins.elastic_mlp3d as elastic
from tests.support import ROOT

pytestmark = pytest.mark.usefixtures("one_thread")
PLUGIN = "experiments.plugins.elastic_mlp3d"
CONFIG = ROOT / "experiments" / "plugins" / "pretrain_elastic_mlp3d_nano_tiny.yaml"
SIZE = (16, 32, 32)
SMALL = {"gtm_types": ["short_range", "shift_window"], "max_group_size": 2}   # as the tiny config


def env_with(plugins: str, **extra) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT),
               **{ENV_VAR: plugins}, **extra)
    env.pop("WORLD_SIZE", None)
    return env


def nas(*args, plugins=PLUGIN, cwd=None):
    res = subprocess.run([sys.executable, "-m", "nas.cli", *args], env=env_with(plugins), cwd=cwd,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


# ---- discovery -----------------------------------------------------------------------------
PLUGIN_FILE = '''
from search_spaces import register_space
from search_spaces.gtm import GTMSpace
from supernet.registry import register_model
from supernet.models.mlp3d import MLP3D
from nas.search.strategies import register_strategy
from nas.search.strategies.random_search import RandomSearch

@register_space
class TinyGTM(GTMSpace):
    name = "tiny_gtm_plugin"

@register_model("tiny-plugin-net", "tiny", (16, 32, 32), 10, "a model from a plug-in file")
def build(input_size, num_classes, arch=None, **kw):
    return MLP3D("nano", input_size, num_classes, arch=arch, **kw)

@register_strategy
class Coin(RandomSearch):
    name = "coin-plugin"
'''


def test_a_plugin_file_registers_a_space_a_model_and_a_strategy(tmp_path):
    path = tmp_path / "my_plugin.py"
    path.write_text(PLUGIN_FILE)
    check = ("from nas.plugins import load_plugins; print(load_plugins()); "
             "from search_spaces import known_spaces; from supernet.registry import model_entry; "
             "from nas.search.strategies import STRATEGIES; "
             "print('tiny_gtm_plugin' in known_spaces(), model_entry('tiny-plugin-net').family, "
             "'coin-plugin' in STRATEGIES); "
             "from nas.cli import main; main(['search', '--help'])")   # the CLI's --strategy choices
    res = subprocess.run([sys.executable, "-c", check], env=env_with(f" {path} ,"), capture_output=True,
                         text=True, check=True)
    lines = res.stdout.split("\n")
    assert lines[0] == f"[{str(path)!r}]" and lines[1] == "True tiny True", res.stdout
    assert "coin-plugin" in res.stdout.split("--strategy")[1].split("\n")[0], res.stdout


def test_entry_points_are_discovered(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "ep_plugin_dist-0.1.dist-info").mkdir(parents=True)
    (site / "ep_plugin_dist-0.1.dist-info" / "METADATA").write_text("Name: ep-plugin-dist\nVersion: 0.1\n")
    (site / "ep_plugin_dist-0.1.dist-info" / "entry_points.txt").write_text(
        "[vidnas.strategies]\nmine = vidnas_ep_plugin_mod\n")
    (site / "vidnas_ep_plugin_mod.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert "vidnas.strategies:mine" in load_plugins()
    assert sys.modules["vidnas_ep_plugin_mod"].LOADED
    (site / "ep_plugin_dist-0.1.dist-info" / "entry_points.txt").write_text(
        "[vidnas.spaces]\nbroken = vidnas_ep_missing_mod\n")
    with pytest.raises(ValueError, match=r"vidnas.spaces:broken \(vidnas_ep_missing_mod\) does not import"):
        load_plugins()


@pytest.mark.parametrize("spec, needle", [
    ("no_such_pkg.plugin", "plug-in module 'no_such_pkg.plugin' (from VIDNAS_PLUGINS) not found"),
    ("{tmp}/missing.py", "missing.py' (from VIDNAS_PLUGINS) does not exist"),
    ("{tmp}/broken.py", "broken.py' does not import: RuntimeError: boom in the plug-in"),
    ("{tmp}/needs_dep.py", "needs_dep.py' does not import: ModuleNotFoundError: No module named "
                           "'not_installed_dep'"),
])
def test_a_bad_plugin_is_a_one_line_error(tmp_path, monkeypatch, capsys, spec, needle):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom in the plug-in')\n")
    (tmp_path / "needs_dep.py").write_text("import not_installed_dep\n")
    spec = spec.format(tmp=tmp_path)
    monkeypatch.setenv(ENV_VAR, spec)
    assert main(["models"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("nas: error: ") and needle in err, err
    with pytest.raises(ValueError, match="plug-in"):
        load_plugin(spec)


# ---- the worked plug-in, in process --------------------------------------------------------------
def test_elastic_ratio_slices_equal_a_naive_linear_reference():
    torch.manual_seed(0)
    mlp = elastic.ElasticMlp(8, 32)
    x = torch.randn(3, 5, 8)
    for hidden in (16, 24, 32):
        fc1, fc2 = nn.Linear(8, hidden), nn.Linear(hidden, 8)     # built from the first units
        with torch.no_grad():
            fc1.weight.copy_(mlp.fc1.weight[:hidden]), fc1.bias.copy_(mlp.fc1.bias[:hidden])
            fc2.weight.copy_(mlp.fc2.weight[:, :hidden]), fc2.bias.copy_(mlp.fc2.bias)
        torch.testing.assert_close(mlp(x, hidden), fc2(nn.functional.gelu(fc1(x))))
        w = mlp.fixed_state(hidden)["fc1.weight"]
        assert w.shape == (hidden, 8) and w.data_ptr() == mlp.fc1.weight.data_ptr()   # a view
    with pytest.raises(ValueError, match="hidden width 40 outside 1..32"):
        mlp(x, 40)


def test_space_round_trips_and_refuses_bad_choices():
    space = build_model("elastic-mlp3d-nano", SIZE, **SMALL).space
    assert [len(space.choices(i)) for i in range(space.num_units)] == [9, 10] * 4   # 3 GTM x 3 + skip
    for seed in range(20):
        a = space.sample(seed)
        assert space.decode(str(a)) == a and space.from_json(space.to_json(a)) == a
    a = space.decode("sr1e2-skip-sw2e3-skip-sr2e4-sr2e2-sw2e3-skip")
    assert a[1] is not a[0] and a[1].skip and space.to_dict(a)["units"][1]["mlp_ratio"] == 0
    assert str(space.canonical(space.decode("sw2e3-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2"))).startswith("sw2e3")
    for bad, needle in [("skip-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2", "never a stage's first"),
                        ("sr1e5-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2", "MLP ratio 5 is not searched"),
                        ("lr2e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2", "'long_range' is not searched"),
                        ("sr4e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2", "S=4 exceeds S_max=2"),
                        ("sr1x2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2-sr1e2", "expected <gtm>e<ratio>")]:
        with pytest.raises(ValueError, match=needle):
            space.decode(bad)


@torch.no_grad()
def test_export_equals_the_supernet_and_keeps_only_used_weights():
    torch.manual_seed(0)
    net = build_model("elastic-mlp3d-nano", SIZE, **SMALL).eval()
    x = torch.randn(2, 3, *SIZE)
    for text in ("sr1e2-skip-sw2e3-skip-sr2e4-sr2e2-sw2e3-skip", str(net.space.sample(1)),
                 str(net.space.sample(2))):
        arch = net.set_arch(text)
        fixed = net.export(arch).eval()
        torch.testing.assert_close(fixed(x), net(x), rtol=0, atol=1e-6)
        for i, c in enumerate(arch):
            unit = dict(fixed.unit(i).named_parameters())
            if c.skip:
                assert not unit
            else:
                assert unit["mlp.fc1.weight"].shape == (c.mlp_ratio * fixed.unit(i).dim, fixed.unit(i).dim)


# ---- the worked plug-in through the CLI ----------------------------------------------------------
def test_plugin_runs_through_pretrain_search_flops_export_and_plot(tmp_path, monkeypatch, capsys):
    """Subprocesses from a clean checkout, with only VIDNAS_PLUGINS set (pretrain, greedy search,
    export with a parity check); then in process (the plug-in already imported): evolution,
    flops, state_dict export, plot."""
    pre = tmp_path / "pre"
    nas("pretrain", "--config", str(CONFIG), "--set", f"output_dir={pre}",
        "--set", f"data.cache_dir={tmp_path / 'cache'}", cwd=tmp_path)
    ckpt = pre / "supernet.pt"
    search = ["--checkpoint", str(ckpt), "--val-size", "8", "--batch-size", "8", "--threads", "1",
              "--no-progress"]
    nas("search", *search, "--strategy", "greedy", "--repeats", "1", "--out", str(tmp_path / "greedy"))
    best = json.loads((tmp_path / "greedy" / "best_arch.json").read_text())
    out = nas("export", "--checkpoint", str(ckpt), "--arch", str(tmp_path / "greedy" / "best_arch.json"),
              "--out", str(tmp_path / "ts"), "--format", "torchscript", "--check")
    assert "ok (tolerance" in out and (tmp_path / "ts" / "model.ts").is_file()

    monkeypatch.setenv(ENV_VAR, PLUGIN)
    assert main(["search", *search, "--strategy", "evolution", "--population", "4", "--generations", "2",
                 "--topk", "2", "--out", str(tmp_path / "evo")]) == 0
    evo = json.loads((tmp_path / "evo" / "best_arch.json").read_text())
    assert len(evo["arch"].split("-")) == 8
    capsys.readouterr()
    assert main(["flops", "--model", "elastic-mlp3d-nano", "--arch", evo["arch"], "--json"]) == 0
    flops = json.loads(capsys.readouterr().out)
    assert main(["export", "--checkpoint", str(ckpt), "--arch", evo["arch"], "--out", str(tmp_path / "sd")]) == 0
    assert main(["plot", "arch", "--model", "elastic-mlp3d-nano", "--arch", evo["arch"],
                 "--out", str(tmp_path / "arch")]) == 0
    assert (tmp_path / "arch.png").stat().st_size > 0

    # the cost table the searches summed is exact: it equals a full fvcore count of the subnet
    saved = load_checkpoint(ckpt)
    model = saved["model_spec"]
    net = build_model(model["name"], tuple(model["input_size"]), model["num_classes"], **model["kwargs"])
    table = CostTable.load(tmp_path / "greedy" / "cost_table.json")
    skips = net.space.decode("sr1e2-skip-sr1e2-skip-sr1e2-skip-sr1e2-skip")
    for arch in (net.space.parse(best["arch"]), net.space.parse(evo["arch"]), skips, net.space.sample(5)):
        assert (table.flops(arch), table.params(arch)) == full_trace_flops(net, arch, SIZE)
    assert round(best["gflops"] * 1e9) == table.flops(net.space.parse(best["arch"]))
    full = build_model("elastic-mlp3d-nano", SIZE)           # flops used the full default space
    assert flops["flops"] == full_trace_flops(full, full.space.parse(flops["arch"]), SIZE)[0]

    # the state_dict export equals the supernet with the checkpoint's weights on a random clip
    from nas.deploy.export import load_export
    net.load_state_dict(saved["model"])
    net.eval().set_arch(evo["arch"])
    x = torch.randn(2, 3, *SIZE)
    with torch.no_grad():
        torch.testing.assert_close(load_export(tmp_path / "sd")(x), net(x), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_plugin_search_on_ray_equals_in_process(tmp_path):
    """A plug-in space searched on Ray Tune workers (a fresh local Ray in a subprocess: each
    worker loads the plug-in itself) gives the in-process search's table and result."""
    pytest.importorskip("ray")
    import pandas as pd

    pre = tmp_path / "pre"
    nas("pretrain", "--config", str(CONFIG), "--set", f"output_dir={pre}",
        "--set", f"data.cache_dir={tmp_path / 'cache'}", cwd=tmp_path)
    search = ["--checkpoint", str(pre / "supernet.pt"), "--strategy", "evolution", "--population", "4",
              "--generations", "2", "--topk", "2", "--val-size", "8", "--batch-size", "8", "--threads", "1", "--no-progress"]
    nas("search", *search, "--ray", "--workers", "2", "--out", str(tmp_path / "ray"))
    nas("search", *search, "--out", str(tmp_path / "local"))
    ray, local = (pd.read_csv(tmp_path / d / "results.csv").drop(columns=["seconds"]) for d in ("ray", "local"))
    pd.testing.assert_frame_equal(ray, local)
    assert len(ray) >= 4 and ray["arch"].str.contains(r"e[234]").all()   # the plug-in's MLP-ratio tokens
    assert (tmp_path / "ray" / "best_arch.txt").read_text() == (tmp_path / "local" / "best_arch.txt").read_text()
