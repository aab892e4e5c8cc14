"""MkDocs hook: the committed result figures the results pages show, served from where the
experiments wrote them.

A figure has one copy, beside its table in `experiments/results/` (the one its script
regenerates), so the site cannot show a stale duplicate. Each figure in `FIGURES` becomes the
site file `results/<path under experiments/results>`, which a page embeds as
`![...](results/ground_truth/table_v2/seed_pairs.png)`. A listed figure that is missing stops
the build.
"""
from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

RESULTS = Path(__file__).resolve().parents[2] / "experiments" / "results"
FIGURES = (
    "ground_truth/table_v2/seed_pairs.png",
    "ground_truth/estimators_v2/tau_vs_cost.png",
)


def on_files(files, config):
    for rel in FIGURES:
        path = RESULTS / rel
        if not path.is_file():
            raise PluginError(f"result figure {path} is missing; regenerate it or drop it from FIGURES")
        files.append(File.generated(config, f"results/{rel}", abs_src_path=str(path)))
    return files
