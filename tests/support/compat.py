"""Writing a config as an older version wrote it (tests/nas/test_compat.py,
tests/nas/search/test_search_confidence.py)."""
import yaml

from nas import compat


def as_version_1(path):
    """Rewrite a search_config.yaml as version 1 wrote it: no version key, the settings added
    later left out at their values, alphas left out when it was [alpha]."""
    data = yaml.safe_load(path.read_text())
    data.pop("config_version", None)
    s = data["search"]
    for key, value in compat.SEARCH_V1_ABSENT.items():
        if s[key] == value:
            del s[key]
    if s["alphas"] == [s["alpha"]]:
        del s["alphas"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
