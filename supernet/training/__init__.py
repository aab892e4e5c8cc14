"""Supernet pretraining and standalone training: config, samplers, loop, checkpoints, DDP."""
