"""Reading an exported ONNX graph back: per node, its op, module scope, kernel and output ranks,
and the nodes of 4D-lowered units that break Hajimolahoseini et al.'s claim (no 3D
convolution, no rank-5 tensor)."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any


def onnx_graph_report(path: str | Path) -> list[dict[str, Any]]:
    """One row per node of an exported ONNX graph: op type, module scope (the PyTorch module
    path it came from), Conv kernel_shape, and the ranks of its outputs (onnx shape
    inference on the value infos)."""
    import onnx  # lazy: optional dependency (deploy extra), only to read an ONNX file back

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    values = list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
    ranks = {v.name: len(v.type.tensor_type.shape.dim) if v.type.tensor_type.HasField("shape") else None
             for v in values}
    rows = []
    for node in model.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes = meta.get("pkg.torch.onnx.name_scopes", "[]")
        try:
            scope = [s for s in ast.literal_eval(scopes) if isinstance(s, str)]
        except (ValueError, SyntaxError):
            scope = []
        # [root '', module paths outer to inner..., the op's own name]
        module = scope[-2] if len(scope) >= 2 and not scope[-2].startswith("_") else ""
        kernel = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), None)
        rows.append({"op": node.op_type, "name": node.name, "scope": module, "kernel_shape": kernel,
                     "output_ranks": [ranks.get(o) for o in node.output]})
    return rows


def four_d_violations(rows: list[dict[str, Any]], scopes: list[str]) -> dict[str, list[str]]:
    """Nodes inside the module `scopes` (e.g. the lowered units' ``layers.k.block``) that break
    Hajimolahoseini et al.'s claim: 3D convolutions (3-element kernel_shape) and rank-5 outputs."""
    def inside(row):
        return any(row["scope"] == s or row["scope"].startswith(s + ".") for s in scopes)
    conv3d = [r["name"] for r in rows if r["op"] == "Conv" and r["kernel_shape"] is not None
              and len(r["kernel_shape"]) == 3 and inside(r)]
    rank5 = [r["name"] for r in rows if inside(r) and 5 in r["output_ranks"]]
    return {"conv3d": conv3d, "rank5": rank5}
