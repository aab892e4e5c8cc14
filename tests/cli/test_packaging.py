"""What a non-editable install (`pip install .`) carries: issue 24 defect 2, `nas demo` looked for
its configs in the repository's experiments/configs, which a wheel does not contain."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import ROOT


def build_wheel(tmp_path) -> Path:
    """A wheel of a copy of the sources (pip writes build/ and *.egg-info next to setup.cfg)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("nas", "supernet", "search_spaces"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist")], check=True, capture_output=True,
                   env={**os.environ, "PIP_NO_INDEX": "1"}, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("vidnas-*.whl")
    return wheel


def test_the_wheel_carries_every_demo_config(tmp_path):
    from nas.demo import CONFIGS, demo_config_path
    from supernet.registry import demo_families

    with zipfile.ZipFile(build_wheel(tmp_path)) as wheel:
        names = set(wheel.namelist())
    wanted = {demo_config_path(space).relative_to(CONFIGS.parents[1]).as_posix() for space in demo_families()}
    assert wanted and all(name.startswith("nas/configs/") for name in wanted)
    assert wanted <= names, f"missing from the wheel: {sorted(wanted - names)}"


@pytest.mark.slow            # a venv and an install: ~40 s on the loaded 2-core machine
def test_a_non_editable_install_runs_the_demo_lookup_from_an_empty_folder(tmp_path):
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    # the dependencies of this interpreter (a venv's --system-site-packages would be the base's),
    # after the new venv's own site-packages: `import nas` finds the installed copy first
    site_dir = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())
    (site_dir / "parent_deps.pth").write_text("\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = ("import nas, nas.demo as d\n"
             "from supernet.registry import demo_families\n"
             "print(nas.__file__)\n"
             "print(d.demo_spaces() == demo_families(), *(d.demo_config_path(s) for s in demo_families()))\n")
    run = subprocess.run([str(python), "-c", probe], cwd=empty, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    where, found = run.stdout.splitlines()
    assert str(venv) in where                     # the installed copy, not the checkout
    assert found.startswith("True ") and all(str(venv) in p for p in found.split()[1:])
    help_ = subprocess.run([str(venv / "bin" / "nas"), "demo", "--help"], cwd=empty, env=env,
                           capture_output=True, text=True, timeout=300)
    assert help_.returncode == 0 and "{mlp3d,morphmlp," in " ".join(help_.stdout.split())


def test_demo_offers_only_spaces_whose_config_is_found(tmp_path, monkeypatch, capsys):
    import nas.demo
    from nas.cli import main

    moved = tmp_path / "configs"
    shutil.copytree(nas.demo.CONFIGS, moved)
    (moved / "pretrain_morphmlp_nano_cpu.yaml").unlink()
    monkeypatch.setattr(nas.demo, "CONFIGS", moved)
    assert "morphmlp" not in nas.demo.demo_spaces() and "mlp3d" in nas.demo.demo_spaces()
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "morphmlp" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main(["demo", "--space", "morphmlp", "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'morphmlp'" in err and not (tmp_path / "out").exists()
    with pytest.raises(FileNotFoundError, match="pretrain_morphmlp_nano_cpu.yaml of space 'morphmlp' not found"):
        nas.demo.demo_config_path("morphmlp")
