"""A corpus of bad inputs, each run through the real CLI in a subprocess (`python -m nas.cli`).

Every case asserts: exit code 2, exactly one line on stderr, no "Traceback" anywhere, the
bad value named in that line, and the output folder absent or unchanged (same files, sizes
and bytes). The cases run in parallel threads (each its own single-threaded subprocess) and
all failures are reported at once. The expensive inputs (a tiny supernet checkpoint, its
synthetic data cache, damaged and hostile checkpoints, video lists) are built once.

Issue 26 audit: for each class of the issue, the commands that read that kind of input and the
corpus case (by name) or test (test_...) that covers each. Every one listed fails on c5b0978,
the main the issue was filed against (checked by running them there); [new] marks a command
or option added since, where that failure is only "unknown command/key". A command not listed
under a class does not read that kind of input.

 1 checked before the folder     search: lat-* (14), lat-config-file, bench-space,
   is written (tables, lists,      test_bad_latency_table_leaves_nothing_and_the_fixed_rerun_needs_no_resume,
   arch files, checkpoints)        test_a_search_killed_while_it_reads_a_bad_latency_table_... (kill -9, Ctrl-C)
                                 pretrain: data-mean-nan, center-nan; train: train-inf-init; correlate:
                                   correlate-val-size-0; export: export-inf-weights; plot: plot-arch-huge-input;
                                   demo: demo-symlink; latency-table: latency-nan-weights; data check:
                                   data-binary-list; predictor fit: pred-fit-empty; proxies [new]: proxies-symlink
 2 non-finite / out-of-range     checkpoints: search-nan/inf-weights, train-nan/inf-init, export-nan/inf-weights,
                                   correlate-nan-weights, latency-nan/inf-weights, center-nan (pretrain's 2D file)
                                 latency tables (search): lat-nan, lat-inf, lat-negative, lat-config-file
                                 config numbers: pretrain: data-mean-nan, data-std-inf, threads-0, workers-neg,
                                   drop-path-neg, weight-decay-neg; train: train-threads-0, train-mean-nan;
                                   correlate: correlate-run-threads-0; data check: data-check-std-inf;
                                   demo [new key]: demo-mean-nan
 3 config and file parsing       --config YAML: pretrain-{alias-bomb,dup-key,deep,binary}, train-{alias-bomb,dup-key,
                                   binary-config}, search-{alias-bomb,dup-key,deep}, correlate-{alias-bomb,dup-key,
                                   train-config-dup}, data-check-{bomb,dup,deep}, latency-{config-bomb,dup-key},
                                   demo-{alias-bomb,dup-key}, {flops,space,models,export,plot,pred-fit,pred-eval}-dup-key,
                                   config-show-dup-key [new], proxies-dup-key [new]; the reader: test_yaml_and_json_bounds_...
                                 --set not YAML: set-bad-yaml (pretrain), train-set-bomb, search-set-bad-yaml,
                                   {correlate,flops,space,models,plot,pred-fit,data-check,demo,export,latency}-set-bad-yaml
                                 binary lists: pretrain-binary-list, train-binary-list, search-binary-val-list,
                                   data-binary-list, data-binary-frame-list; arch files: export-binary-arch,
                                   correlate-binary-archs; benchmark tables (search): bench-space, bench-binary, bench-spec
 4 tracebacks                    filename_tmpl: filename-tmpl-attr/-index (pretrain), train-filename-tmpl,
                                   data-check-filename-tmpl; export manifest as init_from: init-export-noname,
                                   init-export-string (train), correlate-init-export [new: c5b0978's correlate refused
                                   any folder there]; --alpha (search): alpha-empty, alpha-words
 5 hangs, wrong refusals         --val-size 0: correlate-val-size-0; BOM lists: test_a_list_with_a_byte_order_mark_is_read
                                   (data check, pretrain); --input bounds: flops-huge-input/-image, export-huge-input,
                                   space-huge-input, plot-arch-huge-input, latency-huge-input, proxies-huge-input [new];
                                   models-family, models-family-empty; space-sample-neg, space-seed-neg
 6 predictor and plot            pred-fit-{empty,space,garbage}, pred-eval-{format,hostile,binary-results},
                                   plot-search-{empty,zero-bytes,garbage,binary-results}, plot-variants-{json,garbage},
                                   plot-correlation-{garbage,empty}
 7 messages naming the value     init_from of another family: train-init-family, correlate-init-family (which
                                   also shows class 1: it was named only after the estimates were written)
 8 kill and resume               pretrain: test_pretrain_resume_before_the_first_checkpoint_starts_from_step_0;
                                   export: test_export_killed_part_way_leaves_nothing_that_blocks_the_rerun (3 points);
                                   search: test_a_search_killed_while_it_reads_a_bad_latency_table_...
 9 paths chosen by a checkpoint  search: test_bad_latency_table_leaves_nothing_...; correlate:
                                   test_correlate_ignores_a_checkpoint_chosen_cache_dir
10 disk full, folders, locks     disk full: test_disk_full_during_a_pretrain_checkpoint_..., test_disk_full_during_a_search_...
                                 foreign/symlinked --out: pretrain-foreign, pretrain-symlink, train-symlink, search-foreign,
                                   search-symlink, correlate-symlink, export-symlink, demo-symlink, proxies-symlink [new]
                                 locks: search (test_bad_latency_table_...), pretrain
                                   (test_a_pretrain_resume_while_another_process_holds_the_folder_is_one_line [new: no locks])
                                 comment-only --archs: correlate-archs-comments, proxies-archs-comments [new]
                                 a hostile predictor: pred-eval-hostile, pred-eval-binary-results

Not covered: disk full for train, correlate, export and
latency-table (the same `atomic_write` path as pretrain's and search's); locks for train and
correlate (the same `prepare_run_folder`); a benchmark table read by `predictor eval`.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from tests.support import ROOT, sigint_as_in_a_terminal
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
    round2_files(w, ckpt, model)
    return w


BOMB = "".join(f"{n}: &{n} [{', '.join(['*' + p] * 9 if p else ['lol'] * 9)}]\n"
               for p, n in zip([""] + list("abcdefgh"), "abcdefghi"))      # "billion laughs"


def latency_table(ckpt: dict, model) -> dict:
    """A valid latency table (made up numbers) for the corpus's checkpoint."""
    from nas.costs.latency import LUT_FORMAT

    return {"format": LUT_FORMAT, "model": ckpt["model_spec"]["name"], "input": [16, 32, 32], "batch": 1,
            "device": "cpu", "threads": 1, "runtime": "torch", "model_spec": ckpt["model_spec"],
            "space": model.space.config(), "meta": {},
            "fixed_ms": {"stem": 0.5, "head": 0.1},
            "unit_ms": [{c.token: 0.01 * (j + 1) for j, c in enumerate(model.space.choices(i))}
                        for i in range(model.space.num_units)]}


