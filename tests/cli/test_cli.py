"""The `nas` command line (in-process, through `nas.cli.main`)."""
import json

import pytest

from nas.cli import main


def test_flops_json_for_mlp3d_matches_stage_sum(capsys):
    assert main(["flops", "--model", "mlp3d-nano", "--input", "16x32x32", "--json",
                 "--arch", "sr4-sw4-sr2-st2-lr4-sr1-st4-sw2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["arch"] == "sr4-sw4-sr2-st2-lr4-sr1-st4-sw2"
    assert sum(v["flops"] for v in out["stages"].values()) == out["flops"]
    assert sum(v["params"] for v in out["stages"].values()) == out["params"]
    assert set(out["stages"]) == {"stem", "stage1", "stage2", "stage3", "stage4", "head"}


def test_flops_table_for_cyclemlp(capsys):
    assert main(["flops", "--model", "cyclemlp-b1", "--input", "224x224"]) == 0
    out = capsys.readouterr().out
    total = [line for line in out.splitlines() if line.startswith("total")][0].split()
    assert total[1] == "2.131" and total[2] == "15.155"


@pytest.mark.parametrize("argv,needle", [
    (["flops", "--model", "mlp3d-nano", "--arch", "sr3" + "-sr1" * 7], "S=3 does not divide T'=4"),
    (["flops", "--model", "mlp3d-nano", "--input", "16x32"], "takes input T x H x W"),
    (["flops", "--model", "resnet-999"], "unknown model 'resnet-999'"),
    (["flops", "--model", "cyclemlp-b1", "--arch", "sr1"], "takes no --arch"),
    (["flops", "--model", "mlp3d-nano", "--input", "abc"], "must look like TxHxW"),
])
def test_bad_input_is_a_one_line_error(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_space_sample_and_check(capsys):
    assert main(["space", "--model", "mlp3d-nano", "--sample", "3", "--seed", "7"]) == 0
    archs = capsys.readouterr().out.split()
    assert len(archs) == 3 and all(len(a.split("-")) == 8 for a in archs)
    assert main(["space", "--model", "mlp3d-nano", "--check", archs[0]]) == 0
    assert capsys.readouterr().out.strip() == f"ok: {archs[0]}"
