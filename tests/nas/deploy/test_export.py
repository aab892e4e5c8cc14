"""`nas export`: round trips in every format, ONNX parity with onnxruntime, Hajimolahoseini et al.'s 4D claim on
the exported graph, folder refusals, one-line errors, and loading an export back."""
import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from nas.cli import main
from nas.config import load_run_config
from nas.deploy.export import FILES, MANIFEST, PARITY_TOL, load_export, run_export
from nas.deploy.onnx import write_onnx
from nas.deploy.report import four_d_violations, onnx_graph_report
from supernet.ops.four_d import ExportError, deploy_network, unit_scopes
from supernet.registry import build_model
from supernet.training.checkpoint import save_checkpoint

HAS_ONNX = all(__import__("importlib").util.find_spec(m) for m in ("onnx", "onnxruntime", "onnxscript"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="the [deploy] extra (onnx, onnxruntime, onnxscript) is absent")

# small inputs so that every export takes seconds
HOSTS = {"mlp3d-nano": (8, 32, 32), "morphmlp-nano": (8, 32, 32), "eco-nano": (8, 32, 32),
         "r3d-rs-nano": (8, 32, 32)}


pytestmark = pytest.mark.usefixtures("one_thread")


def supernet_checkpoint(folder: Path, name: str, size, seed: int = 0, **kwargs) -> Path:
    torch.manual_seed(seed)
    net = build_model(name, size, 10, **kwargs)
    with torch.no_grad():                           # BN statistics that are not the identity
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = folder / f"{name}.pt"
    save_checkpoint(path, model=net, kind="supernet", step=0, epoch=0)
    return path


def arch_of(name, size, seed=3):
    with torch.device("meta"):
        return str(build_model(name, size, 10).space.sample(seed))


def reference(ckpt, arch, clips):
    from supernet.training.checkpoint import model_from_checkpoint
    net = model_from_checkpoint(ckpt).export(arch).eval()
    with torch.no_grad():
        return net(clips)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "eco-nano" else n
                                  for n in sorted(HOSTS)])       # ECO-nano: conv3d_split is covered by R3D-RS
def test_state_dict_and_torchscript_round_trip_every_host(tmp_path, name):
    size = HOSTS[name]
    ckpt = supernet_checkpoint(tmp_path, name, size)
    arch = arch_of(name, size)
    out = tmp_path / "export"
    logs = []
    m1 = run_export(ckpt, arch, out, "state_dict", batch=2, check=True, log=logs.append)
    m2 = run_export(ckpt, arch, out, "torchscript", batch=2, check=True, log=logs.append)
    assert m1["checks"]["state_dict"]["max_abs_diff"] == {"batch 1": 0.0, "batch 2": 0.0}
    assert m2["checks"]["torchscript"]["passed"] and "ok" in logs[-1]
    assert set(m2["files"]) == {"state_dict", "torchscript"} and m2["arch"] == arch
    files = {p.name for p in out.iterdir()}
    assert {MANIFEST, "arch.json", "model.json", "weights.pt", "model.ts"} <= files
    spec = json.loads((out / "model.json").read_text())
    assert spec["name"] == name and spec["arch"] == arch
    assert json.loads((out / "arch.json").read_text())["arch"] == arch
    # only the weights the architecture uses: exactly the fixed network's state
    weights = torch.load(out / "weights.pt", weights_only=True)
    assert set(weights) == set(build_model(name, size, 10, arch=arch).state_dict())
    clips = torch.randn(3, 3, *size)
    want = reference(ckpt, arch, clips)
    with torch.no_grad():
        assert torch.equal(load_export(out)(clips), want)
        assert (load_export(out, "torchscript")(clips) - want).abs().max() <= PARITY_TOL   # batch 3: not traced


