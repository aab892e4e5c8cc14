"""A corpus of bad inputs, each run through the real CLI in a subprocess (`python -m nas.cli`).

Every case asserts: exit code 2, exactly one line on stderr, no "Traceback" anywhere, the
bad value named in that line, and the output folder absent or unchanged (same files, sizes
and bytes). The cases run in parallel threads (each its own single-threaded subprocess) and
all failures are reported at once. The expensive inputs (a tiny supernet checkpoint, its
synthetic data cache, damaged and hostile checkpoints, video lists) are built once.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
ARCH = "-".join(["sr2"] * 8)              # fits 8- and 16-frame clips


@dataclass
class Case:
    name: str
    argv: list
    needle: str                       # the bad value, as the error line must name it
    out: str | None = None            # folder that must stay absent (or unchanged)


class Hostile:
    """Unpickling this would run a shell command."""

    def __reduce__(self):
        return (os.system, ("echo PWNED > /dev/null",))


def snapshot(path: Path):
    if not path.exists():
        return None
    if path.is_file():
        return ("file", path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    return {str(p.relative_to(path)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Shared inputs: a tiny supernet checkpoint (no training needed to be refused), its
    synthetic data (generated once into a shared cache), damaged / hostile / foreign files,
    run configs, an existing pretrain folder and search folder, and video lists."""
    from nas.config import load_run_config
    from nas.data import build_dataset
    from nas.data.videogen import moving_frames, write_video
    from nas.runfolder import KIND_FILE
    from supernet.registry import build_model
    from supernet.training.checkpoint import save_checkpoint

    w = tmp_path_factory.mktemp("bad")
    data = {"dataset": "synthetic-temporal", "num_frames": 16, "size": 32, "num_classes": 10,
            "train_clips_per_class": 2, "val_clips_per_class": 1, "cache_dir": str(w / "cache")}
    run = {"output_dir": str(w / "never"), "model": {"name": "mlp3d-nano"}, "data": data,
           "optim": {"lr": 1e-3, "base_batch_size": 8},
           "train": {"epochs": 1, "batch_size": 8, "max_steps": 1, "threads": 1, "device": "cpu"}}
    (w / "run.yaml").write_text(yaml.safe_dump(run))
    cfg = load_run_config(w / "run.yaml")
    build_dataset(cfg.data, "train"), build_dataset(cfg.data, "val")        # fill the cache
    torch.manual_seed(0)
    model = build_model("mlp3d-nano", cfg.input_size, 10)
    save_checkpoint(w / "supernet.pt", model=model, kind="supernet", step=0, epoch=0, config=cfg.to_dict())
    ckpt = torch.load(w / "supernet.pt", weights_only=True)
    torch.save({k: v for k, v in ckpt.items() if k != "model_spec"}, w / "nospec.pt")
    state = dict(ckpt["model"])
    state["stem.proj.weight"] = torch.zeros(3, 3)
    torch.save({**ckpt, "model": state}, w / "badweights.pt")
    torch.save({"model": {"a": torch.zeros(1)}, "hostile": Hostile()}, w / "hostile.pt")
    (w / "pickle.pt").write_bytes(pickle.dumps(Hostile()))
    (w / "hostile.yaml").write_text('a: !!python/object/apply:os.system ["echo PWNED"]\n')
    (w / "a_file").write_text("not a folder\n")
    (w / "a_dir").mkdir()
    # an existing pretrain folder and search folder (their files must stay unchanged)
    pre = w / "pretrain_run"
    (pre / "checkpoints").mkdir(parents=True)
    (pre / "config.yaml").write_text(yaml.safe_dump({**cfg.to_dict(), "output_dir": str(pre)}, sort_keys=False))
    (pre / "checkpoints" / "last.pt").write_bytes((w / "supernet.pt").read_bytes())
    (pre / KIND_FILE).write_text("kind: pretrain\n")
    srch = w / "search_run"
    srch.mkdir()
    (srch / "search_config.yaml").write_text("search: {strategy: greedy}\n")
    (srch / KIND_FILE).write_text("kind: search\n")
    # videos: 4 good ones, and a val list of only corrupt or missing files
    for i in range(4):
        write_video(w / f"good{i}.mp4", moving_frames(8, 32, 32, seed=i), fps=8, gop=4)
    (w / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 40)
    (w / "train.txt").write_text("".join(f"good{i}.mp4 {i % 2}\n" for i in range(4)))
    (w / "allbad.txt").write_text("corrupt.mp4 0\nmissing.mp4 1\n")
    videos = {"dataset": "video-list", "root": str(w), "train_list": str(w / "train.txt"),
              "val_list": str(w / "allbad.txt"), "num_classes": 2, "num_frames": 8, "size": 32}
    (w / "videos.yaml").write_text(yaml.safe_dump({**run, "data": videos}))
    (w / "search_badval.yaml").write_text(yaml.safe_dump({"data": videos}))
    (w / "search_noval.yaml").write_text(yaml.safe_dump({"data": {**videos, "val_list": str(w / "nope.txt")}}))
    (w / "search_list.yaml").write_text("search: [1, 2]\n")
    (w / "search_params.yaml").write_text("strategy: random\nparams: [1]\n")
    exp = w / "export_run"                         # an export folder (manifest + marker)
    exp.mkdir()
    (exp / "export.json").write_text(json.dumps({"format": "vidnas-export-v1"}))
    (exp / KIND_FILE).write_text("kind: export\n")
    (w / "archs_long.txt").write_text("-".join(["sr4"] * 30000))
    return w