def round2_files(w: Path, ckpt: dict, model) -> None:
    """Issue 26's inputs: bad latency and benchmark tables, YAML that hangs or hides mistakes,
    binary and nested files, non-finite checkpoints, bad export manifests, bad results files."""
    from nas.deploy.export import EXPORT_FORMAT
    from nas.runfolder import KIND_FILE
    from supernet.registry import build_model
    from supernet.training.checkpoint import save_checkpoint

    r = w / "r2"
    r.mkdir()
    good = latency_table(ckpt, model)
    (r / "lat_good.json").write_text(json.dumps(good))
    first_unit = dict(good["unit_ms"][0])
    variants = {
        "other_model": {**good, "model_spec": {**good["model_spec"], "name": "eco-nano"}},
        "no_fixed": {k: v for k, v in good.items() if k != "fixed_ms"},
        "no_unit": {**good, "unit_ms": good["unit_ms"][:1] + [{}] + good["unit_ms"][2:]},
        "string_ms": {**good, "fixed_ms": {"stem": "fast"}},
        "list_unit": {**good, "unit_ms": [[1, 2]] + good["unit_ms"][1:]},
        "device": {**good, "device": "tpu"},
        "negative": {**good, "unit_ms": [{**first_unit, next(iter(first_unit)): -2.5}] + good["unit_ms"][1:]},
    }
    for name, table in variants.items():
        (r / f"lat_{name}.json").write_text(json.dumps(table))
    (r / "lat_nan.json").write_text(json.dumps({**good, "fixed_ms": {"stem": float("nan")}}))
    (r / "lat_inf.json").write_text(json.dumps({**good, "fixed_ms": {"stem": float("inf")}}))
    (r / "lat_garbage.json").write_bytes(bytes(range(128, 256)) * 4)
    (r / "lat_empty.json").write_bytes(b"")
    (r / "lat_deep.json").write_text("[" * 100_000 + "]" * 100_000)
    # YAML configs
    (r / "bomb.yaml").write_text(BOMB)
    (r / "dup.yaml").write_text((w / "run.yaml").read_text() + "optim: {lr: 0.1}\n")
    (r / "deep.yaml").write_text("model: " + "[" * 100_000 + "]" * 100_000 + "\n")
    (r / "binary.yaml").write_bytes(b"train:\n  epochs: \xc7\xff\n")
    (r / "search_dup.yaml").write_text("seed: 1\nseed: 2\n")
    # lists and architecture files
    (r / "binary_list.txt").write_bytes(b"good0.mp4 0\n\xc7\xc7.mp4 1\n")
    (r / "comments.txt").write_text("# nothing but a comment\n\n")
    (r / "binary_archs.txt").write_bytes(b"\xc7\xff\xfe\n")
    (r / "binary_arch.json").write_bytes(b"\xc7\xff\xfe\n")
    (r / "search_lat.yaml").write_text(yaml.safe_dump({"cost": "latency",
                                                      "latency_table": str(r / "lat_negative.json")}))
    (r / "binary_frames.yaml").write_text(yaml.safe_dump(
        {"data": {"dataset": "frame-folder", "root": str(w), "train_list": str(r / "binary_list.txt"),
                  "num_classes": 2, "num_frames": 8, "size": 32}}))
    (r / "search_binary_val.yaml").write_text(yaml.safe_dump(
        {"data": {"dataset": "video-list", "root": str(w), "val_list": str(r / "binary_list.txt"),
                  "num_classes": 2, "num_frames": 8, "size": 32}}))
    (r / "binary_list.yaml").write_text(yaml.safe_dump(
        {"data": {"dataset": "video-list", "root": str(w), "train_list": str(r / "binary_list.txt"),
                  "num_classes": 2, "num_frames": 8, "size": 32}}))
    # benchmark tables: a bad space field, a binary benchmark.json
    for name, meta in (("bench_space", b'{"space": "abc", "model_spec": {"name": "mlp3d-nano"}}'),
                       ("bench_spec", json.dumps({"space": model.space.config(), "model_spec": "mlp3d-nano"}).encode()),
                       ("bench_binary", b"\xc7\xff{}")):
        (r / name).mkdir()
        (r / name / "benchmark.json").write_bytes(meta)
        (r / name / "standalone.csv").write_text("arch,canonical_arch,seed,top1,top5,loss,gflops,params_m,"
                                                  "epochs,init,init_from\n")
    # checkpoints with non-finite weights; a supernet of another family
    state = dict(ckpt["model"])
    first = next(k for k, v in state.items() if v.is_floating_point())
    torch.save({**ckpt, "model": {**state, first: torch.full_like(state[first], float("nan"))}}, r / "nan.pt")
    last = [k for k, v in state.items() if v.is_floating_point()][-1]
    torch.save({**ckpt, "model": {**state, last: torch.full_like(state[last], float("inf"))}}, r / "inf.pt")
    torch.manual_seed(0)
    save_checkpoint(r / "eco.pt", model=build_model("eco-nano", (16, 32, 32), 10), kind="supernet", step=0,
                    epoch=0, config={})
    image = build_model("cyclemlp-nano", (32, 32), 10).state_dict()      # a 2D CycleMLP for center_init_from
    first2d = next(k for k, v in image.items() if v.is_floating_point())
    torch.save({"model": {**image, first2d: torch.full_like(image[first2d], float("nan"))}}, r / "nan2d.pt")
    (w / "nan2d_key.txt").write_text(first2d)
    (w / "nan_key.txt").write_text(first)
    (w / "inf_key.txt").write_text(last)
    # export folders whose manifest lacks the model name, or holds a string spec
    for name, spec in (("exp_noname", {"arch": ARCH}), ("exp_string", "mlp3d-nano")):
        (r / name).mkdir()
        (r / name / "export.json").write_text(json.dumps({"format": EXPORT_FORMAT, "model_spec": spec}))
        (r / name / KIND_FILE).write_text("kind: export\n")
    # search results: zero rows, a bad space field, garbage; a predictor in the wrong format
    from nas.search.store import COLUMNS
    for name, space in (("res_empty", model.space.config()), ("res_space", "abc")):
        (r / name).mkdir()
        (r / name / "results.csv").write_text(",".join(COLUMNS) + "\n")
        (r / name / "cost_table.json").write_text(json.dumps({"space": space}))
    (r / "res_garbage").mkdir()
    (r / "res_garbage" / "results.csv").write_bytes(b"\x00\xc7\xff" * 50)
    (r / "res_garbage" / "cost_table.json").write_text(json.dumps({"space": model.space.config()}))
    (r / "zero_bytes.csv").write_bytes(b"")
    (r / "garbage.csv").write_bytes(b"\x00\xc7\xff" * 50)
    (r / "garbage.json").write_bytes(b"{not json")
    (r / "variants.csv").write_text("variant,group_size,gflops,top1\nv,2,1.0,50\n")
    (r / "not_a_predictor.pt").write_text("this is text\n")
    torch.save({"format": "vidnas-predictor-v1", "x": Hostile()}, r / "hostile_predictor.pt")
    # a non-empty folder vidnas did not make, and a symlink to it
    (r / "foreign").mkdir()
    (r / "foreign" / "thesis.tex").write_text("precious\n")
    (r / "link").symlink_to(r / "foreign", target_is_directory=True)


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
    r = w / "r2"
    nan_key, inf_key = (w / "nan_key.txt").read_text(), (w / "inf_key.txt").read_text()

    def lat(name, table, needle, *extra):           # a search with a latency table: nothing written
        return Case(f"lat-{name}", search(f"s-lat-{name}", "--cost", "latency", "--latency-table",
                                          str(r / f"lat_{table}.json"), *extra), needle, out(f"s-lat-{name}"))

    def predictor_fit(name, results, needle):
        return Case(name, ["predictor", "fit", "--results", str(results), "--out", out(name) + "/p.pt"],
                    needle, out(name))

    def plot(name, kind, csv, needle, *extra):
        return Case(name, ["plot", kind, "--csv", str(csv), "--out", out(name) + "/fig", *extra], needle,
                    out(name))

    c += [
        # issue 26 class 1: every file read before the run folder exists (latency tables)
        lat("other-model", "other_model", "eco-nano"),
        lat("no-fixed", "no_fixed", "'fixed_ms'"),
        lat("no-unit", "no_unit", "unit_ms[1]"),
        lat("string", "string_ms", "'fast'"),
        lat("list", "list_unit", "unit_ms[0]"),
        lat("garbage", "garbage", "lat_garbage.json"),
        lat("empty", "empty", "lat_empty.json"),
        lat("deep", "deep", "lat_deep.json"),
        lat("device", "device", "'tpu'"),
        lat("missing", "nope", "lat_nope.json"),
        lat("cost-device", "good", "'tpu'", "--cost-device", "tpu"),
        # class 2: non-finite and out-of-range numbers
        lat("nan", "nan", "nan"),
        lat("inf", "inf", "inf"),
        lat("negative", "negative", "-2.5"),
        Case("search-nan-weights", search("s-nan", checkpoint=str(r / "nan.pt")), nan_key, out("s-nan")),
        Case("search-inf-weights", search("s-inf", checkpoint=str(r / "inf.pt")), inf_key, out("s-inf")),
        Case("train-nan-init", train_set("t-nan", f"init_from={r / 'nan.pt'}"), nan_key, out("t-nan")),
        Case("export-nan-weights", ["export", "--checkpoint", str(r / "nan.pt"), "--arch", ARCH, "--out",
                                    out("x-nan")], nan_key, out("x-nan")),
        Case("correlate-nan-weights", ["correlate", "--checkpoint", str(r / "inf.pt"), "--out", out("c-nan")],
             inf_key, out("c-nan")),
        Case("latency-nan-weights", ["latency-table", "--checkpoint", str(r / "nan.pt"), "--out",
                                     out("lat-nan") + "/t.json"], nan_key, out("lat-nan")),
        Case("data-mean-nan", pre_set("mean-nan", "data.mean=[.nan, 0.45, 0.45]"), "nan", out("mean-nan")),
        Case("data-std-inf", pre_set("std-inf", "data.std=[0.2, .inf, 0.2]"), "inf", out("std-inf")),
        Case("threads-0", pre_set("thr0", "train.threads=0"), "train.threads", out("thr0")),
        Case("workers-neg", pre_set("wneg", "train.num_workers=-1"), "train.num_workers", out("wneg")),
        Case("train-threads-0", train_set("t-thr0", "train.threads=0"), "train.threads", out("t-thr0")),
        Case("drop-path-neg", pre_set("dpr", "model.kwargs.drop_path_rate=-3"), "-3", out("dpr")),
        Case("weight-decay-neg", pre_set("wd", "optim.weight_decay=-0.5"), "-0.5", out("wd")),
        # class 3: config and file parsing
        Case("pretrain-alias-bomb", ["pretrain", "--config", str(r / "bomb.yaml")], "expand"),
        Case("search-alias-bomb", search("s-bomb", "--config", str(r / "bomb.yaml")), "bomb.yaml", out("s-bomb")),
        Case("correlate-alias-bomb", ["correlate", "--config", str(r / "bomb.yaml")], "bomb.yaml"),
        Case("pretrain-dup-key", ["pretrain", "--config", str(r / "dup.yaml")], "duplicate key 'optim'"),
        Case("search-dup-key", search("s-dup", "--config", str(r / "search_dup.yaml")), "'seed' at lines 1 and 2",
             out("s-dup")),
        Case("pretrain-deep", ["pretrain", "--config", str(r / "deep.yaml")], "deep.yaml"),
        Case("search-deep", search("s-deep", "--config", str(r / "deep.yaml")), "deep.yaml", out("s-deep")),
        Case("pretrain-binary", ["pretrain", "--config", str(r / "binary.yaml")], "not UTF-8"),
        Case("set-bad-yaml", pre_set("sety", "train.epochs=[1,"), "train.epochs=[1,", out("sety")),
        Case("search-set-bad-yaml", search("s-sety", "--set", "seed={"), "seed={", out("s-sety")),
        Case("train-set-bomb", train_set("t-setb", "model.kwargs={a: &a [1, *a]}"), "model.kwargs", out("t-setb")),
        Case("data-binary-list", ["data", "check", "--config", str(r / "binary_list.yaml"), "--out",
                                  str(w / "a_dir" / "r.csv")], "binary_list.txt", str(w / "a_dir")),
        Case("train-binary-list", train_set("t-binl", "data.dataset=video-list", f"data.root={w}",
                                            f"data.train_list={r / 'binary_list.txt'}", "data.num_classes=2",
                                            "data.num_frames=8"), "binary_list.txt", out("t-binl")),
        Case("bench-space", search("s-bs", checkpoint="", *["--bench-table", str(r / "bench_space")]),
             "benchmark.json", out("s-bs")),
        Case("bench-binary", search("s-bb", checkpoint="", *["--bench-table", str(r / "bench_binary")]),
             "benchmark.json", out("s-bb")),
        Case("correlate-binary-archs", ["correlate", "--checkpoint", ck, "--out", out("c-ba"), "--archs",
                                        str(r / "binary_archs.txt")], "binary_archs.txt", out("c-ba")),
        # class 4: tracebacks
        Case("filename-tmpl-attr", pre_set("ft", "data.dataset=frame-folder", "data.train_list=x.txt",
                                           "data.filename_tmpl='{0.bogus}'"), "{0.bogus}", out("ft")),
        Case("filename-tmpl-index", pre_set("fi", "data.dataset=frame-folder", "data.train_list=x.txt",
                                            "data.filename_tmpl=img_{0[1]}.jpg"), "img_{0[1]}.jpg", out("fi")),
        Case("init-export-noname", train_set("t-xn", f"init_from={r / 'exp_noname'}"), "model_spec", out("t-xn")),
        Case("init-export-string", train_set("t-xs", f"init_from={r / 'exp_string'}"), "'mlp3d-nano'",
             out("t-xs")),
        Case("alpha-empty", search("s-ae", "--alpha", ""), "--alpha", out("s-ae")),
        Case("alpha-words", search("s-aw", "--alpha", "a,b"), "'a,b'", out("s-aw")),
        # class 5: hangs and wrong refusals
        Case("correlate-val-size-0", ["correlate", "--checkpoint", ck, "--out", out("c-v0"), "--val-size", "0"],
             "got 0", out("c-v0")),
        Case("flops-huge-input", flops + ["--input", "16x99999x99999"], "16x99999x99999"),
        Case("export-huge-input", ["export", "--checkpoint", ck, "--arch", ARCH, "--out", out("x-hi"),
                                   "--input", "16x99999x99999"], "16x99999x99999", out("x-hi")),
        Case("models-family", ["models", "--family", "bogus"], "'bogus'"),
        Case("space-sample-neg", space + ["--sample", "-1"], "--sample"),
        Case("space-seed-neg", space + ["--sample", "2", "--seed", "-1"], "--seed"),
        # class 6: predictor and plot
        predictor_fit("pred-fit-empty", r / "res_empty" / "results.csv", "has no rows"),
        predictor_fit("pred-fit-space", r / "res_space" / "results.csv", "cost_table.json"),
        predictor_fit("pred-fit-garbage", r / "res_garbage" / "results.csv", "results.csv is not UTF-8"),
        Case("pred-eval-format", ["predictor", "eval", "--predictor", str(r / "not_a_predictor.pt"), "--results",
                                  str(r / "res_empty" / "results.csv")], "not a torch checkpoint file"),
        Case("pred-eval-hostile", ["predictor", "eval", "--predictor", str(r / "hostile_predictor.pt"),
                                   "--results", str(r / "res_empty" / "results.csv")], "unsafe to load"),
        plot("plot-search-empty", "search", r / "res_empty" / "results.csv", "has no rows"),
        plot("plot-search-zero-bytes", "search", r / "zero_bytes.csv", "zero_bytes.csv"),
        plot("plot-search-garbage", "search", r / "garbage.csv", "garbage.csv"),
        plot("plot-variants-json", "variants", r / "variants.csv", "garbage.json", "--searched",
             str(r / "garbage.json")),
        plot("plot-variants-garbage", "variants", r / "garbage.json", "garbage.json"),
        # class 7: messages naming the value
        Case("train-init-family", train_set("t-fam", f"init_from={r / 'eco.pt'}"), "'eco-nano'", out("t-fam")),
        # class 10: an --archs file of only comments is bad input; a non-empty folder vidnas did
        # not make is refused by every command, through a symlink or not
        Case("correlate-archs-comments", ["correlate", "--checkpoint", ck, "--out", out("c-cm"), "--archs",
                                          str(r / "comments.txt")], "comments.txt", out("c-cm")),
        Case("pretrain-foreign", pre + ["--set", f"output_dir={r / 'foreign'}"], "not made by vidnas",
             str(r / "foreign")),
        Case("pretrain-symlink", pre + ["--set", f"output_dir={r / 'link'}"], "not made by vidnas",
             str(r / "foreign")),
        Case("train-symlink", train + ["--arch", ARCH, "--set", f"output_dir={r / 'link'}"], "not made by vidnas",
             str(r / "foreign")),
        Case("search-foreign", search("", out_dir=str(r / "foreign")), "not made by vidnas", str(r / "foreign")),
        Case("search-symlink", search("", out_dir=str(r / "link")), "not made by vidnas", str(r / "foreign")),
        Case("correlate-symlink", ["correlate", "--checkpoint", ck, "--out", str(r / "link")], "not made by vidnas",
             str(r / "foreign")),
        Case("export-symlink", ["export", "--checkpoint", ck, "--arch", ARCH, "--out", str(r / "link")],
             "is not empty", str(r / "foreign")),
        # more commands reading the same kinds of files
        Case("train-alias-bomb", ["train", "--config", str(r / "bomb.yaml"), "--arch", ARCH], "bomb.yaml"),
        Case("train-dup-key", ["train", "--config", str(r / "dup.yaml"), "--arch", ARCH], "duplicate key"),
        Case("train-binary-config", ["train", "--config", str(r / "binary.yaml"), "--arch", ARCH], "not UTF-8"),
        Case("data-check-bomb", ["data", "check", "--config", str(r / "bomb.yaml")], "bomb.yaml"),
        Case("data-check-dup", ["data", "check", "--config", str(r / "dup.yaml")], "duplicate key"),
        Case("data-check-deep", ["data", "check", "--config", str(r / "deep.yaml")], "deep.yaml"),
        Case("correlate-dup-key", ["correlate", "--config", str(r / "search_dup.yaml")], "duplicate key 'seed'"),
        Case("latency-config-bomb", ["latency-table", "--config", str(r / "bomb.yaml"), "--out",
                                     out("lat-b") + "/t.json"], "bomb.yaml", out("lat-b")),
        Case("export-binary-arch", ["export", "--checkpoint", ck, "--arch", str(r / "binary_arch.json"), "--out",
                                    out("x-ba")], "binary_arch.json is not UTF-8", out("x-ba")),
        Case("space-huge-input", space + ["--input", "9999x9999x9999"], "9999x9999x9999"),
        Case("plot-arch-huge-input", ["plot", "arch", "--model", "mlp3d-nano", "--input", "16x99999x99999",
                                      "--out", out("pa-h") + "/fig"], "16x99999x99999", out("pa-h")),
        plot("plot-correlation-garbage", "correlation", r / "garbage.csv", "garbage.csv"),
        plot("plot-search-binary-results", "search", r / "res_garbage" / "results.csv", "results.csv is not UTF-8"),
        Case("export-inf-weights", ["export", "--checkpoint", str(r / "inf.pt"), "--arch", ARCH, "--out",
                                    out("x-inf")], inf_key, out("x-inf")),
        Case("train-inf-init", train_set("t-inf", f"init_from={r / 'inf.pt'}"), inf_key, out("t-inf")),
        Case("latency-inf-weights", ["latency-table", "--checkpoint", str(r / "inf.pt"), "--out",
                                     out("lat-inf") + "/t.json"], inf_key, out("lat-inf")),
        Case("lat-config-file", search("s-lcf", "--config", str(r / "search_lat.yaml")), "-2.5", out("s-lcf")),
        Case("demo-alias-bomb", ["demo", "--config", str(r / "bomb.yaml"), "--out", out("demo-b")], "bomb.yaml",
             out("demo-b")),
        Case("demo-dup-key", ["demo", "--config", str(r / "search_dup.yaml"), "--out", out("demo-d")],
             "duplicate key", out("demo-d")),
        Case("pred-eval-binary-results", ["predictor", "eval", "--predictor", str(r / "hostile_predictor.pt"),
                                          "--results", str(r / "res_garbage" / "results.csv")], "unsafe to load"),
        Case("bench-spec", search("s-bsp", checkpoint="", *["--bench-table", str(r / "bench_spec")]),
             "model_spec 'mlp3d-nano'", out("s-bsp")),
        Case("correlate-train-config-dup", ["correlate", "--checkpoint", ck, "--out", out("c-tcd"), "--train-config",
                                            str(r / "dup.yaml")], "duplicate key", out("c-tcd")),
        Case("data-binary-frame-list", ["data", "check", "--config", str(r / "binary_frames.yaml"), "--out",
                                        str(w / "a_dir" / "r.csv")], "binary_list.txt is not UTF-8", str(w / "a_dir")),
        Case("flops-huge-image", ["flops", "--model", "cyclemlp-nano", "--input", "99999x99999"], "99999x99999"),
        Case("models-family-empty", ["models", "--family", ""], "''"),
        Case("train-mean-nan", train_set("t-mn", "data.mean=[0.4, .nan, 0.4]"), "nan", out("t-mn")),
        Case("correlate-run-threads-0", ["correlate", "--checkpoint", ck, "--out", out("c-rt"), "--set",
                                         "train.threads=0"], "train.threads", out("c-rt")),
        # the audit's gaps (the matrix in the module docstring): each kind of input, every command
        # that reads it. Duplicate keys in a flag command's --config (class 3)
        Case("flops-dup-key", flops + ["--config", str(r / "search_dup.yaml")], "duplicate key 'seed'"),
        Case("space-dup-key", space + ["--config", str(r / "search_dup.yaml")], "duplicate key 'seed'"),
        Case("models-dup-key", ["models", "--config", str(r / "search_dup.yaml")], "duplicate key 'seed'"),
        Case("config-show-dup-key", ["config", "show", "--config", str(r / "dup.yaml")], "duplicate key 'optim'"),
        Case("export-dup-key", ["export", "--checkpoint", ck, "--arch", ARCH, "--out", out("x-dup"), "--config",
                                str(r / "search_dup.yaml")], "duplicate key 'seed'", out("x-dup")),
        Case("plot-dup-key", ["plot", "arch", "--model", "mlp3d-nano", "--config", str(r / "search_dup.yaml"),
                              "--out", out("pa-dup") + "/fig"], "duplicate key 'seed'", out("pa-dup")),
        Case("pred-fit-dup-key", ["predictor", "fit", "--results", str(r / "res_empty" / "results.csv"),
                                  "--config", str(r / "search_dup.yaml"), "--out", out("pf-dup") + "/p.pt"],
             "duplicate key 'seed'", out("pf-dup")),
        Case("pred-eval-dup-key", ["predictor", "eval", "--predictor", str(r / "not_a_predictor.pt"), "--results",
                                   str(r / "res_empty" / "results.csv"), "--config", str(r / "search_dup.yaml")],
             "duplicate key 'seed'"),
        Case("latency-dup-key", ["latency-table", "--model", "mlp3d-nano", "--config", str(r / "search_dup.yaml"),
                                 "--out", out("lat-dup") + "/t.json"], "duplicate key 'seed'", out("lat-dup")),
        Case("proxies-dup-key", ["proxies", "--model", "mlp3d-nano", "--config", str(r / "dup.yaml"), "--out",
                                 out("px-dup")], "duplicate key 'optim'", out("px-dup")),
        # --set values that are not YAML (class 3)
        Case("correlate-set-bad-yaml", ["correlate", "--checkpoint", ck, "--out", out("c-sety"), "--set",
                                        "train.epochs=[1,"], "train.epochs=[1,", out("c-sety")),
        Case("flops-set-bad-yaml", flops + ["--set", "classes=[1,"], "classes=[1,"),
        Case("data-check-set-bad-yaml", ["data", "check", "--config", str(w / "run.yaml"), "--set",
                                         "train.epochs=[1,"], "train.epochs=[1,"),
        Case("demo-set-bad-yaml", ["demo", "--out", out("demo-s"), "--set", "val_size=[1,"], "val_size=[1,",
             out("demo-s")),
        Case("export-set-bad-yaml", ["export", "--checkpoint", ck, "--arch", ARCH, "--out", out("x-sety"), "--set",
                                     "batch=[1,"], "batch=[1,", out("x-sety")),
        Case("latency-set-bad-yaml", ["latency-table", "--model", "mlp3d-nano", "--set", "batch=[1,", "--out",
                                      out("lat-sety") + "/t.json"], "batch=[1,", out("lat-sety")),
        # binary lists read by search's validation data (class 3)
        Case("search-binary-val-list", search("s-bvl", "--config", str(r / "search_binary_val.yaml")),
             "binary_list.txt is not UTF-8", out("s-bvl")),
        # class 4: filename_tmpl, for the other commands that read it
        Case("train-filename-tmpl", train_set("t-ft", "data.dataset=frame-folder", "data.train_list=x.txt",
                                              "data.filename_tmpl='{0.bogus}'"), "{0.bogus}", out("t-ft")),
        Case("data-check-filename-tmpl", ["data", "check", "--config", str(w / "run.yaml"), "--set",
                                          "data.dataset=frame-folder", "--set", "data.train_list=x.txt", "--set",
                                          "data.filename_tmpl='{0.bogus}'"], "{0.bogus}"),
        # class 2: finite data statistics in the commands that read a run config
        Case("data-check-std-inf", ["data", "check", "--config", str(w / "videos.yaml"), "--set",
                                    "data.std=[0.2, .inf, 0.2]"], "inf"),
        Case("demo-mean-nan", ["demo", "--out", out("demo-mn"), "--set", "data.mean=[.nan, 0.4, 0.4]"], "nan",
             out("demo-mn")),
        # class 5: input-size bounds
        Case("latency-huge-input", ["latency-table", "--model", "mlp3d-nano", "--input", "16x99999x99999", "--out",
                                    out("lat-hi") + "/t.json"], "16x99999x99999", out("lat-hi")),
        Case("proxies-huge-input", ["proxies", "--model", "mlp3d-nano", "--input", "16x99999x99999", "--out",
                                    out("px-hi")], "16x99999x99999", out("px-hi")),
        # class 6: an empty correlation table
        plot("plot-correlation-empty", "correlation", r / "zero_bytes.csv", "zero_bytes.csv"),
        # class 10: comment-only --archs and foreign folders for the remaining commands
        Case("proxies-archs-comments", ["proxies", "--model", "mlp3d-nano", "--archs", str(r / "comments.txt"),
                                        "--out", out("px-cm")], "comments.txt", out("px-cm")),
        Case("demo-symlink", ["demo", "--out", str(r / "link")], "not made by vidnas", str(r / "foreign")),
        Case("space-set-bad-yaml", space + ["--set", "sample=[1,"], "sample=[1,"),
        Case("models-set-bad-yaml", ["models", "--set", "family=[1,"], "family=[1,"),
        Case("plot-set-bad-yaml", ["plot", "arch", "--model", "mlp3d-nano", "--set", "classes=[1,", "--out",
                                   out("pa-sety") + "/fig"], "classes=[1,", out("pa-sety")),
        Case("pred-fit-set-bad-yaml", ["predictor", "fit", "--results", str(r / "res_empty" / "results.csv"),
                                       "--set", "epochs=[1,", "--out", out("pf-sety") + "/p.pt"], "epochs=[1,",
             out("pf-sety")),
        Case("pretrain-binary-list", pre_set("p-binl", "data.dataset=video-list", f"data.root={w}",
                                             f"data.train_list={r / 'binary_list.txt'}", "data.num_classes=2",
                                             "data.num_frames=8"), "binary_list.txt is not UTF-8", out("p-binl")),
        Case("correlate-init-family", ["correlate", "--checkpoint", ck, "--out", out("c-fam"), "--set",
                                       f"init_from={r / 'eco.pt'}"], "'eco-nano'", out("c-fam")),
        Case("correlate-init-export", ["correlate", "--checkpoint", ck, "--out", out("c-ixs"), "--set",
                                       f"init_from={r / 'exp_string'}"], "'mlp3d-nano'", out("c-ixs")),
        Case("center-nan", pre_set("c-nan", f"center_init_from={r / 'nan2d.pt'}"),
             repr((w / "nan2d_key.txt").read_text()), out("c-nan")),
        Case("proxies-symlink", ["proxies", "--model", "mlp3d-nano", "--sample", "2", "--out", str(r / "link")],
             "not made by vidnas", str(r / "foreign")),
    ]
    return c


