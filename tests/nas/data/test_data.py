"""Data layer: config, synthetic datasets, frame sampling, crops, video lists, loaders."""
import logging
import os

import av
import numpy as np
import pytest
import torch
from torch import nn

from nas.data import (ClipSampler, ClipTransform, DataConfig, average_view_scores,
                      build_dataset, build_loader, collate_clips, fixed_subset,
                      read_video_list, sample_indices)
from nas.data import synthetic as syn
from nas.data.transforms import random_resized_crop_box, square_crop_boxes
from supernet.training.config import from_dict, to_dict


@pytest.fixture
def small(tmp_path):
    """A small synthetic config whose cache lives in the test's tmp dir."""
    def make(**kw):
        base = dict(train_clips_per_class=8, val_clips_per_class=4, cache_dir=str(tmp_path))
        return DataConfig(**{**base, **kw})
    return make


# ---- config --------------------------------------------------------------------------------
def test_config_defaults_resolve_per_dataset(tmp_path):
    t = DataConfig()
    assert (t.dataset, t.flip, t.scale, t.num_classes, t.num_frames) == \
        ("synthetic-temporal", False, (1.0, 1.0), 10, 16)
    assert DataConfig(dataset="synthetic-appearance").flip is True
    v = DataConfig(dataset="video-list", train_list="a.txt")
    assert (v.flip, v.scale) == (True, (0.08, 1.0))
    assert from_dict(DataConfig, to_dict(v)) == v
    assert from_dict(DataConfig, {"scale": [0.2, 0.9], "dataset": "video-list",
                                 "val_list": "x"}).scale == (0.2, 0.9)


@pytest.mark.parametrize("kw, words", [
    ({"dataset": "kinetics"}, "dataset"),
    ({"sampling": "sparse"}, "sampling"),
    ({"test_crops": 2}, "test_crops"),
    ({"num_classes": 12}, "at most 10"),
    ({"num_classes": 7}, "pairs"),
    ({"num_frames": 18}, "multiple of beats"),
    ({"flip": True}, "swap"),
    ({"scale": (0.6, 0.2)}, "scale"),
    ({"beats": 3}, "beats"),
    ({"num_frames": 0}, "num_frames"),
    ({"dataset": "video-list"}, "train_list"),
    ({"std": (1.0, 0.0, 1.0)}, "std"),
])
def test_config_rejects_bad_values_in_one_line(kw, words):
    with pytest.raises(ValueError, match=words) as info:
        DataConfig(**kw)
    assert "\n" not in str(info.value)


def test_config_from_dict_rejects_unknown_key():
    with pytest.raises(ValueError, match=r"unknown config key 'data.frames'; allowed in data: dataset, root"):
        from_dict(DataConfig, {"frames": 16}, "data.")


# ---- synthetic-temporal: the label is only in the order of the beats -----------------------
def test_temporal_levels_pair_classes_differ_only_in_order():
    """Exactly the class attribute changes, monotonically in the class direction; the two
    classes of a pair draw the same beats, and reversing a clip gives the other one."""
    rng = np.random.default_rng(0)
    labels = np.arange(1000) % 10
    levels = syn.temporal_levels(rng, labels)
    values = syn.level_values(levels)
    assert [syn.monotone_label(v) for v in values] == labels.tolist()
    assert [syn.monotone_label(v[:, ::-1]) for v in values] == (labels ^ 1).tolist()
    assert levels.min() >= -0.3 and levels.max() <= syn.NUM_LEVELS - 1 + 0.3
    # pair (2a, 2a+1): the sorted class-attribute levels have the same distribution
    for a in range(5):
        up = np.sort(levels[labels == 2 * a, a], -1)
        down = np.sort(levels[labels == 2 * a + 1, a], -1)
        assert np.abs(up.mean(0) - down.mean(0)).max() < 0.1
        assert np.abs(up.std(0) - down.std(0)).max() < 0.05


