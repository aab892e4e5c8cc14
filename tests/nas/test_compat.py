"""Config versions (nas.compat) and the one search config: every written config carries
``config_version``; a version-1 folder (written before versions) still resumes; a newer
version is a one-line error; `nas.search.SearchConfig` is the settings schema itself."""
import pytest
import yaml

from nas import compat
from nas.search import SearchConfig, run_search
from nas.search.bench_eval import BenchTableEvaluator
from tests.support.bench import make_table
from tests.support.compat import as_version_1
from tests.support.search import QUIET, cost_table_of


def search_once(tmp_path, resume=False, **kw):
    _, table = cost_table_of("small")
    folder = tmp_path / "b"
    if not folder.exists():
        make_table(folder)
    return run_search(SearchConfig("random", {"budget": 4, "batch": 2}, seed=1, **kw), BenchTableEvaluator(folder),
                      out=tmp_path / "s", resume=resume, cost_table=table, **QUIET)


def test_one_search_config_class():
    from nas.search import engine, settings

    assert engine.SearchConfig is settings.SearchConfig is SearchConfig
    assert settings.SECTIONS["search"] is SearchConfig


def test_alpha_given_as_a_list_searches_with_the_first_and_reports_each():
    from nas.search.engine import resolve_config

    cfg = resolve_config(SearchConfig("random", {"budget": 2}, alpha=[0.01, 0.5]))
    assert cfg.alpha == 0.01 and cfg.alphas == [0.01, 0.5]
    with pytest.raises(ValueError, match="alpha: an empty list"):
        resolve_config(SearchConfig("random", {"budget": 2}, alpha=[]))
    with pytest.raises(ValueError, match="'search.memory_step': 'x' is not allowed"):
        resolve_config(SearchConfig("random", {"budget": 2}, memory_step="x"))


def test_written_search_config_is_versioned_and_a_version_1_folder_resumes(tmp_path):
    first = search_once(tmp_path)
    path = tmp_path / "s" / "search_config.yaml"
    stored = yaml.safe_load(path.read_text())
    assert stored["config_version"] == compat.CONFIG_VERSION == 2
    assert set(stored["search"]) >= set(compat.SEARCH_V1_ABSENT) | {"alphas"}     # every key, written
    as_version_1(path)
    again = search_once(tmp_path, resume=True)
    assert again.new_evaluations == 0 and again.arch == first.arch
    # a version-1 folder is still compared: another setting is another search
    with pytest.raises(ValueError, match="holds a different search .*cost_batch"):
        search_once(tmp_path, resume=True, cost_batch=2)


def test_a_newer_or_bad_config_version_is_one_line(tmp_path):
    search_once(tmp_path)
    path = tmp_path / "s" / "search_config.yaml"
    data = yaml.safe_load(path.read_text())
    for bad, needle in ((3, "config_version 3 was written by a newer vidnas; this one reads versions 1 to 2"),
                        ("two", "config_version 'two' is not allowed; allowed: an integer from 1 to 2")):
        path.write_text(yaml.safe_dump({**data, "config_version": bad}))
        with pytest.raises(ValueError, match=needle):
            search_once(tmp_path, resume=True)


def test_run_configs_are_versioned_and_a_stored_one_is_a_valid_config(tmp_path):
    from nas.config import load_run_config, prepare_output_dir

    cfg = load_run_config(None, [f"output_dir={tmp_path / 'r'}", "model.name=mlp3d-nano"])
    prepare_output_dir(cfg, resume=False)
    stored = tmp_path / "r" / "config.yaml"
    assert yaml.safe_load(stored.read_text())["config_version"] == compat.CONFIG_VERSION
    assert load_run_config(stored).to_dict() == cfg.to_dict()        # --config of a stored config
    data = yaml.safe_load(stored.read_text())
    stored.write_text(yaml.safe_dump({**data, "config_version": 9}))
    with pytest.raises(ValueError, match="config_version 9 was written by a newer vidnas"):
        load_run_config(stored)


def test_search_config_file_may_carry_the_version(tmp_path):
    from nas.search.settings import load_search_settings

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"config_version": 2, "search": {"strategy": "random", "seed": 3}}))
    assert load_search_settings(path).search.seed == 3
    # a hand-written file without alphas: a later --set of alpha is the only alpha reported
    path.write_text(yaml.safe_dump({"search": {"strategy": "random", "alpha": 0.01}}))
    loaded = load_search_settings(path, ["search.alpha=0.02"]).search
    assert loaded.alpha == 0.02 and loaded.alphas is None and loaded.racing is False