READ_ONLY = "/sys/vidnas-read-only" if os.geteuid() == 0 else "/proc/vidnas-read-only"


# A warm CLI process: it imports torch and nas once, then forks one child per case, which
# runs the real entry point (`nas.cli.main`, as `python -m nas.cli` does) with its own stdout
# and stderr files and exit status; an uncaught exception prints its traceback there, as the
# interpreter would. Forking skips the import per case (a fresh interpreter costs ~4 s of CPU,
# the forked case 0.08 s at the median); the FRESH cases, one per kind of command (a flag
# command, a run config, a checkpoint reader, a search, a two-word command), still start a
# whole new interpreter each, to check that `python -m nas.cli` is what the forker runs.
FORKER = r"""
import json, os, sys, traceback
import nas.cli, nas.pretrain, nas.train, nas.correlate, nas.validate, nas.runfolder
import nas.search.setup, nas.search.engine, nas.search.recipes, nas.data.check, nas.plots
import nas.deploy.export, nas.costs.latency
import supernet.models
import nas.commands
nas.commands.command_modules()            # every command's module (they load their library when run)
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
FRESH = {"units-int", "lr-nan", "search-device", "export-hostile", "data-check-dir"}


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
    if "weights_only" in stderr:
        problems.append("torch's weights_only advice")
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
    assert len(corpus) >= 200 and len({c.name for c in corpus}) == len(corpus)
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


# ---- issue 26: refused, nothing left behind, then the corrected command runs ----------------------
def _one_line(capsys, code, rc, needle):
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert code == rc and len(lines) == 1 and needle in lines[0] and "Traceback" not in out.err, (code, out.err)
    return out


def _search_argv(w: Path, out: Path, *extra, checkpoint=None):
    return ["search", "--checkpoint", str(checkpoint or w / "supernet.pt"), "--out", str(out), "--threads", "1",
            "--no-progress", "--strategy", "random", "--budget", "2", "--batch", "1", "--val-size", "4",
            "--batch-size", "4", *extra]


def test_bad_latency_table_leaves_nothing_and_the_fixed_rerun_needs_no_resume(world, tmp_path, capsys,
                                                                            monkeypatch):
    """Class 1 (and the acceptance line): a bad table is refused before the search folder
    exists, so the same command with a good table runs without --resume; class 9: the
    checkpoint's stored data.cache_dir does not decide where the data is written; class 10:
    a second run of the folder while the first holds its lock is one line naming it."""
    from nas.cli import main

    monkeypatch.setenv("VIDNAS_CACHE", str(world / "cache"))
    ckpt = torch.load(world / "supernet.pt", weights_only=True)
    planted = tmp_path / "planted"
    ckpt["config"]["data"]["cache_dir"] = str(planted)
    torch.save(ckpt, tmp_path / "downloaded.pt")
    out = tmp_path / "s"
    r = world / "r2"
    for bad, needle in (("lat_negative.json", "-2.5"), ("lat_garbage.json", "not UTF-8"),
                        ("lat_other_model.json", "eco-nano")):
        code = main(_search_argv(world, out, "--cost", "latency", "--latency-table", str(r / bad),
                                 checkpoint=tmp_path / "downloaded.pt"))
        _one_line(capsys, code, 2, needle)
        assert not out.exists()
    code = main(_search_argv(world, out, "--cost", "latency", "--latency-table", str(r / "lat_good.json"),
                             checkpoint=tmp_path / "downloaded.pt"))
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert (out / "results.csv").is_file() and (out / "latency_table.json").is_file()
    assert "ignoring data.cache_dir" in printed.out and not planted.exists()
    # a second --resume while another process holds the folder's lock
    with _lock_held(out) as pid:
        code = main(_search_argv(world, out, "--cost", "latency", "--latency-table", str(r / "lat_good.json"),
                                 "--resume", checkpoint=tmp_path / "downloaded.pt"))
        _one_line(capsys, code, 2, f"process {pid}")


@contextlib.contextmanager
def _lock_held(folder: Path):
    """Another process holding `folder`'s run lock (as a run of it would); yields its pid."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from nas.runfolder import lock_run_folder;"
                               f"lock_run_folder(__import__('pathlib').Path({str(folder)!r})); print('held', flush=True);"
                               "time.sleep(60)"], cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_pretrain_resume_while_another_process_holds_the_folder_is_one_line(world, tmp_path, capsys, monkeypatch):
    """Class 10, locks, for pretrain (the search's case is above): a second --resume of a
    folder another process is writing names that process, exit 2, and changes nothing."""
    import shutil

    from nas.cli import main

    monkeypatch.setenv("VIDNAS_CACHE", str(world / "cache"))
    run = tmp_path / "run"
    shutil.copytree(world / "pretrain_run", run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "output_dir": str(run)}, sort_keys=False))
    with _lock_held(run) as pid:
        before = snapshot(run)
        code = main(["pretrain", "--config", str(world / "run.yaml"), "--set", f"output_dir={run}", "--resume",
                     "--no-progress"])
        _one_line(capsys, code, 2, f"process {pid}")
        assert snapshot(run) == before


