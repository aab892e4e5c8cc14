"""`nas data check`: per-sample report, atomic CSV, summary line, exit status, errors."""
import csv

import pytest
import yaml

from nas.cli import main
from nas.data.videogen import moving_frames, write_frame_folder, write_video


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """3 good videos (one of 10 frames, shorter than the 16-frame clip), a corrupt one and a
    missing one; a frame-folder twin with one missing frame; and a run config for each."""
    root = tmp_path_factory.mktemp("check")
    frames = moving_frames(45, 32, 48, seed=4)
    write_video(root / "a.mp4", frames, fps=15, gop=10)
    write_video(root / "b.mkv", frames[:30], fps=30, gop=10)
    write_video(root / "short.mp4", frames[:10], fps=10, gop=5)
    (root / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 40)
    (root / "train.txt").write_text("a.mp4 0\nb.mkv 1\nbad.mp4 0\nshort.mp4 1\n")
    (root / "val.txt").write_text("a.mp4 0\ngone.mp4 1\n")
    write_frame_folder(root / "frames" / "a", frames[:20])
    write_frame_folder(root / "frames" / "holes", frames[:20])
    (root / "frames" / "holes" / "img_00011.jpg").unlink()
    (root / "frames.txt").write_text("a 20 0\nholes 20 1\n")
    config = {"output_dir": str(root / "run"), "data": {
        "dataset": "video-list", "root": str(root), "train_list": str(root / "train.txt"),
        "val_list": str(root / "val.txt"), "num_classes": 2, "num_frames": 16, "size": 32}}
    (root / "videos.yaml").write_text(yaml.safe_dump(config))
    config["data"].update(dataset="frame-folder", root=str(root / "frames"),
                          train_list=str(root / "frames.txt"), val_list="")
    (root / "frames.yaml").write_text(yaml.safe_dump(config))
    return root


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_report_rows_summary_and_exit(dataset, tmp_path, capsys):
    out = tmp_path / "report.csv"
    code = main(["data", "check", "--config", str(dataset / "videos.yaml"), "--out", str(out),
                 "--workers", "1", "--no-progress"])
    assert code == 1                                       # unreadable samples
    rows = read(out)
    assert [(r["split"], r["path"].rsplit("/", 1)[-1], r["readable"]) for r in rows] == [
        ("train", "a.mp4", "yes"), ("train", "b.mkv", "yes"), ("train", "bad.mp4", "no"),
        ("train", "short.mp4", "yes"), ("val", "a.mp4", "yes"), ("val", "gone.mp4", "no")]
    a, b, bad, short, _, gone = rows
    assert (a["frames"], a["fps"], a["duration_s"], a["width"], a["height"], a["keyframes"],
            a["short"], a["label"]) == ("45", "15.000", "3.000", "48", "32", "5", "no", "0")
    assert (b["frames"], b["short"]) == ("30", "no")
    assert float(b["fps"]) == pytest.approx(30, abs=0.02)      # Matroska stores milliseconds
    assert (short["frames"], short["short"]) == ("10", "yes")
    assert bad["error"].startswith("cannot open") and gone["error"] == "file not found"
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("checked 6 samples (train 4, val 2) in ")
    assert line.endswith(": 4 readable, 2 unreadable (33.33%), 1 shorter than the 16-frame "
                         f"clip; report {out}; FAILED: unreadable fraction above --max-bad 0")
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]    # no temporary left


def test_workers_max_bad_split_and_full(dataset, tmp_path, capsys):
    base = ["data", "check", "--config", str(dataset / "videos.yaml"), "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "one.csv"), "--workers", "1"]) == 1
    assert main(base + ["--out", str(tmp_path / "two.csv"), "--workers", "2"]) == 1
    one, two = read(tmp_path / "one.csv"), read(tmp_path / "two.csv")
    assert one == two
    assert main(base + ["--out", str(tmp_path / "tol.csv"), "--max-bad", "0.4"]) == 0
    assert main(base + ["--out", str(tmp_path / "tol.csv"), "--max-bad", "0.3"]) == 1
    assert main(base + ["--out", str(tmp_path / "train.csv"), "--split", "train", "--full",
                        "--set", "data.num_frames=4"]) == 1
    train = read(tmp_path / "train.csv")
    assert [r["frames"] for r in train] == ["45", "30", "", "10"]
    assert {r["short"] for r in train} == {"no", ""}                     # 4-frame clips now
    capsys.readouterr()


def test_frame_folders(dataset, tmp_path, capsys):
    out = tmp_path / "frames.csv"
    assert main(["data", "check", "--config", str(dataset / "frames.yaml"), "--out", str(out),
                 "--no-progress", "--workers", "1"]) == 1
    a, holes = read(out)
    assert (a["readable"], a["frames"], a["width"], a["height"], a["fps"], a["short"]) == \
        ("yes", "20", "48", "32", "", "no")
    assert (holes["readable"], holes["error"]) == ("no", "frame img_00011.jpg not found")
    assert "checked 2 samples (train 2)" in capsys.readouterr().out


@pytest.mark.parametrize("extra, words", [
    (["--set", "data.train_list=/nope.txt"], "video list '/nope.txt' does not exist"),
    (["--set", "data.dataset=synthetic-temporal"], "is generated, there is nothing to check"),
    (["--set", "data.root=/no/such/dir"], "data.root /no/such/dir is not a folder"),
    (["--set", "data.decoder=vlc"], "DataConfig.decoder='vlc' is not allowed; use one of pyav"),
    (["--set", "data.frames=3"], "unknown config key 'data.frames'"),
    (["--split", "val", "--set", "data.val_list=''"], "val_list is empty"),
    (["--max-bad", "2"], "--max-bad must be a fraction in"),
    (["--out", "/no/such/dir/r.csv"], "folder /no/such/dir does not exist"),
])
def test_bad_config_is_one_line_exit_2_nothing_written(dataset, tmp_path, capsys, extra, words,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["data", "check", "--config", str(dataset / "videos.yaml"), "--no-progress"]
                + extra)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("nas data: error: ") and words in err
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    assert main(["data", "check", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
