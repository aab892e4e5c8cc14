"""The papers' clip augmentations (`nas.data.augment`), repeated augmentation, the EMA of the
weights, and resume with all of them on."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas.config import load_run_config
from nas.data import ClipDataset, ClipSampler, ClipTransform, build_loader
from nas.data.augment import (RAND_OPS, ClipAugment, ClipMixer, RandAugmentSpec, apply_op,
                              batch_mixer, draw_rand_augment)
from nas.data.config import AugmentConfig
from supernet.training.checkpoint import load_checkpoint
from supernet.training.ema import ModelEma

pytestmark = pytest.mark.usefixtures("one_thread")

PAPER = {"rand_augment": "rand-m7-n4-mstd0.5-inc1", "erase_prob": 1.0}


class FakeClips(ClipDataset):
    """`n` fixed random videos of 6 frames, 20x24; the label is the index."""

    def __init__(self, n=8, augment=None, frames=None):
        super().__init__(ClipTransform(4, 16, "train", scale=(0.5, 1.0), flip=True, augment=augment))
        g = np.random.default_rng(0)
        self.frames = frames if frames is not None else g.integers(0, 256, (n, 6, 20, 24, 3), dtype=np.uint8)
        self.labels = list(range(len(self.frames)))

    def load_frames(self, index):
        return self.frames[index]


def augment(**kw):
    return ClipAugment.from_config(AugmentConfig(**kw), (0.45, 0.45, 0.45))


def test_rand_augment_uses_one_draw_for_every_frame():
    """A clip of identical frames stays a clip of identical frames under every draw, and the
    draws do change the pixels (against the same crop without augmentation). (Erasing's box
    is checked below; its noise is fresh per frame, as in PySlowFast.)"""
    still = np.repeat(np.random.default_rng(1).integers(0, 256, (1, 1, 20, 24, 3), dtype=np.uint8), 6, axis=1)
    plain = FakeClips(frames=still)
    aug = FakeClips(frames=still, augment=augment(rand_augment=PAPER["rand_augment"]))
    ops_seen, changed = set(), 0
    spec = RandAugmentSpec.parse(PAPER["rand_augment"])
    for seed in range(30):
        clip, _ = aug[(0, seed)]
        assert clip.shape == (3, 4, 16, 16)
        for t in range(1, 4):
            assert torch.equal(clip[:, t], clip[:, 0]), (seed, t)
        changed += not torch.allclose(clip, plain[(0, seed)][0])
        ops_seen |= {op for op, _ in draw_rand_augment(spec, torch.Generator().manual_seed(seed))}
    assert changed >= 24                       # each op is kept with p = 0.5: 1/16 keep none
    assert len(ops_seen) >= 12                     # the draws cover (nearly) all 15 ops


def test_rand_augment_ops_match_pil():
    """The ops are PIL's (what timm and PySlowFast apply): exact for the lookup-table ops,
    within one grey level for the blends, exact away from the border for the geometry."""
    from PIL import Image, ImageEnhance, ImageOps

    img = (np.random.default_rng(2).random((20, 24, 3)) ** 2 * 200 + 20).astype(np.uint8)
    x = torch.from_numpy(img.copy()).permute(2, 0, 1).float().div(255).unsqueeze(1)
    fill = torch.zeros(3, 1, 1, 1)
    cases = [("Equalize", 0, ImageOps.equalize, 0), ("Posterize", 3, lambda i: ImageOps.posterize(i, 3), 0),
             ("Solarize", 100, lambda i: ImageOps.solarize(i, 100), 0), ("Invert", 0, ImageOps.invert, 0),
             ("AutoContrast", 0, ImageOps.autocontrast, 1),
             ("Color", 1.6, lambda i: ImageEnhance.Color(i).enhance(1.6), 1),
             ("Contrast", 1.6, lambda i: ImageEnhance.Contrast(i).enhance(1.6), 1),
             ("Brightness", 0.6, lambda i: ImageEnhance.Brightness(i).enhance(0.6), 1),
             ("Sharpness", 1.8, lambda i: ImageEnhance.Sharpness(i).enhance(1.8), 1),
             ("TranslateX", 0.25, lambda i: i.transform(i.size, Image.AFFINE, (1, 0, 6, 0, 1, 0)), 0),
             ("Rotate", 20, lambda i: i.rotate(20, resample=Image.BILINEAR), None)]
    for op, arg, pil, tol in cases:
        ref = torch.from_numpy(np.asarray(pil(Image.fromarray(img))).copy()).permute(2, 0, 1).float()
        ours = (apply_op(x, op, arg, fill)[:, 0] * 255).round()
        if tol is None:                             # bilinear geometry: compare the interior
            ref, ours, tol = ref[:, 5:-5, 5:-5], ours[:, 5:-5, 5:-5], 1
        assert (ref - ours).abs().max() <= tol, op
    assert set(RAND_OPS) >= {c[0] for c in cases}


def test_random_erasing_is_one_box_in_bounds_on_every_frame():
    aug = augment(erase_prob=1.0, erase_area=(0.05, 0.25), erase_aspect=0.5)
    areas = []
    for seed in range(60):
        x = aug.erase(torch.zeros(3, 5, 20, 24), torch.Generator().manual_seed(seed))
        mask = (x != 0).any(0)                      # (T, H, W): erased pixels (N(0, 1) noise)
        assert all(torch.equal(mask[t], mask[0]) for t in range(5)), "the box moves between frames"
        rows, cols = mask[0].any(1).nonzero().flatten(), mask[0].any(0).nonzero().flatten()
        h, w = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
        assert int(mask[0].sum()) == h * w, "not one rectangle"
        areas.append(h * w / (20 * 24))
        assert 0.5 - 0.1 <= h / w <= 2.0 + 0.3      # aspect in [0.5, 2] up to rounding
        assert not torch.equal(x[:, 0], x[:, 1])    # fresh noise per frame (PySlowFast's cube mode)
    assert 0.05 - 0.01 <= min(areas) and max(areas) <= 0.25 + 0.02
    assert max(areas) - min(areas) > 0.1            # the area is drawn, not fixed
    half = augment(erase_prob=0.5)
    hits = sum(bool(half.erase(torch.zeros(3, 2, 16, 16), torch.Generator().manual_seed(s)).any())
               for s in range(200))
    assert 70 < hits < 130


def test_repeated_augmentation_gives_k_distinct_views_per_batch():
    sampler = ClipSampler(10, shuffle=True, seed=3, repeat=2)
    indices, seeds = sampler.order()
    assert len(indices) == 10 and len(set(seeds)) == 10          # epoch length stays in clips
    assert all(indices[i] == indices[i + 1] for i in range(0, 10, 2))
    assert len(set(indices)) == 5
    base = ClipSampler(10, shuffle=True, seed=3).order()
    assert base[1] == seeds and indices[::2] == base[0][:5]      # repeat=1 draws what it drew
    three = ClipSampler(10, shuffle=True, seed=3, repeat=3).order()[0]
    assert len(three) == 10 and three[:3] == [three[0]] * 3
    data = FakeClips(augment=augment(rand_augment="rand-m9-n2"))
    loader = build_loader(data, 4, sampler=ClipSampler(len(data), True, 0, repeat=2), drop_last=True)
    for clips, labels, _ in loader:
        for i in range(0, 4, 2):
            assert labels[i] == labels[i + 1]
            assert not torch.allclose(clips[i], clips[i + 1])
    with pytest.raises(ValueError, match="data.augment.repeat"):
        ClipSampler(10, repeat=0)


def test_mixup_and_cutmix_targets_sum_to_one_and_match_the_pixels():
    clips = torch.arange(4.0).view(4, 1, 1, 1, 1).expand(4, 3, 2, 10, 10).contiguous()
    labels = torch.tensor([0, 1, 2, 3])
    mixup = ClipMixer(5, mixup_alpha=0.8)
    mixed, targets = mixup(clips, labels, np.random.default_rng(0))
    lam = float(targets[0, 0])
    assert torch.allclose(targets.sum(1), torch.ones(4))
    assert 0 < lam < 1 and math.isclose(float(targets[0, 3]), 1 - lam, rel_tol=1e-6)
    assert torch.allclose(mixed[0], torch.full_like(mixed[0], 3 * (1 - lam)))
    cutmix = ClipMixer(5, cutmix_alpha=1.0)
    for seed in range(10):
        mixed, targets = cutmix(clips, labels, np.random.default_rng(seed))
        assert torch.allclose(targets.sum(1), torch.ones(4))
        pasted = (mixed[0] != 0).float()            # clip 0 is zeros; the box holds clip 3
        assert all(torch.equal(pasted[:, t], pasted[:, 0]) for t in range(2))
        assert math.isclose(float(pasted.mean()), float(targets[0, 3]), abs_tol=1e-6)
    # with label smoothing: torch's soft-target cross-entropy is timm's mixed smoothed one-hots
    logits, eps, lam = torch.randn(4, 5), 0.1, 0.7
    soft = F.one_hot(labels, 5) * lam + F.one_hot(labels.flip(0), 5) * (1 - lam)
    smooth = lambda y: F.one_hot(y, 5) * (1 - eps) + eps / 5             # noqa: E731
    timm = -(((smooth(labels) * lam + smooth(labels.flip(0)) * (1 - lam)) * logits.log_softmax(1)).sum(1)).mean()
    assert torch.allclose(F.cross_entropy(logits, soft.float(), label_smoothing=eps), timm)
    cfg = AugmentConfig(mixup_alpha=0.8, cutmix_alpha=1.0)
    a, b = batch_mixer(cfg, 5, seed=1), batch_mixer(cfg, 5, seed=1)
    assert torch.equal(a(clips, labels, 7)[0], b(clips, labels, 7)[0])   # a function of the step
    assert batch_mixer(AugmentConfig(), 5, seed=1) is None


def test_ema_update_matches_its_formula():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = ModelEma(net, 0.9)
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    net(torch.randn(8, 3))                           # BatchNorm statistics and counter move
    ema.update(net)
    now = net.state_dict()
    for k, v in ema.module.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, 0.9 * before[k] + 0.1 * now[k], atol=1e-7), k
        else:
            assert torch.equal(v, now[k]), k
    assert not any(p.requires_grad for p in ema.module.parameters())


def run_config(tmp_path, name, **train):
    return load_run_config(None, [], {
        "output_dir": str(tmp_path / name),
        "model": {"name": "mlp3d-nano", "kwargs": {"drop_path_rate": 0.1}},
        "data": {"dataset": "synthetic-temporal", "num_frames": 8, "size": 32, "num_classes": 4,
                 "train_clips_per_class": 3, "val_clips_per_class": 1, "cache_dir": str(tmp_path / "cache"),
                 "augment": {**PAPER, "erase_prob": 0.5, "repeat": 2, "mixup_alpha": 0.8,
                             "cutmix_alpha": 1.0}},
        "optim": {"lr": 1e-3, "base_batch_size": 4},
        "train": {"epochs": 2, "batch_size": 4, "checkpoint_every": 2, "seed": 1,
                  "ema": {"enabled": True, "decay": 0.8}, **train}})


def test_resume_is_bit_exact_with_every_augmentation_on(tmp_path):
    from nas.pretrain import run_pretrain

    assert run_pretrain(run_config(tmp_path, "full"), progress=False).step == 6
    run_pretrain(run_config(tmp_path, "part", max_steps=3), progress=False)
    assert load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")["step"] == 3
    run_pretrain(run_config(tmp_path, "part"), resume=True, progress=False)
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
        assert torch.equal(a["ema"]["model"][key], b["ema"]["model"][key]), key
    final = load_checkpoint(tmp_path / "full" / "supernet.pt")["model"]
    assert all(torch.equal(final[k], a["ema"]["model"][k]) for k in final)   # the result is the EMA
    assert not all(torch.equal(final[k], a["model"][k]) for k in final)
    def rows(name):                                  # all but the clips/s column (a timing)
        lines = (tmp_path / name / "metrics.csv").read_text().splitlines()
        return [line.split(",")[:5] + line.split(",")[6:] for line in lines]
    assert rows("full") == rows("part") and len(rows("full")) == 7


@pytest.mark.parametrize("key, value, needle", [
    ("data.augment.rand_augment", "rand-m12-n2", "data.augment.rand_augment='rand-m12-n2': the magnitude m must be in [0, mmax=10]"),
    ("data.augment.rand_augment", "auto-m7", "is not a RandAugment spec; use 'rand-m<magnitude"),
    ("data.augment.rand_augment", "rand-m7-x3", "'x3' is not one of m, n, mstd, mmax, inc, p"),
    ("data.augment.erase_prob", "1.5", "data.augment.erase_prob=1.5 is not allowed; use a number in [0, 1]"),
    ("data.augment.erase_area", "[0.5, 0.2]", "data.augment.erase_area=(0.5, 0.2) is not allowed; use [low, high] with 0 < low <= high < 1"),
    ("data.augment.repeat", "0", "data.augment.repeat=0 is not allowed; use an integer in 1..64"),
    ("data.augment.repeat", "3", "data.augment.repeat=3 must divide each process's batch"),
    ("data.augment.mixup_alpha", "-1", "data.augment.mixup_alpha=-1.0 is not allowed; use a number in [0, 100]"),
    ("train.ema.decay", "1.0", "train.ema.decay=1.0 is not allowed; use a number in [0, 1)"),
    ("train.ema.decay", "'x'", "train.ema.decay"),
])
def test_bad_augment_values_are_one_line_errors(tmp_path, capsys, key, value, needle):
    import yaml

    from nas.cli import main

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "out"), "model": {"name": "mlp3d-nano"},
                                    "data": {"num_frames": 8, "num_classes": 4, "train_clips_per_class": 2,
                                             "cache_dir": str(tmp_path / "cache")},
                                    "train": {"batch_size": 4, "max_steps": 1}}))
    assert main(["pretrain", "--config", str(path), "--set", f"{key}={value}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "out").exists()
