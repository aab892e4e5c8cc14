"""The shipped paper recipes (experiments/configs/paper/): each loads, names a registered
model, keeps its paper's numbers, and runs one training step at a reduced input on synthetic
clips with its augmentations on."""
import pytest
import yaml

from nas.config import load_run_config
from supernet.registry import build_model, list_models
from tests.support import ROOT

pytestmark = pytest.mark.usefixtures("one_thread")

PAPER_DIR = ROOT / "experiments" / "configs" / "paper"
CONFIGS = sorted(PAPER_DIR.glob("*.yaml"))
# (model, batch, base lr, epochs, input T x S) each file must carry (the papers' numbers)
EXPECTED = {
    "mlp3d_xs_ssv2_supernet": ("mlp3d-xs", 512, 5e-4, 32, (64, 128)),
    "mlp3d_xs_ssv2_variant": ("mlp3d-xs", 512, 5e-4, 32, (64, 128)),
    "mlp3d_xs_ssv2_final": ("mlp3d-xs", 512, 5e-4, 32, (64, 224)),
    "r3d_rs_50_k400": ("r3d-rs-50", 1024, 1e-3, 350, (32, 224)),
    "morphmlp_s_k400": ("morphmlp-s", 64, 2e-4, 60, (16, 224)),
}


def test_every_paper_recipe_is_shipped():
    assert {p.stem for p in CONFIGS} == set(EXPECTED)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_paper_config_loads_and_takes_one_step(tmp_path, path):
    cfg = load_run_config(path)
    name, batch, lr, epochs, (frames, size) = EXPECTED[path.stem]
    assert cfg.model.name == name and name in {e.name for e in list_models()}
    assert (cfg.train.batch_size, cfg.optim.lr, cfg.train.epochs) == (batch, lr, epochs)
    assert (cfg.data.num_frames, cfg.data.size) == (frames, size)
    assert cfg.data.augment.rand_augment                    # every recipe uses RandAugment
    assert cfg.data.train_list.startswith("/path/to/")      # the user sets the dataset paths
    if name == "mlp3d-xs":
        assert cfg.options["center_init_from"].endswith("CycleMLP_B1.pth")
    text = path.read_text()
    assert "Sec." in text and "set yours" in text

    # one step at a reduced input on synthetic clips, the recipe's augmentations kept
    data = yaml.safe_load(path.read_text())
    temporal = "ssv2" in path.stem
    data["data"] = {"dataset": "synthetic-temporal" if temporal else "synthetic-appearance",
                    "num_frames": 8, "size": 32, "num_classes": 4, "train_clips_per_class": 2,
                    "val_clips_per_class": 1, "cache_dir": str(tmp_path / "cache"),
                    "augment": data["data"]["augment"]}
    data["options"] = {k: v for k, v in data.get("options", {}).items() if k != "center_init_from"}
    data["output_dir"] = str(tmp_path / "run")
    data["train"].update({"batch_size": 4, "max_steps": 1, "epochs": 1, "amp": False,
                          "num_workers": 0, "checkpoint_every": 1})
    supernet = "supernet" in path.stem
    if not supernet:
        data["arch"] = str(build_model(name, (8, 32, 32), 4).space.default_arch())
    small = load_run_config(None, [], data)
    if supernet:
        from nas.pretrain import run_pretrain
        assert run_pretrain(small, progress=False).step == 1
    else:
        from nas.train import run_train
        result = run_train(small, quiet=True, progress=False)
        assert result["step"] == 1 and 0 <= result["top1"] <= 100
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and float(rows[1].split(",")[2]) > 0      # one step, a finite loss
