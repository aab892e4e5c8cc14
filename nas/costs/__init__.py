"""The costs C(θ) of Eq. 6 (MLP-3D) and the hard limits of a search: FLOPs and parameters
(`flops`, and the per-unit table `unit_table`), forward latency (`latency`: the lookup table;
`measured`: live timing), peak memory (`memory`). Each answers `base.CostModel`. The latency
table's runtimes and clocks are here, torch-free, for `nas latency-table --help`."""

RUNTIMES = ("torch", "onnxruntime")   # PyTorch modules, or each piece as ONNX on onnxruntime
CLOCKS = ("wall", "cpu")              # wall time, or the timing thread's CPU time

