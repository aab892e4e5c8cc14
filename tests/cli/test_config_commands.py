"""Every command that runs takes ``--config FILE.yaml`` + ``--set key=value`` with the same
typed schema machinery and the same one-line errors (unknown key; wrong type, naming the key)."""
from __future__ import annotations

import pytest
import yaml

from nas.cli import main

# command -> (argv before the config options, a key that must be an integer)
COMMANDS = {
    "pretrain": (["pretrain"], "train.epochs"),
    "train": (["train"], "train.epochs"),
    "search": (["search", "--checkpoint", "none.pt", "--out", "{tmp}/s"], "search.seed"),
    "correlate": (["correlate", "--checkpoint", "none.pt", "--out", "{tmp}/c"], "k"),
    "demo": (["demo", "--out", "{tmp}/d"], "val_size"),
    "data": (["data", "check"], "data.num_frames"),
    # commands configured by their flags alone (`nas.flagconfig`): keys are the flags' names
    "export": (["export", "--checkpoint", "none.pt", "--out", "{tmp}/e"], "batch"),
    "latency-table": (["latency-table", "--model", "mlp3d-nano", "--out", "{tmp}/l.json"], "repeats"),
    "predictor": (["predictor", "fit", "--results", "r.csv", "--out", "{tmp}/p.pt"], "epochs"),
    "flops": (["flops", "--model", "mlp3d-nano"], "classes"),
    "plot": (["plot", "arch", "--out", "{tmp}/a"], "classes"),
    "space": (["space", "--model", "mlp3d-nano"], "sample"),
}


def argv(name, tmp_path, *extra, config=None):
    head, _ = COMMANDS[name]
    head = [a.replace("{tmp}", str(tmp_path)) for a in head]
    if config is None and name in ("pretrain", "train", "data"):       # they need a run config
        config = tmp_path / "empty.yaml"
        config.write_text("{}\n")
    return head + (["--config", str(config)] if config else []) + list(extra)


def one_line_error(capsys, args) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_every_command_takes_config_and_set():
    from nas.cli import build_parser
    from nas.commands.main import leaf_parsers

    leaves = leaf_parsers(build_parser())
    assert len(leaves) >= 14                   # every command and sub-command (data check, predictor fit/eval)
    for leaf in leaves:
        options = {o for action in leaf._actions for o in action.option_strings}
        assert {"--config", "--set"} <= options, leaf.prog


def test_flags_win_over_set_which_wins_over_the_file(tmp_path, capsys):
    """A flag-configured command: file < --set < flag; a required flag may come from the file."""
    path = tmp_path / "space.yaml"
    path.write_text("model: mlp3d-nano\nsample: 1\nseed: 5\njson: true\n")
    assert main(["space", "--config", str(path)]) == 0
    from_file = capsys.readouterr().out
    assert main(["space", "--config", str(path), "--set", "sample=2"]) == 0
    from_set = capsys.readouterr().out
    assert main(["space", "--config", str(path), "--set", "sample=2", "--sample", "3", "--seed", "5"]) == 0
    from_flag = capsys.readouterr().out
    assert main(["space", "--model", "mlp3d-nano", "--sample", "3", "--seed", "5", "--json"]) == 0
    assert capsys.readouterr().out == from_flag != from_set != from_file
    err = one_line_error(capsys, ["export", "--out", str(tmp_path / "e")])
    assert err == "nas export: error: needs --checkpoint (or `checkpoint:` in --config)"
    err = one_line_error(capsys, ["predictor", "eval", "--predictor", "p.pt"])
    assert err == "nas predictor: error: needs exactly one of --results or --bench-table"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_unknown_key_is_the_same_one_line_error(name, tmp_path, capsys):
    err = one_line_error(capsys, argv(name, tmp_path, "--set", "bogus=1"))
    assert f"nas {name}: error: unknown config key 'bogus'; allowed in the root: " in err, err
    path = tmp_path / "bogus.yaml"
    path.write_text(yaml.safe_dump({"bogus": 1}))
    err = one_line_error(capsys, argv(name, tmp_path, config=path))
    assert f"nas {name}: error: unknown config key 'bogus'; allowed in the root: " in err, err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_wrong_type_names_the_key(name, tmp_path, capsys):
    key = COMMANDS[name][1]
    err = one_line_error(capsys, argv(name, tmp_path, "--set", f"{key}=abc"))
    assert f"nas {name}: error: config key '{key}': expected an integer, got 'abc'" in err, err
    path = tmp_path / "typed.yaml"
    node = data = {}
    *parents, last = key.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = "abc"
    path.write_text(yaml.safe_dump(data))
    err = one_line_error(capsys, argv(name, tmp_path, config=path))
    assert f"config key '{key}': expected an integer, got 'abc'" in err, err


def test_search_flags_are_shorthands_for_keys(tmp_path):
    """A flag sets the same key as --set and wins over the file; flat file keys still work."""
    from nas.search.settings import load_search_settings

    path = tmp_path / "s.yaml"
    path.write_text("seed: 3\nevaluation: {val_size: 64}\n")
    cfg = load_search_settings(path, ["search.strategy=random", "batch_size=8"], {"seed": 5})
    assert (cfg.search.seed, cfg.search.strategy) == (5, "random")
    assert (cfg.evaluation.val_size, cfg.evaluation.batch_size) == (64, 8)