def test_correlate_ignores_a_checkpoint_chosen_cache_dir(world, tmp_path, capsys, monkeypatch):
    """Class 9, for correlate (the search's case is above): the data.cache_dir a checkpoint
    stores does not decide where correlate writes the data; it says so in one line."""
    from nas.cli import main

    monkeypatch.setenv("VIDNAS_CACHE", str(world / "cache"))
    ckpt = torch.load(world / "supernet.pt", weights_only=True)
    planted = tmp_path / "planted"
    ckpt["config"]["data"]["cache_dir"] = str(planted)
    torch.save(ckpt, tmp_path / "downloaded.pt")
    archs = [ARCH, "-".join(["sr4"] * 8), "-".join(["st2"] * 8)]
    code = main(["correlate", "--checkpoint", str(tmp_path / "downloaded.pt"), "--out", str(tmp_path / "c"),
                 "--archs", *archs, "--estimates-only", "--val-size", "4", "--batch-size", "4"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert not planted.exists() and "ignoring data.cache_dir" in printed.out + printed.err


def test_a_list_with_a_byte_order_mark_is_read(world, tmp_path, capsys):
    """Class 5: a list file saved with a UTF-8 BOM (Windows editors) is valid input, to
    `nas data check` and to training (one list reader serves train, search and correlate)."""
    from nas.cli import main

    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + (world / "train.txt").read_bytes())
    config = yaml.safe_load((world / "videos.yaml").read_text())
    config["data"].update(train_list=str(tmp_path / "bom.txt"), val_list=str(tmp_path / "bom.txt"))
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + yaml.safe_dump(config).encode())
    code = main(["data", "check", "--config", str(tmp_path / "bom.yaml"), "--out", str(tmp_path / "r.csv"),
                 "--workers", "1", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "good0.mp4" in (tmp_path / "r.csv").read_text()
    code = main(["pretrain", "--config", str(tmp_path / "bom.yaml"), "--set", f"output_dir={tmp_path / 'p'}",
                 "--set", "train.batch_size=2", "--no-progress"])         # the training lists too
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "p" / "supernet.pt").is_file()


def test_yaml_and_json_bounds_name_the_file(tmp_path):
    """Class 3, the one text reader: duplicate keys (both lines), alias expansion, nesting
    (YAML and JSON, without hitting the recursion limit or PyYAML's quadratic scanner),
    encoding; --set values through the same parser; merge keys and BOMs still read."""
    import time

    from supernet.utils.config import apply_overrides
    from supernet.utils.io import load_json, load_yaml

    (tmp_path / "dup.yaml").write_text("train:\n  epochs: 1\n  epochs: 2\n")
    (tmp_path / "bomb.yaml").write_text(BOMB)
    (tmp_path / "deep.yaml").write_text("a: " + "{b: " * 50_000 + "1" + "}" * 50_000 + "\n")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "bin.yaml").write_bytes(b"a: \xc7\n")
    (tmp_path / "merge.yaml").write_bytes(b"\xef\xbb\xbfbase: &b {x: 1}\nd:\n  <<: *b\n  x: 2\n")
    start = time.monotonic()
    for name, needle in (("dup.yaml", "duplicate key 'epochs' at lines 2 and 3"), ("bomb.yaml", "expand to more"),
                         ("deep.yaml", "nested more than 100 levels"), ("bin.yaml", "not UTF-8")):
        with pytest.raises(ValueError, match=needle) as e:
            load_yaml(tmp_path / name)
        assert name in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError, match="deep.json is nested more than 100 levels"):
        load_json(tmp_path / "deep.json", "table")
    assert time.monotonic() - start < 20
    assert load_yaml(tmp_path / "merge.yaml") == {"base": {"x": 1}, "d": {"x": 2}}
    with pytest.raises(ValueError, match=r"--set 'train.epochs=\[1,' is not valid YAML"):
        apply_overrides({}, ["train.epochs=[1,"])
    with pytest.raises(ValueError, match="duplicate key 'a'"):
        apply_overrides({}, ["model.kwargs={a: 1, a: 2}"])


