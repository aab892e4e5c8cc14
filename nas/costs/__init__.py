"""The costs C(θ) of Eq. 6 (MLP-3D) and the hard limits of a search: FLOPs and parameters
(`flops`, and the per-unit table `unit_table`), forward latency (`latency`: the lookup table;
`measured`: live timing), peak memory (`memory`). Each answers `base.CostModel`."""