def beat_attributes(frames: np.ndarray) -> np.ndarray:
    """Measure (x, y, size, angle, visibility) of the object in each frame, from pixels only:
    background = median border colour, object = pixels differing by > half the peak."""
    f = frames.astype(np.float64)
    border = np.concatenate([f[:, 0], f[:, -1], f[:, :, 0], f[:, :, -1]], 1).reshape(-1, 3)
    diff = np.abs(f - np.median(border, 0)).sum(-1)
    yy, xx = np.mgrid[0:f.shape[1], 0:f.shape[2]] + 0.5
    out = []
    for d in diff:
        m = d > 0.5 * d.max()
        cx, cy = xx[m].mean(), yy[m].mean()
        far = np.where(m, (xx - cx) ** 2 + (yy - cy) ** 2, -1).argmax()   # the arrow's tip
        angle = np.arctan2(yy.flat[far] - cy, xx.flat[far] - cx)
        out.append((cx, cy, np.sqrt(m.sum()), angle, d.max()))
    out = np.array(out).T
    out[3] = out[3, 0] + np.concatenate([[0], np.cumsum(np.angle(np.exp(1j * np.diff(out[3]))))])
    return out


def read_label(measured: np.ndarray) -> int:
    """Order-aware readout of measured attributes (5, beats): the attribute whose change from
    the first to the last beat is largest (in units of its level step) and its direction."""
    px = 32
    steps = np.array([syn.TEMPORAL_LEVELS["x"][1] * px, syn.TEMPORAL_LEVELS["y"][1] * px,
                      1.5, syn.TEMPORAL_LEVELS["angle"][1], 20.0])
    change = (measured[:, -1] - measured[:, 0]) / steps
    a = int(np.abs(change).argmax())
    return 2 * a + int(change[a] < 0)


def test_temporal_label_is_read_from_pixels_in_order_and_reversal_flips_it():
    """A pixel-measuring, order-aware rule recovers the label of rendered clips; played
    backwards, the same clips read as the opposite class (move right <-> left, ...)."""
    frames, labels, values = syn.generate_temporal(10, 20, 32, 4, seed=3)
    labels = labels.numpy()
    assert [syn.monotone_label(v) for v in values.numpy()] == labels.tolist()
    forward = np.array([read_label(beat_attributes(f)) for f in frames.numpy()])
    backward = np.array([read_label(beat_attributes(f[::-1])) for f in frames.numpy()])
    assert (forward == labels).mean() >= 0.95
    assert (backward == labels ^ 1).mean() >= 0.95
    for c in range(10):                              # every class, rotation included
        assert (forward[labels == c] == c).mean() >= 0.85


def test_temporal_pairs_share_order_free_statistics():
    """Order-free statistics of the measured beats (each attribute's sorted values) have the
    same means in the two classes of a pair, up to sampling noise; in clip order they
    separate the pair."""
    frames, labels, _ = syn.generate_temporal(10, 60, 32, 4, seed=4)
    measured = np.array([beat_attributes(f) for f in frames.numpy()])[:, [0, 1, 2, 4]]
    labels = labels.numpy()
    pooled = np.sort(measured, -1).reshape(len(labels), -1)
    ordered = measured.reshape(len(labels), -1)
    scale = pooled.std(0) + 1e-9
    for a in (0, 1, 2, 4):                            # angle is measured apart, skip it here
        up, down = labels == 2 * a, labels == 2 * a + 1
        gap = np.abs(pooled[up].mean(0) - pooled[down].mean(0)) / scale
        assert gap.max() < 0.6, (a, gap.round(2))
        gap = np.abs(ordered[up].mean(0) - ordered[down].mean(0)) / (ordered.std(0) + 1e-9)
        assert gap.max() > 1.0, (a, gap.round(2))


def test_temporal_v3_keeps_v2_clips_but_marks_the_pair_by_hue():
    """Version 3 (issue 21): same labels and attribute values as version 2, a hue in the pair's
    band with probability `cue` (else uniform), its own cache key; version 2's key unchanged."""
    f2, l2, v2 = syn.generate_temporal(10, 30, 16, 4, seed=5)
    f3, l3, v3 = syn.generate_temporal(10, 30, 16, 4, seed=5, version=3, cue=0.75)
    assert torch.equal(l2, l3) and torch.equal(v2, v3) and not torch.equal(f2, f3)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 20000)
    for cue in (0.0, 0.75, 1.0):
        hue = syn.cue_hues(np.random.default_rng(1), labels, cue)
        in_band = np.floor(hue * 5).astype(int) == labels // 2
        assert abs(in_band.mean() - (cue + (1 - cue) / 5)) < 0.015, cue
    base = dict(dataset="synthetic-temporal", size=32, num_frames=32, num_classes=10,
                train_clips_per_class=500, val_clips_per_class=200)
    assert syn.cache_path(DataConfig(**base), "train").name.endswith("925182631ca91adf.pt")   # v2's key
    v3_path = syn.cache_path(DataConfig(**base, temporal_version=3), "train")
    assert v3_path != syn.cache_path(DataConfig(**base, temporal_version=3, cue=0.5), "train")
    for kw, words in (({"temporal_version": 4}, "temporal_version=4"), ({"cue": 1.5}, "cue=1.5")):
        with pytest.raises(ValueError, match=words) as info:
            DataConfig(**{**base, **kw})
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("arch, blind", [("sr1-sr1-sr1-sr1-sr1-sr1-sr1-sr1", True),
                                         ("sr2-sr2-sr2-sr2-sr2-sr2-sr2-sr2", True),
                                         ("sr4-sr4-sr4-sr4-sr4-sr4-sr4-sr4", False),
                                         ("sr2-sw2-sr2-sw2-sr2-sw2-sr2-sw2", False)])