def cases(w: Path) -> list[Case]:
    def out(name):
        return str(w / "out" / name)

    ck = str(w / "supernet.pt")
    exp = w / "export_run"
    long_arch = (w / "archs_long.txt").read_text()
    flops = ["flops", "--model", "mlp3d-nano"]
    space = ["space", "--model", "mlp3d-nano"]
    pre = ["pretrain", "--config", str(w / "run.yaml")]
    train = ["train", "--config", str(w / "run.yaml")]

    def pre_set(name, *sets):
        argv = pre + [a for s in sets for a in ("--set", s)]
        return argv + ["--set", f"output_dir={out(name)}"]

    def train_set(name, *sets, arch=ARCH):
        return train + ["--arch", arch] + [a for s in sets for a in ("--set", s)] + \
            ["--set", f"output_dir={out(name)}"]

    def search(name, *extra, checkpoint=ck, out_dir=None):
        return ["search", "--checkpoint", checkpoint, "--out", out_dir or out(name), "--threads", "1",
                "--no-progress", *extra]

    c = [
        # architectures (flops, space --check, plot arch)
        Case("units-int", flops + ["--arch", '{"units": 5}'], "got 5"),
        Case("units-null", flops + ["--arch", '{"units": null}'], "got None"),
        Case("units-short", flops + ["--arch", '{"units": [1, 2]}'], "has 2 units"),
        Case("units-str", flops + ["--arch", '{"units": "abcdefgh"}'], "'abcdefgh'"),
        Case("units-entry", flops + ["--arch", json.dumps({"units": ["x"] * 8})], "bad entry 'x'"),
        Case("check-units-int", space + ["--check", '{"units": 5}'], "got 5"),
        Case("check-units-null", space + ["--check", '{"units": null}'], "got None"),
        Case("check-units-short", space + ["--check", '{"units": [1, 2]}'], "has 2 units"),
        Case("check-units-str", space + ["--check", '{"units": "abcdefgh"}'], "'abcdefgh'"),
        Case("arch-empty", flops + ["--arch", ""], "''"),
        Case("check-empty", space + ["--check", ""], "''"),
        Case("check-blank", space + ["--check", "  "], "'  '"),
        Case("arabic-digit", space + ["--check", "sr\u0664-" + "-".join(["sr4"] * 7)], "sr\u0664"),
        Case("fullwidth-digit", flops + ["--arch", "sr\uff14-" + "-".join(["sr4"] * 7)], "sr\uff14"),
        Case("morph-digit", ["space", "--model", "morphmlp-nano", "--check", "s\u0663"], "s\u0663"),
        Case("bad-token", space + ["--check", "-".join(["zz4"] * 8)], "zz4"),
        Case("bad-json", flops + ["--arch", '{"units": ['], "does not parse"),
        Case("long-arch", space + ["--check", long_arch], "characters)"),
        Case("classes-0", flops + ["--classes", "0"], "--classes 0"),
        Case("classes-neg", flops + ["--classes", "-3"], "--classes -3"),
        Case("unknown-model", ["flops", "--model", "mlp3d-huge"], "mlp3d-huge"),
        Case("bad-input", flops + ["--input", "16x0x32"], "16x0x32"),
        Case("fixed-model-arch", ["flops", "--model", "cyclemlp-nano", "--arch", ARCH], "cyclemlp-nano"),
        Case("plot-arch-units", ["plot", "arch", "--model", "mlp3d-nano", "--arch", '{"units": 5}',
                                 "--out", out("plot") + "/fig"], "got 5", out("plot")),
        # pretrain: config files and values
        Case("config-dir", ["pretrain", "--config", str(w / "a_dir")], "a_dir"),
        Case("config-missing", ["pretrain", "--config", str(w / "nope.yaml")], "nope.yaml"),
        Case("config-hostile-yaml", ["pretrain", "--config", str(w / "hostile.yaml")], "python/object/apply"),
        Case("lr-nan", pre_set("lr-nan", "optim.lr=.nan"), "nan", out("lr-nan")),
        Case("lr-inf", pre_set("lr-inf", "optim.lr=.inf"), "inf", out("lr-inf")),
        Case("lr-negative", pre_set("lr-neg", "optim.lr=-1"), "-1", out("lr-neg")),
        Case("betas", pre_set("betas", "optim.betas=[2, 1]"), "[2.0, 1.0]", out("betas")),
        Case("warmup-arch", pre_set("warmup", "train.warmup_arch=bogus"), "'bogus'", out("warmup")),
        Case("warmup-arch-token", pre_set("warmup2", "train.warmup_arch=" + "-".join(["qq1"] * 8)),
             "qq1", out("warmup2")),
        Case("device-tpu", pre_set("tpu", "train.device=tpu"), "'tpu'", out("tpu")),
        Case("device-cuda9", pre_set("cuda9", "train.device=cuda:9"), "'cuda:9'", out("cuda9")),
        Case("under-a-file", pre + ["--set", f"output_dir={w / 'a_file' / 'run'}"], "a_file"),
        Case("read-only", pre + ["--set", f"output_dir={READ_ONLY}/run"], READ_ONLY),
        Case("into-search-folder", pre + ["--set", f"output_dir={w / 'search_run'}"], "search folder",
             str(w / "search_run")),
        Case("already-holds", pre + ["--set", f"output_dir={w / 'pretrain_run'}"], "pretrain_run",
             str(w / "pretrain_run")),
        Case("resume-nothing", pre_set("resume0") + ["--resume"], "nothing to resume", out("resume0")),
        Case("center-hostile", pre_set("c-hostile", f"center_init_from={w / 'hostile.pt'}"),
             "unsafe to load", out("c-hostile")),
        Case("center-pickle", pre_set("c-pickle", f"center_init_from={w / 'pickle.pt'}"),
             "pickle.pt", out("c-pickle")),
        Case("center-missing", pre_set("c-missing", f"center_init_from={w / 'nope.pt'}"),
             "nope.pt", out("c-missing")),
        Case("center-dir", pre_set("c-dir", f"center_init_from={w / 'a_dir'}"), "a_dir", out("c-dir")),
        Case("pretrain-init-from", pre_set("p-init", f"init_from={ck}"), "init_from", out("p-init")),
        Case("unknown-key", pre_set("key", "train.epohcs=3"), "train.epohcs", out("key")),
        Case("bad-dataset", pre_set("ds", "data.dataset=kinetics"), "kinetics", out("ds")),
        Case("missing-train-list", pre_set("tl", "data.dataset=video-list",
                                           f"data.train_list={w / 'gone.txt'}"), "gone.txt", out("tl")),
        Case("batch-0", pre_set("b0", "train.batch_size=0"), "got 1, 0", out("b0")),
        Case("model-name", pre_set("mn", "model.name=mlp3d-huge"), "mlp3d-huge", out("mn")),
        Case("set-no-equals", pre + ["--set", "train.epochs"], "train.epochs"),
        # train
        Case("train-arch-empty", train_set("t-empty", arch=""), "''", out("t-empty")),
        Case("train-arch-bad", train_set("t-bad", arch="bogus"), "'bogus'", out("t-bad")),
        Case("train-init-missing", train_set("t-im", f"init_from={w / 'nope.pt'}"), "nope.pt", out("t-im")),
        Case("train-init-nospec", train_set("t-ns", f"init_from={w / 'nospec.pt'}"), "model_spec", out("t-ns")),
        Case("train-init-weights", train_set("t-bw", f"init_from={w / 'badweights.pt'}"),
             "stem.proj.weight", out("t-bw")),
        Case("train-init-hostile", train_set("t-h", f"init_from={w / 'hostile.pt'}"), "unsafe to load",
             out("t-h")),
        Case("train-init-exclusive", train_set("t-x", f"init_from={ck}", f"center_init_from={ck}"),
             "exclusive", out("t-x")),
        Case("train-random-gtm", train_set("t-g", "random_gtm=2"), "random_gtm", out("t-g")),
        Case("train-val-missing", train_set("t-vm", f"data.val_list={w / 'gone_val.txt'}",
                                            "data.dataset=video-list", f"data.train_list={w / 'train.txt'}",
                                            f"data.root={w}", "data.num_classes=2", "data.num_frames=8"),
             "gone_val.txt", out("t-vm")),
        Case("train-val-unreadable", ["train", "--config", str(w / "videos.yaml"), "--arch", ARCH,
                                      "--set", f"output_dir={out('t-vu')}"], "allbad.txt", out("t-vu")),
        Case("train-into-pretrain", train + ["--arch", ARCH, "--set", f"output_dir={w / 'pretrain_run'}"],
             "pretrain folder", str(w / "pretrain_run")),
        # search
        Case("search-device", search("s-dev", "--device", "tpu"), "'tpu'", out("s-dev")),
        Case("search-config-dir", search("s-cd", "--config", str(w / "a_dir")), "a_dir", out("s-cd")),
        Case("search-section-list", search("s-sl", "--config", str(w / "search_list.yaml")), "[1, 2]",
             out("s-sl")),
        Case("search-params-list", search("s-pl", "--config", str(w / "search_params.yaml")), "[1]",
             out("s-pl")),
        Case("search-under-file", search("", out_dir=str(w / "a_file" / "s")), "a_file"),
        Case("search-read-only", search("", out_dir=f"{READ_ONLY}/s"), READ_ONLY),
        Case("search-into-pretrain", search("", out_dir=str(w / "pretrain_run")), "pretrain folder",
             str(w / "pretrain_run")),
        Case("search-again", search("", out_dir=str(w / "search_run")), "search_run", str(w / "search_run")),
        Case("search-nospec", search("s-ns", checkpoint=str(w / "nospec.pt")), "model_spec", out("s-ns")),
        Case("search-weights", search("s-bw", checkpoint=str(w / "badweights.pt")), "stem.proj.weight",
             out("s-bw")),
        Case("search-hostile", search("s-h", checkpoint=str(w / "hostile.pt")), "unsafe to load", out("s-h")),
        Case("search-missing", search("s-m", checkpoint=str(w / "nope.pt")), "nope.pt", out("s-m")),
        Case("search-ckpt-dir", search("s-d", checkpoint=str(w / "a_dir")), "a_dir", out("s-d")),
        Case("search-val-size", search("s-vs", "--val-size", "0"), "got 0", out("s-vs")),
        Case("search-threads", search("s-t", "--threads", "0"), "--threads", out("s-t")),
        Case("search-flag", search("s-f", "--strategy", "evolution", "--repeats", "2"), "--repeats", out("s-f")),
        Case("search-val-missing", search("s-vm", "--config", str(w / "search_noval.yaml")), "nope.txt",
             out("s-vm")),
        Case("search-val-unreadable", search("s-vu", "--config", str(w / "search_badval.yaml")),
             "allbad.txt", out("s-vu")),
        # correlate
        Case("correlate-into-pretrain", ["correlate", "--checkpoint", ck, "--out", str(w / "pretrain_run")],
             "pretrain folder", str(w / "pretrain_run")),
        Case("correlate-hostile", ["correlate", "--checkpoint", str(w / "hostile.pt"), "--out", out("c-h")],
             "unsafe to load", out("c-h")),
        Case("correlate-arch", ["correlate", "--checkpoint", ck, "--out", out("c-a"), "--archs", "bogus",
                                "bogus2", "bogus3"], "'bogus'", out("c-a")),
        Case("correlate-k", ["correlate", "--checkpoint", ck, "--out", out("c-k"), "--k", "2"], "k=2", out("c-k")),
        Case("correlate-init", ["correlate", "--checkpoint", ck, "--out", out("c-i"), "--set",
                                f"init_from={w / 'nope.pt'}"], "nope.pt", out("c-i")),
        # export and latency-table
        Case("export-arch-empty", ["export", "--checkpoint", ck, "--arch", "", "--out", out("x-e")], "''", out("x-e")),
        Case("export-units", ["export", "--checkpoint", ck, "--arch", '{"units": 5}', "--out", out("x-u")],
             "got 5", out("x-u")),
        Case("export-into-pretrain", ["export", "--checkpoint", ck, "--arch", ARCH, "--out",
                                      str(w / "pretrain_run")], "pretrain folder", str(w / "pretrain_run")),
        Case("export-hostile", ["export", "--checkpoint", str(w / "hostile.pt"), "--arch", ARCH, "--out",
                                out("x-h")], "unsafe to load", out("x-h")),
        Case("export-nospec", ["export", "--checkpoint", str(w / "nospec.pt"), "--arch", ARCH, "--out",
                               out("x-n")], "model_spec", out("x-n")),
        Case("export-weights", ["export", "--checkpoint", str(w / "badweights.pt"), "--arch", ARCH, "--out",
                                out("x-w")], "stem.proj.weight", out("x-w")),
        Case("export-under-file", ["export", "--checkpoint", ck, "--arch", ARCH, "--out",
                                   str(w / "a_file" / "x")], "a_file"),
        Case("export-batch", ["export", "--checkpoint", ck, "--arch", ARCH, "--out", out("x-b"), "--batch", "0"],
             "got 0", out("x-b")),
        Case("export-input", ["export", "--checkpoint", ck, "--arch", ARCH, "--out", out("x-i"), "--input",
                              "16x0x3"], "16x0x3", out("x-i")),
        Case("pretrain-into-export", pre + ["--set", f"output_dir={exp}"], "export folder", str(exp)),
        Case("search-into-export", search("", out_dir=str(exp)), "export folder", str(exp)),
        Case("latency-under-file", ["latency-table", "--model", "mlp3d-nano", "--out",
                                    str(w / "a_file" / "t.json")], "a_file"),
        Case("latency-device", ["latency-table", "--model", "mlp3d-nano", "--device", "tpu", "--out",
                                out("lat") + "/t.json"], "'tpu'", out("lat")),
        Case("latency-threads", ["latency-table", "--model", "mlp3d-nano", "--threads", "0", "--out",
                                 out("lat2") + "/t.json"], "got 0", out("lat2")),
        Case("latency-run-time", ["latency-table", "--model", "mlp3d-nano", "--min-run-time", "nan", "--out",
                                  out("lat3") + "/t.json"], "nan", out("lat3")),
        Case("latency-nospec", ["latency-table", "--checkpoint", str(w / "nospec.pt"), "--out",
                                out("lat4") + "/t.json"], "model_spec", out("lat4")),
        Case("latency-classes", ["latency-table", "--model", "mlp3d-nano", "--classes", "0", "--out",
                                 out("lat5") + "/t.json"], "--classes 0", out("lat5")),
        Case("latency-out-dir", ["latency-table", "--model", "mlp3d-nano", "--out", str(w / "a_dir")],
             "a_dir", str(w / "a_dir")),
        # data check
        Case("data-check-dir", ["data", "check", "--config", str(w / "a_dir")], "a_dir"),
    ]
    return c


