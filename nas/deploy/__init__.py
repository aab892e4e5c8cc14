"""Deploying a searched architecture: the export folder (`export`), ONNX and TorchScript files
(`onnx`, `torchscript`), their one-line failures (`failures`), and the 4D report read back
from an ONNX graph (`report`)."""