def test_pretrain_resume_before_the_first_checkpoint_starts_from_step_0(world, tmp_path, capsys, monkeypatch):
    """Class 8: a pretrain killed before (or during) its first checkpoint write leaves its
    folder (marker, config.yaml, a .tmp); --resume starts from step 0 and says so. A folder
    that does not exist is still "nothing to resume"."""
    from nas.cli import main
    from nas.config import load_run_config, prepare_output_dir

    monkeypatch.setenv("VIDNAS_CACHE", str(world / "cache"))
    out = tmp_path / "run"
    argv = ["pretrain", "--config", str(world / "run.yaml"), "--set", f"output_dir={out}", "--no-progress"]
    _one_line(capsys, main(argv + ["--resume"]), 2, "nothing to resume")
    assert not out.exists()
    prepare_output_dir(load_run_config(world / "run.yaml", [f"output_dir={out}"]), resume=False)
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / ".last.pt.k1ll3d.tmp").write_bytes(b"\x80\x02torn")
    code = main(argv + ["--resume"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "nothing to resume" in printed.out and "starting from step 0" in printed.out
    assert (out / "checkpoints" / "last.pt").is_file()
    assert not list(out.rglob(".*.tmp"))


@pytest.mark.parametrize("fail_at", ["weights.pt", "arch.json", "export.json"])
def test_export_killed_part_way_leaves_nothing_that_blocks_the_rerun(world, tmp_path, capsys, monkeypatch,
                                                                      fail_at):
    """Class 8: an export stopped at any point leaves no half export in --out (it is written
    beside it and moved into place when complete), and the rerun needs nothing else; an
    unfinished export left by an older version (no export.json) is redone, not refused."""
    import nas.deploy.export
    import supernet.training.checkpoint as checkpoint
    from nas.cli import main

    out = tmp_path / "x"
    real = checkpoint.atomic_write

    def dying(path, write, binary=True):
        if Path(path).name == fail_at:
            raise KeyboardInterrupt                    # as a Ctrl-C there would
        return real(path, write, binary)

    monkeypatch.setattr(checkpoint, "atomic_write", dying)
    monkeypatch.setattr(nas.deploy.export, "atomic_write_json", lambda p, d: dying(p, lambda f: f.write(
        json.dumps(d).encode())))
    argv = ["export", "--checkpoint", str(world / "supernet.pt"), "--arch", ARCH, "--out", str(out)]
    assert main(argv) == 130                     # Ctrl-C: one line, exit 130 (issue 24)
    assert not out.exists()
    monkeypatch.undo()
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads((out / "export.json").read_text())["arch"] == ARCH
    assert [p.name for p in tmp_path.iterdir()] == ["x"]          # no temporary folder left
    # an older version's unfinished export: its files without export.json
    (out / "export.json").unlink()
    assert main(argv) == 0, capsys.readouterr().err
    assert (out / "export.json").is_file()


def test_disk_full_during_a_search_is_one_line_and_resume_continues(world, tmp_path, capsys, monkeypatch):
    """Class 10: a full disk while results.csv is written: "no space left on <folder>", the
    rows written so far intact; after space is freed --resume finishes the search with the
    rows an uninterrupted search writes (but for the timing column)."""
    import errno

    from nas.cli import main
    from supernet.utils import io

    monkeypatch.setenv("VIDNAS_CACHE", str(world / "cache"))
    out = tmp_path / "s"
    real_fsync, writes = os.fsync, []

    def full_disk(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if "/.results.csv." in name:
            writes.append(name)
            if len(writes) >= 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(io.os, "fsync", full_disk)
    code = main(_search_argv(world, out))
    _one_line(capsys, code, 1, f"no space left on {out}")
    monkeypatch.setattr(io.os, "fsync", real_fsync)
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 2 and not list(out.glob(".*.tmp"))          # header + the first row
    assert main(_search_argv(world, out, "--resume")) == 0, capsys.readouterr().err
    resumed = (out / "results.csv").read_text().splitlines()
    assert resumed[:2] == rows and (out / "best_arch.json").is_file()
    assert main(_search_argv(world, tmp_path / "whole")) == 0, capsys.readouterr().err
    whole = (tmp_path / "whole" / "results.csv").read_text().splitlines()

    def timeless(lines):                                           # all but the `seconds` column
        return [line.rsplit(",", 1)[0] for line in lines]
    assert timeless(resumed) == timeless(whole) and len(whole) == 3


def test_disk_full_during_a_pretrain_checkpoint_keeps_the_last_one_and_resume_is_bit_exact(world, tmp_path, capsys,
                                                                                           monkeypatch):
    """Class 10: the disk fills while `torch.save` writes a checkpoint (its file object fails
    part-way, so torch reports a short write, not ENOSPC): one line "no space left on
    <folder>", exit 1; the previous checkpoint is intact and loadable, no temporary file is
    left, and after space is freed --resume ends on the same weights as an uninterrupted run."""
    import errno

    import supernet.training.checkpoint as checkpoint
    from nas.cli import main

    monkeypatch.setenv("VIDNAS_CACHE", str(world / "cache"))

    def argv(name, *extra):
        return ["pretrain", "--config", str(world / "run.yaml"), "--no-progress", "--set", "train.epochs=3",
                "--set", "train.max_steps=4", "--set", "train.checkpoint_every=1", "--set",
                f"output_dir={tmp_path / name}", *extra]

    assert main(argv("full")) == 0, capsys.readouterr().err
    real, writes, kept = checkpoint.atomic_write, [], {}

    class FullDisk:
        """A file whose writes fail with ENOSPC after 4 KiB, as on a full file system."""

        def __init__(self, f):
            self.f, self.left = f, 4096

        def write(self, data):
            self.left -= len(data)
            if self.left < 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    def failing(path, write, binary=True):
        path = Path(path)
        if path.name == "last.pt":
            writes.append(path)
            if len(writes) == 3:                       # steps 1 and 2 saved; step 3's write fails
                kept["bytes"] = path.read_bytes()
                return real(path, lambda f: write(FullDisk(f)), binary)
        return real(path, write, binary)

    monkeypatch.setattr(checkpoint, "atomic_write", failing)
    ckpts = tmp_path / "part" / "checkpoints"
    _one_line(capsys, main(argv("part")), 1, f"no space left on {ckpts}")
    monkeypatch.undo()
    monkeypatch.setenv("VIDNAS_CACHE", str(world / "cache"))
    assert (ckpts / "last.pt").read_bytes() == kept["bytes"]
    assert checkpoint.load_checkpoint(ckpts / "last.pt")["step"] == 2
    assert not list((tmp_path / "part").rglob(".*.tmp")) and not (tmp_path / "part" / "supernet.pt").exists()
    assert main(argv("part", "--resume")) == 0, capsys.readouterr().err
    a = checkpoint.load_checkpoint(tmp_path / "full" / "supernet.pt")["model"]
    b = checkpoint.load_checkpoint(tmp_path / "part" / "supernet.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = (tmp_path / "part" / "metrics.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2, 3, 4]


@pytest.mark.parametrize("sig", [signal.SIGKILL, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])   # SIGINT: slow run
def test_a_search_killed_while_it_reads_a_bad_latency_table_leaves_nothing_that_blocks_the_rerun(
        world, tmp_path, capsys, monkeypatch, sig):
    """Acceptance (class 1 with class 8): `nas search` is killed (kill -9) or interrupted
    (Ctrl-C) while it reads a bad latency table. The table is a named pipe, so the signal
    lands exactly there, half of the table read; the run folder does not exist yet, and the
    same command with the fixed table then runs without --resume."""
    import time

    from nas.cli import main

    monkeypatch.setenv("VIDNAS_CACHE", str(world / "cache"))
    pipe, out = tmp_path / "table.json", tmp_path / "s"
    os.mkfifo(pipe)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    bad = (world / "r2" / "lat_other_model.json").read_bytes()
    proc = subprocess.Popen([sys.executable, "-m", "nas.cli", *_search_argv(
        world, out, "--cost", "latency", "--latency-table", str(pipe))], cwd=str(ROOT), env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=sigint_as_in_a_terminal)
    deadline, writer = time.monotonic() + 120, None
    try:
        while writer is None and proc.poll() is None and time.monotonic() < deadline:
            try:                                 # the pipe opens once the search opens the table
                writer = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.02)
        if writer is not None:
            os.write(writer, bad[:len(bad) // 2])
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if writer is not None:
            os.close(writer)
        proc.kill()
        proc.wait()
    assert not out.exists(), sorted(p.name for p in out.iterdir())       # nothing left behind
    assert writer is not None, f"the search ended before it read the table: {err}"
    if sig == signal.SIGINT:                     # Ctrl-C: one line, exit 130 (issue 24)
        assert proc.returncode == 130 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    code = main(_search_argv(world, out, "--cost", "latency", "--latency-table",
                             str(world / "r2" / "lat_good.json")))
    assert code == 0, capsys.readouterr().err
    assert (out / "results.csv").is_file()