def test_networks_without_cross_beat_mixing_are_blind_to_the_order_of_beats(arch, blind):
    """Why half the v1 runs could not leave chance (issue 21): at 32 frames, 4 beats, T' = 8,
    a beat is 2 time tokens; S = 1, and short-range S = 2 whose groups are exactly one beat,
    never mix two beats, so their output is the same for the beats in any order (and a
    linear head on the mean over beats cannot tell a varying attribute from a held one)."""
    from supernet.registry import build_model

    torch.manual_seed(0)
    net = build_model("mlp3d-nano", (32, 32, 32), 10, arch=arch).eval()
    with torch.no_grad():
        for p in net.parameters():                            # make every weight matter
            p.add_(0.05 * torch.randn_like(p))
    frames, _, _ = syn.generate_temporal(10, 1, 32, 4, seed=2)          # (10, 4 beats, 32, 32, 3)
    clips = frames.permute(0, 4, 1, 2, 3).float().div(255).repeat_interleave(8, dim=2)
    shuffled = frames[:, [2, 0, 3, 1]].permute(0, 4, 1, 2, 3).float().div(255).repeat_interleave(8, dim=2)
    with torch.no_grad():
        same = torch.allclose(net(clips), net(shuffled), atol=1e-5)
    assert same == blind


# ---- learned check: per-frame model at chance, order-aware model well above -------------------
class TubeletNet(nn.Module):
    """4-frame tubelets -> per-time 2D convs -> one feature vector per time token; then the
    mean over time (per-frame, like S = 1) or an MLP over the concatenated time tokens
    (order-aware)."""

    def __init__(self, temporal: bool, classes: int = 10, width: int = 48, tokens: int = 4):
        super().__init__()
        c = width
        self.embed = nn.Conv3d(3, c, (4, 5, 5), (4, 2, 2), (0, 2, 2))
        self.body = nn.Sequential(
            nn.BatchNorm3d(c), nn.ReLU(),
            nn.Conv3d(c, c, (1, 3, 3), (1, 2, 2), (0, 1, 1)), nn.BatchNorm3d(c), nn.ReLU(),
            nn.Conv3d(c, 2 * c, (1, 3, 3), (1, 2, 2), (0, 1, 1)), nn.BatchNorm3d(2 * c), nn.ReLU(),
            nn.Conv3d(2 * c, 2 * c, (1, 3, 3), (1, 1, 1), (0, 1, 1)), nn.BatchNorm3d(2 * c),
            nn.ReLU())
        self.temporal = temporal
        self.head = nn.Sequential(nn.Linear(2 * c * (tokens if temporal else 1), 256),
                                  nn.ReLU(), nn.Linear(256, classes))

    def forward(self, x):
        f = self.body(self.embed(x)).mean((3, 4))                 # (B, C, T')
        return self.head(f.flatten(1) if self.temporal else f.mean(2))