READ_ONLY = "/sys/vidnas-read-only" if os.geteuid() == 0 else "/proc/vidnas-read-only"


# A warm CLI process: it imports torch and nas once, then forks one child per case, which
# runs the real entry point (`nas.cli.main`, as `python -m nas.cli` does) with its own stdout
# and stderr files and exit status; an uncaught exception prints its traceback there, as the
# interpreter would. Forking skips the ~1.5-4 s import per case; FRESH cases still start a
# whole new interpreter each.
FORKER = r"""
import json, os, sys, traceback
import nas.cli, nas.pretrain, nas.train, nas.correlate, nas.validate, nas.runfolder
import nas.search.cli, nas.search.engine, nas.search.recipes, nas.data.check, nas.plots
import nas.export, nas.latency
import supernet.models
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        for fd, name in ((1, job["stdout"]), (2, job["stderr"])):
            os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        sys.argv = ["nas", *job["argv"]]
        try:
            code = nas.cli.main(job["argv"])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)
"""
FRESH = {"units-int", "check-empty", "lr-nan", "train-init-nospec", "search-device", "correlate-k",
         "data-check-dir", "plot-arch-units", "center-hostile", "search-into-pretrain", "export-hostile",
         "latency-device"}


class Forker:
    def __init__(self, env, scratch: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", FORKER], env=env, cwd=str(ROOT),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.scratch = scratch

    def run(self, case: Case) -> tuple[int, str, str]:
        out, err = self.scratch / f"{case.name}.out", self.scratch / f"{case.name}.err"
        self.proc.stdin.write(json.dumps({"argv": case.argv, "stdout": str(out), "stderr": str(err)}) + "\n")
        self.proc.stdin.flush()
        rc = json.loads(self.proc.stdout.readline())["rc"]
        return rc, out.read_text(), err.read_text()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def run_case(case: Case, env, forker: Forker | None) -> str | None:
    """None when the case holds, else what went wrong (one line)."""
    folder = Path(case.out) if case.out else None
    before = snapshot(folder) if folder else None
    if forker is None:
        proc = subprocess.run([sys.executable, "-m", "nas.cli", *case.argv], env=env, cwd=str(ROOT),
                              capture_output=True, text=True, timeout=300)
        rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    else:
        rc, stdout, stderr = forker.run(case)
    err = stderr.strip()
    lines = err.splitlines()
    problems = []
    if rc != 2:
        problems.append(f"exit {rc}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines")
    if "Traceback" in stderr + stdout:
        problems.append("a traceback")
    if "PWNED" in stderr + stdout:
        problems.append("hostile code ran")
    if case.needle not in err:
        problems.append(f"{case.needle!r} not named")
    if lines and not lines[0].startswith(f"nas {case.argv[0]}: error: "):
        problems.append("not a `nas CMD: error:` line")
    if len(err) > 700:
        problems.append(f"{len(err)} characters")
    if folder and snapshot(folder) != before:
        problems.append(f"{folder} changed")
    return None if not problems else f"{case.name}: {', '.join(problems)} -- {err[:300]!r}"


def test_bad_input_corpus(world):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT),
               VIDNAS_CACHE=str(world / "cache"))
    env.pop("WORLD_SIZE", None)
    corpus = cases(world)
    assert len(corpus) >= 60 and len({c.name for c in corpus}) == len(corpus)
    assert FRESH <= {c.name for c in corpus}
    workers = max(2, min(4, os.cpu_count() or 2))
    scratch = world / "streams"
    scratch.mkdir(exist_ok=True)
    forkers = [Forker(env, scratch) for _ in range(workers)]
    lanes = [[c for c in corpus if c.name in FRESH]] + [[] for _ in range(workers)]
    for i, c in enumerate(c for c in corpus if c.name not in FRESH):
        lanes[1 + i % workers].append(c)

    def lane(k):
        return [run_case(c, env, None if k == 0 else forkers[k - 1]) for c in lanes[k]]
    try:
        with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
            failures = [f for results in pool.map(lane, range(len(lanes))) for f in results if f]
    finally:
        for f in forkers:
            f.close()
    assert not failures, f"{len(failures)} of {len(corpus)} cases failed:\n" + "\n".join(failures)
    assert not (world / "out").exists()                 # no case created its output folder


