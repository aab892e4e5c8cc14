"""Center initialization, official CycleMLP checkpoints, random-GTM regularization, two-path."""
import pytest
import torch

from nas.cost import model_cost
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
