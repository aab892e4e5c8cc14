"""ONNX deploy files: torch's exporter (torch.export -> ONNX, opset `ONNX_OPSET`) with a dynamic
batch axis, and an onnxruntime runner called like a module. onnx, onnxruntime and onnxscript
are the optional ``deploy`` extra: they are imported inside the functions that need them."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from search_spaces.errors import VidnasInputError

from supernet.utils.io import atomic_write

from .failures import blame, quiet_exporter

ONNX_OPSET = 18
INPUT_NAME, OUTPUT_NAME = "clip", "logits"


def _export_onnx_program(module: nn.Module, example: torch.Tensor, dynamic: bool = True):
    """torch's exporter (torch.export + onnxscript), opset `ONNX_OPSET`, dynamic batch."""
    dynamic_shapes = ({0: torch.export.Dim("batch")},) if dynamic else None
    with quiet_exporter():
        with torch.enable_grad():
            program = torch.export.export(module, (example,), dynamic_shapes=dynamic_shapes)
            # onnxscript's optimiser is needed, not only faster to run: without it torch 2.13
            # writes a bias-free Conv with a 2D zero bias that onnxruntime rejects.
            return torch.onnx.export(program, (example,), dynamo=True, opset_version=ONNX_OPSET,
                                     input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                     optimize=True, verify=False, report=False, verbose=False)


def write_onnx(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Export `module` to ONNX (dynamic batch) and save it atomically to `path`."""
    require_onnx()
    if example.shape[0] < 2:              # torch.export specialises a batch of 1
        example = torch.cat([example, example])
    try:
        program = _export_onnx_program(module, example)
    except Exception as e:                                         # noqa: BLE001
        raise blame(module, example, "ONNX", e,
                     lambda m, a: _export_onnx_program(m, a[0], dynamic=False)) from None
    import onnx  # lazy: optional dependency (deploy extra), only for ONNX export

    proto = program.model_proto
    _name_batch_axis(proto)
    atomic_write(path, lambda f: f.write(proto.SerializeToString()))
    onnx.checker.check_model(str(path))


def _name_batch_axis(proto) -> None:
    """Call the exporter's symbol for the clip's dim 0 (e.g. ``s77``) "batch" everywhere."""
    dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    symbol = dim.dim_param
    if not symbol:
        return
    for value in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info]:
        for d in value.type.tensor_type.shape.dim:
            if d.dim_param == symbol:
                d.dim_param = "batch"


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401  # lazy: optional dependency (deploy extra), checked before ONNX work
        import onnxruntime  # noqa: F401  # lazy: optional dependency (deploy extra), checked before ONNX work
        import onnxscript  # noqa: F401  # lazy: optional dependency (deploy extra), checked before ONNX work
    except ImportError as e:
        raise VidnasInputError(f"ONNX export needs the deploy extra ({e.name} is missing): "
                               "pip install -e '.[deploy]'") from None


class OnnxRunner:
    """An onnxruntime session on an exported ``model.onnx``, called like a module on clips."""

    def __init__(self, path: str | Path, threads: int | None = None):
        require_onnx()
        import onnxruntime as ort  # lazy: optional dependency (deploy extra), only to run an ONNX file

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = options.inter_op_num_threads = int(threads)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def run_numpy(self, clips):
        return self.session.run(None, {self.input_name: clips})[0]

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.run_numpy(clips.detach().cpu().numpy()))
