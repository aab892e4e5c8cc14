"""Bad input vs. internal faults (issue 23): the `VidnasInputError` family is exit 2 and one
line; any other exception is exit 1, one line naming an internal error, and the traceback
written to a file (the run folder's ``traceback.txt``, else the temp folder)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import nas.errors
import search_spaces.errors
from nas.cli import internal_error_line, is_out_of_memory, main
from tests.support import ROOT
from search_spaces.errors import (ConfigError, DataError, InputFileError, InputNotFoundError, OutputError,
                                  OutputExistsError, VidnasInputError)

TRACEBACK_AT = re.compile(r"the full traceback is in (\S+?\.txt)")


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    """The system temp folder, redirected so that no test writes a traceback into /tmp."""
    import tempfile

    where = tmp_path / "systemp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(where))
    return where


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


# ---- the family ----------------------------------------------------------------------------
def test_the_family_is_value_errors_and_nas_errors_re_exports_it():
    for cls in (ConfigError, DataError, InputFileError, InputNotFoundError, OutputError, OutputExistsError):
        assert issubclass(cls, VidnasInputError) and issubclass(cls, ValueError)
        assert getattr(nas.errors, cls.__name__) is cls
    assert issubclass(InputNotFoundError, FileNotFoundError) and issubclass(OutputExistsError, FileExistsError)
    assert set(nas.errors.__all__) == set(search_spaces.errors.__all__)
    e = InputNotFoundError("x not found: y")
    assert str(e) == "x not found: y" and e.errno is None
    from supernet.ops.four_d import ExportError
    assert issubclass(ExportError, VidnasInputError)


def test_representative_bad_inputs_raise_the_family(tmp_path):
    from nas.config import load_run_config
    from nas.data.video import read_video_list
    from nas.runfolder import prepare_run_folder, release_locks
    from nas.utils import parse_size
    from search_spaces import parse_arch_arg
    from search_spaces.textio import read_text
    from supernet.registry import build_model
    from supernet.training.checkpoint import safe_load

    with pytest.raises(ConfigError, match="unknown config key 'bogus'"):
        load_run_config(None, ["bogus=1"])
    with pytest.raises(ConfigError, match="must look like TxHxW"):
        parse_size("abc")
    with pytest.raises(InputNotFoundError, match="list file not found"):
        read_text(tmp_path / "missing.txt", "list file")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputFileError, match="is not UTF-8 text"):
        read_text(tmp_path / "binary.txt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputFileError, match="junk.pt"):
        safe_load(tmp_path / "junk.pt", "checkpoint")
    (tmp_path / "list.txt").write_text("a.mp4 0\nb.mp4 zero\n")
    with pytest.raises(DataError, match="list.txt:2: malformed line"):
        read_video_list(str(tmp_path / "list.txt"))
    space = build_model("mlp3d-nano", (16, 32, 32)).space
    with pytest.raises(VidnasInputError, match="architecture string has 1 tokens"):
        parse_arch_arg(space, "bogus")
    run = tmp_path / "run"
    prepare_run_folder(run, "pretrain", {"a": 1}, resume=False)
    release_locks()
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    with pytest.raises(OutputExistsError, match="pass --resume"):
        prepare_run_folder(run, "pretrain", {"a": 1}, resume=False)
    with pytest.raises(InputNotFoundError, match="nothing to resume"):
        prepare_run_folder(tmp_path / "fresh", "pretrain", {"a": 1}, resume=True)


@pytest.mark.parametrize("argv,needle", [
    (["flops", "--model", "resnet-999"], "unknown model 'resnet-999'"),
    (["space", "--model", "mlp3d-nano", "--check", "sr1-sr1"], "architecture string has 2 tokens"),
    (["space", "--model", "mlp3d-nano", "--check", "missing_arch.json"], "architecture file not found"),
    (["pretrain", "--config", "no/such/config.yaml"], "not found"),
    (["flops", "--model", "mlp3d-nano", "--set", "input=1x2x3x4"], "must look like TxHxW"),
])
def test_bad_input_is_exit_2_and_one_line(capsys, temp_dir, argv, needle):
    assert main(argv) == 2
    err = one_line(capsys)
    assert err.startswith(f"nas {argv[0]}: error: ") and needle in err and "internal error" not in err
    assert not list(temp_dir.iterdir())                    # no traceback for bad input


# ---- internal faults -----------------------------------------------------------------------
@pytest.mark.parametrize("error", [RuntimeError("boom"), IndexError("list index out of range"),
                                   ValueError("a ValueError from a library is not bad input")])
def test_an_internal_fault_is_exit_1_one_line_and_a_traceback_file(capsys, temp_dir, monkeypatch, error):
    import nas.costs.flops

    def fault(*args, **kwargs):
        raise error
    monkeypatch.setattr(nas.costs.flops, "model_cost", fault)
    assert main(["flops", "--model", "mlp3d-nano"]) == 1
    err = one_line(capsys)
    kind = type(error).__name__
    assert err.startswith(f"nas flops: internal error: {kind}: {error}; the full traceback is in ")
    assert err.endswith("(please report it with that file)")
    path = Path(TRACEBACK_AT.search(err).group(1))
    assert path.parent == temp_dir and re.fullmatch(rf"vidnas-traceback-\d{{8}}-\d{{6}}-{os.getpid()}\.txt", path.name)
    text = path.read_text()
    assert text.startswith("nas flops --model mlp3d-nano\nvidnas ")
    assert "Traceback (most recent call last)" in text and "in fault" in text and f"{kind}: {error}" in text
    assert not list(temp_dir.glob(".*.tmp"))               # written atomically: no temporary left


def test_an_internal_fault_in_space_names_the_command(capsys, temp_dir, monkeypatch):
    import supernet.registry

    def fault(*args, **kwargs):
        raise IndexError("tuple index out of range")
    monkeypatch.setattr(supernet.registry, "build_model", fault)
    assert main(["space", "--model", "mlp3d-nano", "--sample", "2"]) == 1
    err = one_line(capsys)
    assert err.startswith("nas space: internal error: IndexError: tuple index out of range; ")
    assert "tuple index out of range" in Path(TRACEBACK_AT.search(err).group(1)).read_text()


def test_the_traceback_of_a_run_goes_to_its_folder_and_the_folder_stays_usable(capsys, temp_dir, monkeypatch,
                                                                               tmp_path):
    import nas.pretrain
    from nas.runfolder import check_run_folder

    cfg = {"output_dir": str(tmp_path / "run"), "model": {"name": "mlp3d-nano"},
           "data": {"dataset": "synthetic-temporal", "num_frames": 16, "size": 32, "num_classes": 10,
                    "train_clips_per_class": 2, "val_clips_per_class": 1, "cache_dir": str(tmp_path / "cache")},
           "train": {"epochs": 1, "batch_size": 4, "eval_every": 0}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))

    def fault(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x8 and 16x10)")
    monkeypatch.setattr(nas.pretrain, "run_trainer", fault)
    assert main(["pretrain", "--config", str(path), "--no-progress"]) == 1
    err = one_line(capsys)
    trace = tmp_path / "run" / "traceback.txt"
    assert err.startswith("nas pretrain: internal error: RuntimeError: mat1 and mat2 shapes cannot be multiplied")
    assert f"the full traceback is in {trace} " in err and trace.is_file()
    assert "in fault" in trace.read_text() and not list(temp_dir.iterdir())
    check_run_folder(tmp_path / "run", "pretrain")         # the rerun is not refused


def test_no_writable_place_prints_the_traceback_itself(capsys, temp_dir, monkeypatch):
    import nas.costs.flops
    import supernet.utils.io

    def fault(*args, **kwargs):
        raise RuntimeError("boom")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(nas.costs.flops, "model_cost", fault)
    monkeypatch.setattr(supernet.utils.io, "atomic_write_text", full)
    assert main(["flops", "--model", "mlp3d-nano"]) == 1
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first == "nas flops: internal error: RuntimeError: boom; the traceback could not be written (below)"
    assert "Traceback (most recent call last)" in err and "in fault" in err


# ---- out of memory -------------------------------------------------------------------------
def test_out_of_memory_says_what_to_lower(capsys, temp_dir, monkeypatch):
    import nas.costs.flops

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(nas.costs.flops, "model_cost", oom)
    assert main(["flops", "--model", "mlp3d-nano"]) == 1
    err = one_line(capsys)
    assert err.startswith("nas flops: internal error: torch.OutOfMemoryError: CUDA out of memory. Tried to "
                          "allocate 2.00 GiB; the full traceback is in ")
    assert err.endswith("; out of memory: lower the batch size (train.batch_size, evaluation.batch_size or "
                        "--batch) or the clip size (data.num_frames, data.size or --input)")
    assert Path(TRACEBACK_AT.search(err).group(1)).is_file()


def test_out_of_memory_hints_name_each_command_s_keys():
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory")
    assert is_out_of_memory(oom) and is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert is_out_of_memory(MemoryError()) and not is_out_of_memory(RuntimeError("boom"))
    line = internal_error_line("nas search", oom, "/x/traceback.txt")
    assert line.endswith("out of memory: lower evaluation.batch_size (--batch-size) or search.cost_batch")
    line = internal_error_line("nas train", RuntimeError("CUDA error: out of memory"), "/x/t.txt")
    assert line.endswith("lower train.batch_size, data.num_frames or data.size (or set train.amp: true)")
    assert internal_error_line("nas proxies", oom, "/x/t.txt").endswith("lower --batch or --input")
    long = internal_error_line("nas flops", RuntimeError("x" * 1000 + "\nsecond line"), "/x/t.txt")
    assert "\n" not in long and len(long) < 420


# ---- the real CLI ---------------------------------------------------------------------------
def test_the_cli_in_a_subprocess_reports_a_fault_in_one_line(tmp_path):
    plugin = tmp_path / "fault_plugin.py"          # a plug-in is imported before the command runs
    plugin.write_text("import nas.costs.flops\n\n"
                      "def fault(*args, **kwargs):\n"
                      "    raise KeyError('stage9')\n\n"
                      "nas.costs.flops.model_cost = fault\n")
    env = dict(os.environ, VIDNAS_PLUGINS=str(plugin), TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT),
               OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "nas.cli", "flops", "--model", "mlp3d-nano"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("nas flops: internal error: KeyError: 'stage9'; the full traceback is in ")
    path = Path(TRACEBACK_AT.search(lines[0]).group(1))
    assert path.parent == tmp_path and "raise KeyError('stage9')" in path.read_text()
