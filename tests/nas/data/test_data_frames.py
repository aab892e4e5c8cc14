"""frame-folder datasets: MMAction2 rawframes and PySlowFast lists, equal clips to the video,
bad frames skipped."""
import logging

import numpy as np
import pytest
import torch

from nas.data import DataConfig, build_dataset, build_loader, read_frame_list, sample_indices
from nas.data.decoders import decode_video
from nas.data.videogen import moving_frames, write_frame_folder, write_video
from tests.support import ROOT


def test_rawframes_list_formats_and_errors(tmp_path):
    lst = tmp_path / "train.txt"
    lst.write_text("# dir frames label\n\nvid a 12 3\n/abs/vid_b 5 0\n")
    samples = read_frame_list(str(lst), "/data", 4)
    assert [(s.name, s.folder, s.count, s.label) for s in samples] == [
        ("vid a", "/data/vid a", 12, 3), ("/abs/vid_b", "/abs/vid_b", 5, 0)]
    assert samples[0].path(0, "img_{:05d}.jpg", 1) == "/data/vid a/img_00001.jpg"
    assert read_frame_list(str(lst))[0].folder == str(tmp_path / "vid a")
    for text, words in [("a 12\n", r"train.txt:1: malformed line 'a 12'; expected '<frame dir> "
                                    r"<num frames> <integer label>'"),
                        ("a 12 1\nb x 1\n", r":2: malformed line"),
                        ("a 0 1\n", r":1: 'a' has 0 frames"),
                        ("a 3 4\n", r":1: label 4 out of range 0..3"),
                        ("a 3 one\n", r"label 'one' is not an integer"),
                        ("a 3 \u00b2\n", r"label '\u00b2' is not an integer"),   # str.isdigit says yes
                        ("a \u0661\u0662 1\n", r":1: malformed line"),
                        ("# nothing\n", "has no samples")]:
        lst.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=words) as info:
            read_frame_list(str(lst), "", 4)
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="frame list .* does not exist"):
        read_frame_list(str(tmp_path / "nope.txt"))


def test_slowfast_frame_list(tmp_path):
    lst = tmp_path / "val.csv"
    lst.write_text("original_vido_id video_id frame_id path labels\n"
                   "v1 0 1 v1/000002.jpg 2\n"
                   "v1 0 0 v1/000001.jpg 2\n"
                   "v2 1 0 v2/000001.jpg \"1,3\"\n")
    samples = read_frame_list(str(lst), "/r", 4)
    assert [(s.name, s.count, s.label, s.paths) for s in samples] == [
        ("v1", 2, 2, ["/r/v1/000001.jpg", "/r/v1/000002.jpg"]), ("v2", 1, 1, ["/r/v2/000001.jpg"])]
    lst.write_text("original_vido_id video_id frame_id path labels\n78687 0 0 78687/1.jpg \"\"\n")
    with pytest.raises(ValueError, match=r"val.csv:2: video '78687' has no label"):
        read_frame_list(str(lst), "", 174)


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """One H.264 video and its decoded frames as a PNG folder (lossless) and a JPEG folder."""
    root = tmp_path_factory.mktemp("twins")
    video = write_video(root / "v.mp4", moving_frames(40, 48, 64, seed=2), gop=12)
    decoded = decode_video(str(video))
    frames = decoded[range(len(decoded))]
    write_frame_folder(root / "png" / "v", frames, "img_{:05d}.png")
    write_frame_folder(root / "jpg" / "v", frames, "frame_{:04d}.jpg", start_index=0)
    (root / "videos.txt").write_text("v.mp4 1\n")
    (root / "png.txt").write_text("v 40 1\n")
    (root / "jpg.txt").write_text("v 40 1\n")
    return root


def configs(root, **kw):
    base = {**dict(num_classes=2, num_frames=8, size=32, sampling="dense", frame_interval=2,
                   scale=(0.2, 1.0), test_clips=2, test_crops=3), **kw}
    video = DataConfig(dataset="video-list", root=str(root), train_list=str(root / "videos.txt"),
                       val_list=str(root / "videos.txt"), **base)
    png = DataConfig(dataset="frame-folder", root=str(root / "png"),
                     train_list=str(root / "png.txt"), val_list=str(root / "png.txt"),
                     filename_tmpl="img_{:05d}.png", **base)
    jpg = DataConfig(dataset="frame-folder", root=str(root / "jpg"),
                     train_list=str(root / "jpg.txt"), val_list=str(root / "jpg.txt"),
                     filename_tmpl="frame_{:04d}.jpg", start_index=0, **base)
    return video, png, jpg


