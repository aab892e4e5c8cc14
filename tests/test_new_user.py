"""Issue 24: what a researcher meets on their own videos (one `--arch` reader everywhere,
demo threads, search and correlate reports, help texts, Ctrl-C, logs to a file)."""
import json

import pandas as pd
import pytest
import yaml

from nas.cli import main
from nas.config import load_run_config
from nas.correlate import CorrelateConfig, run_correlate
from nas.pretrain import run_pretrain
from search_spaces import arch_texts
from supernet.registry import build_model
from tests.test_pretrain import tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")

BEST = "sr4-lr2-sr4-sr2-sr4-sr4-sr1-sr4"
OTHER = "sr1-sr1-sr1-sr1-sr1-sr1-sr1-sr1"


@pytest.fixture(scope="module")
def supernet_ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    cfg = load_run_config(None, base={
        "output_dir": str(root / "pre"), "model": {"name": "mlp3d-nano"},
        "data": {"dataset": "synthetic-temporal", "num_frames": 16, "size": 32, "num_classes": 10,
                 "train_clips_per_class": 4, "val_clips_per_class": 2, "cache_dir": str(root / "cache")},
        "optim": {"lr": 1e-3, "base_batch_size": 8}, "train": {"epochs": 1, "batch_size": 8, "max_steps": 2}})
    return run_pretrain(cfg, progress=False).checkpoint


@pytest.fixture
def arch_files(tmp_path):
    """A search's best_arch.json (the space's JSON plus scores) and best_arch.txt, and a list."""
    space = build_model("mlp3d-nano", (16, 32, 32)).space
    best = {**space.to_dict(space.parse(BEST)), "top1_pct": 41.0, "gflops": 0.03}
    (tmp_path / "best_arch.json").write_text(json.dumps(best, indent=2))
    (tmp_path / "best_arch.txt").write_text(BEST + "\n")
    (tmp_path / "archs.txt").write_text(f"# two architectures\n{BEST}\n\n{OTHER}  # the smallest\n")
    return tmp_path


def test_arch_reader_takes_strings_json_and_files(arch_files):
    assert arch_texts(BEST) == [BEST]
    assert arch_texts(str(arch_files / "best_arch.json")) == [BEST]
    assert arch_texts(str(arch_files / "best_arch.txt")) == [BEST]
    assert arch_texts(str(arch_files / "archs.txt")) == [BEST, OTHER]
    with pytest.raises(FileNotFoundError, match="architecture file not found"):
        arch_texts(str(arch_files / "missing.json"))


@pytest.mark.parametrize("name", ["best_arch.json", "best_arch.txt"])
def test_every_command_reads_an_architecture_file(arch_files, capsys, name):
    path = str(arch_files / name)
    assert main(["flops", "--model", "mlp3d-nano", "--json", "--arch", path]) == 0
    assert json.loads(capsys.readouterr().out)["arch"] == BEST
    assert main(["space", "--model", "mlp3d-nano", "--check", path]) == 0
    assert capsys.readouterr().out.strip() == f"ok: {BEST}"
    assert main(["plot", "arch", "--model", "mlp3d-nano", "--input", "16x32x32", "--arch", path,
                 "--out", str(arch_files / "arch")]) == 0
    assert (arch_files / "arch.png").stat().st_size > 5_000


def test_a_file_of_several_is_refused_where_one_is_needed(arch_files, capsys):
    assert main(["flops", "--model", "mlp3d-nano", "--arch", str(arch_files / "archs.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds 2 architectures; give one" in err


def test_train_takes_best_arch_json(arch_files, tmp_path, capsys):
    cfg = tiny_config(tmp_path, "standalone", max_steps=1, epochs=1)
    assert main(["train", "--config", str(cfg), "--arch", str(arch_files / "best_arch.json"),
                 "--no-progress"]) == 0
    run = tmp_path / "standalone"
    assert json.loads((run / "eval.json").read_text())["arch"] == BEST
    assert yaml.safe_load((run / "config.yaml").read_text())["arch"] == BEST   # the string, not the path


def test_correlate_takes_best_arch_json_and_a_list(arch_files, tmp_path, supernet_ckpt):
    third = "sr2-sr2-sr2-sr2-sr2-sr2-sr2-sr2"
    (arch_files / "more.txt").write_text(f"{OTHER}\n{third}\n")
    cfg = CorrelateConfig(str(supernet_ckpt), str(tmp_path / "c"), val_size=8,
                          archs=[str(arch_files / "best_arch.json"), str(arch_files / "more.txt")])
    frame = run_correlate(cfg, progress=False, estimates_only=True)
    assert list(frame["arch"]) == [BEST, OTHER, third]
    stored = yaml.safe_load((tmp_path / "c" / "correlate_config.yaml").read_text())
    assert stored["archs"] == [BEST, OTHER, third]          # what was correlated, not the file names


def test_search_records_the_validation_clips_it_used(supernet_ckpt, tmp_path, capsys):
    """Defect 4: search_config.yaml said val_size 256 when the list held fewer clips."""
    out = tmp_path / "s"
    assert main(["search", "--checkpoint", str(supernet_ckpt), "--out", str(out), "--strategy", "random",
                 "--budget", "2", "--val-size", "256", "--threads", "1", "--no-progress"]) == 0
    stored = yaml.safe_load((out / "search_config.yaml").read_text())
    assert stored["evaluation"]["val_size"] == 20                       # 10 classes x 2 clips
    said = [line for line in capsys.readouterr().out.splitlines() if "val_size 256" in line]
    assert len(said) == 1 and "has 20 clips; all 20 are used" in said[0]
    assert set(pd.read_csv(out / "results.csv")["clips"]) == {20}
