"""The fast crop-resize-normalise equals the torch reference (F.interpolate, antialiased)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nas.data import ClipTransform
from nas.data.transforms import crop_resize_normalize, random_resized_crop_box, resize_weights

MEAN, STD = (0.45, 0.40, 0.35), (0.225, 0.25, 0.2)


def reference(frames, box, size, flip):
    """The transform before the optimisation: crop, /255, F.interpolate (bilinear,
    antialias), flip, normalise, as (3, T, size, size)."""
    top, left, h, w = box
    x = torch.from_numpy(np.ascontiguousarray(
        frames[:, top:top + h, left:left + w].transpose(0, 3, 1, 2))).float() / 255
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=True)
    if flip:
        x = x.flip(-1)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return ((x - mean) / std).permute(1, 0, 2, 3)


@pytest.mark.parametrize("height, width, box, size", [
    (64, 64, (5, 7, 40, 48), 64),          # upscale a random crop of a 64x64 clip
    (64, 64, (0, 0, 64, 64), 64),          # identity: no resize
    (64, 64, (3, 4, 20, 25), 32),
    (256, 340, (10, 20, 200, 230), 64),    # shrink rows > 2x: the banded product
    (256, 340, (0, 42, 256, 256), 64),
    (256, 340, (0, 0, 256, 340), 112),
    (120, 160, (7, 3, 9, 150), 16),        # extreme aspect ratios
])
@pytest.mark.parametrize("flip", [False, True])
def test_crop_resize_normalize_equals_interpolate(height, width, box, size, flip):
    frames = np.random.default_rng(0).integers(0, 256, (5, height, width, 3), dtype=np.uint8)
    ours = crop_resize_normalize(frames, box, size, MEAN, STD, flip)
    ref = reference(frames, box, size, flip)
    assert ours.shape == (3, 5, size, size) and ours.dtype == torch.float32
    assert ours.is_contiguous()
    torch.testing.assert_close(ours, ref, atol=2e-5, rtol=1e-5)


def test_resize_weights_rows_sum_to_one_and_match_interpolate():
    for n_in, n_out in [(7, 3), (3, 7), (340, 64), (64, 64), (1, 5)]:
        w = resize_weights(n_in, n_out)
        assert w.shape == (n_out, n_in)
        torch.testing.assert_close(w.sum(1), torch.ones(n_out))
        eye = torch.eye(n_in).view(1, 1, n_in, n_in)     # interpolate the identity: weights
        ref = F.interpolate(eye, size=(n_in, n_out), mode="bilinear", align_corners=False,
                            antialias=True)[0, 0].t()
        torch.testing.assert_close(w, ref, atol=1e-6, rtol=1e-5)


def test_clip_transform_outputs_match_reference_path():
    """A whole train / views transform equals cropping with the reference resize."""
    frames = np.random.default_rng(1).integers(0, 256, (24, 48, 80, 3), dtype=np.uint8)
    kw = dict(num_frames=8, size=32, sampling="dense", frame_interval=2, mean=MEAN, std=STD)
    train = ClipTransform(mode="train", flip=True, scale=(0.2, 1.0), **kw)
    for seed in range(6):
        gen = torch.Generator().manual_seed(seed)
        indices = train.indices(24, generator=gen)
        box = random_resized_crop_box(48, 80, train.scale, gen)
        flip = float(torch.rand(1, generator=gen)) < 0.5
        ours = train(frames, torch.Generator().manual_seed(seed))
        torch.testing.assert_close(ours, reference(frames[indices], box, 32, flip),
                                   atol=2e-5, rtol=1e-5)
    views = ClipTransform(mode="views", test_clips=2, test_crops=3, **kw)(
        frames, torch.Generator())
    assert views.shape == (6, 3, 8, 32, 32)
    first = ClipTransform(mode="test", **kw).indices(24, clip=1, num_clips=2)
    torch.testing.assert_close(views[5], reference(frames[first], (0, 32, 48, 48), 32, False),
                               atol=2e-5, rtol=1e-5)