@pytest.mark.parametrize("sampling", ["dense", "uniform"])
def test_video_and_its_frames_give_the_same_clips(twins, sampling):
    """Same clip indices, crops and flips: exactly equal clips from lossless frames, equal up
    to JPEG error from JPEG frames, in training, testing and multi-view modes."""
    video, png, jpg = (build_dataset(c, "train") for c in configs(twins, sampling=sampling))
    for seed in range(5):
        a, b, c = video[(0, seed)], png[(0, seed)], jpg[(0, seed)]
        assert a[1] == b[1] == c[1] == 1
        assert torch.equal(a[0], b[0])
        assert (a[0] - c[0]).abs().mean() < 0.05          # a wrong frame or crop is ~0.5
    video, png, jpg = (build_dataset(c, "val", views=True) for c in configs(twins, sampling=sampling))
    assert video[0][0].shape == (6, 3, 8, 32, 32)
    assert torch.equal(video[0][0], png[0][0])
    assert (video[0][0] - jpg[0][0]).abs().mean() < 0.05
    other = build_dataset(configs(twins, sampling=sampling)[1], "train")[(0, 99)][0]
    assert (other - png[0][0][0]).abs().mean() > 0.1      # the comparison can fail


def test_frames_read_are_only_those_the_views_need(twins, monkeypatch):
    from nas.data import frames as frames_module
    read = []
    real = frames_module.decode_image
    monkeypatch.setattr(frames_module, "decode_image", lambda p: read.append(p) or real(p))
    png = build_dataset(configs(twins)[1], "val", views=True)
    png[0]
    # dense 8 x 2 over 40 frames, 2 clips: frames 6, 8, .. 20 and 18, 20, .. 32, each read once
    wanted = {i for c in range(2) for i in sample_indices(40, 8, "dense", 2, clip=c, num_clips=2)}
    assert len(wanted) == 14 and sorted(read) == [
        str(twins / "png" / "v" / f"img_{i + 1:05d}.png") for i in sorted(wanted)]


@pytest.fixture
def broken(tmp_path):
    frames = moving_frames(6, 24, 32, seed=3)
    for name in ("good", "missing", "corrupt", "truncated", "sizes"):
        write_frame_folder(tmp_path / name, frames)
    (tmp_path / "missing" / "img_00004.jpg").unlink()
    (tmp_path / "corrupt" / "img_00002.jpg").write_bytes(b"not a jpeg" * 10)
    data = (tmp_path / "truncated" / "img_00006.jpg").read_bytes()
    (tmp_path / "truncated" / "img_00006.jpg").write_bytes(data[:len(data) // 2])
    write_frame_folder(tmp_path / "sizes", moving_frames(1, 20, 32), start_index=3)
    lst = tmp_path / "list.txt"
    lst.write_text("good 6 0\nmissing 6 1\ncorrupt 6 0\ntruncated 6 1\nsizes 6 0\nabsent 6 1\n")
    return DataConfig(dataset="frame-folder", root=str(tmp_path), train_list=str(lst),
                      val_list=str(lst), num_classes=2, num_frames=6, size=16)


def test_missing_and_corrupt_frames_are_bad_samples(broken, caplog):
    ds = build_dataset(broken, "train")
    with caplog.at_level(logging.WARNING, logger="nas.data"):
        for epoch in range(2):
            good = bad = 0
            for clips, labels, skipped in build_loader(ds, 2, shuffle=True, epoch=epoch):
                good, bad = good + len(labels), bad + skipped
            assert (good, bad) == (1, 5)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 5 and all("\n" not in m for m in messages)     # one per sample
    text = "\n".join(messages)
    assert "missing: frame img_00004.jpg not found" in text
    assert "corrupt: frame img_00002.jpg" in text and "truncated: frame img_00006.jpg" in text
    assert "frame img_00003.jpg is 32x20, frame 0 is 32x24" in text
    assert "absent: frame img_00001.jpg not found" in text


def test_frame_folder_config_checks():
    for tmpl in ("img.jpg", "img_{}_{}.jpg", "dir/{:05d}.jpg", "img_{:d"):
        with pytest.raises(ValueError, match="filename_tmpl=.* must be a file name with one "
                                             "integer field"):
            DataConfig(dataset="frame-folder", train_list="x", filename_tmpl=tmpl)
    with pytest.raises(ValueError, match="start_index must be an integer >= 0"):
        DataConfig(dataset="frame-folder", train_list="x", start_index=-1)
    with pytest.raises(ValueError, match="'frame-folder' needs train_list"):
        DataConfig(dataset="frame-folder")


def test_ssv2_frame_folder_config_matches_the_video_one():
    """The rawframes SS-V2 config differs from the video one only in where the data is."""
    from nas.config import load_run_config
    configs_dir = ROOT / "experiments" / "configs"
    frames = load_run_config(configs_dir / "pretrain_mlp3d_xs_ssv2_frames.yaml").to_dict()
    video = load_run_config(configs_dir / "pretrain_mlp3d_xs_ssv2.yaml").to_dict()
    assert frames["data"]["dataset"] == "frame-folder"
    assert frames["data"]["filename_tmpl"] == "img_{:05d}.jpg" and frames["data"]["start_index"] == 1
    differ = {k for k in frames["data"] if frames["data"][k] != video["data"][k]}
    assert differ == {"dataset", "root", "train_list", "val_list"}
    assert {k for k in frames if frames[k] != video[k]} == {"output_dir", "data"}
