"""Center initialization, official CycleMLP checkpoints, random-GTM regularization, two-path."""
import pytest
import torch

from nas.costs.flops import model_cost
from supernet.models.mlp3d import (CycleMLP, center_inflate_state, convert_official_cyclemlp,
                                   random_gtm_hook)
from supernet.registry import build_model


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("arch", ["sr4-sw4-lr2-st4-sr2-st2-lr4-sw2-sr1-st1", "sr1-sr1-sr1-sr1-sr1-sr1-sr1-sr1-sr1-sr1"])
def test_center_initialized_network_equals_2d_on_a_static_clip(shared, arch):
    torch.manual_seed(0)
    two_d = build_model("cyclemlp-b1", num_classes=7).eval()
    with torch.no_grad():                                  # make every weight matter
        for p in two_d.parameters():
            p.add_(0.05 * torch.randn_like(p))
    net = build_model("mlp3d-xs", (16, 64, 64), 7, arch=arch, shared_gtm=shared).eval()
    net.load_state_dict(center_inflate_state(net, two_d.state_dict()))
    image = torch.randn(2, 3, 64, 64)
    clip = image.unsqueeze(2).expand(-1, -1, 16, -1, -1).contiguous()
    with torch.no_grad():
        want, got = two_d(image), net(clip)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    moving = torch.randn(2, 3, 16, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(net(moving), two_d(moving[:, :, 8]), atol=1e-3)


def test_center_init_zeroes_all_but_w0_and_the_centre_tap():
    two_d = build_model("cyclemlp-b1", num_classes=7)
    net = build_model("mlp3d-xs", (64, 32, 32), 7, arch="-".join(["sr16"] * 10))
    state = center_inflate_state(net, two_d.state_dict())
    w = state["layers.0.token_mix.fc_t.weight"]                 # (31, 64, 64), w_0 at index 15
    assert torch.equal(w[15], two_d.state_dict()["layers.0.token_mix.fc_t.weight"][0])
    assert w[:15].abs().sum() == 0 and w[16:].abs().sum() == 0
    stem = state["stem.proj.weight"]
    assert torch.equal(stem[:, :, 2], two_d.state_dict()["stem.proj.weight"])
    assert stem[:, :, [0, 1, 3]].abs().sum() == 0
    with pytest.raises(ValueError, match="same variant"):
        center_inflate_state(net, build_model("cyclemlp-b5").state_dict())


def official_layout(model: CycleMLP) -> dict:
    """Our 2D weights renamed to the official code's layout (ShoufaChen/CycleMLP cycle_mlp.py)."""
    out, stage, j, idx = {}, 0, 0, 0
    sd = model.state_dict()
    for n, layer in enumerate(model.layers):
        if hasattr(layer, "proj") and not hasattr(layer, "token_mix"):      # Downsample
            stage += 2
            j = 0
            for k in ("weight", "bias"):
                out[f"network.{stage - 1}.proj.{k}"] = sd[f"layers.{n}.proj.{k}"]
            continue
        pre = f"network.{stage}.{j}."
        for key, value in sd.items():
            if not key.startswith(f"layers.{n}."):
                continue
            rest = key[len(f"layers.{n}."):]
            if rest.startswith("token_mix.fc_w."):
                rest, value = "attn.sfc_h." + rest.split(".")[-1], value[..., None, None] if value.dim() == 2 else value
            elif rest.startswith("token_mix.fc_h."):
                rest, value = "attn.sfc_w." + rest.split(".")[-1], value[..., None, None] if value.dim() == 2 else value
            elif rest == "token_mix.fc_t.weight":
                rest, value = "attn.mlp_c.weight", value[0].t()
            else:
                rest = rest.replace("token_mix.", "attn.")
            out[pre + rest] = value
        out[pre + "attn.sfc_h.offset"] = torch.zeros(1, 2 * value.shape[0], 1, 1)
        j += 1
    out.update({"patch_embed.proj.weight": sd["stem.proj.weight"], "patch_embed.proj.bias": sd["stem.proj.bias"],
                "norm.weight": sd["head.norm.weight"], "norm.bias": sd["head.norm.bias"],
                "head.weight": sd["head.fc.weight"], "head.bias": sd["head.fc.bias"]})
    return out


def test_official_cyclemlp_checkpoint_converts_exactly():
    src = CycleMLP("b1", num_classes=10)
    dst = CycleMLP("b1", num_classes=10)
    converted = convert_official_cyclemlp({"model": official_layout(src)})
    dst.load_state_dict(converted, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(dst.eval()(x), src.eval()(x), rtol=0, atol=0)


def test_random_gtm_regularization_only_uses_covered_choices_and_only_in_training():
    net = build_model("mlp3d-nano", (32, 32, 32), 5, arch="sr4-st2-lr8-sw2-sr1-st8-sr2-sw8")
    hook = random_gtm_hook(net, prob=1.0, seed=0)
    seen = {}
    for step in range(40):
        hook(step)
        for block in net.units():
            c = block.regularization_choice
            seen.setdefault(block.choice.token, set()).add(c.token)
            assert block.token_mix.fc_t.can_compute(c.gtm_type, c.group_size)
    assert seen["st2"] <= {"st1", "st2"} and len(seen["sr4"]) > 5
    assert "sr8" not in seen["sr4"] and "st8" in seen["lr8"]
    x = torch.randn(2, 3, 32, 32, 32)
    net.eval()
    with torch.no_grad():
        clean = build_model("mlp3d-nano", (32, 32, 32), 5, arch=net.arch)
        clean.load_state_dict(net.state_dict())
        torch.testing.assert_close(net(x), clean.eval()(x))
    net.train()
    hook(0)
    y_reg = net(x)
    random_gtm_hook(net, prob=0.0)(0)
    assert not torch.allclose(y_reg, net(x))
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        random_gtm_hook(net, prob=1.5)


def test_two_path_network_doubles_the_backbone_and_sees_background_erased_input():
    arch = "sr2-sw2-st2-lr2-sr1-st1-sr2-sw2"
    one = build_model("mlp3d-nano", (16, 32, 32), 5, arch=arch)
    two = build_model("mlp3d-nano", (16, 32, 32), 5, arch=arch, two_path=True).eval()
    c1, c2 = model_cost(one, (16, 32, 32)), model_cost(two, (16, 32, 32))
    head = one.head.fc
    assert c2.params == 2 * (c1.params - head.weight.numel() - head.bias.numel()) + two.fc.weight.numel() + 5
    assert abs(c2.flops - 2 * c1.flops) <= 2 * head.weight.numel()
    x = torch.randn(2, 3, 16, 32, 32)
    with torch.no_grad():
        y = two(x)
        shifted = two(x + torch.randn(2, 3, 1, 32, 32))     # a static background change
        assert y.shape == (2, 5)
        f = two._features(two.extra, x - x.mean(2, keepdim=True))
        g = two._features(two.extra, (x + 1.0) - (x + 1.0).mean(2, keepdim=True))
        torch.testing.assert_close(f, g, rtol=1e-4, atol=1e-5)   # extra path ignores a static background
        assert not torch.allclose(y, shifted)
    with pytest.raises(ValueError, match="give an arch"):
        build_model("mlp3d-nano", two_path=True)


def _tiny_2d_run(tmp_path):
    """`nas pretrain` of the 2D CycleMLP-nano on frames of synthetic-appearance (2 steps)."""
    from nas.config import load_run_config
    from nas.pretrain import run_pretrain

    cfg = load_run_config(None, base={
        "output_dir": str(tmp_path / "2d"), "model": {"name": "cyclemlp-nano"},
        "data": {"dataset": "synthetic-appearance", "num_frames": 2, "size": 32, "num_classes": 4,
                 "train_clips_per_class": 4, "val_clips_per_class": 2, "cache_dir": str(tmp_path / "cache")},
        "optim": {"lr": 1e-3, "base_batch_size": 8}, "train": {"epochs": 1, "batch_size": 8, "max_steps": 2}})
    result = run_pretrain(cfg)
    return result.checkpoint


def test_2d_pretraining_trains_on_single_frames_and_writes_an_image_checkpoint(tmp_path):
    import json

    from nas.data import DataConfig, build_dataset
    from supernet.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(_tiny_2d_run(tmp_path))
    assert ckpt["kind"] == "image" and ckpt["model_spec"]["name"] == "cyclemlp-nano"
    assert ckpt["model_spec"]["input_size"] == [32, 32] and ckpt["step"] == 2
    ev = json.loads((tmp_path / "2d" / "eval.json").read_text())
    assert ev["clips"] == 8 and 0 <= ev["top1"] <= 100
    cfg = DataConfig(dataset="synthetic-appearance", num_frames=4, num_classes=4, train_clips_per_class=2,
                     val_clips_per_class=1, cache_dir=str(tmp_path / "cache"))
    clips, images = build_dataset(cfg, "train"), build_dataset(cfg, "train", images=True)
    val_clips, val_images = build_dataset(cfg, "val"), build_dataset(cfg, "val", images=True)
    assert len(images) == len(clips) and images.labels == clips.labels
    for seed in (0, 1, 2, 7):                     # training: the frame the item seed picks
        assert torch.equal(images[(3, seed)][0], clips[(3, seed)][0][:, seed % 4])
    assert torch.equal(val_images[1][0], val_clips[1][0][:, 2])      # testing: the centre frame
    with pytest.raises(ValueError, match="no multi-view mode"):
        build_dataset(cfg, "val", views=True, images=True)


def test_center_initialized_supernet_equals_the_2d_model_on_a_static_clip(tmp_path):
    """One 2D -> 3D path: `center_init_from` of a supernet run goes through the same function
    as standalone training; per-frame architecture and its export give the 2D logits."""
    from nas.config import load_run_config
    from nas.initialise import initialise
    from supernet.training.checkpoint import model_from_checkpoint

    path = _tiny_2d_run(tmp_path)
    two_d = model_from_checkpoint(path).eval()
    with torch.no_grad():                                  # make every weight matter
        for p in two_d.parameters():
            p.add_(0.05 * torch.randn_like(p))
    torch.save({"model": two_d.state_dict()}, tmp_path / "2d_perturbed.pt")
    cfg = load_run_config(None, base={"model": {"name": "mlp3d-nano"}, "center_init_from":
                                      str(tmp_path / "2d_perturbed.pt"),
                                      "data": {"num_frames": 32, "num_classes": 4}})
    supernet = build_model("mlp3d-nano", (32, 32, 32), 4)
    assert "center-initialised" in initialise(supernet, cfg, supernet=True)
    supernet.eval()
    image = torch.randn(2, 3, 32, 32)
    clip = image.unsqueeze(2).expand(-1, -1, 32, -1, -1).contiguous()
    per_frame = supernet.space.named_variant("2d")
    assert not torch.equal(supernet.head.fc.weight, two_d.head.fc.weight)    # a new classifier
    supernet.head.fc.load_state_dict(two_d.head.fc.state_dict())           # to compare logits
    with torch.no_grad():
        want = two_d(image)
        supernet.set_arch(per_frame)
        torch.testing.assert_close(supernet(clip), want, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(supernet.export(per_frame).eval()(clip), want, rtol=1e-4, atol=1e-5)
        other = supernet.space.parse("sr8-lr4-sw2-st8-sr2-sw8-st4-lr2")   # w_dt = 0: still the 2D net
        supernet.set_arch(other)
        torch.testing.assert_close(supernet(clip), want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="init_from starts a standalone network"):
        initialise(supernet, load_run_config(None, base={"init_from": "x.pt"}), supernet=True)
    with pytest.raises(ValueError, match="into MLP-3D networks, not eco-nano"):   # when the config is read
        load_run_config(None, base={"model": {"name": "eco-nano"}, "center_init_from": str(path)})
    missing = load_run_config(None, base={"center_init_from": str(tmp_path / "none.pt")})
    with pytest.raises(FileNotFoundError, match="2D checkpoint not found"):
        initialise(supernet, missing, supernet=True)


# ---- options.temporal_init: an off-centre start for the GTM weights (issue 21's pilot arms) ----
def _center_initialised(arch, **kw):
    torch.manual_seed(0)
    two_d = build_model("cyclemlp-nano", num_classes=5)
    with torch.no_grad():                                  # make every weight matter
        for p in two_d.parameters():
            p.add_(0.05 * torch.randn_like(p))
    net = build_model("mlp3d-nano", (32, 32, 32), 5, arch=arch, **kw)
    net.load_state_dict(center_inflate_state(net, two_d.state_dict()))
    return net


def test_temporal_init_noise_replaces_only_the_off_centre_intervals_at_the_stated_scale():
    from supernet.models.mlp3d import temporal_init

    arch = "sr4-st4-sr1-lr2-sr8-sw2-st2-sr2"
    net = _center_initialised(arch)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    temporal_init(net, "noise:0.1", seed=3)
    after = net.state_dict()
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert all(k.endswith("token_mix.fc_t.weight") for k in changed)
    w_sr4, w_st4 = after["layers.0.token_mix.fc_t.weight"], after["layers.1.token_mix.fc_t.weight"]
    assert w_sr4.shape[0] == 7 and w_st4.shape[0] == 4           # sr: w_-3..w_3; st: w_0..w_3
    assert torch.equal(w_sr4[3], before["layers.0.token_mix.fc_t.weight"][3])   # w_0 kept
    assert torch.equal(w_st4[0], before["layers.1.token_mix.fc_t.weight"][0])
    rms0 = w_sr4[3].pow(2).mean().sqrt()
    off = torch.cat([w_sr4[:3], w_sr4[4:]])
    assert off.abs().sum() > 0 and abs(float(off.std() / rms0) - 0.1) < 0.02   # std = 0.1 x rms(w_0)
    assert "layers.2.token_mix.fc_t.weight" not in changed        # S = 1: no off-centre weight
    again = _center_initialised(arch)
    temporal_init(again, "noise:0.1", seed=3)
    assert all(torch.equal(again.state_dict()[k], after[k]) for k in after)   # seeded
    other = _center_initialised(arch)
    temporal_init(other, "noise:0.1", seed=4)
    assert not torch.equal(other.state_dict()["layers.0.token_mix.fc_t.weight"], w_sr4)


def test_temporal_init_shift_moves_channels_to_w_plus_and_minus_one_and_breaks_reversal_symmetry():
    from supernet.models.mlp3d import temporal_init

    net = _center_initialised("sr2-sr2-sr2-sr2-sr2-sr2-sr2-sr2").eval()
    w0 = net.state_dict()["layers.0.token_mix.fc_t.weight"][1].clone()
    clip = torch.randn(1, 3, 8, 32, 32).repeat_interleave(4, dim=2)   # static within each tubelet
    reverse = clip.flip(2)
    with torch.no_grad():                                          # center init: order-blind pooled output
        torch.testing.assert_close(net(clip), net(reverse), rtol=1e-4, atol=1e-5)
    temporal_init(net, "shift:0.125", seed=0)
    w = net.state_dict()["layers.0.token_mix.fc_t.weight"]        # (3, C, C): w_-1, w_0, w_1
    k = round(0.125 * w0.shape[0])
    assert torch.equal(w[2][:k], w0[:k]) and w[2][k:].abs().sum() == 0            # forward channels
    assert torch.equal(w[0][k:2 * k], w0[k:2 * k]) and w[0][:k].abs().sum() == 0  # backward channels
    assert w[1][:2 * k].abs().sum() == 0 and torch.equal(w[1][2 * k:], w0[2 * k:])
    with torch.no_grad():
        assert not torch.allclose(net(clip), net(reverse), atol=1e-4)


def test_temporal_init_zero_is_the_exact_center_init_and_bad_values_are_one_line():
    from supernet.models.mlp3d import parse_temporal_init, temporal_init

    net = _center_initialised("sr4-sr4-sr4-sr4-sr4-sr4-sr4-sr4")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    temporal_init(net, "zero", seed=0)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    for bad in ("noise", "noise:0", "noise:2", "shift:0.6", "tsm:0.1", "noise:x"):
        with pytest.raises(ValueError, match="options.temporal_init") as info:
            parse_temporal_init(bad)
        assert "\n" not in str(info.value) and bad in str(info.value)


def test_temporal_init_option_runs_after_center_init_in_nas_train_and_only_on_mlp3d(tmp_path):
    from nas.config import load_run_config
    from nas.initialise import initialise

    two_d = build_model("cyclemlp-nano", num_classes=10)
    path = tmp_path / "2d.pt"
    torch.save(two_d.state_dict(), path)
    base = ["model.name=mlp3d-nano", "data.num_frames=32", "arch=sr4-sr4-sr4-sr4-sr4-sr4-sr4-sr4",
            f"options.center_init_from={path}"]
    cfg = load_run_config(None, base + ["options.temporal_init=noise:0.1", "train.seed=2"])
    net = build_model("mlp3d-nano", cfg.input_size, 10, arch=cfg.arch)
    how = initialise(net, cfg)
    assert "center-initialised" in how and "noise of 0.1" in how
    w = net.state_dict()["layers.0.token_mix.fc_t.weight"]
    assert w[:3].abs().sum() > 0 and torch.equal(w[3], two_d.state_dict()["layers.0.token_mix.fc_t.weight"][0])
    with pytest.raises(ValueError, match="temporal_init"):
        load_run_config(None, ["model.name=r3d-rs-nano", "options.temporal_init=noise:0.1"])
