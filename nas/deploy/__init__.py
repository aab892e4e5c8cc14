"""Deploying a searched architecture: the export folder (`export`), ONNX and TorchScript files
(`onnx`, `torchscript`), their one-line failures (`failures`), and the 4D report read back
from an ONNX graph (`report`). The formats and the parity tolerance are here, torch-free,
for `nas export --help`."""

FORMATS = ("state_dict", "torchscript", "onnx")
PARITY_TOL = 1e-4                     # max abs difference allowed by --check (fp32)