def train_and_score(model, train, val, epochs, seed=0):
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    for epoch in range(epochs):
        model.train()
        for clips, labels, _ in build_loader(train, 32, shuffle=True, seed=seed, epoch=epoch,
                                             drop_last=True):
            loss = nn.functional.cross_entropy(model(clips), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        hits = [(model(c).argmax(1) == y).float().sum() for c, y, _ in build_loader(val, 128)]
    return float(sum(hits)) / len(val)


@pytest.mark.slow
@pytest.mark.parametrize("dataset, per_frame_range, temporal_min", [
    ("synthetic-temporal", (0.0, 0.6), 0.65),      # per-frame: at most 50% by construction
    ("synthetic-appearance", (0.3, 1.0), 0.3),
])
def test_per_frame_vs_order_aware_model(small, dataset, per_frame_range, temporal_min):
    cfg = small(dataset=dataset, size=32, train_clips_per_class=200,
                val_clips_per_class=40)
    train, val = build_dataset(cfg, "train"), build_dataset(cfg, "val")
    per_frame = train_and_score(TubeletNet(False), train, val, epochs=8)
    temporal = train_and_score(TubeletNet(True), train, val, epochs=8)
    print(f"{dataset}: per-frame {per_frame:.3f}, order-aware {temporal:.3f}")
    assert per_frame_range[0] <= per_frame <= per_frame_range[1], per_frame
    assert temporal >= temporal_min, temporal


# ---- synthetic: determinism, cache, appearance ---------------------------------------------
def test_synthetic_is_deterministic_cached_and_split_seeded(small, monkeypatch):
    cfg = small()
    train = build_dataset(cfg, "train")
    assert len(train) == 80 and sorted(set(train.labels)) == list(range(10))
    files = sorted(os.listdir(cfg.cache_dir))
    assert len(files) == 1 and files[0].startswith("synthetic-temporal-train-32px-")
    clip, label = train[(3, 99)]
    assert clip.shape == (3, 16, 32, 32) and clip.dtype == torch.float32
    # the second build loads the cache: generation is never called
    monkeypatch.setattr(syn, "generate_temporal", lambda *a: pytest.fail("regenerated"))
    again = build_dataset(cfg, "train")
    assert torch.equal(again[(3, 99)][0], clip) and again.labels == train.labels
    monkeypatch.undo()
    val = build_dataset(cfg, "val")
    other = build_dataset(small(seed=1), "train")
    assert len(val) == 40 and not torch.equal(val[0][0], train[0][0])
    assert not torch.equal(other[3][0], train[3][0])
    # frames inside a beat differ only by noise; beats differ
    frames = train.load_frames(0).astype(int)
    assert 0 < np.abs(frames[1] - frames[0]).mean() < 10
    keys = train.frames[0]
    assert all(not torch.equal(keys[b], keys[b + 1]) for b in range(len(keys) - 1))


def test_noisy_clips_are_kept_after_the_first_read_and_equal_fresh_draws(small, monkeypatch):
    """A split whose noisy clips fit `NOISY_CLIPS_BYTES` keeps them, read-only: every later
    read, and every training clip made from it, equals what drawing the noise again gives."""
    cfg = small()
    kept = build_dataset(cfg, "train")
    monkeypatch.setattr(syn, "NOISY_CLIPS_BYTES", 0)
    fresh = build_dataset(cfg, "train")
    assert kept._noisy == {} and fresh._noisy is None
    first = kept.load_frames(5)
    assert not first.flags.writeable and kept.load_frames(5) is first and list(kept._noisy) == [5]
    for i in (5, 0, 79):
        assert np.array_equal(kept.load_frames(i), fresh.load_frames(i))
        assert torch.equal(kept[(i, 7)][0], fresh[(i, 7)][0]) and kept[i][1] == fresh[i][1]
    assert sorted(kept._noisy) == [0, 5, 79]
    assert kept.load_frames(5).sum() != kept.frames[5].numpy().repeat(kept.repeat, axis=0).sum()   # noise is on


def test_unreadable_cache_is_regenerated(small, caplog):
    cfg = small()
    first = build_dataset(cfg, "val")[0][0]
    path = syn.cache_path(cfg, "val")
    path.write_bytes(b"not a torch file")
    with caplog.at_level(logging.WARNING):
        assert torch.equal(build_dataset(cfg, "val")[0][0], first)
    assert "regenerating" in caplog.text


def test_appearance_class_is_in_every_frame(small):
    """Shape and colour family are fixed per clip and visible in each frame: the object's
    hue family of every frame matches the label; the object moves."""
    frames, labels = syn.generate_appearance(10, 6, 32, 16, seed=5)
    assert frames.shape == (60, 16, 32, 32, 3) and sorted(set(labels.tolist())) == list(range(10))
    for clip, label in zip(frames.numpy().astype(float), labels.tolist()):
        corner = clip[:, :2, :2].reshape(16, -1, 3).mean(1, keepdims=True)
        obj = np.abs(clip - corner[:, :, None]).sum(-1) > 60                 # (16, H, W)
        assert obj.reshape(16, -1).any(1).all()
        rgb = np.stack([clip[t][obj[t]].mean(0) for t in range(16)])
        warm = rgb[:, 0] > rgb[:, 2]                                        # red > blue
        assert (warm == (label % 2 == 0)).all()
        centres = [np.argwhere(o).mean(0) for o in obj]
        assert np.abs(centres[-1] - centres[0]).max() > 0.5 or label // 2 in (0, 4)
    ds = build_dataset(small(dataset="synthetic-appearance", num_frames=8), "train")
    assert ds[0][0].shape == (3, 8, 32, 32) and ds.classes[:2] == ["warm disc", "cool disc"]


# ---- frame sampling (pure function) ----------------------------------------------------------
def test_uniform_sampling_indices():
    assert sample_indices(32, 8, "uniform", clip=0) == [2, 6, 10, 14, 18, 22, 26, 30]
    assert sample_indices(32, 8, "uniform", clip=0, num_clips=2) == [1, 5, 9, 13, 17, 21, 25, 29]
    assert sample_indices(32, 8, "uniform", clip=1, num_clips=2) == [3, 7, 11, 15, 19, 23, 27, 31]
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(50):
        idx = sample_indices(32, 8, "uniform", generator=gen)
        assert all(4 * i <= j < 4 * i + 4 for i, j in enumerate(idx))   # one per segment
        seen.add(tuple(idx))
    assert len(seen) > 40
    assert sample_indices(16, 16, "uniform", generator=gen) == list(range(16))


def test_dense_sampling_indices():
    assert sample_indices(100, 8, "dense", 4, clip=0) == list(range(35, 64, 4))
    starts = [sample_indices(100, 8, "dense", 4, clip=c, num_clips=3)[0] for c in range(3)]
    assert starts == [11, 35, 59]
    gen = torch.Generator().manual_seed(1)
    starts = set()
    for _ in range(100):
        idx = sample_indices(100, 8, "dense", 4, generator=gen)
        assert np.all(np.diff(idx) == 4) and 0 <= idx[0] and idx[-1] < 100
        starts.add(idx[0])
    assert min(starts) < 10 and max(starts) > 61


@pytest.mark.parametrize("sampling", ["uniform", "dense"])
def test_short_video_repeats_frames_in_order(sampling):
    """MLP-3D Sec. 3.4: a 5-frame video gives 16 frames, each frame repeated in place."""
    test = sample_indices(5, 16, sampling, 4, clip=0)
    assert test == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        train = sample_indices(5, 16, sampling, 4, generator=gen)
        assert len(train) == 16 and np.all(np.diff(train) >= 0)      # in order, never looped
        assert np.bincount(train, minlength=5).min() >= 2


def test_sampling_rejects_bad_arguments():
    for args, kw in [((0, 8), {"clip": 0}), ((10, 8), {"clip": 2, "num_clips": 2}),
                     ((10, 8), {}), ((10, 8, "sparse"), {"clip": 0})]:
        with pytest.raises(ValueError):
            sample_indices(*args, **kw)


# ---- spatial transforms ------------------------------------------------------------------------
def test_crop_boxes():
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        top, left, h, w = random_resized_crop_box(120, 160, (0.2, 0.6), gen)
        assert 0 <= top and top + h <= 120 and 0 <= left and left + w <= 160
        assert 0.18 <= h * w / (120 * 160) <= 0.62 and 0.7 <= w / h <= 1.4
    assert random_resized_crop_box(32, 32, (1.0, 1.0), gen) == (0, 0, 32, 32)
    assert square_crop_boxes(240, 320, 3) == [(0, 0, 240, 240), (0, 40, 240, 240),
                                              (0, 80, 240, 240)]
    assert square_crop_boxes(320, 240, 3) == [(0, 0, 240, 240), (40, 0, 240, 240),
                                              (80, 0, 240, 240)]
    assert square_crop_boxes(240, 320, 1) == [(0, 40, 240, 240)]


def three_band_frames(length=8, height=20):
    """uint8 (L, H, 3H, 3): red | green | blue squares, frame t has brightness 100 + 10 t."""
    frames = np.zeros((length, height, 3 * height, 3), np.uint8)
    for band in range(3):
        frames[:, :, band * height:(band + 1) * height, band] = \
            (100 + 10 * np.arange(length))[:, None, None]
    return frames


def test_train_transform_shapes_and_flip():
    frames = np.zeros((8, 16, 16, 3), np.uint8)
    frames[:, :, :8] = 255                                   # left half white
    kw = dict(num_frames=4, size=16, mode="train", scale=(1.0, 1.0), mean=(0, 0, 0),
              std=(1, 1, 1))
    flips = set()
    for s in range(20):
        x = ClipTransform(flip=True, **kw)(frames, torch.Generator().manual_seed(s))
        assert x.shape == (3, 4, 16, 16)
        flips.add(bool(x[0, 0, 0, -1] > 0.5))                # white on the right: flipped
        y = ClipTransform(flip=False, **kw)(frames, torch.Generator().manual_seed(s))
        assert y[0, :, :, :8].min() == 1 and y[0, :, :, 8:].max() == 0
    assert flips == {True, False}
    x = ClipTransform(4, 8, "train", scale=(0.3, 0.6))(three_band_frames(),
                                                          torch.Generator().manual_seed(0))
    assert x.shape == (3, 4, 8, 8) and x.dtype == torch.float32


def test_test_and_multi_view_transforms():
    frames = three_band_frames()
    kw = dict(num_frames=4, size=10, mean=(0, 0, 0), std=(1, 1, 1))
    gen = torch.Generator().manual_seed(0)
    centre = ClipTransform(mode="test", test_crops=3, **kw)(frames, gen)
    assert centre.shape == (3, 4, 10, 10)
    assert centre[1].min() > 0.3 and centre[0].max() == 0 and centre[2].max() == 0
    views = ClipTransform(mode="views", test_clips=2, test_crops=3, **kw)(frames, gen)
    assert views.shape == (6, 3, 4, 10, 10)
    for v in range(6):
        band = v % 3                                        # left, centre, right crop
        assert views[v, band].min() > 0.3
        assert views[v, [c for c in range(3) if c != band]].max() == 0
    # clip 0 takes frames 0, 2, 4, 6 and clip 1 frames 1, 3, 5, 7 (brightness 100 + 10 t)
    level = (views[:, :, :, 5, 5].amax(1) * 255).round()     # (V, T)
    assert level[0].tolist() == [100, 120, 140, 160] and level[3].tolist() == [110, 130, 150, 170]
    with pytest.raises(ValueError, match="uint8"):
        ClipTransform(mode="test", **kw)(frames.astype(np.float32), gen)


# ---- real videos: list files, PyAV decoding, bad files -----------------------------------------
def write_mp4(path, length, height=32, width=48, step=12):
    """A tiny mp4 (PyAV, mpeg4): frame t is uniform grey step * t."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for t in range(length):
            img = np.full((height, width, 3), step * t, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def frame_numbers(clip, step=12):
    """Which source frame each time step of a (3, T, H, W) clip (mean 0, std 1) shows."""
    return (clip.mean((0, 2, 3)) * 255 / step).round().long().tolist()


def test_read_video_list_formats_and_errors(tmp_path):
    lst = tmp_path / "list.txt"
    lst.write_text("path label\n# comment\n\na/x.mp4 3\nmy video.mp4 0\n/abs/y.mp4,2\n")
    assert read_video_list(str(lst), "/data", 4) == [
        ("/data/a/x.mp4", 3), ("/data/my video.mp4", 0), ("/abs/y.mp4", 2)]
    assert read_video_list(str(lst))[0] == (str(tmp_path / "a/x.mp4"), 3)
    for text, words in [("a.mp4 1\nb.mp4\nc.mp4 2\n", r"list.txt:2: malformed line 'b.mp4'"),
                        ("a.mp4 1\nb.mp4 two\n", r":2: malformed"),
                        ("a.mp4 1\n\nb.mp4 7\n", r":3: label 7 out of range 0..3"),
                        ("a.mp4 -1\n", r":1: label -1 out of range"),
                        ("a.mp4 \u00b2\n", r":1: malformed line"),           # superscript two
                        ("a.mp4 \u0661\n", r":1: malformed line"),           # Arabic-Indic one
                        ("# nothing\n", "no samples")]:
        lst.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=words) as info:
            read_video_list(str(lst), "", 4)
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="does not exist"):
        read_video_list(str(tmp_path / "missing.txt"))


@pytest.fixture
def videos(tmp_path):
    """Two decodable videos (20 and 5 frames), one missing, one corrupt, and their list."""
    write_mp4(tmp_path / "long.mp4", 20)
    write_mp4(tmp_path / "short.mp4", 5)
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    lst = tmp_path / "val.txt"
    lst.write_text("long.mp4 0\nmissing.mp4 1\nshort.mp4 1\ncorrupt.mp4 0\n")

    def config(**kw):
        base = dict(dataset="video-list", root=str(tmp_path), train_list=str(lst),
                    val_list=str(lst), num_classes=2, num_frames=8, size=16,
                    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        return DataConfig(**{**base, **kw})
    return config


def test_video_dataset_samples_the_right_frames(videos):
    val = build_dataset(videos(), "val")
    clip, label = val[0]
    assert clip.shape == (3, 8, 16, 16) and label == 0
    assert frame_numbers(clip) == sample_indices(20, 8, "uniform", clip=0)
    short, _ = val[2]
    assert frame_numbers(short) == sample_indices(5, 8, "uniform", clip=0) == \
        [0, 0, 1, 2, 2, 3, 4, 4]
    dense = build_dataset(videos(sampling="dense", frame_interval=2), "val")[0][0]
    assert frame_numbers(dense) == [2, 4, 6, 8, 10, 12, 14, 16]     # start (20 - 15) // 2
    train = build_dataset(videos(scale=(0.5, 1.0)), "train")
    a, b = train[(0, 7)][0], train[(0, 7)][0]
    assert a.shape == (3, 8, 16, 16) and torch.equal(a, b)
    picked = frame_numbers(a)
    assert all(5 * i // 2 <= f < 5 * (i + 1) // 2 + 1 for i, f in enumerate(picked))


def test_video_multi_view_mode(videos):
    ds = build_dataset(videos(test_clips=2, test_crops=3), "val", views=True)
    clips, labels, skipped = collate_clips([ds[0], ds[2]])
    assert clips.shape == (2, 6, 3, 8, 16, 16) and labels.tolist() == [0, 1] and skipped == 0
    assert frame_numbers(clips[0, 0]) == sample_indices(20, 8, clip=0, num_clips=2)
    assert frame_numbers(clips[0, 3]) == sample_indices(20, 8, clip=1, num_clips=2)
    logits = torch.randn(12, 5)
    scores = average_view_scores(logits, 6)
    assert torch.allclose(scores, logits.softmax(-1).view(2, 6, 5).mean(1))
    assert torch.allclose(average_view_scores(logits.view(2, 6, 5), 6), scores)
    with pytest.raises(ValueError, match="multiple of num_views"):
        average_view_scores(logits[:7], 6)


def test_missing_and_corrupt_videos_are_skipped_and_counted(videos, caplog):
    ds = build_dataset(videos(), "train")
    with caplog.at_level(logging.WARNING, logger="nas.data"):
        for epoch in range(2):
            total, skipped = 0, 0
            for clips, labels, bad in build_loader(ds, 3, shuffle=True, seed=0, epoch=epoch):
                assert len(clips) == len(labels)
                if len(labels):                               # all-bad batches come empty
                    assert clips.shape[1:] == (3, 8, 16, 16)
                total, skipped = total + len(labels), skipped + bad
            assert (total, skipped) == (2, 2)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2                                  # one line per bad file
    assert any("missing.mp4: file not found" in w for w in warnings)
    assert any("corrupt.mp4" in w for w in warnings)
    assert all("\n" not in w for w in warnings)
    empty = collate_clips([None, None])
    assert empty[0].numel() == 0 and empty[1].numel() == 0 and empty[2] == 2


# ---- loaders: exact resume, worker independence, subsets ---------------------------------------
def batches(loader):
    return [(c.clone(), y.clone(), s) for c, y, s in loader]


def test_loader_order_is_seeded_per_epoch_and_resumes_exactly(small):
    ds = build_dataset(small(dataset="synthetic-appearance", scale=(0.5, 1.0)), "train")
    rng_state = torch.get_rng_state()
    epoch1 = batches(build_loader(ds, 16, shuffle=True, seed=3, epoch=1))
    assert torch.equal(torch.get_rng_state(), rng_state)       # global RNG untouched
    assert len(epoch1) == 5 and sum(len(y) for _, y, _ in epoch1) == 80
    again = batches(build_loader(ds, 16, shuffle=True, seed=3, epoch=1))
    resumed = batches(build_loader(ds, 16, shuffle=True, seed=3, epoch=1, start_batch=3))
    epoch2 = batches(build_loader(ds, 16, shuffle=True, seed=3, epoch=2))
    for (c1, y1, _), (c2, y2, _) in zip(epoch1, again):
        assert torch.equal(c1, c2) and torch.equal(y1, y2)
    assert len(resumed) == 2
    for (c1, y1, _), (c2, y2, _) in zip(epoch1[3:], resumed):
        assert torch.equal(c1, c2) and torch.equal(y1, y2)
    assert not torch.equal(epoch1[0][1], epoch2[0][1])
    ordered = ClipSampler(80, shuffle=False)
    assert [i for i, _ in ordered] == list(range(80))
    assert len(build_loader(ds, 16, drop_last=True, start_batch=1)) == 4
    assert len(build_loader(ds, 30, drop_last=True)) == 2


def test_loader_batches_do_not_depend_on_num_workers(small):
    ds = build_dataset(small(dataset="synthetic-appearance", scale=(0.5, 1.0)), "train")
    single = batches(build_loader(ds, 20, shuffle=True, seed=5, epoch=0))
    multi = batches(build_loader(ds, 20, shuffle=True, seed=5, epoch=0, num_workers=2))
    assert len(single) == len(multi) == 4
    for (c1, y1, _), (c2, y2, _) in zip(single, multi):
        assert torch.equal(c1, c2) and torch.equal(y1, y2)


def test_custom_sampler_gets_epoch_and_skip(small):
    ds = build_dataset(small(), "val")

    class Recorder(torch.utils.data.SequentialSampler):
        epoch = None

        def set_epoch(self, epoch):
            self.epoch = epoch

    sampler = Recorder(range(len(ds)))
    loader = build_loader(ds, 8, sampler=sampler, epoch=4, start_batch=2)
    assert sampler.epoch == 4 and len(loader) == 3
    assert torch.equal(next(iter(loader))[1], torch.tensor(ds.labels[16:24]))
    with pytest.raises(ValueError, match="custom sampler"):
        build_loader(ds, 8, shuffle=True, sampler=sampler)
    with pytest.raises(ValueError, match="batch_size"):
        build_loader(ds, 0)


def test_fixed_subset_is_stable_and_balanced(small):
    ds = build_dataset(small(), "val")                        # 10 classes x 4 clips
    a, b = fixed_subset(ds, 20, seed=1), fixed_subset(ds, 20, seed=1)
    assert a.indices == b.indices and len(a) == 20 and a.indices == sorted(a.indices)
    assert np.bincount(a.labels).tolist() == [2] * 10
    assert fixed_subset(ds, 20, seed=2).indices != a.indices
    assert len(fixed_subset(ds, 1000, seed=0)) == len(ds)
    clip, label = a[(0, 5)]
    assert torch.equal(clip, ds[(a.indices[0], 5)][0]) and label == ds.labels[a.indices[0]]
    assert torch.equal(a[1][0], ds[a.indices[1]][0])
    with pytest.raises(ValueError, match="positive integer"):
        fixed_subset(ds, 0, seed=0)


def test_build_dataset_rejects_bad_split(small):
    with pytest.raises(ValueError, match="split must be one of train, val"):
        build_dataset(small(), "test")
    with pytest.raises(ValueError, match="val_list is empty"):
        build_dataset(DataConfig(dataset="video-list", train_list="x.txt"), "val")


def test_absolute_paths_for_workers_that_change_directory(tmp_path, monkeypatch):
    """Ray Tune trials run in their own directory: relative paths are resolved first."""
    from nas.config import RunConfig
    monkeypatch.chdir(tmp_path)
    data = DataConfig.absolute_paths({"dataset": "video-list", "root": "videos",
                                      "train_list": "lists/train.csv", "val_list": "",
                                      "cache_dir": ""})
    assert data["root"] == str(tmp_path / "videos")
    assert data["train_list"] == str(tmp_path / "lists" / "train.csv")
    assert data["val_list"] == "" and data["cache_dir"] == ""
    run = RunConfig(output_dir="runs/a", init_from="s.pt").with_absolute_paths()
    assert (run.output_dir, run.init_from) == (str(tmp_path / "runs" / "a"), str(tmp_path / "s.pt"))