def test_official_cyclemlp_checkpoint_is_accepted_and_nothing_else_unpickled(tmp_path):
    """The CycleMLP `main.py` format (model, epoch, args=argparse.Namespace) loads weights-only;
    the allow-list is scoped to the call and admits that one class only."""
    from supernet.models.mlp3d import load_2d_state
    from supernet.training.checkpoint import safe_load

    state = {"network.0.proj.weight": torch.randn(2, 3)}
    torch.save({"model": {"head.weight": torch.ones(2, 2)}, "epoch": 299,
                "args": argparse.Namespace(lr=1e-3, model="CycleMLP_B1")}, tmp_path / "official.pt")
    assert list(load_2d_state(tmp_path / "official.pt")) == ["head.weight"]
    assert safe_load(tmp_path / "official.pt")["args"].model == "CycleMLP_B1"
    with pytest.raises(pickle.UnpicklingError):             # not allow-listed process-wide
        torch.load(tmp_path / "official.pt", weights_only=True)
    torch.save({"model": state, "args": Hostile()}, tmp_path / "hostile.pt")
    with pytest.raises(ValueError, match="not a vidnas checkpoint, or is unsafe to load") as e:
        load_2d_state(tmp_path / "hostile.pt")
    assert "weights_only" not in str(e.value) and "\n" not in str(e.value)