def test_a_stored_search_config_is_a_valid_config_file(tmp_path):
    """search_config.yaml (identity keys included) reads back; its data overrides the checkpoint's."""
    from nas.search.settings import load_search_settings

    stored = {"search": {"strategy": "random", "params": {"budget": 3}, "seed": 2, "alpha": 0.01},
              "evaluation": {"source": "checkpoint", "checkpoint": "/x/supernet.pt", "sha256": "ab",
                             "model": {"name": "mlp3d-nano"}, "data": {"val_list": "v.txt"},
                             "val_size": 80, "batch_size": 8, "val_seed": 0, "bn_recalib": 0, "device": "cpu"}}
    path = tmp_path / "search_config.yaml"
    path.write_text(yaml.safe_dump(stored))
    cfg = load_search_settings(path)
    assert (cfg.search.strategy, cfg.search.params, cfg.search.alpha) == ("random", {"budget": 3}, 0.01)
    assert (cfg.evaluation.val_size, cfg.evaluation.bn_recalib, cfg.evaluation.data) == (80, 0, {"val_list": "v.txt"})


def test_model_specific_options_live_in_their_family_and_older_layouts_still_read(tmp_path):
    """`RunConfig` has no field of any family; the ``options:`` section is typed by the family's
    `RunOption`s. A root-level option (configs and stored runs before the section, and
    ``--set center_init_from=X``) reads as the same config; at its default it is unset."""
    import dataclasses

    from nas.config import RunConfig, load_run_config, read_stored_config
    from supernet.registry import family_info, list_families

    declared = {k for f in list_families() for k in family_info(f).run_options}
    assert {"center_init_from", "random_gtm"} <= declared
    assert not declared & {f.name for f in dataclasses.fields(RunConfig)}

    new = load_run_config(None, ["options.center_init_from=a.pt", "options.random_gtm=0.25"])
    flat = load_run_config(None, ["center_init_from=a.pt", "random_gtm=0.25"])
    assert new.to_dict() == flat.to_dict() and new.options == {"center_init_from": "a.pt", "random_gtm": 0.25}
    assert load_run_config(None, ["random_gtm=0.0"]).options == {}          # the default: unset
    stored = tmp_path / "config.yaml"                                       # a run written before
    stored.write_text(yaml.safe_dump({**load_run_config(None).to_dict(), "options": None} | {
        "center_init_from": None, "random_gtm": 0.0}).replace("options: null\n", ""))
    assert read_stored_config(stored) == load_run_config(None).to_dict()

    for overrides, message in (
            (["options.random_gtm=abc"], "config key 'options.random_gtm': expected a number, got 'abc'"),
            (["options.random_gtm=1.5"], "random_gtm must be a probability in [0, 1], got 1.5"),
            (["model.name=eco-nano", "options.random_gtm=0.5"], "random_gtm applies to MLP-3D networks, not eco-nano"),
            (["options.bogus=1"], "unknown run option 'bogus' for mlp3d-nano; its family mlp3d declares: center_init_from, random_gtm"),
            (["init_from=s.pt", "center_init_from=a.pt"], "init_from and center_init_from are exclusive")):
        with pytest.raises(ValueError) as e:
            load_run_config(None, overrides)
        assert str(e.value).startswith(message) and "\n" not in str(e.value), e.value


def test_pretrain_refuses_a_standalone_training_option(tmp_path, capsys):
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "p"), "model": {"name": "mlp3d-nano"},
                                      "data": {"dataset": "synthetic-temporal", "num_frames": 16, "size": 32,
                                               "cache_dir": str(tmp_path / "cache")},
                                      "options": {"random_gtm": 0.5}}))
    err = one_line_error(capsys, ["pretrain", "--config", str(config)])
    assert err == ("nas pretrain: error: options.random_gtm applies to standalone training (nas train), "
                   "not to supernet pretraining")
    assert not (tmp_path / "p").exists()


def test_correlate_passes_run_options_to_the_standalone_runs():
    """``nas correlate --set center_init_from=X`` (the older layout) and ``--set options.X=...``
    both reach the standalone runs' overrides; a correlate key stays a correlate key."""
    from nas.cli import build_parser, correlate_config

    args = build_parser().parse_args(["correlate", "--checkpoint", "s.pt", "--out", "o", "--set", "k=4",
                                      "--set", "center_init_from=a.pt", "--set", "options.random_gtm=0.1"])
    cfg = correlate_config(args)
    assert cfg.k == 4 and cfg.overrides == ["center_init_from=a.pt", "options.random_gtm=0.1"]


def test_every_set_help_example_is_a_setting_of_its_command():
    """Issue 24 defect 5: `plot`, `flops`, `space` and `models` showed `--set batch=4`, an
    unknown key for all four. Each example must be accepted by its command's schema."""
    import re

    from nas.cli import build_parser
    from nas.commands.main import leaf_parsers
    from supernet.utils.config import apply_overrides, from_dict

    checked = 0
    for leaf in leaf_parsers(build_parser()):
        spec = leaf.get_default("_flag_schema")
        if spec is None:
            continue
        action = next(a for a in leaf._actions if "--set" in a.option_strings)
        example = re.search(r"e\.g\. --set (\S+)", action.help).group(1)
        from_dict(spec[0], apply_overrides({}, [example]))          # no unknown key, the right type
        checked += 1
    assert checked >= 8


def test_every_command_formats_its_help():
    """The CLI reference page prints every (sub-)command's help: none may fail to format (a
    one-of group declared through `Option` once left an empty argparse group behind)."""
    from nas.cli import build_parser
    from nas.commands.main import leaf_parsers

    for leaf in leaf_parsers(build_parser()):
        assert leaf.format_help().startswith(f"usage: {leaf.prog}"), leaf.prog
