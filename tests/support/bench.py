"""A small standalone benchmark table of the search tests' space (tests/nas/search/test_bench.py,
test_predictor.py, tests/nas/test_compat.py)."""
import json

import pandas as pd

from tests.support.search import cost_table_of

ARCHS = ["sr1-sr1-sr1-sr1-sr1-sr1-sr1-sr1", "sr2-sr2-sr2-sr2-sr2-sr2-sr2-sr2",
         "sr4-sr4-sr4-sr4-sr4-sr4-sr4-sr4", "lr2-lr2-lr2-lr2-lr2-lr2-lr2-lr2",
         "sr2-lr2-sr2-lr2-sr2-lr2-sr2-lr2", "sr4-sr2-sr1-sr4-sr2-sr1-sr4-sr2",
         "sr2-sr2-sr2-sr2-sr4-sr4-sr4-sr4", "lr2-sr2-sr4-sr1-lr2-sr2-sr4-sr1"]


def top1_of(i, seed):
    return 40.0 + 5.0 * i + (1.0 if seed else -1.0) * (i % 3)


def make_table(folder, archs=ARCHS, alias_first=True, **meta):
    """A small standalone table of the test space (mlp3d-nano, SR/LR): 2 seeds per arch; the
    first one is written under an equivalent name (lr1 = sr1) to exercise canonical lookup."""
    model, table = cost_table_of("small")
    space = model.space
    rows = []
    for i, a in enumerate(archs):
        name = a.replace("sr1", "lr1") if alias_first and i == 0 else a
        for seed in (0, 1):
            rows.append({"arch": name, "canonical_arch": str(space.canonical(space.parse(name))), "seed": seed,
                         "top1": top1_of(i, seed), "top5": 90.0, "loss": 1.0 - 0.01 * i,
                         "gflops": table.gflops(space.parse(a)), "params_m": 1.0, "epochs": 3,
                         "init": "center-2d", "init_from": "runs/2d/model.pt"})
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "standalone.csv", index=False)
    (folder / "benchmark.json").write_text(json.dumps({"space": space.config(), "model_spec": model.spec,
                                                       "protocol": {"epochs": 3}, **meta}))
    return folder