@needs_onnx
def test_onnx_parity_and_the_4d_claim_against_c3d(tmp_path, capsys):
    """R3D-RS with every searched block Proposed-Add: the ONNX file runs in onnxruntime at
    any batch, equals PyTorch, and its blocks hold no 3D conv and no rank-5 tensor; the
    Conv3D version of the same network has both."""
    name, size = "r3d-rs-nano", HOSTS["r3d-rs-nano"]
    ckpt = supernet_checkpoint(tmp_path, name, size)
    with torch.device("meta"):
        space = build_model(name, size, 10).space
    found, texts = {}, {}
    for strategy in ("padd", "c3d"):
        out = tmp_path / strategy
        arch = str(space.strategy_arch(strategy))
        assert main(["export", "--checkpoint", str(ckpt), "--arch", arch, "--out", str(out),
                     "--format", "onnx", "--batch", "2", "--check"]) == 0
        text = texts[strategy] = capsys.readouterr().out
        assert "check onnx" in text and "ok" in text
        manifest = json.loads((out / MANIFEST).read_text())
        assert manifest["onnx_opset"] >= 17 and manifest["checks"]["onnx"]["passed"]
        runner = load_export(out, "onnx")
        assert runner.session.get_inputs()[0].shape[0] == "batch"            # dynamic batch axis
        clips = torch.randn(3, 3, *size)
        assert (runner(clips) - reference(ckpt, arch, clips)).abs().max() <= PARITY_TOL
        rows = onnx_graph_report(out / "model.onnx")
        with torch.no_grad():
            deploy, lowered = deploy_network(load_export(out), clips[:1])
        found[strategy] = (four_d_violations(rows, unit_scopes(deploy)), lowered, rows)
    (padd, lowered, rows), (c3d, none, _) = found["padd"], found["c3d"]
    assert lowered == [0, 1, 2] and none == []
    assert padd == {"conv3d": [], "rank5": []}
    assert len(c3d["conv3d"]) >= 3 and c3d["rank5"]                    # the contrast
    inside = [r for r in rows if r["scope"].startswith(("layers.2.block", "layers.3.block", "layers.4.block"))]
    assert sum(r["op"] == "Conv" for r in inside) >= 12                 # the scopes do match the blocks
    assert {len(r["kernel_shape"]) for r in inside if r["op"] == "Conv"} == {2}
    assert "units [0, 1, 2] run on 4D tensors" in texts["padd"] and "4D" not in texts["c3d"]


@needs_onnx
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["padd", "pcat"])
@pytest.mark.parametrize("name", ["eco-nano", "r3d-rs-nano"])
def test_proposed_networks_have_no_3d_conv_and_no_rank5_tensor(tmp_path, name, strategy):
    """ECO-Lite's whole graph has no 3D conv (its 2D-Net is 2D; the 3D-Net is all units), and
    its only rank-5 tensor is the input clip's transpose in the 2D-Net; R3D-RS's fixed stem and
    C2/C3 are 3D convs by design, its searched C4/C5 blocks are 4D."""
    size = HOSTS[name]
    ckpt = supernet_checkpoint(tmp_path, name, size)
    with torch.device("meta"):
        space = build_model(name, size, 10).space
    arch = str(space.strategy_arch(strategy))
    for s, want_empty in ((strategy, True), ("c3d", False)):
        a = str(space.strategy_arch(s))
        out = tmp_path / s
        m = run_export(ckpt, a, out, "onnx", batch=2, check=True, log=lambda _: None)
        assert m["checks"]["onnx"]["passed"]
        rows = onnx_graph_report(out / "model.onnx")
        deploy, _ = deploy_network(load_export(out), torch.randn(1, 3, *size))
        v = four_d_violations(rows, unit_scopes(deploy))
        assert (v == {"conv3d": [], "rank5": []}) is want_empty, (s, v)
        if name == "eco-nano" and want_empty:
            assert not [r for r in rows if r["op"] == "Conv" and len(r["kernel_shape"]) == 3]
            assert {r["scope"] for r in rows if 5 in r["output_ranks"]} == {"stem"}
    assert arch


@needs_onnx
@pytest.mark.slow
@pytest.mark.parametrize("name", ["mlp3d-nano", "morphmlp-nano", "eco-nano"])
def test_onnx_round_trip_other_hosts(tmp_path, name):
    size = HOSTS[name]
    ckpt = supernet_checkpoint(tmp_path, name, size)
    arch = arch_of(name, size)
    m = run_export(ckpt, arch, tmp_path / "x", "onnx", batch=2, check=True, log=lambda _: None)
    assert m["checks"]["onnx"]["passed"], m["checks"]
    clips = torch.randn(3, 3, *size)
    assert (load_export(tmp_path / "x", "onnx")(clips) - reference(ckpt, arch, clips)).abs().max() <= PARITY_TOL


def test_folder_refusals_and_bad_input_are_one_line_errors(tmp_path, capsys):
    name, size = "r3d-rs-nano", HOSTS["r3d-rs-nano"]
    ckpt = supernet_checkpoint(tmp_path, name, size)
    a, b = arch_of(name, size, 1), arch_of(name, size, 2)
    assert a != b
    out = tmp_path / "exp"
    assert main(["export", "--checkpoint", str(ckpt), "--arch", a, "--out", str(out)]) == 0
    capsys.readouterr()
    # the same export again (another format) is fine; another architecture is refused
    assert main(["export", "--checkpoint", str(ckpt), "--arch", a, "--out", str(out)]) == 0
    (tmp_path / "o").mkdir()
    other = supernet_checkpoint(tmp_path / "o", name, size, seed=1)       # same model, other weights
    assert main(["export", "--checkpoint", str(other), "--arch", a, "--out", str(out)]) == 2
    assert "holds a different export (checkpoint_sha256" in capsys.readouterr().err
    cases = [
        (["--arch", b, "--out", str(out)], "holds a different export (model_spec.arch"),
        (["--arch", a, "--out", str(out), "--input", "8x64x64"], "holds a different export (input"),
        (["--arch", "padd-zzz-padd", "--out", str(tmp_path / "n1")], "bad token"),
        (["--out", str(tmp_path / "n2")], "holds a supernet: pass --arch"),
        (["--arch", a, "--out", str(tmp_path / "n3"), "--batch", "0"], "--batch must be a positive int"),
        (["--arch", str(tmp_path / "missing.json"), "--out", str(tmp_path / "n4")], "architecture file not found"),
    ]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("other")
    cases.append((["--arch", a, "--out", str(tmp_path / "full")], "is not empty and holds no export.json"))
    for extra, needle in cases:
        assert main(["export", "--checkpoint", str(ckpt), *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err
    assert json.loads((out / MANIFEST).read_text())["arch"] == a            # untouched
    # a search's best_arch.json is accepted as --arch
    best = tmp_path / "best_arch.json"
    with torch.device("meta"):
        space = build_model(name, size, 10).space
    best.write_text(json.dumps({**space.to_dict(space.parse(b)), "top1_pct": 50.0}))
    assert main(["export", "--checkpoint", str(ckpt), "--arch", str(best), "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / MANIFEST).read_text())["arch"] == b


def test_a_failing_check_exits_nonzero(tmp_path, capsys, monkeypatch):
    """--check compares against the PyTorch subnet: a file that computes something else fails."""
    import nas.deploy.export as ex

    name, size = "eco-nano", HOSTS["eco-nano"]
    ckpt = supernet_checkpoint(tmp_path, name, size)
    real = ex.load_export
    monkeypatch.setattr(ex, "load_export", lambda *a: (lambda x: real(*a)(x) + 1e-3))
    assert main(["export", "--checkpoint", str(ckpt), "--arch", arch_of(name, size), "--out",
                 str(tmp_path / "e"), "--format", "torchscript", "--check"]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert not json.loads((tmp_path / "e" / MANIFEST).read_text())["checks"]["torchscript"]["passed"]


class DataDependent(nn.Module):
    """An op torch.export cannot capture: Python control flow on a tensor's values."""

    def forward(self, x):
        return x * 2 if x.sum() > 0 else x


@needs_onnx
def test_an_unexportable_op_is_named_in_one_line(tmp_path):
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), DataDependent()), nn.Flatten())
    with pytest.raises(ExportError) as e:
        write_onnx(net, torch.randn(2, 3, 8, 8), tmp_path / "m.onnx")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("cannot export to ONNX: 1.1 (DataDependent): ")
    assert not (tmp_path / "m.onnx").exists()


def test_lowering_refuses_a_3d_conv_inside_a_4d_unit():
    """A unit holding a Proposed op and a 3x3x3 conv cannot be 4D: a one-line error, never a
    silent 5D fallback."""
    name, size = "eco-nano", HOSTS["eco-nano"]
    with torch.device("meta"):
        space = build_model(name, size, 10).space
    net = build_model(name, size, 10, arch=space.strategy_arch("padd")).eval()
    net.layers[1].conv2.paths["padd"].op = nn.Conv3d(16, 16, 3, padding=1, bias=False)  # not 4D
    with pytest.raises(ExportError) as e:
        deploy_network(net, torch.randn(1, 3, *size))
    assert "\n" not in str(e.value)
    assert str(e.value).startswith("cannot lower layers.1.conv2.paths.padd.op (Conv3d) to 4D tensors: "
                                   "a 3x3x3 Conv3d is a 3D convolution")


def test_init_from_an_export_folder_and_a_retrained_checkpoint(tmp_path):
    """`nas train --set init_from=DIR` starts from the export's weights; an export of a
    standalone (retrained) checkpoint needs no --arch."""
    from nas.train import initialise

    name, size = "mlp3d-nano", HOSTS["mlp3d-nano"]
    ckpt = supernet_checkpoint(tmp_path, name, size)
    arch = arch_of(name, size)
    run_export(ckpt, arch, tmp_path / "e", "state_dict")
    cfg = load_run_config(None, [f"model.name={name}", f"arch={arch}", f"init_from={tmp_path / 'e'}",
                                 "data.num_frames=8"])
    torch.manual_seed(5)
    model = build_model(name, size, 10, arch=arch)
    initialise(model, cfg)
    exported = load_export(tmp_path / "e").state_dict()
    assert all(torch.equal(v, exported[k]) for k, v in model.state_dict().items())
    other = arch_of(name, size, 9)
    bad = load_run_config(None, [f"model.name={name}", f"arch={other}", f"init_from={tmp_path / 'e'}"])
    with pytest.raises(ValueError, match="holds the architecture"):
        initialise(build_model(name, size, 10, arch=other), bad)
    # a retrained network (kind standalone, fixed spec) exports without --arch
    fixed = load_export(tmp_path / "e")
    save_checkpoint(tmp_path / "model.pt", model=fixed, kind="standalone", step=1, epoch=1)
    m = run_export(tmp_path / "model.pt", None, tmp_path / "r", "torchscript", check=True, log=lambda _: None)
    assert m["arch"] == arch and m["checks"]["torchscript"]["passed"]
    assert FILES["torchscript"] in m["files"].values()


def test_init_from_is_read_once_and_handed_to_initialise(tmp_path, monkeypatch):
    """Validate once: `check_init_from` (run by `nas train`'s checks) loads an export folder or
    a supernet checkpoint once and returns the weights; `initialise` takes them without reading
    the source again, and starts the network exactly as reading it itself would."""
    import nas.initialise as ini

    name, size = "mlp3d-nano", HOSTS["mlp3d-nano"]
    ckpt = supernet_checkpoint(tmp_path, name, size)
    arch = arch_of(name, size)
    run_export(ckpt, arch, tmp_path / "e", "state_dict")
    for source in (tmp_path / "e", ckpt):
        cfg = load_run_config(None, [f"model.name={name}", f"arch={arch}", f"init_from={source}",
                                     "data.num_frames=8"])
        reference = build_model(name, size, 10, arch=arch)
        ini.initialise(reference, cfg)                      # reads the source itself
        reads = []
        for fn in ("export_state_dict", "check_checkpoint", "check_weights"):
            real = getattr(ini, fn)
            monkeypatch.setattr(ini, fn, lambda *a, _real=real, _fn=fn, **k: reads.append(_fn) or _real(*a, **k))
        weights = ini.check_init_from(cfg)
        model = build_model(name, size, 10, arch=arch)
        ini.initialise(model, cfg, init_weights=weights)
        monkeypatch.undo()
        assert reads.count("export_state_dict") + reads.count("check_checkpoint") == 1, (source, reads)
        assert reads.count("check_weights") <= 1, (source, reads)            # the supernet is built once
        assert all(torch.equal(v, reference.state_dict()[k]) for k, v in model.state_dict().items())


def test_a_new_op_registers_its_own_4d_rule():
    """The 4D lowering is a registry in `supernet.ops.four_d`: an op defined outside vidnas
    becomes natively 4D and lowerable by registering itself, with no edit to `nas/`."""
    from supernet.ops import four_d

    class TimeShift(nn.Module):                      # a 5D op with an exact 4D form
        def forward(self, x):
            return torch.roll(x, 1, dims=2)

    class TimeShift4d(nn.Module):
        def forward(self, x):                        # (B, C, T, H·W): T is still dim 2
            assert x.dim() == 4
            return torch.roll(x, 1, dims=2)

    unit = nn.Sequential(TimeShift(), nn.BatchNorm3d(4), nn.ReLU()).eval()
    unit[1].running_mean.uniform_(-1, 1)
    x = torch.randn(2, 4, 3, 5, 6)
    assert not four_d.natively_4d(unit)
    with pytest.raises(ExportError, match=r"^cannot lower u\.0 \(TimeShift\) to 4D tensors: no 4D rule"):
        four_d.lower_unit(copy.deepcopy(unit), x, "u")
    four_d.register_native(TimeShift)
    four_d.register_rule(TimeShift, lambda op, shape, _: TimeShift4d())
    try:
        assert four_d.natively_4d(unit)
        lowered = four_d.lower_unit(copy.deepcopy(unit), x, "u")
        assert isinstance(lowered.block[0], TimeShift4d) and isinstance(lowered.block[1], four_d.BatchNorm4d)
        assert torch.equal(lowered(x), unit(x))
    finally:
        four_d.NATIVE_4D.remove(TimeShift)
        del four_d.FOUR_D_RULES[TimeShift]
